"""The shared consumer against the real broker: handling, retries, dead letters, state caches."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from byosms_common import messages as m
from byosms_common.kafka import (
    HEADER_ERROR_CLASS,
    HEADER_ORIGIN_OFFSET,
    Delivery,
    PermanentError,
    Publisher,
    RetryableError,
    RetryPolicy,
    build_broker,
    consume,
)
from byosms_common.settings import KafkaSettings
from byosms_common.state_cache import StateTopicFollower
from byosms_common.testing import eventually
from byosms_common.topics import TopicSpec

pytestmark = pytest.mark.integration


@pytest.fixture
async def scratch_topic(kafka_bootstrap: str) -> AsyncIterator[Callable[..., Awaitable[TopicSpec]]]:
    """Creates uniquely named topics (with dead-letter topics) for one test and deletes them after."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    created: list[str] = []

    async def make(compacted: bool = False) -> TopicSpec:
        spec = TopicSpec(
            name=f"test.{uuid.uuid4().hex[:12]}",
            key="test",
            partitions=2,
            compacted=compacted,
            producer="test",
            consumers=("test",),
            description="scratch",
        )
        config = {"cleanup.policy": "compact"} if compacted else {}
        topics = [NewTopic(spec.name, 2, 1, topic_configs=config), NewTopic(spec.dead_letter, 1, 1)]
        await admin.create_topics(topics)
        created.extend(t.name for t in topics)
        return spec

    yield make
    await admin.delete_topics(created)
    await admin.close()


async def _read(bootstrap: str, topic: str, count: int) -> list[object]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    records: list[object] = []
    try:
        async with asyncio.timeout(20):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=200)
                for items in batch.values():
                    records.extend(items)
    finally:
        await consumer.stop()
    return records


def _send(organization: str, body: str) -> m.SendMessage:
    return m.SendMessage(
        organization_id=organization,
        payload=m.SendMessagePayload.model_validate({"from": "+4930123456", "to": "+4915112345678", "body": body}),
    )


async def test_poison_message_goes_to_dead_letter_and_the_consumer_goes_on(
    kafka_bootstrap: str, scratch_topic: Callable[..., Awaitable[TopicSpec]]
) -> None:
    topic = await scratch_topic()
    broker = build_broker(KafkaSettings(kafka_bootstrap=kafka_bootstrap), "test")
    seen: list[str] = []
    failures: dict[str, int] = {}

    async def handler(message: m.SendMessage, delivery: Delivery) -> None:
        if message.payload.body == "flaky" and failures.get(message.id, 0) < 2:
            failures[message.id] = failures.get(message.id, 0) + 1
            raise ConnectionError("database briefly away")
        if message.payload.body == "always fails":
            raise RuntimeError("bug")
        seen.append(message.payload.body)

    consume(
        broker,
        topic,
        group_id=f"test-{uuid.uuid4().hex}",
        model=m.SendMessage,
        handler=handler,
        policy=RetryPolicy(attempts=3, first_delay=0.01, max_delay=0.05),
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    key = b"same-partition"
    await producer.send_and_wait(topic.name, m.encode(_send("org", "first")), key=key)
    await producer.send_and_wait(topic.name, b"{not json", key=key)
    await producer.send_and_wait(topic.name, b'{"type": "sms.send"}', key=key)
    await producer.send_and_wait(topic.name, m.encode(_send("org", "flaky")), key=key)
    await producer.send_and_wait(topic.name, m.encode(_send("org", "always fails")), key=key)
    await producer.send_and_wait(topic.name, m.encode(_send("org", "last")), key=key)
    await producer.stop()

    async with broker:
        await broker.start()
        await eventually(lambda: seen == ["first", "flaky", "last"], within=30, what="all good messages handled")

    dead = await _read(kafka_bootstrap, topic.dead_letter, 3)
    reasons = [{k: v.decode() for k, v in r.headers}[HEADER_ERROR_CLASS] for r in dead]  # type: ignore[attr-defined]
    assert reasons == ["ValidationError", "ValidationError", "RuntimeError"]
    assert dead[0].value == b"{not json"  # type: ignore[attr-defined]
    assert all(HEADER_ORIGIN_OFFSET in dict(r.headers) for r in dead)  # type: ignore[attr-defined]


async def test_publisher_waits_for_ack_and_state_follower_applies_tombstones(
    kafka_bootstrap: str, scratch_topic: Callable[..., Awaitable[TopicSpec]]
) -> None:
    topic = await scratch_topic(compacted=True)
    settings = KafkaSettings(kafka_bootstrap=kafka_bootstrap)
    broker = build_broker(settings, "test")
    async with broker:
        await broker.start()
        publisher = Publisher(broker)
        await publisher.publish(topic, _send("org", "a"), "key-a")
        await publisher.publish(topic, _send("org", "b"), "key-b")
        await publisher.publish_tombstone(topic, "key-a")

        follower: StateTopicFollower[m.SendMessage] = StateTopicFollower(
            settings, topic, m.SendMessage, client_id="test"
        )
        await follower.start()
        try:
            await asyncio.wait_for(follower.loaded.wait(), 20)
            assert set(follower.values) == {"key-b"}
            await publisher.publish(topic, _send("org", "c"), "key-c")
            await eventually(lambda: "key-c" in follower.values, what="live update followed")
            assert follower.values["key-c"].payload.body == "c"
        finally:
            await follower.stop()


async def test_trace_context_crosses_the_kafka_hop(
    kafka_bootstrap: str, scratch_topic: Callable[..., Awaitable[TopicSpec]]
) -> None:
    topic = await scratch_topic()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    broker = build_broker(KafkaSettings(kafka_bootstrap=kafka_bootstrap), "test", tracer_provider=provider)
    handled: list[int] = []

    async def handler(message: m.SendMessage, _: Delivery) -> None:
        handled.append(trace.get_current_span().get_span_context().trace_id)

    consume(broker, topic, group_id=f"test-{uuid.uuid4().hex}", model=m.SendMessage, handler=handler)
    async with broker:
        await broker.start()
        with provider.get_tracer("test").start_as_current_span("webhook") as parent:
            await Publisher(broker).publish(topic, _send("org", "traced"), "k")
        await eventually(lambda: handled, within=30, what="message handled")
    assert handled == [parent.get_span_context().trace_id]
    assert {s.context.trace_id for s in exporter.get_finished_spans()} == {parent.get_span_context().trace_id}


async def _end_offsets(bootstrap: str, topic: str) -> int:
    """How many records ``topic`` (all partitions) holds."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_database_blip_is_waited_out_not_dead_lettered(
    kafka_bootstrap: str, scratch_topic: Callable[..., Awaitable[TopicSpec]]
) -> None:
    """PostgreSQL away for a few seconds: the partition waits, then every message is handled in order."""
    topic = await scratch_topic()
    registry = CollectorRegistry()
    broker = build_broker(KafkaSettings(kafka_bootstrap=kafka_bootstrap), "test", registry=registry)
    group = f"test-{uuid.uuid4().hex}"
    loop = asyncio.get_running_loop()
    database_back_at: float | None = None
    seen: list[str] = []
    refused = 0

    async def handler(message: m.SendMessage, _: Delivery) -> None:
        nonlocal database_back_at, refused
        if database_back_at is None:
            database_back_at = loop.time() + 3.0  # the outage starts with the first message
        if loop.time() < database_back_at:
            refused += 1
            kinds = (
                asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
                asyncpg.CannotConnectNowError("the database system is starting up"),
                ConnectionRefusedError(111, "Connection refused"),
                asyncpg.InterfaceError("pool is closing"),
            )
            raise kinds[refused % len(kinds)]
        seen.append(message.payload.body)

    consume(
        broker,
        topic,
        group_id=group,
        model=m.SendMessage,
        handler=handler,
        # Other errors would be dead-lettered after 3 tries (well within the outage).
        policy=RetryPolicy(attempts=3, first_delay=0.05, max_delay=0.1, transient_max_delay=0.4),
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    for body in ("during the outage", "queued behind it"):
        await producer.send_and_wait(topic.name, m.encode(_send("org", body)), key=b"same-partition")
    await producer.stop()

    async with broker:
        await broker.start()
        await eventually(lambda: len(seen) == 2, within=30, what="both messages handled")
    assert seen == ["during the outage", "queued behind it"]
    assert refused >= 4
    assert await _end_offsets(kafka_bootstrap, topic.dead_letter) == 0
    assert sum((await _committed(kafka_bootstrap, group, topic.name)).values()) == 2
    labels = {"topic": topic.name, "group": group}
    assert _sample(registry, "byosms_consumer_retries_total", reason="transient", **labels) == refused
    assert _sample(registry, "byosms_consumer_messages_handled_total", **labels) == 2
    assert _sample(registry, "byosms_consumer_handling_seconds_count", **labels) == 2
    assert _sample(registry, "byosms_consumer_dead_lettered_total", reason="exhausted", **labels) == 0


class _FlakyDeadLetters(Publisher):
    """A publisher whose first dead-letter publishes fail as if Kafka were away."""

    def __init__(self, broker: KafkaBroker, dead_letter_topic: str, failures: int) -> None:
        super().__init__(broker)
        self.dead_letter_topic = dead_letter_topic
        self.failures = failures

    async def publish_raw(self, topic: str, value: bytes, key: str | None, headers: dict[str, str]) -> None:
        if topic == self.dead_letter_topic and self.failures > 0:
            self.failures -= 1
            raise KafkaConnectionError("Unable to connect to the broker")
        await super().publish_raw(topic, value, key, headers)


async def test_a_failed_dead_letter_publish_is_retried_before_anything_is_committed_past_it(
    kafka_bootstrap: str, scratch_topic: Callable[..., Awaitable[TopicSpec]]
) -> None:
    topic = await scratch_topic()
    registry = CollectorRegistry()
    broker = build_broker(KafkaSettings(kafka_bootstrap=kafka_bootstrap), "test", registry=registry)
    group = f"test-{uuid.uuid4().hex}"
    seen: list[str] = []

    async def handler(message: m.SendMessage, _: Delivery) -> None:
        if message.payload.body == "refused":
            raise PermanentError("can never be handled")
        seen.append(message.payload.body)

    publisher = _FlakyDeadLetters(broker, topic.dead_letter, failures=3)
    consume(
        broker,
        topic,
        group_id=group,
        model=m.SendMessage,
        handler=handler,
        publisher=publisher,
        policy=RetryPolicy(first_delay=0.05, transient_max_delay=0.2),
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    key = b"same-partition"
    await producer.send_and_wait(topic.name, b"{not json", key=key)
    await producer.send_and_wait(topic.name, m.encode(_send("org", "refused")), key=key)
    await producer.send_and_wait(topic.name, m.encode(_send("org", "fine")), key=key)
    await producer.stop()

    async with broker:
        await broker.start()
        await eventually(lambda: seen == ["fine"], within=30, what="the good message handled")
    assert publisher.failures == 0
    dead = await _read(kafka_bootstrap, topic.dead_letter, 2)
    assert [{k: v.decode() for k, v in r.headers}[HEADER_ERROR_CLASS] for r in dead] == [  # type: ignore[attr-defined]
        "ValidationError",
        "PermanentError",
    ]
    assert sum((await _committed(kafka_bootstrap, group, topic.name)).values()) == 3
    labels = {"topic": topic.name, "group": group}
    assert _sample(registry, "byosms_consumer_dead_letter_publish_failures_total", **labels) == 3
    assert _sample(registry, "byosms_consumer_dead_lettered_total", reason="invalid", **labels) == 1
    assert _sample(registry, "byosms_consumer_dead_lettered_total", reason="permanent", **labels) == 1
    assert _sample(registry, "byosms_consumer_messages_handled_total", **labels) == 1
    assert _sample(registry, "byosms_consumer_handling_seconds_count", **labels) == 3


async def test_stopping_during_an_outage_commits_nothing_and_does_not_wait_out_the_backoff(
    kafka_bootstrap: str, scratch_topic: Callable[..., Awaitable[TopicSpec]]
) -> None:
    topic = await scratch_topic()
    broker = build_broker(KafkaSettings(kafka_bootstrap=kafka_bootstrap), "test")
    group = f"test-{uuid.uuid4().hex}"
    calls = 0

    async def handler(message: m.SendMessage, _: Delivery) -> None:
        nonlocal calls
        calls += 1
        raise RetryableError("the database is away")

    consume(
        broker,
        topic,
        group_id=group,
        model=m.SendMessage,
        handler=handler,
        policy=RetryPolicy(attempts=1, first_delay=5.0, transient_max_delay=60.0),
    )
    async with broker:
        await broker.start()
        await Publisher(broker).publish(topic, _send("org", "waits"), "k")
        await eventually(lambda: calls >= 1, within=30, what="the handler tried")
        loop = asyncio.get_running_loop()
        began = loop.time()
        await broker.stop()
        assert loop.time() - began < 5
    assert calls == 1
    assert await _committed(kafka_bootstrap, group, topic.name) == {}
    assert await _end_offsets(kafka_bootstrap, topic.dead_letter) == 0


async def test_state_follower_that_fails_reports_not_loaded_and_recovers(
    kafka_bootstrap: str, scratch_topic: Callable[..., Awaitable[TopicSpec]]
) -> None:
    topic = await scratch_topic(compacted=True)
    settings = KafkaSettings(kafka_bootstrap=kafka_bootstrap)
    broken = False
    changes: list[str] = []

    def on_change(key: str, _value: m.SendMessage | None) -> None:
        if broken:
            raise RuntimeError("cache consumer bug")
        changes.append(key)

    broker = build_broker(settings, "test")
    async with broker:
        await broker.start()
        publisher = Publisher(broker)
        await publisher.publish(topic, _send("org", "a"), "key-a")
        follower: StateTopicFollower[m.SendMessage] = StateTopicFollower(
            settings, topic, m.SendMessage, client_id="test", on_change=on_change, restart_first_delay=0.05
        )
        await follower.start()
        try:
            await asyncio.wait_for(follower.loaded.wait(), 20)
            broken = True
            await publisher.publish(topic, _send("org", "b"), "key-b")
            await eventually(lambda: not follower.loaded.is_set(), what="follower reports not loaded")
            assert follower.restarts >= 1
            broken = False
            await asyncio.wait_for(follower.loaded.wait(), 20)
            await publisher.publish(topic, _send("org", "c"), "key-c")
            await eventually(lambda: "key-c" in follower.values, what="live updates followed again")
            assert set(follower.values) == {"key-a", "key-b", "key-c"}
            assert "key-b" in changes
        finally:
            await follower.stop()

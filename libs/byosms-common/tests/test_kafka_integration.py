"""The shared consumer against the real broker: handling, retries, dead letters, state caches."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from byosms_common import messages as m
from byosms_common.kafka import (
    HEADER_ERROR_CLASS,
    HEADER_ORIGIN_OFFSET,
    Delivery,
    Publisher,
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

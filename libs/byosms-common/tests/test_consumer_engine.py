"""The batched consumer engine on the real broker: poison messages alone to the dead-letter topic,
transient faults retried without committing, one output per input even when a transaction fails,
lanes in order per key and independent of each other, traces continued across the hop."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from byosms_common import messages as m
from byosms_common.consumer import Consumers, Emit, Record, Subscription
from byosms_common.kafka import HEADER_ERROR_CLASS, PermanentError, Publisher, build_broker
from byosms_common.settings import ConsumerSettings, KafkaSettings
from byosms_common.testing import eventually
from byosms_common.topics import TopicSpec

pytestmark = pytest.mark.integration

Make = Callable[[int], Awaitable[TopicSpec]]


@pytest.fixture
async def topic(kafka_bootstrap: str) -> AsyncIterator[Make]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    created: list[str] = []

    async def make(partitions: int = 2) -> TopicSpec:
        spec = TopicSpec(
            name=f"test.{uuid.uuid4().hex[:12]}",
            key="test",
            partitions=partitions,
            compacted=False,
            producer="test",
            consumers=("test",),
            description="scratch",
        )
        new = [NewTopic(spec.name, partitions, 1), NewTopic(spec.dead_letter, 1, 1)]
        await admin.create_topics(new)
        created.extend(t.name for t in new)
        return spec

    yield make
    await admin.delete_topics(created)
    await admin.close()


def _send(body: str, sender: str = "+4930123456") -> m.SendMessage:
    return m.SendMessage(
        organization_id="org",
        payload=m.SendMessagePayload.model_validate({"from": sender, "to": "+4915112345678", "body": body}),
    )


async def _produce(bootstrap: str, topic: str, items: Sequence[tuple[str, bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value, headers in items:
            await producer.send(topic, value, key.encode(), headers=headers or None)
        await producer.flush()
    finally:
        await producer.stop()


async def _read_committed(bootstrap: str, topic: str, *, at_least: int, settle: float = 1.0) -> list[Any]:
    """Every committed record of ``topic`` once at least ``at_least`` arrived and nothing more came."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        isolation_level="read_committed",
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(40):
            quiet_since = time.monotonic()
            while len(records) < at_least or time.monotonic() - quiet_since < settle:
                batch = await consumer.getmany(timeout_ms=200)
                for items in batch.values():
                    records.extend(items)
                    quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return records


def _echo(output: TopicSpec) -> Callable[[Sequence[Record[m.SendMessage]], Emit], Awaitable[None]]:
    async def handler(records: Sequence[Record[m.SendMessage]], out: Emit) -> None:
        for record in records:
            if record.message.payload.body == "refused":
                raise PermanentError("never")
            echo = m.SendMessage(
                id=f"{record.message.id}:echo",
                organization_id="org",
                payload=record.message.payload,
            )
            out.publish(output, echo, record.key or "", cause=record)

    return handler


async def _running(consumers: Consumers) -> None:
    await consumers.start()
    await eventually(lambda: all(e.running.is_set() for e in consumers.engines), what="consumers running")


def _settings(**overrides: Any) -> ConsumerSettings:
    return ConsumerSettings(consumer_retry_first_delay_s=0.05, consumer_retry_max_delay_s=0.2, **overrides)


async def test_a_poison_and_a_refused_message_go_alone_to_the_dead_letter_topic(
    kafka_bootstrap: str, topic: Make
) -> None:
    source, output = await topic(2), await topic(1)
    good = [_send(f"good {i}") for i in range(40)]
    items = [(f"k{i % 5}", m.encode(msg), []) for i, msg in enumerate(good)]
    items.insert(7, ("k2", b"{not json", []))
    items.insert(20, ("k3", m.encode(_send("refused")), []))
    await _produce(kafka_bootstrap, source.name, items)
    consumers = Consumers(
        KafkaSettings(kafka_bootstrap=kafka_bootstrap),
        _settings(),
        [Subscription(source, m.SendMessage, _echo(output))],
        group_id=f"g-{uuid.uuid4().hex}",
        service="test",
        registry=CollectorRegistry(),
    )
    await _running(consumers)
    try:
        echoed = await _read_committed(kafka_bootstrap, output.name, at_least=40)
        dead = await _read_committed(kafka_bootstrap, source.dead_letter, at_least=2)
    finally:
        await consumers.stop()
    ids = sorted(json.loads(r.value)["id"] for r in echoed)
    assert ids == sorted(f"{msg.id}:echo" for msg in good)  # every good one once, none twice
    classes = sorted(dict(r.headers)[HEADER_ERROR_CLASS].decode() for r in dead)
    assert classes == ["PermanentError", "ValidationError"]


async def test_a_failed_transaction_publishes_nothing_and_the_retry_publishes_once(
    kafka_bootstrap: str, topic: Make
) -> None:
    source, output = await topic(2), await topic(1)
    sent = [_send(f"m {i}") for i in range(30)]
    await _produce(kafka_bootstrap, source.name, [(f"k{i % 4}", m.encode(s), []) for i, s in enumerate(sent)])
    calls = 0
    inner = _echo(output)

    async def handler(records: Sequence[Record[m.SendMessage]], out: Emit) -> None:
        nonlocal calls
        calls += 1
        await inner(records, out)

    consumers = Consumers(
        KafkaSettings(kafka_bootstrap=kafka_bootstrap),
        _settings(),
        [Subscription(source, m.SendMessage, handler)],
        group_id=f"g-{uuid.uuid4().hex}",
        service="test",
    )
    engine = consumers.engines[0]
    failures = {"left": 2}
    original = engine.send_all

    async def failing_send_all(outgoing: Any, producer: Any = None) -> None:
        await original(outgoing, producer)  # the records are in the open transaction ...
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("broker went away before the commit")  # ... which is then aborted

    engine.send_all = failing_send_all  # type: ignore[method-assign]
    await _running(consumers)
    try:
        echoed = await _read_committed(kafka_bootstrap, output.name, at_least=30, settle=2.0)
    finally:
        await consumers.stop()
    ids = [json.loads(r.value)["id"] for r in echoed]
    assert sorted(ids) == sorted(f"{s.id}:echo" for s in sent)
    assert len(ids) == len(set(ids)) == 30
    assert calls > 2  # the aborted rounds were handled again


async def test_transient_faults_retry_the_batch_until_the_dependency_is_back(
    kafka_bootstrap: str, topic: Make, caplog: pytest.LogCaptureFixture
) -> None:
    source, output = await topic(1), await topic(1)
    sent = [_send(f"m {i}") for i in range(10)]
    await _produce(kafka_bootstrap, source.name, [("k", m.encode(s), []) for s in sent])
    faults = {"left": 25}
    inner = _echo(output)

    async def handler(records: Sequence[Record[m.SendMessage]], out: Emit) -> None:
        if faults["left"]:
            faults["left"] -= 1
            raise ConnectionRefusedError("database away")
        await inner(records, out)

    consumers = Consumers(
        KafkaSettings(kafka_bootstrap=kafka_bootstrap),
        _settings(),
        [Subscription(source, m.SendMessage, handler)],
        group_id=f"g-{uuid.uuid4().hex}",
        service="test",
    )
    await _running(consumers)
    try:
        echoed = await _read_committed(kafka_bootstrap, output.name, at_least=10)
        assert await consumers.healthy()
    finally:
        await consumers.stop()
    assert len(echoed) == 10
    dead = [r for r in caplog.records if "dead-letter" in r.getMessage()]
    assert dead == []
    said = [r.getMessage() for r in caplog.records if "dependency" in r.getMessage()]
    # One line when it started and one when it was over: not one per retry.
    assert len(said) == 2, said
    assert "back after" in said[-1]


async def test_lanes_keep_each_key_in_order_and_a_slow_lane_holds_no_other_back(
    kafka_bootstrap: str, topic: Make
) -> None:
    source, output = await topic(1), await topic(1)
    slow = [_send(f"slow {i}", sender="+4930000001") for i in range(5)]
    fast = [_send(f"fast {i}", sender=f"+49301{i:05d}") for i in range(50)]
    interleaved: list[m.SendMessage] = []
    for i, msg in enumerate(fast):
        if i % 10 == 0 and slow:
            interleaved.append(slow.pop(0))
        interleaved.append(msg)
    interleaved.extend(slow)
    await _produce(kafka_bootstrap, source.name, [("one-partition", m.encode(x), []) for x in interleaved])
    done: list[tuple[str, float]] = []
    started = time.monotonic()

    async def handler(record: Record[m.SendMessage], out: Emit) -> None:
        body = record.message.payload.body
        if body.startswith("slow"):
            await asyncio.sleep(0.3)
        done.append((body, time.monotonic() - started))
        out.publish(output, record.message, record.message.payload.from_, cause=record)

    group = f"g-{uuid.uuid4().hex}"
    consumers = Consumers(
        KafkaSettings(kafka_bootstrap=kafka_bootstrap),
        _settings(),
        [Subscription(source, m.SendMessage, handler, lanes=lambda c: c.payload.from_)],
        group_id=group,
        service="test",
    )
    await _running(consumers)
    try:
        await eventually(lambda: len(done) == 55, within=30, what="every record handled")
    finally:
        await consumers.stop()
    slow_order = [body for body, _ in done if body.startswith("slow")]
    assert slow_order == [f"slow {i}" for i in range(5)]
    last_fast = max(t for body, t in done if body.startswith("fast"))
    last_slow = max(t for body, t in done if body.startswith("slow"))
    assert last_fast < last_slow - 0.5  # the fast lanes finished long before the slow one
    # Everything was committed: a new consumer of the group finds nothing left.
    check = AIOKafkaConsumer(source.name, bootstrap_servers=kafka_bootstrap, group_id=group)
    await check.start()
    try:
        partition = next(iter(check.assignment() or [])) if check.assignment() else None
        await eventually(lambda: bool(check.assignment()), what="assigned")
        partition = next(iter(check.assignment()))
        assert await check.committed(partition) == 55
    finally:
        await check.stop()


async def test_outputs_continue_the_trace_of_the_consumed_record(kafka_bootstrap: str, topic: Make) -> None:
    source, output = await topic(1), await topic(1)
    trace_id = uuid.uuid4().hex
    parent = f"00-{trace_id}-{'1' * 16}-01"
    await _produce(kafka_bootstrap, source.name, [("k", m.encode(_send("traced")), [("traceparent", parent.encode())])])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    consumers = Consumers(
        KafkaSettings(kafka_bootstrap=kafka_bootstrap),
        _settings(),
        [Subscription(source, m.SendMessage, _echo(output))],
        group_id=f"g-{uuid.uuid4().hex}",
        service="test",
        tracer_provider=provider,
    )
    await _running(consumers)
    try:
        (echoed,) = await _read_committed(kafka_bootstrap, output.name, at_least=1)
    finally:
        await consumers.stop()
    header = dict(echoed.headers)["traceparent"].decode()
    assert header.split("-")[1] == trace_id
    assert json.loads(echoed.value)["trace"]["traceparent"] == header
    (span,) = [s for s in exporter.get_finished_spans() if s.name.endswith("process")]
    assert f"{span.context.trace_id:032x}" == trace_id
    assert f"{span.context.span_id:016x}" == header.split("-")[2]


async def test_two_conversations_interleaved_on_one_partition_each_stay_in_order(
    kafka_bootstrap: str, topic: Make
) -> None:
    source, output = await topic(3), await topic(1)
    # Two conversations share partition 0 (explicitly), a third partition carries unrelated traffic
    # handled at the same time; small batches make many rounds.
    items: list[tuple[str, int, m.SendMessage]] = []
    for i in range(60):
        items.append(("alice", 0, _send(f"alice {i}")))
        items.append(("bob", 0, _send(f"bob {i}")))
        items.append((f"other-{i}", 1 + i % 2, _send(f"other {i}")))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, partition, message in items:
            await producer.send(source.name, m.encode(message), key.encode(), partition=partition)
        await producer.flush()
    finally:
        await producer.stop()

    async def handler(records: Sequence[Record[m.SendMessage]], out: Emit) -> None:
        await asyncio.sleep(0.01 * len(records))  # a database round trip, more or less
        for record in records:
            out.publish(output, record.message, record.key or "", cause=record)

    consumers = Consumers(
        KafkaSettings(kafka_bootstrap=kafka_bootstrap),
        _settings(consumer_batch_max=7),
        [Subscription(source, m.SendMessage, handler)],
        group_id=f"g-{uuid.uuid4().hex}",
        service="test",
    )
    await _running(consumers)
    try:
        echoed = await _read_committed(kafka_bootstrap, output.name, at_least=len(items))
    finally:
        await consumers.stop()
    bodies = [json.loads(r.value)["payload"]["body"] for r in echoed]
    assert len(bodies) == len(items)
    assert [b for b in bodies if b.startswith("alice")] == [f"alice {i}" for i in range(60)]
    assert [b for b in bodies if b.startswith("bob")] == [f"bob {i}" for i in range(60)]


async def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}


async def test_in_lane_mode_a_failed_dead_letter_publish_is_retried_before_its_offset_is_committed(
    kafka_bootstrap: str, topic: Make
) -> None:
    source, output = await topic(1), await topic(1)
    key = "+4930123456"
    await _produce(
        kafka_bootstrap,
        source.name,
        [(key, b"{not json", []), (key, m.encode(_send("refused")), []), (key, m.encode(_send("fine")), [])],
    )
    seen: list[str] = []

    async def handler(record: Record[m.SendMessage], out: Emit) -> None:
        if record.message.payload.body == "refused":
            raise PermanentError("can never be handled")
        seen.append(record.message.payload.body)
        out.publish(output, m.SendMessage(organization_id="org", payload=record.message.payload), key, cause=record)

    group = f"g-{uuid.uuid4().hex}"
    consumers = Consumers(
        KafkaSettings(kafka_bootstrap=kafka_bootstrap),
        _settings(),
        [Subscription(source, m.SendMessage, handler, lanes=lambda message: message.payload.from_)],
        group_id=group,
        service="test",
    )
    engine = consumers.engines[0]
    failures = {"left": 3}
    original = engine.send_all

    async def flaky_dead_letters(outgoing: Any, producer: Any = None) -> None:
        if failures["left"] and any(o.topic == source.dead_letter for o in outgoing):
            failures["left"] -= 1
            raise ConnectionError("Unable to connect to the broker")
        await original(outgoing, producer)

    engine.send_all = flaky_dead_letters  # type: ignore[method-assign]
    await _running(consumers)
    try:
        dead = await _read_committed(kafka_bootstrap, source.dead_letter, at_least=2)
        await eventually(lambda: seen == ["fine"], within=30, what="the good message handled")
        await eventually(lambda: 3 in engine.committed.values(), within=30, what="all three committed")
    finally:
        await consumers.stop()
    assert failures["left"] == 0
    # An undecodable record has no sender: it has a lane of its own, so the two may come in either order.
    assert sorted(dict(r.headers)[HEADER_ERROR_CLASS].decode() for r in dead) == ["PermanentError", "ValidationError"]
    assert await _committed(kafka_bootstrap, group, source.name) == {0: 3}


async def test_stopping_during_an_outage_commits_nothing_and_does_not_wait_out_the_backoff(
    kafka_bootstrap: str, topic: Make
) -> None:
    source = await topic(1)
    await _produce(kafka_bootstrap, source.name, [("k", m.encode(_send("waits")), [])])
    calls = 0

    async def handler(records: Sequence[Record[m.SendMessage]], out: Emit) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("the database is away")

    group = f"g-{uuid.uuid4().hex}"
    consumers = Consumers(
        KafkaSettings(kafka_bootstrap=kafka_bootstrap),
        ConsumerSettings(consumer_retry_first_delay_s=5.0, consumer_retry_max_delay_s=60.0),
        [Subscription(source, m.SendMessage, handler)],
        group_id=group,
        service="test",
    )
    await _running(consumers)
    try:
        await eventually(lambda: calls >= 1, within=30, what="the handler tried")
    finally:
        began = time.monotonic()
        await consumers.stop()
        stopped_after = time.monotonic() - began
    assert stopped_after < 5  # not the 5 s backoff
    assert calls == 1
    assert await _committed(kafka_bootstrap, group, source.name) == {}
    dead = await _read_committed(kafka_bootstrap, source.dead_letter, at_least=0, settle=0.5)
    assert dead == []


async def test_a_trace_begun_by_the_outbox_publisher_continues_in_the_consumer(
    kafka_bootstrap: str, topic: Make
) -> None:
    """FastStream's publisher (provisioning's outbox relay) puts the trace on the record; the engine's
    consumer span continues it."""
    source = await topic(1)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handled: list[int] = []

    async def handler(records: Sequence[Record[m.SendMessage]], out: Emit) -> None:
        handled.extend(otel_trace.get_current_span().get_span_context().trace_id for _ in records)

    consumers = Consumers(
        KafkaSettings(kafka_bootstrap=kafka_bootstrap),
        _settings(),
        [Subscription(source, m.SendMessage, handler)],
        group_id=f"g-{uuid.uuid4().hex}",
        service="test",
        tracer_provider=provider,
    )
    broker = build_broker(KafkaSettings(kafka_bootstrap=kafka_bootstrap), "test", tracer_provider=provider)
    await _running(consumers)
    try:
        async with broker:
            await broker.start()
            with provider.get_tracer("test").start_as_current_span("webhook") as parent:
                await Publisher(broker).publish(source, _send("traced"), "k")
        await eventually(lambda: handled, within=30, what="message handled")
    finally:
        await consumers.stop()
    trace_id = parent.get_span_context().trace_id
    processed = [s for s in exporter.get_finished_spans() if s.name.endswith("process")]
    assert processed
    assert {s.context.trace_id for s in processed} == {trace_id}

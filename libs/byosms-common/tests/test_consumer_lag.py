"""``byosms_consumer_lag`` on the real broker: records produced and not yet handled show as lag on
the service's metrics; once the consumer drained them the lag is 0, also after a transactional
producer (whose commit markers take offsets of their own)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from byosms_common import messages as m
from byosms_common.consumer import Consumers, Emit, Record, Subscription
from byosms_common.settings import ConsumerSettings, KafkaSettings
from byosms_common.testing import eventually
from byosms_common.topics import TopicSpec

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(kafka_bootstrap: str) -> AsyncIterator[TopicSpec]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    spec = TopicSpec(f"test.lag.{uuid.uuid4().hex[:10]}", "k", 2, False, "test", ("test",), "scratch")
    await admin.create_topics([NewTopic(spec.name, 2, 1), NewTopic(spec.dead_letter, 1, 1)])
    yield spec
    await admin.delete_topics([spec.name, spec.dead_letter])
    await admin.close()


def _lag(registry: CollectorRegistry, topic: str, group: str) -> dict[int, float]:
    """byosms_consumer_lag per partition as /metrics shows it (the exposition text, parsed)."""
    text = generate_latest(registry).decode()
    return {
        int(sample.labels["partition"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "byosms_consumer_lag"
        for sample in family.samples
        if sample.labels["topic"] == topic and sample.labels["group"] == group
    }


def _message(body: str) -> bytes:
    payload = m.SendMessagePayload.model_validate({"from": "+4930123456", "to": "+4915112345678", "body": body})
    return m.SendMessage(organization_id="org", payload=payload).model_dump_json().encode()


@pytest.mark.parametrize("mode", ["batch", "lanes"])
async def test_lag_counts_unhandled_records_and_drops_to_zero_when_drained(
    kafka_bootstrap: str, topic: TopicSpec, mode: str
) -> None:
    registry = CollectorRegistry()
    group = f"test-lag-{uuid.uuid4().hex[:8]}"
    gate = asyncio.Event()
    handled: list[str] = []

    async def batch(records: Sequence[Record[m.SendMessage]], out: Emit) -> None:
        await gate.wait()
        handled.extend(r.message.payload.body for r in records)

    async def lane(record: Record[m.SendMessage], out: Emit) -> None:
        await gate.wait()
        handled.append(record.message.payload.body)

    subscription: Subscription[m.SendMessage] = (
        Subscription(topic, m.SendMessage, batch)
        if mode == "batch"
        else Subscription(topic, m.SendMessage, lane, lanes=lambda message: message.payload.body)
    )
    consumers = Consumers(
        KafkaSettings(kafka_bootstrap=kafka_bootstrap),
        ConsumerSettings(consumer_lag_interval_s=0.2),
        [subscription],
        group_id=group,
        service="test-lag",
        registry=registry,
    )
    # 5 records on partition 0, 2 on partition 1, written in one transaction (its markers follow).
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"{group}-tx")
    await producer.start()
    await consumers.start()
    try:
        async with producer.transaction():
            for i in range(5):
                await producer.send(topic.name, _message(f"p0-{i}"), b"k", partition=0)
            for i in range(2):
                await producer.send(topic.name, _message(f"p1-{i}"), b"k", partition=1)
        # Fetched but not handled (the handler waits): everything counts as lag.
        await eventually(lambda: _lag(registry, topic.name, group) == {0: 5.0, 1: 2.0}, within=30, what="lag 5 and 2")
        gate.set()
        await eventually(lambda: len(handled) == 7, within=30, what="all handled")
        await eventually(lambda: _lag(registry, topic.name, group) == {0: 0.0, 1: 0.0}, within=30, what="lag 0")
        # More records while the consumer runs freely: handled, and the lag returns to 0.
        await producer.begin_transaction()
        await producer.send(topic.name, _message("late"), b"k", partition=1)
        await producer.commit_transaction()
        await eventually(lambda: "late" in handled, within=30, what="late record handled")
        await eventually(lambda: _lag(registry, topic.name, group) == {0: 0.0, 1: 0.0}, within=30, what="lag 0 again")
    finally:
        await consumers.stop()
        await producer.stop()
    assert _lag(registry, topic.name, group) == {}, "a stopped consumer's partitions are no longer reported"

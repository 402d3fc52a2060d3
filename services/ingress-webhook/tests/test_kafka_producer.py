"""The librdkafka producer against the real broker: what an acknowledged record looks like in Kafka,
which partition a conversation lands on, refusals, and a broker that is not there."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

from byosms_common.settings import KafkaSettings
from byosms_ingress.app import Ingress
from byosms_ingress.kafka_producer import DeliveryFailed, KafkaSignals, RdKafkaProducer, producer_config
from byosms_ingress.metrics import IngressMetrics
from byosms_ingress.publishing import EventPublisher, PublishOutcome
from byosms_ingress.settings import IngressSettings
from byosms_ingress.spool import Spool, SpoolRecord

pytestmark = pytest.mark.integration

PARTITIONS = 6


def _refused_address() -> str:
    """A loopback port nobody listens on (bound and closed again): connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
async def scratch_topic(ingress_kafka_bootstrap: str) -> AsyncIterator[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=ingress_kafka_bootstrap)
    await admin.start()
    name = f"test.ingress.{uuid.uuid4().hex[:12]}"
    await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    try:
        yield name
    finally:
        await admin.delete_topics([name])
        await admin.close()


@pytest.fixture
async def producer(ingress_kafka_bootstrap: str) -> AsyncIterator[RdKafkaProducer]:
    started = RdKafkaProducer(producer_config(ingress_kafka_bootstrap, "byosms-test-ingress"))
    await started.start()
    yield started
    await started.stop(5)


async def _read(bootstrap: str, topic: str, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(30):
            while len(records) < count:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def test_an_acknowledged_record_is_in_kafka_with_its_key_and_headers(
    producer: RdKafkaProducer, scratch_topic: str, ingress_kafka_bootstrap: str
) -> None:
    headers = [("content-type", b"application/json"), ("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]
    delivery = await producer.send(scratch_topic, b'{"id": "SM1"}', b"+15005550006|+14155550100", headers=headers)
    await asyncio.wait_for(delivery, 30)  # acknowledged: acks=all, so on every in-sync replica

    [record] = await _read(ingress_kafka_bootstrap, scratch_topic, 1)
    assert (record.key, record.value) == (b"+15005550006|+14155550100", b'{"id": "SM1"}')
    assert list(record.headers) == headers


async def test_a_conversation_lands_on_the_partition_aiokafka_chose(
    producer: RdKafkaProducer, scratch_topic: str, ingress_kafka_bootstrap: str
) -> None:
    """The ingress used aiokafka before: during an upgrade, both must put one conversation on one
    partition, or its messages could be routed out of order."""
    keys = [f"+1500555{n:04d}|+14155550100".encode() for n in range(30)]
    deliveries = [await producer.send(scratch_topic, b"x", key) for key in keys]
    await asyncio.wait_for(asyncio.gather(*deliveries), 30)

    records = await _read(ingress_kafka_bootstrap, scratch_topic, len(keys))
    partitions = list(range(PARTITIONS))
    expected = {key: DefaultPartitioner()(key, partitions, partitions) for key in keys}
    assert {r.key: r.partition for r in records} == expected
    assert len(set(expected.values())) > 1  # the keys really spread over several partitions


async def test_one_conversation_arrives_in_the_order_it_was_sent(
    producer: RdKafkaProducer, scratch_topic: str, ingress_kafka_bootstrap: str
) -> None:
    """Sends from several webhooks in one loop iteration, and from later ones, keep their order."""
    key = b"+15005550006|+14155550100"
    first = [await producer.send(scratch_topic, f"{n}".encode(), key) for n in range(50)]
    await asyncio.sleep(0)
    later = [await producer.send(scratch_topic, f"{n}".encode(), key) for n in range(50, 60)]
    await asyncio.wait_for(asyncio.gather(*first, *later), 30)

    records = await _read(ingress_kafka_bootstrap, scratch_topic, 60)
    assert [r.value for r in sorted(records, key=lambda r: r.offset)] == [f"{n}".encode() for n in range(60)]
    assert len({r.partition for r in records}) == 1


async def test_a_record_kafka_can_never_take_fails_for_good(producer: RdKafkaProducer, scratch_topic: str) -> None:
    """Too large: the future fails as not retriable, so the drain sets it aside instead of retrying forever."""
    delivery = await producer.send(scratch_topic, b"x" * 2_000_000, b"k")
    with pytest.raises(DeliveryFailed) as failed:
        await delivery
    assert failed.value.retriable is False


async def test_records_still_queued_when_it_stops_fail_as_retriable() -> None:
    """Kafka away at shutdown: what the producer still holds fails retriably (its spooled copy stays)."""
    producer = RdKafkaProducer(producer_config(_refused_address(), "byosms-test-ingress"))
    await producer.start()
    delivery = await producer.send("byosms.sms.inbound.v1", b"x", b"k")
    await producer.stop(0.2)
    with pytest.raises(DeliveryFailed) as failed:
        await delivery
    assert failed.value.retriable is True


async def test_a_broker_that_is_down_makes_publish_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1024 * 1024)
    await spool.open()
    publisher = EventPublisher(spool, IngressMetrics(), deadline_s=0.3, drain_batch=10)
    producer = RdKafkaProducer(producer_config(_refused_address(), "byosms-test-ingress"))
    await producer.start()
    publisher.producer = producer
    record = SpoolRecord("SMdown", "byosms.sms.inbound.v1", "+1|+2", b"{}", "sms.inbound_received")

    assert await publisher.publish(record) is PublishOutcome.SPOOLED
    assert [r.event_id for r in (await spool.peek(10)).records] == ["SMdown"]
    assert await producer.probe(0.5) is not None  # and it can tell that Kafka is not there
    await publisher.close()
    await producer.stop(0)
    await spool.close()


async def test_the_ingress_produces_with_acks_all_and_idempotence(ingress_kit: Any, tmp_path: Path) -> None:
    """The settings the running ingress hands to librdkafka."""
    configs: list[dict[str, Any]] = []

    def capturing(config: dict[str, Any], signals: KafkaSignals) -> RdKafkaProducer:
        configs.append(config)
        return RdKafkaProducer(config, signals)

    settings = IngressSettings(region="us-east-1", spool_dir=tmp_path / "spool")
    ingress = Ingress(
        settings,
        KafkaSettings(kafka_bootstrap=_refused_address()),
        ingress_kit.new_keyring(),
        producer_factory=capturing,
    )
    async with TestClient(TestServer(ingress.web_app())):
        await ingress_kit.wait_until(lambda: bool(configs), 10, "producer created")
    [config] = configs
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["partitioner"] == "murmur2_random"  # Java's and aiokafka's, see the partition test
    assert config["client.id"] == "byosms-ingress-us-east-1"

"""``byosms_kafka_reachable``: a consumer service's live gauge of whether it reaches Kafka, with one log
line when Kafka goes and one when it is back. Against a broker of the test's own that is stopped
and started again (an idle consumer alone would not notice: it reconnects quietly)."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import CollectorRegistry

from byosms_common import messages as m
from byosms_common.consumer import Emit, Record, Subscription
from byosms_common.kafka_reachability import GAUGE, KafkaConnectivity, reachability_gauge
from byosms_common.service import ServiceRuntime
from byosms_common.settings import ConsumerSettings, KafkaSettings
from byosms_common.testing import eventually, free_port
from byosms_common.topics import TopicSpec
from byosms_devstack.settings import StackSettings
from byosms_devstack.stack import ensure_kafka, stop_kafka

LOGGER = "byosms_common.kafka_reachability"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.unit
def test_the_gauge_is_0_until_kafka_is_reached_and_each_change_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    registry, clock = CollectorRegistry(), Clock()
    connectivity = KafkaConnectivity(
        reachability_gauge(registry), still_down_every_s=30, clock=clock, consequence="; consumers wait"
    )
    assert registry.get_sample_value(GAUGE) == 0
    connectivity.down("KafkaConnectionError")  # never reached at start
    connectivity.up()
    assert registry.get_sample_value(GAUGE) == 1
    for second in range(65):
        clock.now = 200.0 + second
        connectivity.down("KafkaError")
        connectivity.tick()
        assert registry.get_sample_value(GAUGE) == 0
    clock.now = 270.0
    connectivity.up()
    connectivity.up()
    assert registry.get_sample_value(GAUGE) == 1
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER] == [
        ("WARNING", "Kafka unreachable (KafkaConnectionError); consumers wait"),
        ("INFO", "Kafka reachable again after 0s"),
        ("WARNING", "Kafka unreachable (KafkaError); consumers wait"),
        ("WARNING", "Kafka still unreachable after 30s (KafkaError)"),
        ("WARNING", "Kafka still unreachable after 60s (KafkaError)"),
        ("INFO", "Kafka reachable again after 70s"),
    ]


# ------------------------------------------------------------------------------ the real broker


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    """A broker of this module's own (ephemeral ports), so it can be stopped without harming others."""
    settings = StackSettings(
        dir=tmp_path_factory.mktemp("reachability-stack"),
        kafka_port=free_port(),
        controller_port=free_port(),
        pg_port=free_port(),  # unused: only the broker starts
    )
    ensure_kafka(settings, say=lambda _: None)
    yield settings
    stop_kafka(settings, say=lambda _: None)


@pytest.fixture
async def source(own_broker: StackSettings) -> TopicSpec:
    spec = TopicSpec(f"test.reach.{uuid.uuid4().hex[:10]}", "k", 1, False, "test", ("test",), "scratch")
    admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{own_broker.kafka_port}")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(spec.name, 1, 1), NewTopic(spec.dead_letter, 1, 1)])
    finally:
        await admin.close()
    return spec


async def _produce(bootstrap: str, topic: str, body: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        message = m.SendMessage(
            organization_id="org",
            payload=m.SendMessagePayload.model_validate({"from": "+4930123456", "to": "+4915112345678", "body": body}),
        )
        await producer.send_and_wait(topic, m.encode(message), b"k")
    finally:
        await producer.stop()


@pytest.mark.integration
async def test_a_consumer_service_reports_kafka_going_and_coming_back(
    own_broker: StackSettings, source: TopicSpec, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bootstrap = f"127.0.0.1:{own_broker.kafka_port}"
    port = free_port()
    handled: list[str] = []

    async def handler(records: Sequence[Record[m.SendMessage]], out: Emit) -> None:
        handled.extend(r.message.payload.body for r in records)

    service = ServiceRuntime(
        "reach-test",
        host="127.0.0.1",
        port=port,
        kafka=KafkaSettings(kafka_bootstrap=bootstrap),
        consumer_group=f"g-{uuid.uuid4().hex}",
        consumer_settings=ConsumerSettings(consumer_session_timeout_ms=6000),
    )
    service.consume(lambda: [Subscription(source, m.SendMessage, handler)])
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        async with aiohttp.ClientSession() as http:

            async def gauge() -> float | None:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                        found = re.search(rf"^{GAUGE} (\S+)$", await response.text(), re.MULTILINE)
                except aiohttp.ClientConnectionError:
                    return None
                return float(found.group(1)) if found else None

            async def ready() -> int:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    return response.status

            await eventually(lambda: _is(gauge, 1.0), within=30, what="reachable at start")
            await eventually(lambda: _status(ready, 200), within=60, what="ready")
            await _produce(bootstrap, source.name, "before")
            await eventually(lambda: "before" in handled, within=30, what="the first record handled")

            await asyncio.to_thread(stop_kafka, own_broker, say=lambda _: None)
            await eventually(lambda: _is(gauge, 0.0), within=15, what="unreachable once the broker is gone")
            assert await ready() == 503
            assert not task.done()

            await asyncio.to_thread(ensure_kafka, own_broker, say=lambda _: None)
            await eventually(lambda: _is(gauge, 1.0), within=30, what="reachable once the broker is back")
            await _produce(bootstrap, source.name, "after")
            # "before" may come again: the broker may have gone between its handling and its commit.
            await eventually(lambda: "after" in handled, within=60, what="consuming again")
            await eventually(lambda: _status(ready, 200), within=30, what="ready again")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]
    assert lines[0] == ("INFO", "Kafka reachable")
    (gone,) = [line for line in lines if "unreachable (" in line[1]]
    assert gone[0] == "WARNING"
    assert gone[1].endswith("; consumers and publishing wait until it is back")
    assert [line[1] for line in lines if "reachable again after" in line[1]], lines
    assert sum(1 for line in lines if "reachable again" in line[1]) == 1, "one line when back, not one per probe"


async def _is(read: Callable[[], Awaitable[float | None]], value: float) -> bool:
    return await read() == value


async def _status(read: Callable[[], Awaitable[int]], value: int) -> bool:
    try:
        return await read() == value
    except aiohttp.ClientConnectionError:
        return False

"""The publisher and its drain with a scripted producer: order per conversation, errors, shutdown.

The real-broker round trip (outage, restart) is in test_outage; here the producer is a fake so the
timing of acknowledgements can be chosen exactly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from byosms_ingress.metrics import IngressMetrics
from byosms_ingress.publishing import EventPublisher, PublishOutcome
from byosms_ingress.spool import Spool, SpoolRecord

pytestmark = pytest.mark.unit


@dataclass
class ScriptedProducer:
    """Records every send in the order it reached the producer; chosen sends stay pending."""

    sent: list[str] = field(default_factory=list)
    hold: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    headers: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Any:
        assert value is not None
        event_id = value.decode()  # the records below carry their event id as the value
        self.sent.append(event_id)
        self.headers[event_id] = list(headers or ())
        held = self.hold.pop(event_id, None)
        if held is not None:
            return held
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def record_with_id(n: int) -> SpoolRecord:
    """One conversation (one key); the value is the event id, for the scripted producer."""
    return SpoolRecord(
        event_id=f"SM{n}", topic="t", key="+1|+2", value=f"SM{n}".encode(), message_type="sms.inbound_received"
    )


async def _publisher(tmp_path: Path, deadline_s: float = 0.05) -> tuple[EventPublisher, Spool, IngressMetrics]:
    spool = Spool(tmp_path / "spool", 1024 * 1024)
    await spool.open()
    metrics = IngressMetrics()
    return EventPublisher(spool, metrics, deadline_s=deadline_s, drain_batch=100), spool, metrics


async def _until(predicate: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_late_failing_first_send_keeps_the_conversation_in_order(tmp_path: Path) -> None:
    """SM0's own send outlives the deadline (spooled), SM1 and SM2 queue behind it in the spool; then
    SM0's first send fails. Kafka must get SM0 before SM1 and SM2."""
    publisher, spool, _ = await _publisher(tmp_path)
    producer = ScriptedProducer()
    first_send: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    producer.hold["SM0"] = first_send
    publisher.producer = producer
    assert await publisher.publish(record_with_id(0)) is PublishOutcome.SPOOLED
    assert await publisher.publish(record_with_id(1)) is PublishOutcome.SPOOLED
    assert await publisher.publish(record_with_id(2)) is PublishOutcome.SPOOLED

    stop = asyncio.Event()
    drain = asyncio.create_task(publisher.drain_forever(stop))
    await asyncio.sleep(0.2)  # the drain has the batch and waits for SM0's first send
    first_send.set_exception(ConnectionError("broker went away"))
    await _until(lambda: spool.empty)
    stop.set()
    await drain
    assert producer.sent == ["SM0", "SM0", "SM1", "SM2"]
    await publisher.close()
    await spool.close()


async def test_a_late_successful_first_send_is_not_sent_again(tmp_path: Path) -> None:
    publisher, spool, _ = await _publisher(tmp_path)
    producer = ScriptedProducer()
    first_send: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    producer.hold["SM0"] = first_send
    publisher.producer = producer
    await publisher.publish(record_with_id(0))
    await publisher.publish(record_with_id(1))
    stop = asyncio.Event()
    drain = asyncio.create_task(publisher.drain_forever(stop))
    await asyncio.sleep(0.2)
    first_send.set_result(None)
    await _until(lambda: spool.empty)
    stop.set()
    await drain
    assert producer.sent == ["SM0", "SM1"]
    await spool.close()


async def test_a_send_stuck_before_the_producer_took_it_is_spooled_and_sent_once(tmp_path: Path) -> None:
    """The producer cannot even take SM0 within the deadline (e.g. no metadata yet): SM0 is spooled,
    that send is abandoned, and the drain delivers SM0 exactly once, ahead of SM1."""
    publisher, spool, _ = await _publisher(tmp_path)
    producer = ScriptedProducer()
    unblock = asyncio.Event()
    taken: list[str] = []

    class Stuck:
        async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None, **kw: Any) -> Any:
            await unblock.wait()  # never returns in time: the record never reaches this producer
            taken.append(topic)
            return await producer.send(topic, value, key, **kw)

    publisher.producer = Stuck()
    assert await publisher.publish(record_with_id(0)) is PublishOutcome.SPOOLED
    unblock.set()
    publisher.producer = producer
    assert await publisher.publish(record_with_id(1)) is PublishOutcome.SPOOLED  # behind SM0 in the spool
    stop = asyncio.Event()
    drain = asyncio.create_task(publisher.drain_forever(stop))
    await _until(lambda: spool.empty)
    stop.set()
    await drain
    await asyncio.sleep(0.05)
    assert producer.sent == ["SM0", "SM1"]
    assert taken == []  # the stuck send was given up, not completed behind the drain's back
    await publisher.close()
    await spool.close()


async def test_the_drain_survives_disk_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publisher, spool, metrics = await _publisher(tmp_path)
    for n in range(3):
        await publisher.publish(record_with_id(n))  # no producer yet: spooled
    real_peek = spool.peek
    failures = iter([OSError(5, "Input/output error")])

    async def flaky_peek(max_records: int) -> Any:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return await real_peek(max_records)

    monkeypatch.setattr(spool, "peek", flaky_peek)
    producer = ScriptedProducer()
    publisher.producer = producer
    stop = asyncio.Event()
    drain = asyncio.create_task(publisher.drain_forever(stop))
    await _until(lambda: spool.empty)
    stop.set()
    await drain
    assert producer.sent == ["SM0", "SM1", "SM2"]
    assert metrics.registry.get_sample_value("byosms_ingress_spool_errors_total", {"operation": "drain"}) == 1
    await spool.close()


async def test_drain_remaining_sends_what_the_spool_holds(tmp_path: Path) -> None:
    publisher, spool, _ = await _publisher(tmp_path)
    for n in range(5):
        await publisher.publish(record_with_id(n))
    producer = ScriptedProducer()
    publisher.producer = producer
    await asyncio.wait_for(publisher.drain_remaining(), 5)
    assert spool.empty
    assert producer.sent == [f"SM{n}" for n in range(5)]
    await spool.close()


async def test_drain_remaining_gives_up_without_progress(tmp_path: Path) -> None:
    publisher, spool, _ = await _publisher(tmp_path)
    await publisher.publish(record_with_id(0))

    class Down:
        async def send(self, *_: Any, **__: Any) -> Any:
            raise ConnectionError("no broker")

    publisher.producer = Down()
    await asyncio.wait_for(publisher.drain_remaining(), 5)  # returns, does not spin
    assert spool.pending_records == 1
    await spool.close()


async def test_a_spooled_event_keeps_the_webhooks_trace_context_on_the_way_to_kafka(tmp_path: Path) -> None:
    """Spooled during an outage, drained later and outside the request: still the request's trace."""
    publisher, spool, _ = await _publisher(tmp_path)
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    record = SpoolRecord("SM7", "t", "+1|+2", b"SM7", "sms.inbound_received", traceparent, "lb=proxy1")
    assert await publisher.publish(record) is PublishOutcome.SPOOLED  # no producer yet
    await spool.close()
    reopened = Spool(tmp_path / "spool", 1024 * 1024)  # and across a restart of the ingress
    await reopened.open()
    publisher = EventPublisher(reopened, IngressMetrics(), deadline_s=0.05, drain_batch=100)
    producer = ScriptedProducer()
    publisher.producer = producer
    await asyncio.wait_for(publisher.drain_remaining(), 5)
    assert producer.headers["SM7"] == [
        ("content-type", b"application/json"),
        ("byosms-type", b"sms.inbound_received"),
        ("traceparent", traceparent.encode()),
        ("tracestate", b"lb=proxy1"),
        ("byosms-spooled", b"1"),  # so the message's trace can say it went through the spool
    ]
    await reopened.close()


async def test_while_kafka_is_known_down_events_go_to_the_spool_at_once(tmp_path: Path) -> None:
    """No wait for the deadline when the reachability check already says Kafka is away."""
    spool = Spool(tmp_path / "spool", 1024 * 1024)
    await spool.open()
    up = False
    publisher = EventPublisher(spool, IngressMetrics(), deadline_s=5.0, drain_batch=100, kafka_up=lambda: up)
    producer = ScriptedProducer()
    publisher.producer = producer
    started = asyncio.get_running_loop().time()
    assert await publisher.publish(record_with_id(0)) is PublishOutcome.SPOOLED
    assert asyncio.get_running_loop().time() - started < 1.0
    assert producer.sent == []  # not even handed to the producer
    up = True
    assert await publisher.publish(record_with_id(1)) is PublishOutcome.SPOOLED  # behind SM0 in the spool
    await asyncio.wait_for(publisher.drain_remaining(), 5)
    assert producer.sent == ["SM0", "SM1"]
    await spool.close()


async def test_a_producer_that_queues_at_once_is_held_to_the_deadline_too(tmp_path: Path) -> None:
    """librdkafka's producer takes the record at once; an acknowledgement that comes later than the
    deadline still sends the webhook to the spool, and the drain does not send that event again."""
    publisher, spool, _ = await _publisher(tmp_path)
    late: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sent: list[str] = []

    class Queuing:
        def queue(self, topic: str, value: bytes | None = None, key: bytes | None = None, **_: Any) -> Any:
            assert value is not None
            sent.append(value.decode())
            return late

        async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None, **kw: Any) -> Any:
            return self.queue(topic, value, key, **kw)

    publisher.producer = Queuing()
    assert await publisher.publish(record_with_id(0)) is PublishOutcome.SPOOLED
    assert spool.pending_records == 1
    late.set_result(None)  # acknowledged after all
    stop = asyncio.Event()
    drain = asyncio.create_task(publisher.drain_forever(stop))
    await _until(lambda: spool.empty)
    stop.set()
    await drain
    assert sent == ["SM0"]


async def test_a_producer_that_queues_at_once_and_acknowledges_in_time_is_accepted(tmp_path: Path) -> None:
    publisher, spool, _ = await _publisher(tmp_path, deadline_s=5.0)
    loop = asyncio.get_running_loop()

    class Queuing:
        def queue(self, *_: Any, **__: Any) -> Any:
            acknowledged: asyncio.Future[None] = loop.create_future()
            loop.call_later(0.01, acknowledged.set_result, None)
            return acknowledged

        async def send(self, *_: Any, **__: Any) -> Any:
            raise AssertionError("queue is used")

    publisher.producer = Queuing()
    assert await publisher.publish(record_with_id(0)) is PublishOutcome.ACCEPTED
    assert spool.empty

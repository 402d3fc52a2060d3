"""Getting accepted events into Kafka: directly within a deadline, else through the disk spool.

- Kafka answers within the deadline: the webhook is answered 200 (``accepted``).
- Kafka is not connected, slower than the deadline, or refuses: the event is appended to the spool
  (fsync) and the webhook is answered 200 (``spooled``). The first send is not cancelled: if it is
  acknowledged later, the drain notices and does not send the spooled copy again.
- While the spool holds anything, new events are appended behind it, so the drain keeps them in
  arrival order (one conversation stays ordered on its partition).
- The drain sends spooled events in order once Kafka is back, and after a restart. A spooled event
  whose first send is still pending is resolved (sent or known to be in Kafka) before any later
  record is handed to the producer, so a conversation never gets reordered.
- The drain survives disk and Kafka errors: it logs, counts (``byosms_ingress_spool_errors_total``),
  backs off and tries again; it never dies silently.
- On shutdown, :meth:`EventPublisher.drain_remaining` sends what the spool holds within a grace
  period; whatever is left stays on disk for the next start.

The producer is idempotent with ``acks=all``, so its own retries never duplicate a record. It is
used directly (not through FastStream's publish) because the ingress needs the delivery future to
outlive the request's deadline. Every record carries the W3C trace context of the webhook's request
span as ``traceparent`` / ``tracestate`` headers (kept in the spool too, so a drained record
continues the same trace), besides the envelope's ``trace`` field.

While Kafka is known to be unreachable (``kafka_up``, kept live by app.py), events go to the spool at
once instead of waiting out the deadline first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, Protocol

from byosms_common.kafka import HEADER_SPOOLED, HEADER_TYPE
from byosms_ingress.metrics import IngressMetrics
from byosms_ingress.spool import Batch, Spool, SpoolRecord, SpoolWriteError

log = logging.getLogger(__name__)

HEADER_TRACEPARENT = "traceparent"
HEADER_TRACESTATE = "tracestate"

_MIN_BACKOFF = 0.2
_MAX_BACKOFF = 5.0


class Producer(Protocol):
    """What the publisher needs of a producer: ``kafka_producer.RdKafkaProducer`` (and aiokafka's
    ``AIOKafkaProducer``) fit; ``send`` returns the delivery future once the producer has the record."""

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Awaitable[Any]: ...


class QueuingProducer(Protocol):
    """A producer that takes a record at once (librdkafka's, ``kafka_producer.RdKafkaProducer``):
    ``queue`` returns the delivery future without awaiting anything, so only the wait for Kafka's
    acknowledgement needs the deadline, and a timer on it is enough (no ``asyncio.timeout``, which
    costs several times as much per webhook)."""

    def queue(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> asyncio.Future[Any]: ...


class PublishOutcome(StrEnum):
    ACCEPTED = "accepted"
    SPOOLED = "spooled"


_CONTENT_TYPE = ("content-type", b"application/json")


def _headers(record: SpoolRecord) -> list[tuple[str, bytes]]:
    """Content type, message type and the webhook's W3C trace context (consumers continue the trace)."""
    headers = [_CONTENT_TYPE, (HEADER_TYPE, record.message_type.encode())]
    if record.traceparent:
        headers.append((HEADER_TRACEPARENT, record.traceparent.encode()))
        if record.tracestate:
            headers.append((HEADER_TRACESTATE, record.tracestate.encode()))
    return headers


async def _send(producer: Producer, record: SpoolRecord) -> Awaitable[Any]:
    """Hand one record to the producer; returns Kafka's delivery future."""
    return await producer.send(record.topic, record.value, record.key.encode(), headers=_headers(record))


class EventPublisher:
    """Publishes events with a deadline, spools the rest and drains the spool."""

    def __init__(
        self,
        spool: Spool,
        metrics: IngressMetrics,
        *,
        deadline_s: float,
        drain_batch: int,
        kafka_up: Callable[[], bool] | None = None,
    ) -> None:
        self.producer: Producer | None = None
        self._kafka_up = kafka_up or _always
        self._spool = spool
        self._metrics = metrics
        self._deadline = deadline_s
        self._drain_batch = drain_batch
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self.update_gauges()

    async def publish(self, record: SpoolRecord) -> PublishOutcome:
        """Durably accept ``record``; raises SpoolFullError / SpoolWriteError when that is impossible."""
        producer = self.producer
        if producer is None or not self._spool.empty or not self._kafka_up():
            await self._append(record)
            return PublishOutcome.SPOOLED
        started = time.perf_counter()
        delivery: asyncio.Future[Any] | None = None
        queue: Callable[..., asyncio.Future[Any]] | None = getattr(producer, "queue", None)
        try:
            if queue is not None:
                delivery = queue(record.topic, record.value, record.key.encode(), headers=_headers(record))
                if not delivery.done():
                    await _done_within(delivery, self._deadline)
            else:
                delivery = await self._send_within_deadline(producer, record)
            if not delivery.done():
                raise _TimedOut(delivery)
            delivery.result()  # raises what the producer failed with
        except _TimedOut as timed_out:
            delivery = timed_out.delivery
            log.warning("Kafka did not acknowledge %s within %.1fs; spooling it", record.event_id, self._deadline)
        except Exception as exc:  # noqa: BLE001 - whatever the producer raises, the spool takes the event
            log.warning("Kafka refused %s (%s); spooling it", record.event_id, type(exc).__name__)
        else:
            self._metrics.publish_seconds.observe(time.perf_counter() - started)
            return PublishOutcome.ACCEPTED
        if delivery is not None and not delivery.done():
            self._inflight[record.event_id] = delivery
        try:
            await self._append(record)
        except Exception:
            self._inflight.pop(record.event_id, None)
            raise
        return PublishOutcome.SPOOLED

    async def _send_within_deadline(self, producer: Producer, record: SpoolRecord) -> asyncio.Future[Any]:
        """A producer whose ``send`` may wait (aiokafka's, for metadata): one deadline for both steps.

        Cancelling ``producer.send`` before it returned means the record never reached the producer;
        the wait for Kafka's delivery future is cancelled, never the future itself, so a send that
        outlives the deadline goes on (and the drain waits for it, see _deliver).
        """
        delivery: asyncio.Future[Any] | None = None
        try:
            async with asyncio.timeout(self._deadline):
                delivery = asyncio.ensure_future(await _send(producer, record))
                if not delivery.done():
                    await _done(delivery)
        except TimeoutError:
            raise _TimedOut(delivery) from None
        return delivery

    async def _append(self, record: SpoolRecord) -> None:
        try:
            await self._spool.append(record)
        except SpoolWriteError:
            self._metrics.spool_errors.labels("append").inc()
            raise
        finally:
            self.update_gauges()

    def update_gauges(self) -> None:
        self._metrics.spool_records.set(self._spool.pending_records)
        self._metrics.spool_bytes.set(self._spool.pending_bytes)

    async def drain_forever(self, stop: asyncio.Event) -> None:
        """Move spooled events into Kafka, in order, until ``stop`` is set. Never dies on an error."""
        backoff = _MIN_BACKOFF
        while not stop.is_set():
            if not await _wait_either(self._spool.not_empty, stop):
                return
            try:
                progress = await self._drain_round()
            except Exception as exc:  # noqa: BLE001 - disk or Kafka trouble: log, count, back off, go on
                log.error("spool drain failed (%s: %s); retrying in %.1fs", type(exc).__name__, exc, backoff)
                self._metrics.spool_errors.labels("drain").inc()
                progress = False
            if progress:
                backoff = _MIN_BACKOFF
                continue
            await _wait_either(stop, None, timeout=backoff)
            backoff = min(_MAX_BACKOFF, backoff * 2)

    async def drain_remaining(self) -> None:
        """Shutdown: drain until the spool is empty or no progress is possible (bound it with a timeout)."""
        while not self._spool.empty:
            try:
                if not await self._drain_round():
                    return
            except Exception as exc:  # noqa: BLE001 - what is left stays on disk for the next start
                log.warning("final spool drain stopped (%s)", type(exc).__name__)
                self._metrics.spool_errors.labels("drain").inc()
                return

    async def _drain_round(self) -> bool:
        """Send one batch from the spool; True when every record of it is done (more may follow)."""
        producer = self.producer
        if producer is None:
            return False
        batch = await self._spool.peek(self._drain_batch)
        if not batch.records:
            return False
        done = await self._deliver(producer, batch)
        if done:
            await self._spool.ack(batch, done)
            self._metrics.drained.inc(done)
            self.update_gauges()
        return done == len(batch.records)

    async def _deliver(self, producer: Producer, batch: Batch) -> int:
        """Send a batch in order; the number of leading records that are done (in Kafka, or set aside).

        A record whose first send (from the webhook) is still pending is waited for before anything
        after it is handed to the producer: if that send fails, the spooled copy goes out next, still
        ahead of every later record.
        """
        pending: list[Awaitable[Any]] = []
        for record in batch.records:
            earlier = self._inflight.pop(record.event_id, None)
            try:
                if earlier is not None:
                    await asyncio.wait([earlier])
                    if not earlier.cancelled() and earlier.exception() is None:
                        pending.append(_already_done())  # the first send got through: not sent again
                        continue
                # Marked, so the message's trace can say it went through the spool.
                headers = [*_headers(record), (HEADER_SPOOLED, b"1")]
                pending.append(await producer.send(record.topic, record.value, record.key.encode(), headers=headers))
            except Exception as exc:  # noqa: BLE001 - anything but success means: retry this batch later
                log.warning("spool drain: Kafka unavailable (%s)", type(exc).__name__)
                break
        results = await asyncio.gather(*pending, return_exceptions=True)
        done = 0
        for record, result in zip(batch.records, results, strict=False):
            if isinstance(result, BaseException):
                if getattr(result, "retriable", True) or isinstance(result, asyncio.CancelledError):
                    log.warning("spool drain: %s failed (%s); will retry", record.event_id, type(result).__name__)
                    break
                log.error("Kafka refused spooled event %s for good (%s); set aside", record.event_id, result)
                await self._spool.set_aside(record)
                self._metrics.dead.inc()
            done += 1
        return done

    async def close(self) -> None:
        for task in self._inflight.values():
            task.cancel()
        for task in list(self._inflight.values()):
            with contextlib.suppress(BaseException):
                await task
        self._inflight.clear()


def _always() -> bool:
    return True


class _TimedOut(Exception):
    """The deadline passed; ``delivery`` is the send's future if the producer took the record."""

    def __init__(self, delivery: asyncio.Future[Any] | None) -> None:
        self.delivery = delivery


async def _done_within(future: asyncio.Future[Any], seconds: float) -> None:
    """Until ``future`` is done or ``seconds`` passed, whichever comes first; ``future`` is left alone."""
    waiter = _done(future)
    timer = future.get_loop().call_later(seconds, _wake, waiter, None)
    try:
        await waiter
    finally:
        timer.cancel()


def _done(future: asyncio.Future[Any]) -> asyncio.Future[None]:
    """Completes when ``future`` does; cancelling it leaves ``future`` alone. ``asyncio.shield`` for a
    future that needs no result passed on, with one callback instead of two (this is per webhook)."""
    waiter: asyncio.Future[None] = future.get_loop().create_future()
    future.add_done_callback(functools.partial(_wake, waiter))
    return waiter


def _wake(waiter: asyncio.Future[None], _: asyncio.Future[Any] | None) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _already_done() -> None:
    """The result of a record that needs no send."""


async def _wait_either(event: asyncio.Event, stop: asyncio.Event | None, timeout: float | None = None) -> bool:  # noqa: ASYNC109
    """Wait for ``event`` (True) or ``stop`` (False) or the timeout (False)."""
    waits = [asyncio.ensure_future(event.wait())]
    if stop is not None:
        waits.append(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waits:
            waiter.cancel()
    return event.is_set() and (stop is None or not stop.is_set())

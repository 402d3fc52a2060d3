"""Batched Kafka consumers: what each partition has ready, handled as one unit of work.

Two ways to consume, chosen per subscription (:class:`Subscription`):

**Batch** (``lanes=None``; routing's inbound messages and delivery reports, inventory, provisioning):
one poll takes up to ``batch_max`` records per round from every assigned partition. Each partition's
records go to the handler as one ordered batch (one database transaction with set-based statements);
different partitions are handled concurrently. Everything the handler emits for a partition, its dead
letters and its consumed offset go into **one Kafka transaction** of that partition's producer
(``send_offsets_to_transaction``), so consume → publish → commit is atomic: downstream consumers
reading committed see each output once.
Handlers record in PostgreSQL which Kafka record (:attr:`Record.source`) made each decision; a
record delivered again (its transaction was aborted, the process died) republishes the *recorded*
outputs with the same ids, while a second record about the same thing (a repeated webhook) is told
apart and publishes nothing.

**Lanes** (``lanes=`` a key function; routing's outbound sends, which wait for Twilio): every record
goes to the lane its key names (a sender); one lane handles its records one at a time in offset order,
lanes run concurrently up to ``lanes_max_in_flight`` records. After a handler returns, what it
emitted is sent (idempotent producer, acknowledgements awaited) and only then is the record done; each
partition commits the offsets below its oldest record not done yet. A slow lane (a sender held to its
pace) never holds another lane back.

Common to both:
- A record that cannot be decoded goes to its dead-letter topic alone; a handler refusing a batch
  for good (:class:`~byosms_common.kafka.PermanentError`, or an error that keeps failing) makes the
  batch be handled one record at a time, so only the bad record is dead-lettered.
- A transient fault (:func:`~byosms_common.kafka.is_transient`: PostgreSQL or Kafka away) retries the
  round with capped backoff (``retry_max_delay_s``), committing nothing; it is logged once when it
  starts, every ``still_down_log_s`` while it lasts and once when it is over, and readiness reports
  the consumer as retrying meanwhile.
- Each record gets a consumer span that continues the producer's trace (``traceparent`` header), and
  every event emitted for it carries that context in its headers and envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import OffsetAndMetadata
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, TracerProvider
from prometheus_client import CollectorRegistry
from pydantic import TypeAdapter, ValidationError

from byosms_common.backoff import Backoff
from byosms_common.kafka import (
    HEADER_ATTEMPTS,
    HEADER_ERROR_CLASS,
    HEADER_ERROR_REASON,
    HEADER_ORIGIN_OFFSET,
    HEADER_ORIGIN_PARTITION,
    HEADER_ORIGIN_TOPIC,
    HEADER_TYPE,
    ConsumerMetrics,
    ConsumerStopping,
    Delivery,
    PermanentError,
    consumer_metrics,
    is_transient,
)
from byosms_common.kafka_security import aiokafka_options
from byosms_common.messages import Envelope, TraceContext, encode
from byosms_common.settings import ConsumerSettings, KafkaSettings
from byosms_common.topics import TopicSpec

log = logging.getLogger(__name__)

M = TypeVar("M")
M_co = TypeVar("M_co", covariant=True)

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"


# --------------------------------------------------------------------------------------------------
# What handlers see
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record(Generic[M_co]):
    """One decoded Kafka record."""

    message: M_co
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: Mapping[str, str] = field(default_factory=dict)
    trace: TraceContext | None = None
    """The trace context outputs caused by this record continue (its consumer span, else the producer's)."""

    def delivery(self) -> Delivery:
        """Where the record came from, in the shape of the one-message-at-a-time handlers."""
        return Delivery(self.topic, self.partition, self.offset, self.key, dict(self.headers))

    @property
    def source(self) -> str:
        """Identifies this Kafka record: a redelivery has the same source, a repeated message another."""
        return f"{self.topic}:{self.partition}:{self.offset}"


class Emit(Protocol):
    """Collects what a handler produces; the engine sends it (see the module docstring)."""

    def publish(self, topic: TopicSpec, message: Envelope, key: str, *, cause: Record[Any] | None = None) -> None:
        """Send ``message`` keyed ``key``; its envelope's ``trace`` defaults to the cause's."""
        ...

    def tombstone(self, topic: TopicSpec, key: str) -> None:
        """Delete ``key`` from a compacted topic (a null value)."""
        ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


class Emitted:
    """An :class:`Emit` that keeps the records in order until the engine sends them."""

    def __init__(self) -> None:
        self.records: list[Outgoing] = []

    def publish(self, topic: TopicSpec, message: Envelope, key: str, *, cause: Record[Any] | None = None) -> None:
        trace_ctx = message.trace
        if trace_ctx is None and cause is not None and cause.trace is not None:
            trace_ctx = cause.trace
            message = message.model_copy(update={"trace": trace_ctx})
        headers = [("content-type", b"application/json"), (HEADER_TYPE, _type_of(message).encode())]
        if trace_ctx is not None:
            headers.append((TRACEPARENT, trace_ctx.traceparent.encode()))
            if trace_ctx.tracestate:
                headers.append((TRACESTATE, trace_ctx.tracestate.encode()))
        self.records.append(Outgoing(topic.name, key.encode(), encode(message), headers))

    def tombstone(self, topic: TopicSpec, key: str) -> None:
        self.records.append(Outgoing(topic.name, key.encode(), None, []))

    def extend(self, other: Emitted) -> None:
        self.records.extend(other.records)


class KeyPartitioner:
    """Kafka's default partitioner (murmur2 of the key, as the Java client and aiokafka compute it),
    remembering recent keys: a conversation's or message's events keep their key, and aiokafka's
    murmur2 is pure Python (about 8 µs a key)."""

    def __init__(self, size: int = 65_536) -> None:
        self._default = DefaultPartitioner()
        self._size = size
        self._seen: dict[tuple[bytes, int], int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(self._default(key, all_partitions, available))
        cache_key = (key, len(all_partitions))
        partition = self._seen.get(cache_key)
        if partition is None:
            if len(self._seen) >= self._size:
                self._seen.clear()
            partition = self._seen[cache_key] = int(self._default(key, all_partitions, available))
        return partition


_PARTITIONER = KeyPartitioner()


def _type_of(message: Envelope) -> str:
    return str(getattr(message, "type", type(message).__name__))


class Publishes(Protocol):
    """What handlers that publish event by event need: :class:`~byosms_common.kafka.Publisher` or
    :class:`EmitPublisher`."""

    async def publish(self, topic: TopicSpec, message: Envelope, key: str) -> None: ...

    async def publish_tombstone(self, topic: TopicSpec, key: str) -> None: ...


class EmitPublisher:
    """The shape of :class:`~byosms_common.kafka.Publisher` over an :class:`Emit`: what a handler
    written one message at a time publishes goes into the round's transaction."""

    def __init__(self, out: Emit, cause: Record[Any] | None = None) -> None:
        self._out = out
        self._cause = cause

    async def publish(self, topic: TopicSpec, message: Envelope, key: str) -> None:
        self._out.publish(topic, message, key, cause=self._cause)

    async def publish_tombstone(self, topic: TopicSpec, key: str) -> None:
        self._out.tombstone(topic, key)


BatchHandler = Callable[[Sequence[Record[M]], Emit], Awaitable[None]]
"""Handles one partition's records in order (one unit of work); raise to handle none of them."""
LaneHandler = Callable[[Record[M], Emit], Awaitable[None]]


def one_by_one(handle: Callable[[Record[M], EmitPublisher], Awaitable[None]]) -> BatchHandler[M]:
    """A batch handler that handles its records one at a time, in order (each in its own database
    transaction), for handlers whose work is per message; the outputs still share one Kafka
    transaction and acknowledgements are awaited once per round, not per event."""

    async def handler(records: Sequence[Record[M]], out: Emit) -> None:
        for record in records:
            await handle(record, EmitPublisher(out, record))

    return handler


@dataclass(frozen=True)
class Subscription(Generic[M]):
    """One topic a service consumes: how its records are decoded and handled."""

    topic: TopicSpec
    model: type[M] | TypeAdapter[M]
    handler: BatchHandler[M] | LaneHandler[M]
    lanes: Callable[[M], str] | None = None
    """Lane mode: the lane (e.g. the sender) of a record; None: batch mode."""
    group_id: str | None = None
    """The consumer group, when not the service's."""

    def adapter(self) -> TypeAdapter[M]:
        return self.model if isinstance(self.model, TypeAdapter) else TypeAdapter(self.model)


# --------------------------------------------------------------------------------------------------
# Logging a dependency's outage once per state change
# --------------------------------------------------------------------------------------------------


class OutageLog:
    """Says "waiting" once when faults start, "still waiting" every ``every_s``, and "back" once no part
    of the consumer (partition pipelines, lanes, the fetch loop; ``part``) is failing any more."""

    def __init__(self, what: str, every_s: float) -> None:
        self._what = what
        self._every = every_s
        self.since: float | None = None
        self.reason: str | None = None
        self._last_said = 0.0
        self.faults = 0
        self._failing: set[str] = set()

    def fault(self, exc: BaseException, part: str = "") -> None:
        now = time.monotonic()
        reason = _describe(exc)
        self.faults += 1
        self._failing.add(part)
        if self.since is None:
            self.since, self._last_said, self.reason = now, now, reason
            log.warning("%s waits for a dependency (%s); retrying, nothing committed", self._what, reason)
        elif now - self._last_said >= self._every:
            self._last_said, self.reason = now, reason
            log.warning(
                "%s still waiting for a dependency after %.0fs (%s, %d faults)",
                self._what,
                now - self.since,
                reason,
                self.faults,
            )

    def ok(self, part: str = "") -> None:
        self._failing.discard(part)
        if self.since is not None and not self._failing:
            log.warning(
                "%s: dependency back after %.1fs (%d faults)", self._what, time.monotonic() - self.since, self.faults
            )
            self.since, self.reason, self.faults = None, None, 0

    @property
    def waiting(self) -> bool:
        return self.since is not None


def _describe(exc: BaseException) -> str:
    chain: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 3:
        chain.append(type(current).__name__)
        current = current.__cause__ or (current.__context__ if not current.__suppress_context__ else None)
    return " <- ".join(chain)


# --------------------------------------------------------------------------------------------------
# Tracing
# --------------------------------------------------------------------------------------------------


def _recording(provider: TracerProvider | None) -> bool:
    """Whether spans of ``provider`` go anywhere (an SDK provider with no processor drops them)."""
    if provider is None:
        return False
    processor = getattr(provider, "_active_span_processor", None)
    processors = getattr(processor, "_span_processors", None)
    return processors is None or bool(processors)


def _incoming_trace(headers: Mapping[str, str]) -> TraceContext | None:
    parent = headers.get(TRACEPARENT)
    if not parent:
        return None
    try:
        return TraceContext(traceparent=parent, tracestate=headers.get(TRACESTATE) or None)
    except ValidationError:
        return None


# --------------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------------


@dataclass
class _Raw:
    record: Any  # aiokafka ConsumerRecord
    decoded: Record[Any] | None
    invalid: str | None
    span: Any = None


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, owner: _Engine) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._owner.partitions_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._owner.partitions_assigned(set(assigned))


class _Engine:
    """What both modes share: the consumer, the producer, decoding, dead letters, metrics."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: ConsumerSettings,
        subscription: Subscription[Any],
        *,
        group_id: str,
        service: str,
        registry: CollectorRegistry | None,
        tracer_provider: TracerProvider | None,
    ) -> None:
        self.subscription = subscription
        self.kafka = kafka
        self.settings = settings
        self.group_id = subscription.group_id or group_id
        self.service = service
        self.topic = subscription.topic
        self.adapter = subscription.adapter()
        self.metrics: ConsumerMetrics = consumer_metrics(registry)
        self.labels = (self.topic.name, self.group_id)
        self.name = f"{service}:{self.topic.name}"
        self.outage = OutageLog(self.name, settings.consumer_still_down_log_s)
        self._tracer = trace.get_tracer("byosms.consumer", tracer_provider=tracer_provider)
        self._tracing = _recording(tracer_provider)
        self._instance = settings.kafka_instance_id
        self._backoff = Backoff(settings.consumer_retry_first_delay_s, settings.consumer_retry_max_delay_s)
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.stopping = False
        self.running = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self._lagging: set[TopicPartition] = set()
        self._group_offsets: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}
        """Offsets this consumer committed. Offsets committed in a transaction become visible to the
        group a moment after the commit returns (aiokafka cannot ask for stable offsets, KIP-447),
        so a partition assigned back right after a rebalance starts here, not at an older offset."""

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic.name,
            bootstrap_servers=self.kafka.kafka_bootstrap,
            client_id=f"{self.kafka.kafka_client_id_prefix}-{self.service}",
            group_id=self.group_id,
            group_instance_id=f"{self._instance}:{self.topic.name}" if self._instance else None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_wait_ms=self.settings.consumer_batch_wait_ms,
            session_timeout_ms=self.settings.consumer_session_timeout_ms,
            heartbeat_interval_ms=max(1000, self.settings.consumer_session_timeout_ms // 5),
            max_poll_interval_ms=self.settings.consumer_max_poll_interval_ms,
            **aiokafka_options(self.kafka),
        )
        self.consumer = consumer  # before start: the rebalance listener seeks with it
        try:
            await self._start_producer()
            consumer.subscribe([self.topic.name], listener=_Rebalance(self))
            await consumer.start()
        except BaseException:
            self.consumer = None
            await consumer.stop()
            await self._stop_producer()
            raise
        self._task = asyncio.create_task(self._run(), name=f"consume {self.name}")
        self._lag_task = asyncio.create_task(self._report_lag(), name=f"lag {self.name}")

    # -- lag ---------------------------------------------------------------------------------------

    async def _report_lag(self) -> None:
        """Every ``consumer_lag_interval_s``: ``byosms_consumer_lag`` of each assigned partition."""
        while True:
            await asyncio.sleep(self.settings.consumer_lag_interval_s)
            try:
                await self.update_lag()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the broker is away: the fetch loop says so; try next time
                log.debug("%s: lag not updated (%s)", self.name, type(exc).__name__)

    async def update_lag(self) -> None:
        """Lag = the partition's end minus what the group committed. The end comes from the last fetch
        response (no request); only a partition not fetched yet costs one ListOffsets request. A
        partition this consumer has taken everything of and finished (nothing in hand) counts from its
        position instead, which is past the transaction markers that follow the last record."""
        consumer = self.consumer
        if consumer is None:
            return
        assigned = set(consumer.assignment())
        ends: dict[TopicPartition, int] = {}
        unknown = []
        for tp in assigned:
            end = consumer.last_stable_offset(tp)
            if end is None:
                end = consumer.highwater(tp)
            if end is None:
                unknown.append(tp)
            else:
                ends[tp] = end
        if unknown:
            ends.update(await consumer.end_offsets(unknown))
        for tp, end in ends.items():
            done = self.committed.get(tp)
            if done is None:
                done = await self._group_committed(consumer, tp)
            position = await consumer.position(tp)
            lag = end - done
            if self.partition_idle(tp):
                lag = end - max(done, position)
            else:
                fetched = self.fetched_upto(tp)
                if fetched is not None and position > fetched:
                    lag -= position - fetched  # transaction markers after the last record taken
            self.metrics.lag.labels(tp.topic, str(tp.partition), self.group_id).set(max(0, lag))
        for tp in self._lagging - assigned:
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(tp.topic, str(tp.partition), self.group_id)
        self._lagging = assigned

    async def _group_committed(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> int:
        """The group's committed offset of a partition this consumer has not committed yet (asked once
        per assignment); a group that never committed there counts from the partition's beginning."""
        known = self._group_offsets.get(tp)
        if known is None:
            committed = await consumer.committed(tp)
            if committed is None:
                committed = (await consumer.beginning_offsets([tp]))[tp]
            known = self._group_offsets[tp] = int(committed)
        return known

    def partition_idle(self, tp: TopicPartition) -> bool:
        """Whether every record fetched from ``tp`` is done (handled and committed)."""
        return False

    def fetched_upto(self, tp: TopicPartition) -> int | None:
        """The offset after the last record taken from ``tp`` (None: none taken since assignment)."""
        return None

    def producer_options(self) -> dict[str, Any]:
        return {
            "partitioner": _PARTITIONER,
            "bootstrap_servers": self.kafka.kafka_bootstrap,
            "client_id": f"{self.kafka.kafka_client_id_prefix}-{self.service}",
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "max_batch_size": 256 * 1024,
            "request_timeout_ms": 15_000,
            **aiokafka_options(self.kafka),
        }

    async def _start_producer(self) -> None:
        producer = AIOKafkaProducer(**self.producer_options())
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self.producer = producer

    async def _stop_producer(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def stop(self) -> None:
        self.stopping = True
        if self._lag_task is not None:
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._lag_task
            self._lag_task = None
        for tp in self._lagging:  # another replica reports these partitions now
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(tp.topic, str(tp.partition), self.group_id)
        self._lagging = set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.settings.consumer_stop_grace_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
            except Exception:
                log.debug("%s ended with an error", self.name, exc_info=True)
            self._task = None
        await self.close_partitions()
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await self.consumer.stop()
            self.consumer = None
        await self._stop_producer()

    async def close_partitions(self) -> None:
        """Lane mode commits what is done before leaving; batch mode has nothing pending."""

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Called inside ``getmany`` while the group rebalances."""

    def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s assigned %d partition(s)", self.name, len(assigned))
        self._group_offsets.clear()  # another member may have committed meanwhile
        consumer = self.consumer
        for tp in assigned:
            offset = self.committed.get(tp)
            if offset is not None and consumer is not None:
                consumer.seek(tp, offset)

    @property
    def healthy(self) -> bool:
        """Running and not waiting for a dependency."""
        return self._task is not None and not self._task.done() and not self.outage.waiting

    def status(self) -> str:
        if self._task is None or self._task.done():
            return "stopped"
        if self.outage.waiting:
            return f"retrying ({self.outage.reason})"
        return "running"

    async def _run(self) -> None:
        raise NotImplementedError

    # -- records ---------------------------------------------------------------------------------

    def decode(self, record: Any) -> _Raw:
        headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        try:
            message = self.adapter.validate_json(record.value if record.value is not None else b"null")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            return _Raw(record, None, f"{where}: {first['msg']}")
        incoming = _incoming_trace(headers)
        span = None
        trace_ctx = incoming
        if self._tracing:
            parent = propagate.extract(headers) if incoming is not None else otel_context.Context()
            span = self._tracer.start_span(
                f"{self.topic.name} process",
                context=parent,
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": record.topic,
                    "messaging.kafka.destination.partition": record.partition,
                    "messaging.kafka.message.offset": record.offset,
                    "messaging.consumer.group.name": self.group_id,
                },
            )
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=trace.set_span_in_context(span))
            if carrier.get(TRACEPARENT):
                trace_ctx = TraceContext(traceparent=carrier[TRACEPARENT], tracestate=carrier.get(TRACESTATE) or None)
        decoded = Record(
            message=message,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=key,
            headers=headers,
            trace=trace_ctx,
        )
        return _Raw(record, decoded, None, span)

    def dead_letter(self, out: Emitted, raw: _Raw, error_class: str, reason: str, attempts: int) -> None:
        record = raw.record
        log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, error_class)
        headers = {
            HEADER_ERROR_CLASS: error_class,
            HEADER_ERROR_REASON: reason[:1000],
            HEADER_ORIGIN_TOPIC: record.topic,
            HEADER_ORIGIN_PARTITION: str(record.partition),
            HEADER_ORIGIN_OFFSET: str(record.offset),
            HEADER_ATTEMPTS: str(attempts),
        }
        out.records.append(
            Outgoing(
                self.topic.dead_letter,
                record.key,
                record.value if record.value is not None else b"",
                [(k, v.encode()) for k, v in headers.items()],
            )
        )

    async def send_all(self, outgoing: Sequence[Outgoing], producer: AIOKafkaProducer | None = None) -> None:
        """Hand every record to the producer, then wait for all acknowledgements together."""
        producer = producer or self.producer
        if producer is None:
            raise ConnectionError("the producer is not connected")
        futures = [await producer.send(o.topic, o.value, o.key, headers=o.headers or None) for o in outgoing]
        if futures:
            await asyncio.gather(*futures)

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``; raise :class:`ConsumerStopping` as soon as the consumer stops."""
        deadline = time.monotonic() + seconds
        while True:
            if self.stopping:
                raise ConsumerStopping
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.1))

    def retry_delay(self, attempt: int) -> float:
        """Before try ``attempt`` (2, 3, ...): backoff with jitter, capped at ``retry_max_delay_s``."""
        return self._backoff.delay(attempt + 1)

    def end_spans(self, raws: Sequence[_Raw], error: BaseException | None = None) -> None:
        for raw in raws:
            if raw.span is not None:
                if error is not None:
                    raw.span.record_exception(error)
                raw.span.end()
                raw.span = None


# -- batch mode ---------------------------------------------------------------------------------


class _TransactionFailed(Exception):
    """Sending the round's outputs and offsets in one transaction failed (its cause says why)."""


class _Pipeline:
    """One assigned partition in batch mode: records fetched for it wait here, and its own task handles
    them a batch at a time, so a partition never waits for another one's transaction."""

    def __init__(self, tp: TopicPartition, engine: BatchConsumer) -> None:
        self.tp = tp
        self._engine = engine
        self._queue: deque[Any] = deque()
        self._next: int | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._paused = False
        self.failure: BaseException | None = None
        self._task = asyncio.create_task(self._work(), name=f"{engine.name} {tp.topic}[{tp.partition}]")

    def take(self, records: list[Any], committed: int | None) -> None:
        """Queue what was fetched, skipping records already taken or committed by this consumer (a
        rebalance resets positions from the group's committed offsets, which may not show a transaction
        committed a moment ago yet: aiokafka cannot ask for stable offsets, KIP-447)."""
        floor = max(x for x in (committed, self._next, -1) if x is not None)
        fresh = [r for r in records if r.offset >= floor]
        if not fresh:
            return
        self._queue.extend(fresh)
        self._next = fresh[-1].offset + 1
        self._wake.set()
        if len(self._queue) >= 2 * self._engine.settings.consumer_batch_max and not self._paused:
            self._pause(True)

    def _pause(self, paused: bool) -> None:
        consumer = self._engine.consumer
        if consumer is None or self.tp not in consumer.assignment():
            return
        if paused:
            consumer.pause(self.tp)
        else:
            consumer.resume(self.tp)
        self._paused = paused

    async def _work(self) -> None:
        size = self._engine.settings.consumer_batch_max
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    batch = [self._queue.popleft() for _ in range(min(size, len(self._queue)))]
                    if self._paused and len(self._queue) < size:
                        self._pause(False)
                    self._idle.clear()
                    try:
                        await self._engine.handle_batch(self.tp, batch)
                    finally:
                        self._idle.set()
        except ConsumerStopping:
            return
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - reported by the poll loop, which then fails
            self.failure = exc

    @property
    def next_offset(self) -> int | None:
        """The offset after the last record taken (None before the first)."""
        return self._next

    @property
    def idle(self) -> bool:
        """Nothing queued and no batch in flight: everything taken is committed (or failed for now)."""
        return not self._queue and self._idle.is_set() and self.failure is None

    async def close(self, grace: float) -> None:
        """Finish the batch in flight (up to ``grace`` seconds), drop what is queued, stop."""
        self._queue.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


class BatchConsumer(_Engine):
    """Batch mode: one Kafka transaction per partition and round (see the module docstring).

    Each assigned partition has its own transactional producer, ``<group>:<topic>:<partition>``: the
    next owner of a partition (another replica after a rebalance, this one after a restart or a
    SIGKILL) starts a producer with the same id, which aborts whatever the previous owner left open
    and fences it, so downstream consumers reading committed are never held up by a dead process'
    transaction and a zombie can no longer commit.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._producers: dict[TopicPartition, AIOKafkaProducer] = {}
        self._pipelines: dict[TopicPartition, _Pipeline] = {}

    def partition_idle(self, tp: TopicPartition) -> bool:
        pipeline = self._pipelines.get(tp)
        return pipeline is None or pipeline.idle

    def fetched_upto(self, tp: TopicPartition) -> int | None:
        pipeline = self._pipelines.get(tp)
        return pipeline.next_offset if pipeline is not None else None

    async def _start_producer(self) -> None:
        """Producers are per partition (:meth:`_producer_for`); there is no shared one."""

    async def _stop_producer(self) -> None:
        for tp in list(self._producers):
            await self._drop_producer(tp)

    async def _producer_for(self, tp: TopicPartition) -> AIOKafkaProducer:
        producer = self._producers.get(tp)
        if producer is None:
            options = {
                **self.producer_options(),
                # A transaction hands over all its records at once: lingering would only delay them
                # (measured: 28 ms p50 per transaction with 5 ms, 8.5 ms without). A short backoff
                # rides out CONCURRENT_TRANSACTIONS right after the previous commit.
                "linger_ms": 0,
                "retry_backoff_ms": 20,
                "transactional_id": f"{self.group_id}:{tp.topic}:{tp.partition}",
                "transaction_timeout_ms": 60_000,
            }
            producer = AIOKafkaProducer(**options)
            try:
                await producer.start()  # fences the previous owner, aborting its open transaction
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producers[tp] = producer
        return producer

    async def _drop_producer(self, tp: TopicPartition) -> None:
        producer = self._producers.pop(tp, None)
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Let each revoked partition's batch in flight commit first (aiokafka rebalances beside
        ``getmany``, not inside it), so the partition's next owner starts after it; what is queued
        and not started is dropped (the next owner reads it)."""
        for tp in revoked:
            pipeline = self._pipelines.pop(tp, None)
            if pipeline is not None:
                await pipeline.close(self.settings.consumer_stop_grace_s)
            await self._drop_producer(tp)
            self.outage.ok(str(tp))  # no longer ours: its faults are not this consumer's to wait for

    async def close_partitions(self) -> None:
        """Stopping: every partition finishes (commits) the batch it is on; the rest stays uncommitted."""
        pipelines, self._pipelines = list(self._pipelines.values()), {}
        await asyncio.gather(*(p.close(self.settings.consumer_stop_grace_s) for p in pipelines))

    async def _run(self) -> None:
        assert self.consumer is not None
        self.running.set()
        consumer = self.consumer
        while not self.stopping:
            for failed in [p for p in self._pipelines.values() if p.failure is not None]:
                raise RuntimeError(f"{self.name}: the pipeline of {failed.tp} failed") from failed.failure
            try:
                # The batch size is per partition; a poll takes that much from each assigned partition.
                wanted = self.settings.consumer_batch_max * max(1, len(consumer.assignment()))
                batches = await consumer.getmany(timeout_ms=200, max_records=wanted)
            except Exception as exc:  # a fetch error: the broker is away, try again
                if not is_transient(exc):
                    log.exception("%s: fetching failed", self.name)
                self.outage.fault(exc, "fetch")
                await asyncio.sleep(self.retry_delay(2))
                continue
            self.outage.ok("fetch")
            for tp, records in batches.items():
                pipeline = self._pipelines.get(tp)
                if pipeline is None:
                    pipeline = self._pipelines[tp] = _Pipeline(tp, self)
                pipeline.take(records, self.committed.get(tp))

    async def handle_batch(self, tp: TopicPartition, records: list[Any]) -> None:
        """One batch of one partition, decoded, handled and committed (called by its pipeline)."""
        raws = [self.decode(r) for r in records]
        try:
            await self._unit(tp, raws)
        finally:
            self.end_spans(raws)

    async def _unit(self, tp: TopicPartition, raws: list[_Raw]) -> None:
        """Handle one partition's records until they are committed with their outputs; transient faults
        are retried (nothing committed meanwhile)."""
        started = time.monotonic()
        attempt = 0
        offsets = {tp: OffsetAndMetadata(raws[-1].record.offset + 1, "")}
        while True:
            attempt += 1
            try:
                output = await self._partition(raws)
                await self._commit(tp, output, offsets)
            except (ConsumerStopping, asyncio.CancelledError):
                raise
            except Exception as failure:
                exc: BaseException = failure
                if isinstance(failure, _TransactionFailed):
                    # Aborted, or its end unknown: the next producer with this id fences what is left.
                    await self._drop_producer(tp)
                    exc = failure.__cause__ or failure
                if is_transient(exc):
                    self.outage.fault(exc, str(tp))
                    self.metrics.retried.labels(*self.labels, "transient").inc()
                else:
                    log.error(
                        "%s: %s[%d] failed (try %d): %s",
                        self.name,
                        tp.topic,
                        tp.partition,
                        attempt,
                        _describe(exc),
                        exc_info=exc,
                    )
                    self.metrics.retried.labels(*self.labels, "error").inc()
                await self.pause(self.retry_delay(attempt))
                continue
            self.outage.ok(str(tp))
            self.metrics.batch_size.labels(*self.labels).observe(len(raws))
            self.metrics.handled.labels(*self.labels).inc(sum(1 for r in raws if r.decoded is not None))
            self.metrics.latency.labels(*self.labels).observe(time.monotonic() - started)
            return

    async def _commit(
        self, tp: TopicPartition, output: Emitted, offsets: dict[TopicPartition, OffsetAndMetadata]
    ) -> None:
        try:
            producer = await self._producer_for(tp)
            await producer.begin_transaction()
            try:
                await self.send_all(output.records, producer)
                await producer.send_offsets_to_transaction(offsets, self.group_id)
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.abort_transaction()
                raise
            await producer.commit_transaction()
            for partition, meta in offsets.items():
                self.committed[partition] = meta.offset
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise _TransactionFailed(str(exc)) from exc

    async def _partition(self, raws: list[_Raw]) -> Emitted:
        """Handle one partition's records: all together, or one by one when the batch is refused."""
        out = Emitted()
        good = [r for r in raws if r.decoded is not None]
        for raw in raws:
            if raw.invalid is not None:
                self.metrics.dead_lettered.labels(*self.labels, "invalid").inc()
        handler: BatchHandler[Any] = self.subscription.handler  # type: ignore[assignment]
        batch_out = Emitted()
        try:
            if good:
                await handler([r.decoded for r in good if r.decoded is not None], batch_out)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise
            log.info("%s: batch of %d refused (%s); handling it one by one", self.name, len(good), type(exc).__name__)
            return await self._one_by_one(raws)
        for raw in raws:
            if raw.invalid is not None:
                self.dead_letter(out, raw, "ValidationError", raw.invalid, 1)
        out.extend(batch_out)
        return out

    async def _one_by_one(self, raws: list[_Raw]) -> Emitted:
        out = Emitted()
        handler: BatchHandler[Any] = self.subscription.handler  # type: ignore[assignment]
        for raw in raws:
            if raw.invalid is not None:
                self.dead_letter(out, raw, "ValidationError", raw.invalid, 1)
                continue
            assert raw.decoded is not None
            attempt = 1
            while True:
                single = Emitted()
                try:
                    await handler([raw.decoded], single)
                except asyncio.CancelledError:
                    raise
                except PermanentError as exc:
                    self.metrics.dead_lettered.labels(*self.labels, "permanent").inc()
                    self.dead_letter(out, raw, type(exc).__name__, str(exc), attempt)
                    break
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    if attempt >= self.settings.consumer_error_attempts:
                        log.exception(
                            "%s: handler failed %d times; dead-lettering %s[%d]@%d",
                            self.name,
                            attempt,
                            raw.record.topic,
                            raw.record.partition,
                            raw.record.offset,
                        )
                        self.metrics.dead_lettered.labels(*self.labels, "exhausted").inc()
                        self.dead_letter(out, raw, type(exc).__name__, str(exc), attempt)
                        break
                    attempt += 1
                    self.metrics.retried.labels(*self.labels, "error").inc()
                    log.warning(
                        "%s: handler failed (%s); retry %d/%d of %s[%d]@%d",
                        self.name,
                        type(exc).__name__,
                        attempt,
                        self.settings.consumer_error_attempts,
                        raw.record.topic,
                        raw.record.partition,
                        raw.record.offset,
                    )
                    await self.pause(self.retry_delay(attempt))
                else:
                    out.extend(single)
                    break
        return out


# -- lane mode ----------------------------------------------------------------------------------


@dataclass
class _PartitionProgress:
    """Offsets of one partition taken into lanes, and which of them are done."""

    pending: deque[int] = field(default_factory=deque)
    done: set[int] = field(default_factory=set)
    committed: int | None = None
    generation: int = 0

    def committable(self) -> int | None:
        """The offset to commit: just past the longest done prefix (None when nothing new)."""
        last = None
        while self.pending and self.pending[0] in self.done:
            offset = self.pending.popleft()
            self.done.discard(offset)
            last = offset
        if last is None:
            return None
        return last + 1


class LaneConsumer(_Engine):
    """Lane mode: one lane per key, lanes concurrent, commits below the oldest record not done."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lanes: dict[str, deque[tuple[TopicPartition, int, _Raw]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._progress: dict[TopicPartition, _PartitionProgress] = defaultdict(_PartitionProgress)
        self._in_flight = 0
        self._paused = False
        self._commit_wanted = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None

    def partition_idle(self, tp: TopicPartition) -> bool:
        progress = self._progress.get(tp)
        return progress is None or (not progress.pending and not progress.done)

    def fetched_upto(self, tp: TopicPartition) -> int | None:
        progress = self._progress.get(tp)
        return progress.pending[-1] + 1 if progress is not None and progress.pending else None

    async def _run(self) -> None:
        assert self.consumer is not None
        consumer = self.consumer
        self._committer = asyncio.create_task(self._commit_loop(), name=f"commit {self.name}")
        self.running.set()
        limit = self.settings.lanes_max_in_flight
        try:
            while not self.stopping:
                if self._in_flight >= limit and not self._paused:
                    consumer.pause(*consumer.assignment())
                    self._paused = True
                elif self._in_flight < limit // 2 and self._paused:
                    consumer.resume(*consumer.assignment())
                    self._paused = False
                try:
                    batches = await consumer.getmany(timeout_ms=100, max_records=self.settings.consumer_batch_max)
                except Exception as exc:  # noqa: BLE001 - the broker is away: try again
                    self.outage.fault(exc, "fetch")
                    await asyncio.sleep(self.retry_delay(2))
                    continue
                self.outage.ok("fetch")
                for tp, records in batches.items():
                    progress = self._progress[tp]
                    for record in records:
                        raw = self.decode(record)
                        progress.pending.append(record.offset)
                        self._in_flight += 1
                        lane = self._lane_of(raw)
                        self._lanes.setdefault(lane, deque()).append((tp, progress.generation, raw))
                        if lane not in self._workers:
                            self._workers[lane] = asyncio.create_task(self._lane(lane), name=f"lane {lane}")
        finally:
            self._commit_wanted.set()

    def _lane_of(self, raw: _Raw) -> str:
        if raw.decoded is None:
            return f"\x00invalid:{raw.record.partition}"
        key_of = self.subscription.lanes
        assert key_of is not None
        try:
            return key_of(raw.decoded.message)
        except Exception:  # noqa: BLE001 - a key function that fails puts the record on its partition's lane
            return f"\x00partition:{raw.record.partition}"

    async def _lane(self, lane: str) -> None:
        queue = self._lanes[lane]
        try:
            while queue:
                tp, generation, raw = queue[0]
                if self._progress[tp].generation == generation:
                    try:
                        await self._handle(raw)
                    except ConsumerStopping:
                        self.end_spans([raw])
                        return
                    self._progress[tp].done.add(raw.record.offset)
                    self._commit_wanted.set()
                queue.popleft()
                self._in_flight -= 1
        finally:
            self._workers.pop(lane, None)
            if not queue:
                self._lanes.pop(lane, None)

    async def _handle(self, raw: _Raw) -> None:
        started = time.monotonic()
        handler: LaneHandler[Any] = self.subscription.handler  # type: ignore[assignment]
        attempt = 0
        errors = 0
        while True:
            attempt += 1
            out = Emitted()
            try:
                if raw.invalid is not None:
                    self.metrics.dead_lettered.labels(*self.labels, "invalid").inc()
                    self.dead_letter(out, raw, "ValidationError", raw.invalid, 1)
                else:
                    assert raw.decoded is not None
                    try:
                        await handler(raw.decoded, out)
                    except PermanentError as exc:
                        out = Emitted()
                        self.metrics.dead_lettered.labels(*self.labels, "permanent").inc()
                        self.dead_letter(out, raw, type(exc).__name__, str(exc), attempt)
                await self.send_all(out.records)
            except (ConsumerStopping, asyncio.CancelledError):
                raise
            except Exception as exc:
                if is_transient(exc):
                    self.outage.fault(exc, f"{raw.record.partition}@{raw.record.offset}")
                    self.metrics.retried.labels(*self.labels, "transient").inc()
                    await self.pause(self.retry_delay(attempt))
                    continue
                errors += 1
                if errors >= self.settings.consumer_error_attempts:
                    log.exception("%s: handler failed %d times; dead-lettering", self.name, errors)
                    dead = Emitted()
                    self.dead_letter(dead, raw, type(exc).__name__, str(exc), errors)
                    self.metrics.dead_lettered.labels(*self.labels, "exhausted").inc()
                    await self._send_until_done(dead)
                    break
                self.metrics.retried.labels(*self.labels, "error").inc()
                log.warning("%s: handler failed (%s); retry %d", self.name, type(exc).__name__, errors + 1)
                await self.pause(self.retry_delay(errors + 1))
                continue
            self.outage.ok(f"{raw.record.partition}@{raw.record.offset}")
            self.metrics.handled.labels(*self.labels).inc()
            break
        self.end_spans([raw])
        self.metrics.latency.labels(*self.labels).observe(time.monotonic() - started)

    async def _send_until_done(self, out: Emitted) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.send_all(out.records)
                self.outage.ok("dead letters")
                return
            except (ConsumerStopping, asyncio.CancelledError):
                raise
            except Exception as exc:  # noqa: BLE001 - a dead letter must not be lost
                self.outage.fault(exc, "dead letters")
                self.metrics.dead_letter_failures.labels(*self.labels).inc()
                await self.pause(self.retry_delay(attempt))

    async def _commit_loop(self) -> None:
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            await self.commit_done()
            if self.stopping and not self._workers:
                return
            await asyncio.sleep(0.05)

    async def commit_done(self, only: set[TopicPartition] | None = None) -> None:
        consumer = self.consumer
        if consumer is None:
            return
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, progress in self._progress.items():
            if only is not None and tp not in only:
                continue
            upto = progress.committable()
            if upto is not None:
                offsets[tp] = OffsetAndMetadata(upto, "")
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except Exception as exc:  # noqa: BLE001 - committed next time (or read again: handlers are idempotent)
            log.info("%s: commit failed (%s); will commit later", self.name, type(exc).__name__)
            for tp, meta in offsets.items():
                # Put the range back so the next commit covers it.
                progress = self._progress[tp]
                progress.pending.appendleft(meta.offset - 1)
                progress.done.add(meta.offset - 1)
            return
        for tp, meta in offsets.items():
            self._progress[tp].committed = meta.offset
            self.committed[tp] = meta.offset

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Commit what is done; records not started yet are dropped (the next owner reads them)."""
        await self.commit_done(only=revoked)
        for tp in revoked:
            progress = self._progress.pop(tp, None)
            if progress is not None:
                # Records still queued for these partitions are skipped by their lanes.
                self._progress[tp] = _PartitionProgress(generation=progress.generation + 1)

    async def close_partitions(self) -> None:
        if self._workers:
            _, running = await asyncio.wait(list(self._workers.values()), timeout=self.settings.consumer_stop_grace_s)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        await self.commit_done()
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer


# --------------------------------------------------------------------------------------------------
# A service's consumers
# --------------------------------------------------------------------------------------------------


class Consumers:
    """The consumers of one service, built from its table of subscriptions, started and stopped together."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: ConsumerSettings,
        subscriptions: Sequence[Subscription[Any]],
        *,
        group_id: str,
        service: str,
        registry: CollectorRegistry | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.engines: list[_Engine] = [
            (LaneConsumer if s.lanes is not None else BatchConsumer)(
                kafka,
                settings,
                s,
                group_id=group_id,
                service=service,
                registry=registry,
                tracer_provider=tracer_provider,
            )
            for s in subscriptions
        ]

    async def start(self) -> None:
        """Start every consumer; on failure stop those that started, then raise."""
        try:
            # Together, so their members join the group in one rebalance rather than one each.
            await asyncio.gather(*(engine.start() for engine in self.engines if engine.consumer is None))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await asyncio.gather(*(engine.stop() for engine in self.engines), return_exceptions=True)
        for engine in self.engines:
            engine.stopping = False

    async def healthy(self) -> bool:
        return all(engine.healthy for engine in self.engines)

    def status(self) -> dict[str, str]:
        return {engine.name: engine.status() for engine in self.engines}

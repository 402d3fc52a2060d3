"""Kafka plumbing shared by the services, beside the consumer engine (``byosms_common.consumer``):
a FastStream broker factory and publisher (provisioning's outbox relay), the fault classification
every consumer and retry loop uses, the consumer metrics, and the reachability check.

- Producers use ``acks=all`` with idempotence, so an acknowledged publish is on every in-sync
  replica and retries never duplicate it.
- :func:`is_transient` tells a fault that passes (PostgreSQL or Kafka away for a moment, a timeout,
  :class:`RetryableError`) from one that does not; :class:`PermanentError` refuses a message for good
  (the engine dead-letters it alone).
- :class:`ConsumerMetrics`: handled, retried and dead-lettered messages and the handling time, on the
  service's Prometheus registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import weakref
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from aiokafka import errors as kafka_errors
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from byosms_common.backoff import Backoff
from byosms_common.kafka_security import faststream_security
from byosms_common.messages import Envelope, encode
from byosms_common.messages import current_trace as current_trace  # re-exported for older imports
from byosms_common.settings import KafkaSettings
from byosms_common.topics import TopicSpec

log = logging.getLogger(__name__)

M = TypeVar("M")

HEADER_TYPE = "byosms-type"
HEADER_SPOOLED = "byosms-spooled"
"""``1`` on an ingress event that reached Kafka from the ingress's local spool (Kafka was slow or away)."""
HEADER_ERROR_CLASS = "byosms-dlt-error-class"
HEADER_ERROR_REASON = "byosms-dlt-reason"
HEADER_ORIGIN_TOPIC = "byosms-dlt-topic"
HEADER_ORIGIN_PARTITION = "byosms-dlt-partition"
HEADER_ORIGIN_OFFSET = "byosms-dlt-offset"
HEADER_ATTEMPTS = "byosms-dlt-attempts"


class RetryableError(Exception):
    """Raise from a handler when trying again later may succeed (a dependency is down)."""


class PermanentError(Exception):
    """Raise from a handler when the message can never be handled; it goes to the dead-letter topic."""


def build_broker(
    settings: KafkaSettings,
    service: str,
    *,
    tracer_provider: TracerProvider | None = None,
    **overrides: Any,
) -> KafkaBroker:
    """A FastStream Kafka broker with byosms' durability and acknowledgement settings (a publisher:
    the services consume with ``byosms_common.consumer``)."""
    options: dict[str, Any] = {
        "client_id": f"{settings.kafka_client_id_prefix}-{service}",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "ack_policy": AckPolicy.MANUAL,
        "allow_auto_create_topics": False,
        "request_timeout_ms": 15_000,
        "middlewares": (KafkaTelemetryMiddleware(tracer_provider=tracer_provider),),
        "logger": logging.getLogger(f"byosms.{service}.kafka"),
        "log_level": logging.DEBUG,
        "security": faststream_security(settings),
    }
    options.update(overrides)
    broker = KafkaBroker(settings.kafka_bootstrap, **options)
    _bootstrap_by_broker[broker] = settings.kafka_bootstrap
    return broker


class Publisher:
    """Publishes byosms messages as JSON and waits for the broker's acknowledgement."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, topic: TopicSpec, message: Envelope, key: str) -> None:
        """Publish ``message`` keyed by ``key``; returns once Kafka has acknowledged it."""
        await self.publish_raw(topic.name, encode(message), key, {HEADER_TYPE: _type_of(message)})

    async def publish_tombstone(self, topic: TopicSpec, key: str) -> None:
        """Publish a null value for ``key`` on a compacted topic (the record is deleted)."""
        producer = self._producer()
        await producer.send_and_wait(topic.name, value=None, key=key.encode())

    async def publish_raw(self, topic: str, value: bytes, key: str | None, headers: dict[str, str]) -> None:
        await self._broker.publish(
            value,
            topic=topic,
            key=key.encode() if key is not None else None,
            headers={"content-type": "application/json", **headers},
        )

    def _producer(self) -> Any:
        # FastStream has no tombstone API (it serialises None as b""), so compacted-topic deletes go
        # through the underlying aiokafka producer, which it keeps started alongside the broker.
        producer = getattr(self._broker.config.producer, "_producer", None)
        inner = getattr(producer, "producer", None)
        if inner is None:
            raise RuntimeError("the broker is not connected")
        return inner


def _type_of(message: Envelope) -> str:
    return str(getattr(message, "type", type(message).__name__))


@dataclass(frozen=True)
class RetryPolicy:
    """How a failing handler is tried again.

    A *transient* fault (see :func:`is_transient`: a dependency is away) is retried until the
    handler succeeds or the consumer stops, backing off up to ``transient_max_delay``; the partition
    waits and nothing is committed meanwhile. Any other error is tried ``attempts`` times in all
    before the message goes to the dead-letter topic.
    """

    attempts: int = 5
    first_delay: float = 0.2
    max_delay: float = 5.0
    transient_max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        """Backoff before ``attempt`` (2, 3, ...): exponential with jitter, capped at ``max_delay``."""
        return Backoff(self.first_delay, self.max_delay).delay(attempt)

    def transient_delay(self, attempt: int) -> float:
        """Backoff before ``attempt`` after a transient fault, capped at ``transient_max_delay``."""
        return Backoff(self.first_delay, self.transient_max_delay).delay(attempt)


# PostgreSQL error classes that say "not now" rather than "never": connection exceptions (08),
# transaction rollbacks such as serialization failures and deadlocks (40), insufficient resources
# such as too many connections (53), and operator intervention such as a shutdown (57P).
_TRANSIENT_SQLSTATES = ("08", "40", "53", "57P")
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    RetryableError,
    ConnectionError,  # refused, reset, aborted, broken pipe
    socket.gaierror,  # a name that does not resolve yet (DNS during a rollout)
    TimeoutError,
    kafka_errors.KafkaConnectionError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.KafkaTimeoutError,
)
# Socket-level errnos that say "the network or the peer is away", unlike e.g. a missing file.
_TRANSIENT_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ETIMEDOUT, errno.ENETDOWN, errno.EHOSTDOWN, errno.ECONNABORTED}
)
# asyncpg raises InterfaceError both for a connection or pool that went away (transient) and for
# programming errors such as a wrong number of query arguments (a bug: never retried forever).
_TRANSIENT_INTERFACE_MESSAGES = ("connection is closed", "connection was closed", "pool is closing", "pool is closed")
# Kafka errors that trying again cannot cure, even where Kafka marks them retriable.
_PERMANENT_KAFKA_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.InvalidTopicError,
    kafka_errors.TopicAuthorizationFailedError,
)
# A handler stuck on a transient fault logs the fault with its traceback at these retry counts (and
# every LOUD_EVERY after the last), so a misclassified bug is visible, not only a warning line.
_LOUD_RETRIES = (10, 100)
_LOUD_EVERY = 1000


def _transient_one(exc: BaseException) -> bool:
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        text = str(exc).lower()
        return any(marker in text for marker in _TRANSIENT_INTERFACE_MESSAGES)
    if isinstance(exc, KafkaError):
        return bool(getattr(exc, "retriable", False))
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return (
        isinstance(exc, asyncpg.PostgresError)
        and isinstance(sqlstate, str)
        and sqlstate.startswith(_TRANSIENT_SQLSTATES)
    )


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says a dependency is away for now."""
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (PermanentError, *_PERMANENT_KAFKA_ERRORS)):
            return False
        if _transient_one(current):
            return True
        current = current.__cause__
    return False


class ConsumerStopping(Exception):
    """The consumer stopped while a message was still being retried; it is not committed."""


class ConsumerMetrics:
    """Prometheus metrics of the consumers of one service (one instance per registry)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        labels = ("topic", "group")
        self.handled = Counter(
            "byosms_consumer_messages_handled",
            "Messages whose handler succeeded.",
            labels,
            registry=registry,
        )
        self.retried = Counter(
            "byosms_consumer_retries",
            "Handler retries; reason is transient (a dependency is away) or error (anything else).",
            (*labels, "reason"),
            registry=registry,
        )
        self.dead_lettered = Counter(
            "byosms_consumer_dead_lettered",
            "Messages sent to the dead-letter topic; reason is invalid, permanent or exhausted.",
            (*labels, "reason"),
            registry=registry,
        )
        self.dead_letter_failures = Counter(
            "byosms_consumer_dead_letter_publish_failures",
            "Failed publishes to a dead-letter topic (retried until they succeed).",
            labels,
            registry=registry,
        )
        self.batch_size = Histogram(
            "byosms_consumer_batch_size",
            "Records of one partition handled together.",
            labels,
            registry=registry,
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
        )
        self.lag = Gauge(
            "byosms_consumer_lag",
            "Records of a partition the group has not committed yet: the partition's end (last stable offset,"
            " as read_committed sees it) minus the group's committed offset; 0 once the consumer has caught up.",
            ("topic", "partition", "group"),
            registry=registry,
        )
        self.latency = Histogram(
            "byosms_consumer_handling_seconds",
            "Time from receiving a message to finishing with it (handled or dead-lettered), retries included.",
            labels,
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )


_metrics_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, ConsumerMetrics] = weakref.WeakKeyDictionary()
_bootstrap_by_broker: weakref.WeakKeyDictionary[KafkaBroker, str] = weakref.WeakKeyDictionary()
_unregistered: ConsumerMetrics | None = None


def consumer_metrics(registry: CollectorRegistry | None) -> ConsumerMetrics:
    """The consumer metrics registered on ``registry`` (created on first use); unregistered for None."""
    global _unregistered
    if registry is None:
        if _unregistered is None:
            _unregistered = ConsumerMetrics(None)
        return _unregistered
    metrics = _metrics_by_registry.get(registry)
    if metrics is None:
        metrics = _metrics_by_registry[registry] = ConsumerMetrics(registry)
    return metrics


@dataclass(frozen=True)
class Delivery:
    """Where a consumed message came from."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]


async def start_broker(broker: KafkaBroker) -> None:
    """Start ``broker`` (producer and every subscriber); on failure stop what started, then raise.

    When no bootstrap server accepts a connection, it fails before the broker builds its producer:
    a producer whose start failed is never closed by FastStream (one leaked client per retry).
    """
    bootstrap = _bootstrap_by_broker.get(broker)
    if bootstrap is not None:
        await _check_reachable(bootstrap)
    try:
        await broker.start()
    except BaseException:
        await broker.stop()
        raise


async def _check_reachable(bootstrap: str, timeout: float = 3.0) -> None:  # noqa: ASYNC109 - per server
    """Raise ``ConnectionError`` unless some bootstrap server accepts a TCP connection."""
    failures: list[str] = []
    for server in bootstrap.split(","):
        address = server.strip().split("://")[-1]
        host, _, port = address.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            failures.append(f"{address}: {type(exc).__name__}")
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise ConnectionError(f"no Kafka bootstrap server accepts connections ({', '.join(failures)})")


async def reachable(bootstrap: str, timeout: float = 1.0) -> bool:  # noqa: ASYNC109 - per server
    """Whether some bootstrap server accepts a TCP connection (a readiness check, cheap enough per call)."""
    try:
        await _check_reachable(bootstrap, timeout)
    except ConnectionError:
        return False
    return True

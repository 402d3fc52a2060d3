"""Kafka plumbing shared by the services: a broker factory, a publisher and safe consumers.

- Producers use ``acks=all`` with idempotence, so an acknowledged publish is on every in-sync
  replica and retries never duplicate it.
- Consumers join a consumer group, start at the earliest offset when the group is new, and commit
  only after the handler has finished (manual acknowledgement; auto-commit would commit what was
  merely fetched).
- A message that cannot be decoded, fails its schema, or keeps failing goes to the topic's
  dead-letter topic with the reason in headers, and the consumer goes on: one poison message
  never stalls a partition.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import propagate
from opentelemetry.trace import TracerProvider
from pydantic import TypeAdapter, ValidationError

from byosms_common.messages import Envelope, TraceContext, encode
from byosms_common.settings import KafkaSettings
from byosms_common.topics import TopicSpec

log = logging.getLogger(__name__)

M = TypeVar("M")

HEADER_TYPE = "byosms-type"
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
    """A FastStream Kafka broker with byosms' durability and acknowledgement settings."""
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
    }
    options.update(overrides)
    return KafkaBroker(settings.kafka_bootstrap, **options)


def current_trace() -> TraceContext | None:
    """The W3C trace context of the current span, to put on an outgoing message envelope."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    traceparent = carrier.get("traceparent")
    if not traceparent:
        return None
    return TraceContext(traceparent=traceparent, tracestate=carrier.get("tracestate") or None)


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
    """How often a failing handler is tried before its message goes to the dead-letter topic."""

    attempts: int = 5
    first_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        """Backoff before ``attempt`` (2, 3, ...): exponential with full jitter."""
        ceiling = min(self.max_delay, self.first_delay * 2 ** (attempt - 2))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security


@dataclass(frozen=True)
class Delivery:
    """Where a consumed message came from."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]


Handler = Callable[[M, Delivery], Awaitable[None]]


def consume(
    broker: KafkaBroker,
    topic: TopicSpec,
    *,
    group_id: str,
    model: type[M] | TypeAdapter[M],
    handler: Handler[M],
    policy: RetryPolicy | None = None,
    publisher: Publisher | None = None,
) -> None:
    """Register ``handler`` for ``topic`` in consumer group ``group_id``.

    The raw value is decoded into ``model`` (a pydantic model class, or a ``TypeAdapter`` such as
    ``messages.ANY_MESSAGE`` for topics that carry several message types). Offsets are committed
    after the handler returns, after the message went to the dead-letter topic, or never (the
    process stopping mid-way means the message is read again: handlers must be idempotent).
    """
    retry = policy or RetryPolicy()
    out = publisher or Publisher(broker)
    adapter: TypeAdapter[M] = model if isinstance(model, TypeAdapter) else TypeAdapter(model)

    async def _raw_body(msg: Any) -> bytes:
        return bytes(msg.body)

    @broker.subscriber(
        topic.name,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        decoder=_raw_body,
        title=f"{group_id}:{topic.name}",
        description=topic.description,
    )
    async def _consume(body: bytes, msg: KafkaMessage) -> None:
        record: Any = msg.raw_message
        delivery = Delivery(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode("utf-8", "replace") if record.key else None,
            headers={k: v.decode("utf-8", "replace") for k, v in (record.headers or ())},
        )
        await handle_one(body, delivery, adapter=adapter, handler=handler, policy=retry, dead_letter=out, topic=topic)
        await msg.ack()


async def handle_one(
    body: bytes,
    delivery: Delivery,
    *,
    adapter: TypeAdapter[M],
    handler: Handler[M],
    policy: RetryPolicy,
    dead_letter: Publisher,
    topic: TopicSpec,
) -> None:
    """Decode, handle with retries, or dead-letter one message. Never raises for a bad message."""
    try:
        message = adapter.validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        await _dead_letter(dead_letter, topic, body, delivery, "ValidationError", f"{where}: {first['msg']}", 1)
        return
    attempt = 1
    while True:
        try:
            await handler(message, delivery)
            return
        except PermanentError as exc:
            await _dead_letter(dead_letter, topic, body, delivery, type(exc).__name__, str(exc), attempt)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if attempt >= policy.attempts:
                log.exception(
                    "handler failed %d times; dead-lettering %s[%d]@%d",
                    attempt,
                    delivery.topic,
                    delivery.partition,
                    delivery.offset,
                )
                await _dead_letter(dead_letter, topic, body, delivery, type(exc).__name__, str(exc), attempt)
                return
            attempt += 1
            log.warning(
                "handler failed (%s); retry %d/%d of %s[%d]@%d",
                type(exc).__name__,
                attempt,
                policy.attempts,
                delivery.topic,
                delivery.partition,
                delivery.offset,
            )
            await asyncio.sleep(policy.delay(attempt))


async def _dead_letter(
    publisher: Publisher,
    topic: TopicSpec,
    body: bytes,
    delivery: Delivery,
    error_class: str,
    reason: str,
    attempts: int,
) -> None:
    log.warning("dead-lettering %s[%d]@%d: %s", delivery.topic, delivery.partition, delivery.offset, error_class)
    headers = {
        HEADER_ERROR_CLASS: error_class,
        HEADER_ERROR_REASON: reason[:1000],
        HEADER_ORIGIN_TOPIC: delivery.topic,
        HEADER_ORIGIN_PARTITION: str(delivery.partition),
        HEADER_ORIGIN_OFFSET: str(delivery.offset),
        HEADER_ATTEMPTS: str(attempts),
    }
    await publisher.publish_raw(topic.dead_letter, body, delivery.key, headers)


async def start_broker(broker: KafkaBroker) -> None:
    """Start ``broker`` (producer and every subscriber); on failure stop what started, then raise."""
    try:
        await broker.start()
    except BaseException:
        await broker.stop()
        raise

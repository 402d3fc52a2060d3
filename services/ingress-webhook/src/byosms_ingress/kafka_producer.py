"""The ingress's Kafka producer: librdkafka (``confluent-kafka``) behind an asyncio ``send``.

Chosen over aiokafka by measurement (bench/README.md, "ingress"): per record it costs a fraction of
aiokafka's CPU when many records are in flight (the spool drain after an outage), and it moves the
batching, framing and acknowledgement tracking off the event loop into librdkafka's C thread. At
the webhook path's 32 requests in flight the two cost about the same CPU per webhook in all.

- :meth:`RdKafkaProducer.send` queues a record and returns an asyncio future that resolves once
  Kafka acknowledged the record (``acks=all``, idempotent) or fails with :class:`DeliveryFailed`
  (or :class:`ProducerFailed`). The future belongs to nobody: it outlives a request's deadline, and
  cancelling it does not withdraw the record (the publisher relies on both, see publishing.py).
- Everything happens on the event loop. The records queued during one iteration of the loop are
  handed to librdkafka together at its end (``produce``, a C call that only queues), and librdkafka
  is polled right after each hand-over and every 4 ms while records wait (every 100 ms otherwise,
  for error and log events) with ``poll(0)``, which never blocks and runs the delivery callbacks
  that resolve the futures. Each timer tick wakes the event loop: every 4 ms instead of every 1 ms
  cost 5–18% less CPU per webhook in an A/B run on the bench machine (bench/README.md), for at
  most 3 ms more until a webhook is answered. Handing records over in a burst rather than one
  ``produce`` per webhook wakes librdkafka's broker thread once per burst instead of once per
  record: that thread's CPU per webhook fell from about 60 to 40–55 µs on the 2-core bench
  machine. A poll thread was measured too: handing each batch of reports over to the loop and the
  GIL changing hands cost more CPU per record than the timer.
- Connection trouble is not logged here: librdkafka's error events (all brokers down, a failed
  delivery) and acknowledgements go to a :class:`KafkaSignals` listener on the event loop, which
  keeps the reachability state and logs once per change (kafka_state.py). librdkafka's own log lines
  about failed connections are dropped for the same reason; its other lines are rate-limited.
- A fatal error (librdkafka's idempotence state is lost, e.g. a fenced producer) makes the producer
  unusable: :attr:`RdKafkaProducer.failure` says so and the owner replaces it.

The only module that imports ``confluent_kafka``, besides the benchmark.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from byosms_common.refusal_log import RateLimiter

log = logging.getLogger(__name__)
_librdkafka_log = logging.getLogger("byosms_ingress.librdkafka")

# Hand-over and poll intervals while records wait, and otherwise (error and log events).
_POLL_BUSY_S = 0.004
_POLL_IDLE_S = 0.1
Future = asyncio.Future[None]
# librdkafka log facilities that only say a broker connection failed or closed: the reachability
# state reports those once per change, librdkafka would repeat them on every reconnect attempt.
_CONNECTION_FACILITIES = frozenset({"FAIL", "BROKERFAIL", "CONNECT", "DISCONNECT"})
# Errors where sending the same record again cannot succeed (mirrors the permanent Kafka errors of
# byosms_common.kafka); everything else, timeouts and unknown topics included, is worth retrying.
_REFUSED_FOR_GOOD = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.TOPIC_EXCEPTION,  # invalid topic name
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
    }
)


def producer_config(bootstrap: str, client_id: str, security: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """librdkafka settings of the ingress's producer (callbacks are added by :class:`RdKafkaProducer`);
    ``security``: TLS and SASL properties (``byosms_common.kafka_security.librdkafka_options``)."""
    return {
        **(security or {}),
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        # Every in-sync replica has the record before it counts as accepted, and librdkafka's own
        # retries never duplicate or reorder it (idempotence caps in-flight requests at 5).
        "acks": "all",
        "enable.idempotence": True,
        # The records of one hand-over (see above) go out together; librdkafka need not wait longer.
        "linger.ms": 1,
        # Java's (and aiokafka's) partitioner, so a conversation key lands on the partition it always
        # did; librdkafka's default (CRC32) would move every conversation during the upgrade.
        "partitioner": "murmur2_random",
        "request.timeout.ms": 15_000,
        # A delivery future may outlive the webhook's deadline by this much; a record still queued
        # then fails as retriable and its spooled copy is sent by the drain.
        "message.timeout.ms": 60_000,
        "reconnect.backoff.max.ms": 2_000,
        "socket.nagle.disable": True,
        "log.connection.close": False,
    }


class DeliveryFailed(Exception):
    """Kafka did not take a record. ``retriable``: sending it again may succeed (the drain retries)."""

    def __init__(self, error: KafkaError) -> None:
        super().__init__(error.name())
        self.code = error.code()
        self.retriable = self.code not in _REFUSED_FOR_GOOD and not error.fatal()


class ProducerFailed(Exception):
    """The producer hit a fatal error or is stopped; records must go elsewhere (the spool)."""

    retriable = True


class KafkaSignals(Protocol):
    """What the producer reports about Kafka, called on the event loop."""

    def delivered(self) -> None:
        """Kafka acknowledged a record: it is reachable."""

    def trouble(self) -> None:
        """All brokers are down, a delivery failed or the producer failed: check reachability now."""


class ManagedProducer(Protocol):
    """What the ingress needs of its producer beyond ``send``: start, reachability probe, stop."""

    failure: str | None

    async def start(self) -> None: ...

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Awaitable[Any]: ...

    async def probe(self, timeout: float) -> str | None: ...  # noqa: ASYNC109

    async def stop(self, timeout: float) -> None: ...  # noqa: ASYNC109


class _Quiet:
    def delivered(self) -> None:
        pass

    def trouble(self) -> None:
        pass


class RdKafkaProducer:
    """The publisher's ``Producer`` (see publishing.py) on librdkafka; start it on the event loop."""

    def __init__(self, config: dict[str, Any], signals: KafkaSignals | None = None) -> None:
        self.config = dict(config)
        self.failure: str | None = None  # the name of a fatal error; the producer is unusable then
        self.auth_failure: str | None = None  # the last authentication error librdkafka reported
        self._signals = signals or _Quiet()
        self._producer: Producer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False  # a poll is scheduled at the busy interval
        self._outstanding = 0  # records handed to librdkafka whose delivery report is not in yet
        self._queued: list[tuple[str, bytes | None, bytes | None, Any, Future]] = []
        self._closing = False
        self._log_limit = RateLimiter(60.0)

    async def start(self) -> None:
        """Create the librdkafka client. Needs no broker: it connects in the background."""
        self._loop = asyncio.get_running_loop()
        self._producer = Producer({**self.config, "error_cb": self._on_error, "logger": _LibrdkafkaLog(self)})
        self._timer = self._loop.call_later(_POLL_IDLE_S, self._poll)

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> asyncio.Future[None]:
        """:meth:`queue`, for callers that expect an awaitable ``send`` (the publisher's ``Producer``)."""
        return self.queue(topic, value, key, headers=headers)

    def queue(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> asyncio.Future[None]:
        """Queue one record at once (nothing to await); the returned future resolves on Kafka's
        acknowledgement.

        Raises :class:`ProducerFailed` when the producer failed or is stopping. When librdkafka
        refuses the record at hand-over, the future fails: retriable when its queue is full or the
        producer failed, not retriable when Kafka can never take the record (too large), so the drain
        sets such a record aside instead of retrying it forever.
        """
        producer, loop = self._producer, self._loop
        if producer is None or loop is None or self.failure is not None or self._closing:
            raise ProducerFailed(self.failure or "not running")
        future: asyncio.Future[None] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._hand_over_soon)  # after the other callbacks of this loop iteration
        self._queued.append((topic, value, key, headers, future))
        if not self._busy:
            self._busy = True
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_later(_POLL_BUSY_S, self._poll)
        return future

    def _produce(
        self, producer: Producer, topic: str, value: bytes | None, key: bytes | None, headers: Any, future: Future
    ) -> None:
        """Hand one record to librdkafka; a refusal fails its future (retriable unless it can never be taken)."""
        try:
            producer.produce(topic, value, key, on_delivery=functools.partial(self._delivered, future), headers=headers)
        except BufferError:
            future.set_exception(ProducerFailed("librdkafka's queue is full"))
            return
        except KafkaException as exc:
            future.set_exception(DeliveryFailed(exc.args[0]))
            return
        self._outstanding += 1

    def _hand_over(self, producer: Producer) -> None:
        queued, self._queued = self._queued, []
        for topic, value, key, headers, future in queued:
            self._produce(producer, topic, value, key, headers, future)

    async def probe(self, timeout: float) -> str | None:  # noqa: ASYNC109 - librdkafka's own timeout
        """None when a metadata request got an answer from Kafka within ``timeout``, else why not."""
        producer = self._producer
        if producer is None:
            return "not running"
        try:
            # Blocks in C (in a worker thread); it serves no callbacks, those stay on the loop.
            await asyncio.to_thread(producer.list_topics, None, timeout)
        except KafkaException as exc:
            return str(exc.args[0].name())
        return None

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109 - librdkafka's own timeout
        """Wait up to ``timeout`` for queued records, fail what is left (retriable), close the client."""
        producer, loop = self._producer, self._loop
        if producer is None or loop is None:
            return
        self._hand_over(producer)
        self._closing = True
        deadline = loop.time() + max(0.0, timeout)
        # Not ``flush()`` in a thread: delivery reports must resolve their futures on the loop.
        while len(producer) and loop.time() < deadline:
            producer.poll(0)
            await asyncio.sleep(0.01)
        if len(producer):
            producer.purge()
            producer.poll(0)  # the purged records' reports: retriable failures
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await asyncio.to_thread(producer.close)
        self._producer = None

    # ------------------------------------------------------------------ on the event loop
    def _hand_over_soon(self) -> None:
        producer = self._producer
        if producer is not None and not self._closing:
            self._hand_over(producer)
            producer.poll(0)

    def _poll(self) -> None:
        producer, loop = self._producer, self._loop
        if producer is None or loop is None or self._closing:
            return
        if self._queued:
            self._hand_over(producer)
        producer.poll(0)  # runs the delivery, error and log callbacks below
        self._busy = self._outstanding > 0 or bool(self._queued)
        self._timer = loop.call_later(_POLL_BUSY_S if self._busy else _POLL_IDLE_S, self._poll)

    def _delivered(self, future: asyncio.Future[None], error: KafkaError | None, _: Any) -> None:
        self._outstanding -= 1
        if error is None:
            if not future.done():
                future.set_result(None)
            self._signals.delivered()
        else:
            if not future.done():
                future.set_exception(DeliveryFailed(error))
            self._signals.trouble()

    def _on_error(self, error: KafkaError) -> None:
        """librdkafka's error events: only signals, no log line per event (see kafka_state.py)."""
        if error.fatal():
            if self.failure is None:
                self.failure = str(error.name())  # the owner logs it and replaces the producer
            self._signals.trouble()
        elif error.code() == KafkaError._AUTHENTICATION:
            # Wrong SASL credentials or a refused TLS handshake: the brokers answer, so say what is
            # wrong, once a minute (librdkafka's text names the mechanism, never the password).
            self.auth_failure = str(error.str())
            if self._log_limit.allow("authentication") is not None:
                log.error(
                    "Kafka refused the client's credentials (%s); check BYOSMS_KAFKA_SASL_* and BYOSMS_KAFKA_SSL_*",
                    self.auth_failure,
                )
            self._signals.trouble()
        elif error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._signals.trouble()


class _LibrdkafkaLog:
    """librdkafka's log lines into Python logging: connection failures dropped (the reachability
    state reports them), the others at most once per minute per facility."""

    def __init__(self, owner: RdKafkaProducer) -> None:
        self._limit = owner._log_limit

    def log(self, level: int, fmt: str, *args: Any) -> None:
        # confluent-kafka passes Python's levels (it maps librdkafka's syslog levels itself).
        facility = str(args[0]) if args else ""
        if facility in _CONNECTION_FACILITIES:
            return
        if level < logging.WARNING:
            _librdkafka_log.log(level, fmt, *args)
            return
        suppressed = self._limit.allow(facility)
        if suppressed is None:
            return
        if suppressed:
            _librdkafka_log.log(level, fmt + " (%d similar lines suppressed)", *args, suppressed)
        else:
            _librdkafka_log.log(level, fmt, *args)

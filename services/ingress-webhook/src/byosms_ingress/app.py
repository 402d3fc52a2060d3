"""Builds the ingress: settings, keyring, spool, Kafka producer, integrations cache, HTTP app.

The only place that constructs collaborators. Kafka may be down at start: the producer and the
state-topic follower connect in the background with backoff; webhooks that arrive before the
producer is connected go to the spool, and webhooks that arrive before the integrations are loaded
get 503 (they cannot be validated yet). Nothing crash-loops.

Readiness (``/readyz``) means "a webhook sent here now is answered 200 and not lost":

    ready = integrations_loaded and (kafka or spool_accepting)

The issue words it as "Kafka reachable and the integrations cache loaded". Taken literally, a Kafka
outage would take every pod out of its Service at once, Twilio could deliver nowhere, and the spool
(which exists for exactly that outage) would never be used. So Kafka reachability is one way to be
ready and a spool with room is the other: the pod leaves the Service only when it can neither
publish nor spool. Before the first load of the integrations nothing can be validated, so that
stays a hard condition (and needs Kafka once per process). Each condition is reported in the JSON
body (``checks``).

Kafka reachability is kept live, not probed per ``/readyz`` call (kafka_state.py): the producer's
acknowledgements and error events, and a metadata request every few seconds (every second while
Kafka is unreachable), update it and the gauge ``byosms_ingress_kafka_reachable``, with one log line
per change. While Kafka is known unreachable, webhooks go straight to the spool instead of waiting
for the publish deadline first. The producer (librdkafka, kafka_producer.py) needs no broker to
start; the integrations follower starts once Kafka was reached. A producer that fails for good
(fatal error) is replaced; its pending records fail and their spooled copies are drained.

Stopping (SIGTERM) starts with the pre-stop delay (``prestop_delay_s``, :meth:`Ingress.begin_stopping`):
``/readyz`` answers 503 (``not_stopping`` false) and every response says ``Connection: close``,
while the listener still accepts and answers webhooks, so the endpoint removal reaches every load
balancer before anything is refused (Twilio does not retry a refused webhook). Then the listener
closes. With ``metrics_port`` set, ``/metrics`` is served only on that second port (with its own
``/healthz``/``/readyz``), never on the public one.

Shutdown runs on aiohttp's ``on_cleanup``, i.e. after the server stopped accepting connections and
the in-flight handlers finished (``on_shutdown`` runs before that wait). Then the drain gets up to
``shutdown_grace_s`` to move what the spool holds into Kafka; what is left stays on disk for the next
start.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from opentelemetry import trace

from byosms_common.crypto import Keyring
from byosms_common.health import add_health_routes
from byosms_common.kafka_security import librdkafka_options
from byosms_common.messages import IntegrationState
from byosms_common.runtime import retry_forever
from byosms_common.settings import KafkaSettings
from byosms_common.state_cache import StateTopicFollower
from byosms_common.topics import INTEGRATION_STATE
from byosms_ingress.integrations_cache import IntegrationsCache
from byosms_ingress.kafka_producer import KafkaSignals, ManagedProducer, RdKafkaProducer, producer_config
from byosms_ingress.kafka_state import STILL_DOWN_EVERY_S, KafkaConnectivity, QuietKafkaClientLogs
from byosms_ingress.metrics import IngressMetrics
from byosms_ingress.publishing import EventPublisher
from byosms_ingress.refusals import QuietHttpErrors
from byosms_ingress.routes import RouteDeps, add_routes
from byosms_ingress.settings import IngressSettings
from byosms_ingress.signature_failures import FailureTracker, SignatureFailureReporter
from byosms_ingress.spool import Spool

log = logging.getLogger(__name__)

SERVICE = "ingress"
READY_RULE = "not_stopping and integrations_loaded and (kafka or spool_accepting)"
_KAFKA_PROBE_TIMEOUT_S = 1.5
# How often reachability is checked with a metadata request while Kafka is reachable and while not
# (acknowledgements and librdkafka's error events update it in between).
PROBE_EVERY_S = 5.0
PROBE_EVERY_DOWN_S = 1.0
# The collector's thresholds once started (byosms_common.service uses the same for the consumers).
_GC_THRESHOLDS = (50_000, 20, 100)
# The spool accepts when a few of the largest possible webhooks still fit.
_SPOOL_HEADROOM_FACTOR = 4


class Ingress:
    """All parts of one running ingress, started and stopped together with the HTTP app.

    The keyword arguments are for tests and the benchmark: another producer (``producer_factory``
    builds one from the librdkafka settings and the signals it reports to), the reachability check
    intervals, how often an outage is logged again, and a tracer provider (else the global one).
    """

    def __init__(
        self,
        settings: IngressSettings,
        kafka: KafkaSettings,
        keyring: Keyring,
        *,
        producer_factory: ProducerFactory | None = None,
        probe_every_s: float = PROBE_EVERY_S,
        probe_every_down_s: float = PROBE_EVERY_DOWN_S,
        still_down_every_s: float = STILL_DOWN_EVERY_S,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.settings = settings
        # The global provider unless one is given (__main__: the SDK's with an OTLP endpoint, else the
        # no-op one, and then no spans are made; tests: one with an in-memory exporter).
        self._tracer = trace.get_tracer("byosms.ingress", tracer_provider=tracer_provider)
        self.kafka = kafka
        self.region = settings.region_config()
        self.metrics = IngressMetrics(spool=settings.spool_dir.name, spool_limit=settings.spool_max_bytes)
        self.spool = Spool(settings.spool_dir, settings.spool_max_bytes)
        self.cache = IntegrationsCache(keyring=keyring, region=self.region.id)
        self.connectivity = KafkaConnectivity(self.metrics.kafka_reachable, still_down_every_s=still_down_every_s)
        self.publisher = EventPublisher(
            self.spool,
            self.metrics,
            deadline_s=settings.publish_deadline_s,
            drain_batch=settings.drain_batch,
            kafka_up=lambda: self.connectivity.reachable is not False,
        )
        self.follower: StateTopicFollower[IntegrationState] = StateTopicFollower(
            kafka,
            INTEGRATION_STATE,
            IntegrationState,
            client_id=f"{kafka.kafka_client_id_prefix}-{SERVICE}-{self.region.id}",
            on_change=self._on_integration_change,
        )
        self._producer_factory = producer_factory or RdKafkaProducer
        self._probe_every = (probe_every_s, probe_every_down_s)
        self._producer: ManagedProducer | None = None
        self.signature_failures = SignatureFailureReporter(
            FailureTracker(self.region.id),
            lambda: self.publisher.producer,
        )
        self._quiet_client_logs = QuietKafkaClientLogs(self.connectivity)
        self._quiet_http_errors = QuietHttpErrors()
        self._follower_started = False
        self._following: asyncio.Task[bool] | None = None
        self._check_now = asyncio.Event()
        self._stop = asyncio.Event()
        self.stopping = False
        self._tasks: list[asyncio.Task[Any]] = []

    def web_app(self) -> web.Application:
        # No middlewares: the webhook handlers open their own span and answer their own 500 (routes.py),
        # and an application without middlewares takes aiohttp's shorter path for every request.
        app = web.Application(client_max_size=self.settings.body_limit_bytes)
        add_routes(
            app,
            RouteDeps(
                region=self.region,
                cache=self.cache,
                publisher=self.publisher,
                metrics=self.metrics,
                ready=self.follower.loaded.is_set,
                signature_failures=self.signature_failures,
                tracer=None if isinstance(self._tracer, trace.NoOpTracer) else self._tracer,
            ),
        )
        add_health_routes(
            app,
            self.readiness,
            self.metrics.registry,
            rule=_ready,
            rule_text=READY_RULE,
            metrics=self.settings.metrics_port is None,
        )
        app.on_response_prepare.append(self._close_when_stopping)
        app.on_startup.append(lambda _: self.start())
        # on_cleanup, not on_shutdown: aiohttp calls on_shutdown before it waits for in-flight
        # handlers, which would find the spool and the producer closed under them.
        app.on_cleanup.append(lambda _: self.stop())
        return app

    def metrics_app(self) -> web.Application:
        """The app of ``metrics_port``: ``/metrics`` plus the same ``/healthz`` and ``/readyz``."""
        app = web.Application()
        add_health_routes(app, self.readiness, self.metrics.registry, rule=_ready, rule_text=READY_RULE)
        return app

    async def begin_stopping(self, delay_s: float) -> None:
        """SIGTERM: report not ready and ask clients to close their connections, keep serving for
        ``delay_s`` seconds (load balancers take the pod out meanwhile); the caller then closes the
        listener."""
        if not self.stopping:
            self.stopping = True
            self.metrics.stopping.set(1)
            log.info("stopping: not ready now, serving %.1fs more before the listener closes", delay_s)
        if delay_s > 0:
            await asyncio.sleep(delay_s)

    async def _close_when_stopping(self, _: web.Request, response: web.StreamResponse) -> None:
        if self.stopping:
            # Both: force_close() alone closes the connection after the response without saying so,
            # and a client that reuses it then finds it closed under its next request.
            response.force_close()
            response.headers["Connection"] = "close"

    async def readiness(self) -> dict[str, bool]:
        """The readiness conditions (see the module docstring)."""
        return {
            "not_stopping": not self.stopping,
            "integrations_loaded": self.follower.loaded.is_set(),
            "kafka": self.connectivity.reachable is True,
            "spool_accepting": self.spool.accepting(self.settings.body_limit_bytes * _SPOOL_HEADROOM_FACTOR),
        }

    def _on_integration_change(self, key: str, state: IntegrationState | None) -> None:
        self.cache.apply(key, state)
        self.metrics.integrations.set(len(self.cache))

    async def start(self) -> None:
        await self.spool.open()
        self.publisher.update_gauges()
        self._quiet_client_logs.install()
        self._quiet_http_errors.install()
        self._tasks = [
            asyncio.create_task(self._run_kafka()),
            asyncio.create_task(self.publisher.drain_forever(self._stop)),
            asyncio.create_task(self.signature_failures.run(self._stop)),
        ]
        # Everything allocated so far (modules, settings, the app) lives as long as the process: keep
        # it out of the collector's full passes, which otherwise scan all of it (pauses of tens of ms).
        # And collect the young generation less often: the objects of the requests in flight survive
        # each young collection with Python's default threshold (700) and are walked again and again.
        gc.freeze()
        gc.set_threshold(*_GC_THRESHOLDS)

    # ------------------------------------------------------------------ Kafka
    def delivered(self) -> None:
        """KafkaSignals: a record was acknowledged."""
        self.connectivity.up()

    def trouble(self) -> None:
        """KafkaSignals: brokers down, a delivery failed or the producer failed: check at once."""
        self._check_now.set()

    async def _run_kafka(self) -> None:
        """Own the producer (replaced after a fatal error) and keep Kafka's reachability live."""
        while not self._stop.is_set():
            client_id = f"{self.kafka.kafka_client_id_prefix}-{SERVICE}-{self.region.id}"
            try:
                producer = self._producer_factory(
                    producer_config(self.kafka.kafka_bootstrap, client_id, librdkafka_options(self.kafka)), self
                )
                await producer.start()
            except Exception:
                # Needs no broker, so only a setting librdkafka refuses gets here: say so, loudly.
                log.exception("the Kafka producer cannot be created; webhooks go to the spool")
                raise
            self._producer = producer
            await self._watch(producer)
            if self._stop.is_set():
                return  # stop() closes the producer after the final drain
            # Fatal: the records it still holds fail (retriable); the spool has every one that matters.
            log.error("the Kafka producer failed for good (%s); replacing it", producer.failure)
            self.publisher.producer = None
            self._producer = None
            await producer.stop(0)
            await _wait_any(self._stop, None, timeout=1.0)

    async def _watch(self, producer: ManagedProducer) -> None:
        """Check reachability until stopped or the producer failed; the first success starts publishing
        directly and following the integrations (a follower whose first connect fails would leave an
        unclosed consumer behind, so it is not tried against a broker known to be down)."""
        while not self._stop.is_set():
            self._check_now.clear()
            why = await producer.probe(_KAFKA_PROBE_TIMEOUT_S)
            if producer.failure is not None:
                return
            if why is None:
                self.connectivity.up()
                if self.publisher.producer is None:
                    self.publisher.producer = producer
                if self._following is None:
                    self._following = asyncio.create_task(
                        retry_forever("following the integrations", self._start_follower, stop=self._stop)
                    )
                    self._tasks.append(self._following)
            else:
                self.connectivity.down(why)
            self.connectivity.tick()
            every = self._probe_every[0] if self.connectivity.reachable else self._probe_every[1]
            await _wait_any(self._stop, self._check_now, timeout=every)
            await asyncio.sleep(0.05)  # a burst of trouble signals never turns into back-to-back probes

    async def _start_follower(self) -> None:
        await self.follower.start()
        self._follower_started = True

    async def stop(self) -> None:
        """After the last request: stop the background tasks, drain the spool within the grace period,
        then close everything. Events not drained stay in the spool for the next start."""
        self._stop.set()
        deadline = asyncio.get_running_loop().time() + self.settings.shutdown_grace_s
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, max(0.0, deadline - asyncio.get_running_loop().time()))
        left = max(0.0, deadline - asyncio.get_running_loop().time())
        if not self.spool.empty and self.publisher.producer is not None and left > 0:
            log.info("draining %d spooled events before stopping", self.spool.pending_records)
            try:
                await asyncio.wait_for(self.publisher.drain_remaining(), left)
            except TimeoutError:
                log.warning("stopping with %d events still in the spool", self.spool.pending_records)
        await self.publisher.close()
        with contextlib.suppress(TimeoutError):
            # Signature-failure reports are best effort: never hold the stop past the grace period.
            await asyncio.wait_for(self.signature_failures.close(), max(0.1, left))
        if self._follower_started:
            await self.follower.stop()
        if self._producer is not None:
            # Records that matter are acknowledged or spooled already; the flush is for the rest
            # (signature-failure reports, drained copies in flight).
            left = max(0.5, deadline - asyncio.get_running_loop().time())
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(left), left + 5)
            self._producer = None
        self._quiet_client_logs.remove()
        self._quiet_http_errors.remove()
        await self.spool.close()


ProducerFactory = Callable[[dict[str, Any], KafkaSignals], ManagedProducer]


async def _wait_any(event: asyncio.Event, other: asyncio.Event | None, timeout: float) -> None:  # noqa: ASYNC109
    """Until ``event`` or ``other`` is set, or ``timeout`` passed."""
    waits = [asyncio.ensure_future(event.wait())]
    if other is not None:
        waits.append(asyncio.ensure_future(other.wait()))
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waits:
            waiter.cancel()


def _ready(checks: Mapping[str, bool]) -> bool:
    return checks["not_stopping"] and checks["integrations_loaded"] and (checks["kafka"] or checks["spool_accepting"])

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
body (``checks``), and Kafka reachability also as the gauge ``byosms_ingress_kafka_reachable``.

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
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from aiokafka import AIOKafkaProducer
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from byosms_common.crypto import Keyring
from byosms_common.health import add_health_routes
from byosms_common.messages import IntegrationState
from byosms_common.runtime import retry_forever
from byosms_common.settings import KafkaSettings
from byosms_common.state_cache import StateTopicFollower
from byosms_common.topics import INTEGRATION_STATE
from byosms_ingress.integrations_cache import IntegrationsCache
from byosms_ingress.metrics import IngressMetrics
from byosms_ingress.publishing import EventPublisher
from byosms_ingress.routes import RouteDeps, add_routes
from byosms_ingress.settings import IngressSettings
from byosms_ingress.signature_failures import FailureTracker, SignatureFailureReporter
from byosms_ingress.spool import Spool

log = logging.getLogger(__name__)

SERVICE = "ingress"
READY_RULE = "integrations_loaded and (kafka or spool_accepting)"
_KAFKA_PROBE_TIMEOUT_S = 1.5
# The spool accepts when a few of the largest possible webhooks still fit.
_SPOOL_HEADROOM_FACTOR = 4
_tracer = trace.get_tracer("byosms.ingress")


class Ingress:
    """All parts of one running ingress, started and stopped together with the HTTP app."""

    def __init__(self, settings: IngressSettings, kafka: KafkaSettings, keyring: Keyring) -> None:
        self.settings = settings
        self.kafka = kafka
        self.region = settings.region_config()
        self.metrics = IngressMetrics()
        self.spool = Spool(settings.spool_dir, settings.spool_max_bytes)
        self.cache = IntegrationsCache(keyring=keyring, region=self.region.id)
        self.publisher = EventPublisher(
            self.spool, self.metrics, deadline_s=settings.publish_deadline_s, drain_batch=settings.drain_batch
        )
        self.follower: StateTopicFollower[IntegrationState] = StateTopicFollower(
            kafka,
            INTEGRATION_STATE,
            IntegrationState,
            client_id=f"{kafka.kafka_client_id_prefix}-{SERVICE}-{self.region.id}",
            on_change=self._on_integration_change,
        )
        self._producer: AIOKafkaProducer | None = None
        self.signature_failures = SignatureFailureReporter(FailureTracker(self.region.id), lambda: self._producer)
        self._follower_started = False
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.body_limit_bytes, middlewares=[_tracing, _no_traces])
        add_routes(
            app,
            RouteDeps(
                region=self.region,
                cache=self.cache,
                publisher=self.publisher,
                metrics=self.metrics,
                ready=self.follower.loaded.is_set,
                signature_failures=self.signature_failures,
            ),
        )
        add_health_routes(app, self.readiness, self.metrics.registry, rule=_ready, rule_text=READY_RULE)
        app.on_startup.append(lambda _: self.start())
        # on_cleanup, not on_shutdown: aiohttp calls on_shutdown before it waits for in-flight
        # handlers, which would find the spool and the producer closed under them.
        app.on_cleanup.append(lambda _: self.stop())
        return app

    async def readiness(self) -> dict[str, bool]:
        """The readiness conditions (see the module docstring); updates the Kafka gauge."""
        kafka = await self._kafka_reachable()
        self.metrics.kafka_reachable.set(1 if kafka else 0)
        return {
            "integrations_loaded": self.follower.loaded.is_set(),
            "kafka": kafka,
            "spool_accepting": self.spool.accepting(self.settings.body_limit_bytes * _SPOOL_HEADROOM_FACTOR),
        }

    def _on_integration_change(self, key: str, state: IntegrationState | None) -> None:
        self.cache.apply(key, state)
        self.metrics.integrations.set(len(self.cache))

    async def start(self) -> None:
        await self.spool.open()
        self.publisher.update_gauges()
        self._tasks = [
            asyncio.create_task(self._connect()),
            asyncio.create_task(self.publisher.drain_forever(self._stop)),
            asyncio.create_task(self.signature_failures.run(self._stop)),
        ]
        # Everything allocated so far (modules, settings, the app) lives as long as the process: keep
        # it out of the collector's full passes, which otherwise scan all of it (pauses of tens of ms).
        gc.freeze()

    async def _connect(self) -> None:
        # The follower starts once the producer reached Kafka: a follower whose first connect fails
        # leaves an unclosed consumer behind, so it is not tried against a broker known to be down.
        if await retry_forever("connecting the Kafka producer", self._connect_producer, stop=self._stop):
            await retry_forever("following the integrations", self._start_follower, stop=self._stop)

    async def _connect_producer(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.kafka.kafka_bootstrap,
            client_id=f"{self.kafka.kafka_client_id_prefix}-{SERVICE}-{self.region.id}",
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            request_timeout_ms=15_000,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        self.publisher.producer = producer

    async def _start_follower(self) -> None:
        await self.follower.start()
        self._follower_started = True

    async def _kafka_reachable(self) -> bool:
        if self._producer is None:
            return False
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), _KAFKA_PROBE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - unreachable in any way is "not reachable"
            return False
        return True

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
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), self.settings.shutdown_grace_s)
        await self.spool.close()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _ready(checks: Mapping[str, bool]) -> bool:
    return checks["integrations_loaded"] and (checks["kafka"] or checks["spool_accepting"])


@web.middleware
async def _tracing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A server span per request, continuing the caller's W3C trace context if it sent one."""
    token = otel_context.attach(propagate.extract(request.headers))  # case-insensitive, no copy
    try:
        with _tracer.start_as_current_span(f"{request.method} {request.path}", kind=trace.SpanKind.SERVER) as span:
            response = await handler(request)
            span.set_attribute("http.response.status_code", response.status)
            return response
    finally:
        otel_context.detach(token)


@web.middleware
async def _no_traces(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Nothing a client sends may produce a stack trace; a bug answers a bare 500 and is logged."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error handling %s %s", request.method, request.path)
        return web.json_response({"code": "internal_error"}, status=500)

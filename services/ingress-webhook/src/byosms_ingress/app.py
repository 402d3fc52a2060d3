"""Builds the ingress: settings, keyring, spool, Kafka producer, integrations cache, HTTP app.

The only place that constructs collaborators. Kafka may be down at start: the producer and the
state-topic follower connect in the background with backoff while ``/readyz`` says not ready;
webhooks that arrive before the producer is connected go to the spool, and webhooks that arrive
before the integrations are loaded get 503 (they cannot be validated yet). Nothing crash-loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiokafka import AIOKafkaProducer
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from byosms_common.crypto import Keyring
from byosms_common.health import Readiness, add_health_routes
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
from byosms_ingress.spool import Spool

log = logging.getLogger(__name__)

SERVICE = "ingress"
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
        self.readiness = Readiness()
        self.readiness.add_check("kafka", self._kafka_reachable)
        self.readiness.add_check("integrations_loaded", self._integrations_loaded)
        self._producer: AIOKafkaProducer | None = None
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
            ),
        )
        add_health_routes(app, self.readiness, self.metrics.registry)
        app.on_startup.append(lambda _: self.start())
        app.on_shutdown.append(lambda _: self.stop())
        return app

    def _on_integration_change(self, key: str, state: IntegrationState | None) -> None:
        self.cache.apply(key, state)
        self.metrics.integrations.set(len(self.cache))

    async def start(self) -> None:
        await self.spool.open()
        self.publisher.update_gauges()
        self._tasks = [
            asyncio.create_task(self._connect()),
            asyncio.create_task(self.publisher.drain_forever(self._stop)),
        ]

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
        await self._producer.client.fetch_all_metadata()
        return True

    async def _integrations_loaded(self) -> bool:
        return self.follower.loaded.is_set()

    async def stop(self) -> None:
        """Stop taking new work, give the drain a moment, then close everything."""
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, self.settings.shutdown_grace_s)
        await self.publisher.close()
        if self._follower_started:
            await self.follower.stop()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), self.settings.shutdown_grace_s)
        await self.spool.close()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _tracing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A server span per request, continuing the caller's W3C trace context if it sent one."""
    token = otel_context.attach(propagate.extract(dict(request.headers)))
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

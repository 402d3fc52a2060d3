"""Wiring of the provisioning service: the only place that builds settings, pools, broker, HTTP app
and the Twilio client.

Features plug in by appending to the lists below:

- :data:`ROUTE_REGISTRARS`: ``register(app, ctx)`` mounts HTTP routes;
- :data:`SUBSCRIBER_REGISTRARS`: ``register(broker, ctx)`` adds Kafka consumers
  (use ``byosms_common.kafka.consume``);
- :data:`BACKGROUND_TASKS`: ``run(ctx, stop)`` coroutines running until ``stop`` is set.

Handlers get the :class:`~byosms_provisioning.context.ServiceContext` (``context_of(request)`` in
routes). Events are published through the outbox (``byosms_provisioning.outbox.enqueue`` inside
the transaction that makes the change).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry

from byosms_common.db import apply_migrations, create_pool, load_migrations
from byosms_common.health import Readiness, add_health_routes
from byosms_common.kafka import Publisher, build_broker
from byosms_common.logs import configure_logging
from byosms_common.regions import load_regions
from byosms_common.runtime import install_stop_signals, retry_forever, serve_http
from byosms_common.settings import DatabaseSettings, KafkaSettings, KeyringSettings, TelemetrySettings
from byosms_provisioning import openapi, outbox, routes, routes_imports, subscribers, subscribers_imports
from byosms_provisioning.auth import JwtVerifier
from byosms_provisioning.context import CONTEXT, ServiceContext
from byosms_provisioning.problems import problem_middleware
from byosms_provisioning.settings import ProvisioningSettings
from byosms_provisioning.twilio_gateway import TwilioGateway

log = logging.getLogger(__name__)

SERVICE = "provisioning"
SCHEMA = "provisioning"

RouteRegistrar = Callable[[web.Application, ServiceContext], None]
SubscriberRegistrar = Callable[[KafkaBroker, ServiceContext], None]
BackgroundTask = Callable[[ServiceContext, asyncio.Event], Coroutine[Any, Any, None]]


async def run_outbox_relay(ctx: ServiceContext, stop: asyncio.Event) -> None:
    assert ctx.publisher is not None
    await outbox.run_relay(
        ctx.pool, ctx.publisher, ctx.outbox_wakeup, stop, poll_seconds=ctx.settings.outbox_poll_seconds
    )


ROUTE_REGISTRARS: list[RouteRegistrar] = [
    routes.register,
    openapi.register,
    routes_imports.register,
]
SUBSCRIBER_REGISTRARS: list[SubscriberRegistrar] = [
    subscribers.register,
    subscribers_imports.register,
]
BACKGROUND_TASKS: list[BackgroundTask] = [
    run_outbox_relay,
    subscribers_imports.run_import_sweeper,
]


@dataclass(frozen=True)
class AllSettings:
    """Every setting the service reads, validated together at start."""

    service: ProvisioningSettings
    kafka: KafkaSettings
    database: DatabaseSettings
    keyring: KeyringSettings
    telemetry: TelemetrySettings


def load_settings() -> AllSettings:
    """Read and validate the environment; raises pydantic's ValidationError (secrets hidden)."""
    return AllSettings(
        service=ProvisioningSettings(),
        kafka=KafkaSettings(),
        database=DatabaseSettings(),
        keyring=KeyringSettings(),
        telemetry=TelemetrySettings(),
    )


def build_verifier(settings: ProvisioningSettings) -> JwtVerifier:
    return JwtVerifier.from_sources(
        public_key_file=settings.jwt_public_key_file,
        jwks_file=settings.jwt_jwks_file,
        jwks_url=settings.jwt_jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        algorithms=settings.jwt_algorithms,
        leeway_seconds=settings.jwt_leeway_seconds,
    )


def build_http_app(
    ctx: ServiceContext,
    *,
    readiness: Readiness | None = None,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    """The aiohttp application with every registered route (and health routes when given)."""
    app = web.Application(middlewares=[problem_middleware], client_max_size=ctx.settings.max_body_bytes)
    app[CONTEXT] = ctx
    for register in ROUTE_REGISTRARS:
        register(app, ctx)
    if readiness is not None:
        add_health_routes(app, readiness, registry or CollectorRegistry())
    return app


def register_subscribers(broker: KafkaBroker, ctx: ServiceContext) -> None:
    for register in SUBSCRIBER_REGISTRARS:
        register(broker, ctx)


async def open_pool(settings: AllSettings) -> asyncpg.Pool:
    """A pool on the service's schema, with its migrations applied."""
    pool = await create_pool(
        settings.database.database_url.get_secret_value(),
        SCHEMA,
        min_size=settings.database.database_pool_min,
        max_size=settings.database.database_pool_max,
    )
    await apply_migrations(pool, SCHEMA, load_migrations("byosms_provisioning"))
    return pool


async def serve(settings: AllSettings) -> None:
    """Run the service until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    keyring = settings.keyring.keyring()
    verifier = build_verifier(settings.service)
    regions = load_regions(settings.service.regions_overrides)
    readiness = Readiness()
    registry = CollectorRegistry()

    pool_box: list[asyncpg.Pool] = []

    async def connect_db() -> None:
        pool_box.append(await open_pool(settings))

    if not await retry_forever("connecting to PostgreSQL", connect_db, stop=stop):
        return
    pool = pool_box[0]
    twilio = TwilioGateway(
        api_base=settings.service.twilio_api_base, timeout_seconds=settings.service.twilio_timeout_seconds
    )
    await twilio.start()
    broker = build_broker(settings.kafka, SERVICE)
    ctx = ServiceContext(
        settings=settings.service,
        pool=pool,
        keyring=keyring,
        twilio=twilio,
        verifier=verifier,
        regions=regions,
        publisher=Publisher(broker),
    )
    if settings.service.commands_enabled:
        register_subscribers(broker, ctx)
    readiness.add_check("postgres", lambda: _db_ok(pool))
    runner = await serve_http(
        build_http_app(ctx, readiness=readiness, registry=registry), settings.service.host, settings.service.port
    )
    tasks: list[asyncio.Task[None]] = []
    try:
        if not await retry_forever("connecting to Kafka", broker.start, stop=stop):
            return
        readiness.set_flag("kafka", True)
        tasks = [asyncio.create_task(task(ctx, stop)) for task in BACKGROUND_TASKS]
        await stop.wait()
    finally:
        log.info("stopping")
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runner.cleanup()
        await broker.stop()
        await twilio.close()
        await pool.close()


async def _db_ok(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval("SELECT 1") == 1)


def main_serve() -> None:
    settings = load_settings()
    configure_logging(settings.telemetry, SERVICE)
    asyncio.run(serve(settings))

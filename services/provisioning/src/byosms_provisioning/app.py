"""Wiring of the provisioning service: the only place that builds settings, pools, broker, HTTP app
and the Twilio client.

Features plug in by appending to the lists below:

- :data:`ROUTE_REGISTRARS`: ``register(app, ctx)`` mounts HTTP routes;
- :data:`SUBSCRIPTION_TABLES`: ``subscriptions(ctx)`` lists Kafka consumers
  (``byosms_common.consumer.Subscription``);
- :data:`BACKGROUND_TASKS`: ``run(ctx, stop)`` coroutines running until ``stop`` is set.

Handlers get the :class:`~byosms_provisioning.context.ServiceContext` (``context_of(request)`` in
routes). Events are published through the outbox (``byosms_provisioning.outbox.enqueue`` inside
the transaction that makes the change).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import asyncpg
from aiohttp import web
from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry

from byosms_common.consumer import Consumers, Subscription
from byosms_common.health import Readiness, add_health_routes
from byosms_common.kafka import Publisher, build_broker, start_broker
from byosms_common.logs import configure_logging
from byosms_common.regions import load_regions
from byosms_common.service import ServiceRuntime
from byosms_common.settings import (
    ConsumerSettings,
    DatabaseSettings,
    KafkaSettings,
    KeyringSettings,
    TelemetrySettings,
)
from byosms_provisioning import openapi, outbox
from byosms_provisioning.auth import JwtVerifier
from byosms_provisioning.context import CONTEXT, ServiceContext
from byosms_provisioning.imports import routes as routes_imports
from byosms_provisioning.imports import subscribers as subscribers_imports
from byosms_provisioning.integrations import routes, subscribers, token_rotation_routes, token_rotation_service
from byosms_provisioning.media import routes as routes_media
from byosms_provisioning.numbers import routes as routes_numbers
from byosms_provisioning.numbers import service as numbers_service
from byosms_provisioning.numbers import subscribers as subscribers_numbers
from byosms_provisioning.problems import problem_middleware
from byosms_provisioning.refusal_log import quiet_protocol_errors
from byosms_provisioning.regions import routes as routes_regions
from byosms_provisioning.settings import ProvisioningSettings, SealingKeySettings
from byosms_provisioning.traces import routes as routes_traces
from byosms_provisioning.traces import service as traces_service
from byosms_provisioning.traces import subscribers as subscribers_traces
from byosms_provisioning.twilio_gateway import TwilioGateway
from byosms_provisioning.webhook_checks import routes as routes_webhooks
from byosms_provisioning.webhook_checks import schedule as webhook_schedule

log = logging.getLogger(__name__)

SERVICE = "provisioning"
SCHEMA = "provisioning"

RouteRegistrar = Callable[[web.Application, ServiceContext], None]
SubscriptionTable = Callable[[ServiceContext], list[Subscription[Any]]]
BackgroundTask = Callable[[ServiceContext, asyncio.Event], Coroutine[Any, Any, None]]


async def run_outbox_relay(ctx: ServiceContext, stop: asyncio.Event) -> None:
    assert ctx.publisher is not None
    await outbox.run_relay(
        ctx.pool, ctx.publisher, ctx.outbox_wakeup, stop, poll_seconds=ctx.settings.outbox_poll_seconds
    )


ROUTE_REGISTRARS: list[RouteRegistrar] = [
    routes.register,
    token_rotation_routes.register,
    openapi.register,
    routes_imports.register,
    routes_numbers.register,
    routes_regions.register,
    routes_traces.register,
    routes_webhooks.register,
    routes_media.register,
]
SUBSCRIPTION_TABLES: list[SubscriptionTable] = [
    subscribers.subscriptions,
    subscribers_imports.subscriptions,
    subscribers_numbers.subscriptions,
    subscribers_traces.subscriptions,
]
BACKGROUND_TASKS: list[BackgroundTask] = [
    run_outbox_relay,
    subscribers_imports.run_import_sweeper,
    numbers_service.forget_removed_periodically,
    traces_service.forget_old_traces_periodically,
    webhook_schedule.run_scheduled_checks,
    token_rotation_service.end_expired_periodically,
]


@dataclass(frozen=True)
class AllSettings:
    """Every setting the service reads, validated together at start."""

    service: ProvisioningSettings
    kafka: KafkaSettings
    database: DatabaseSettings
    keyring: KeyringSettings
    telemetry: TelemetrySettings
    sealing: SealingKeySettings


def load_settings() -> AllSettings:
    """Read and validate the environment; raises pydantic's ValidationError (secrets hidden)."""
    return AllSettings(
        service=ProvisioningSettings(),
        kafka=KafkaSettings(),
        database=DatabaseSettings(),
        keyring=KeyringSettings(),
        telemetry=TelemetrySettings(),
        sealing=SealingKeySettings(),
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
    quiet_protocol_errors()
    app = web.Application(middlewares=[problem_middleware], client_max_size=ctx.settings.max_body_bytes)
    app[CONTEXT] = ctx
    for register in ROUTE_REGISTRARS:
        register(app, ctx)
    if readiness is not None:
        add_health_routes(app, readiness, registry or CollectorRegistry())
    return app


def subscription_table(ctx: ServiceContext) -> list[Subscription[Any]]:
    """Every consumer the subscription tables list (each with its own group)."""
    return [subscription for tables in SUBSCRIPTION_TABLES for subscription in tables(ctx)]


def build_consumers(
    ctx: ServiceContext,
    kafka: KafkaSettings,
    *,
    registry: CollectorRegistry | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Consumers:
    """The consumers of :func:`subscription_table`, outside the service (tests)."""
    return Consumers(
        kafka,
        ConsumerSettings(),
        subscription_table(ctx),
        group_id=ctx.settings.command_group_id,
        service=SERVICE,
        registry=registry,
        tracer_provider=tracer_provider,
    )


class _NotConnectedPool:
    """Stands in for the pool until PostgreSQL is connected; any use fails like a refused connection.

    The HTTP app (and its context) exists before PostgreSQL answers, so that /healthz and /readyz
    answer from the first moment; /readyz says not ready until every start step has succeeded.
    """

    def __getattr__(self, name: str) -> Any:
        raise ConnectionRefusedError("PostgreSQL is not connected yet")


async def serve(settings: AllSettings, stop: asyncio.Event | None = None) -> None:
    """Run the service until SIGTERM/SIGINT (or ``stop``) on ``byosms_common.service``.

    HTTP answers at once; PostgreSQL and Kafka are connected with retries and backoff, and /readyz
    reports not ready until both are up. Background jobs are restarted when they die.
    """
    twilio = TwilioGateway(
        api_base=settings.service.twilio_api_base, timeout_seconds=settings.service.twilio_timeout_seconds
    )
    # The outbox relay publishes through this broker (no consumers on it: those are the engine's).
    broker = build_broker(settings.kafka, SERVICE)
    ctx = ServiceContext(
        settings=settings.service,
        pool=cast("asyncpg.Pool", _NotConnectedPool()),
        keyring=settings.keyring.keyring(),
        twilio=twilio,
        verifier=build_verifier(settings.service),
        regions=load_regions(settings.service.regions_overrides),
        publisher=Publisher(broker),
        sealing_keys=settings.sealing.keyring(),
    )
    service = ServiceRuntime(
        SERVICE,
        host=settings.service.host,
        port=settings.service.port,
        kafka=settings.kafka,
        consumer_group=settings.service.command_group_id,
        database=settings.database,
        schema=SCHEMA,
        migrations="byosms_provisioning",
        http=build_http_app(ctx),
    )

    def connected(pool: asyncpg.Pool) -> None:
        ctx.pool = pool

    service.when_connected(connected)
    service.resource("Twilio gateway", twilio.start, twilio.close)
    service.resource("Kafka publisher", lambda: start_broker(broker), broker.stop)
    service.consume(lambda: subscription_table(ctx))
    for job in BACKGROUND_TASKS:
        service.job(getattr(job, "__name__", repr(job)), partial(job, ctx))
    await service.run(stop)


def main_serve() -> None:
    settings = load_settings()
    configure_logging(settings.telemetry, SERVICE)
    asyncio.run(serve(settings))

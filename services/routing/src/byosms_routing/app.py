"""Builds and runs the routing service: the only place that creates settings, pool, broker and caches."""

from __future__ import annotations

import asyncio
import sys
import time
from functools import partial
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry

from byosms_common import db, topics
from byosms_common.consumer import Consumers, Subscription
from byosms_common.crypto import CryptoError, Keyring, SecretOpener
from byosms_common.health import Readiness, add_health_routes
from byosms_common.kafka import Publisher, build_broker, start_broker
from byosms_common.logs import configure_logging
from byosms_common.messages import (
    DeliveryReportReceived,
    InboundMessageReceived,
    IntegrationState,
    NumberStateRecord,
    SendMessage,
)
from byosms_common.runtime import StartStep, run_service, supervise
from byosms_common.settings import (
    ConsumerSettings,
    DatabaseSettings,
    KafkaSettings,
    KeyringSettings,
    TelemetrySettings,
    load_or_exit,
)
from byosms_common.state_cache import StateTopicFollower
from byosms_common.telemetry import setup_tracing
from byosms_common.twilio_client import TwilioClients
from byosms_routing import delivery, outbound, subscribers
from byosms_routing.context import Collaborators
from byosms_routing.pacing import SenderPacer
from byosms_routing.settings import RoutingSettings

SERVICE = "routing"
SCHEMA = "routing"


async def run(
    settings: RoutingSettings,
    kafka: KafkaSettings,
    database: DatabaseSettings,
    stop: asyncio.Event | None = None,
    keyring: Keyring | None = None,
) -> None:
    """Run routing until ``stop``. ``keyring`` opens tenants' Twilio tokens for sending; without it every
    send fails with ``sender_credentials_unreadable`` (inbound routing works regardless)."""
    tracer_provider = setup_tracing(TelemetrySettings(), SERVICE)
    readiness = Readiness()
    http = web.Application()
    registry = CollectorRegistry()
    add_health_routes(http, readiness, registry)
    broker = build_broker(kafka, SERVICE, tracer_provider=tracer_provider, registry=registry)
    publisher = Publisher(broker)
    # Opened auth tokens are dropped as soon as their integration changes or is deleted.
    tokens = SecretOpener(keyring)
    integrations = StateTopicFollower(
        kafka,
        topics.INTEGRATION_STATE,
        IntegrationState,
        client_id="byosms-routing",
        on_change=lambda key, _state: tokens.forget(key),
    )
    numbers = StateTopicFollower(kafka, topics.NUMBER_STATE, NumberStateRecord, client_id="byosms-routing")
    twilio = TwilioClients(api_base=settings.twilio_api_base, timeout_seconds=settings.twilio_timeout_seconds)
    pool: asyncpg.Pool | None = None
    jobs_stop = asyncio.Event()
    jobs: list[asyncio.Task[None]] = []
    consumers: list[Consumers] = []
    consumer_settings = ConsumerSettings()

    async def connect_database() -> None:
        nonlocal pool
        pool = await db.open_migrated_pool(database, SCHEMA, "byosms_routing")

    async def load_caches() -> None:
        for follower in (integrations, numbers):
            if follower.loaded.is_set():
                continue
            await follower.stop()
            await follower.start()
            await asyncio.wait_for(follower.loaded.wait(), 60)

    async def register_consumers() -> None:
        # Its own step, run once: retrying the broker start must not add another subscriber.
        assert pool is not None
        await twilio.start()
        deps = Collaborators(
            pool=pool,
            publisher=publisher,
            integrations=integrations,
            numbers=numbers,
            twilio=twilio,
            tokens=tokens,
            regions=settings.regions(),
            send_retry_seconds=settings.send_retry_seconds,
            send_lease_seconds=settings.send_lease_seconds(),
        )
        cleanup = partial(
            delivery.delete_unmatched_reports_periodically,
            deps,
            jobs_stop,
            older_than_seconds=settings.unmatched_report_hours * 3600,
            every_seconds=settings.report_cleanup_interval_seconds,
        )
        jobs.append(asyncio.create_task(supervise("unmatched report cleanup", cleanup, stop=jobs_stop)))
        table: list[Subscription[Any]] = [
            Subscription(topics.INBOUND_MESSAGES, InboundMessageReceived, partial(subscribers.on_inbound_batch, deps)),
            Subscription(topics.DELIVERY_REPORTS, DeliveryReportReceived, partial(delivery.on_delivery_reports, deps)),
            Subscription(
                topics.OUTBOUND_COMMANDS,
                SendMessage,
                outbound.handler(deps, SenderPacer(settings.sender_rates, clock=time.monotonic)),
                lanes=outbound.lane_of,
            ),
        ]
        consumers.append(
            Consumers(
                kafka,
                consumer_settings,
                table,
                group_id=settings.consumer_group,
                service=SERVICE,
                registry=registry,
                tracer_provider=tracer_provider,
            )
        )

    async def start_kafka() -> None:
        await start_broker(broker)
        await consumers[0].start()

    async def database_ready() -> bool:
        return pool is not None and await pool.fetchval("SELECT 1") == 1

    async def kafka_ready() -> bool:
        return bool(await broker.ping(timeout=1.0))

    async def caches_loaded() -> bool:
        return integrations.loaded.is_set() and numbers.loaded.is_set()

    async def consuming() -> bool:
        return bool(consumers) and await consumers[0].healthy()

    async def close() -> None:
        jobs_stop.set()
        if jobs:
            _, running = await asyncio.wait(jobs, timeout=5)
            for task in running:
                task.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
        if consumers:
            await consumers[0].stop()
        await broker.stop()
        await integrations.stop()
        await numbers.stop()
        await twilio.close()
        if pool is not None:
            await pool.close()

    readiness.add_check("postgres", database_ready)
    readiness.add_check("kafka", kafka_ready)
    readiness.add_check("caches", caches_loaded)
    readiness.add_check("consumers", consuming)
    await run_service(
        http=http,
        host=settings.host,
        port=settings.port,
        readiness=readiness,
        steps=[
            StartStep("connect to PostgreSQL", connect_database),
            StartStep("load integration and number caches", load_caches),
            StartStep("register consumers", register_consumers),
            StartStep("connect to Kafka", start_kafka),
        ],
        cleanups=[close],
        stop=stop,
    )


def main() -> None:
    """Entry point of ``byosms-routing``."""
    configure_logging(TelemetrySettings(), SERVICE)
    settings, kafka, database, keys = load_or_exit(
        SERVICE, lambda: (RoutingSettings(), KafkaSettings(), DatabaseSettings(), KeyringSettings())
    )
    try:
        keyring = keys.keyring()
    except CryptoError as exc:
        sys.stderr.write(f"byosms-{SERVICE}: invalid key-encryption keys / ungültige Schlüssel: {exc}\n")
        raise SystemExit(2) from None
    asyncio.run(run(settings, kafka, database, keyring=keyring))

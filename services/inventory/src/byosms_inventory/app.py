"""Builds and runs the inventory service: the only place that creates settings, pool and broker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry

from byosms_common import db, topics
from byosms_common.consumer import Consumers, EmitPublisher, Record, Subscription, one_by_one
from byosms_common.health import Readiness, add_health_routes
from byosms_common.logs import configure_logging
from byosms_common.messages import ANY_MESSAGE
from byosms_common.runtime import StartStep, run_service
from byosms_common.settings import (
    ConsumerSettings,
    DatabaseSettings,
    KafkaSettings,
    TelemetrySettings,
    load_or_exit,
)
from byosms_common.telemetry import setup_tracing
from byosms_inventory import subscribers
from byosms_inventory.settings import InventorySettings

SERVICE = "inventory"
SCHEMA = "inventory"


async def run(
    settings: InventorySettings,
    kafka: KafkaSettings,
    database: DatabaseSettings,
    stop: asyncio.Event | None = None,
) -> None:
    tracer_provider = setup_tracing(TelemetrySettings(), SERVICE)
    readiness = Readiness()
    http = web.Application()
    registry = CollectorRegistry()
    add_health_routes(http, readiness, registry)
    pool: asyncpg.Pool | None = None
    consumers: list[Consumers] = []

    async def connect_database() -> None:
        nonlocal pool
        pool = await db.open_migrated_pool(database, SCHEMA, "byosms_inventory")

    async def start_kafka() -> None:
        assert pool is not None
        if not consumers:
            consumers.append(
                Consumers(
                    kafka,
                    ConsumerSettings(),
                    subscriptions(pool),
                    group_id=settings.consumer_group,
                    service=SERVICE,
                    registry=registry,
                    tracer_provider=tracer_provider,
                )
            )
        await consumers[0].start()

    async def database_ready() -> bool:
        return pool is not None and await pool.fetchval("SELECT 1") == 1

    async def kafka_ready() -> bool:
        return bool(consumers) and await consumers[0].healthy()

    async def close() -> None:
        if consumers:
            await consumers[0].stop()
        if pool is not None:
            await pool.close()

    readiness.add_check("postgres", database_ready)
    readiness.add_check("kafka", kafka_ready)
    await run_service(
        http=http,
        host=settings.host,
        port=settings.port,
        readiness=readiness,
        steps=[
            StartStep("connect to PostgreSQL", connect_database),
            StartStep("connect to Kafka", start_kafka),
        ],
        cleanups=[close],
        stop=stop,
    )


Handle = Callable[[subscribers.Collaborators, Any, Any], Awaitable[None]]


def subscriptions(pool: asyncpg.Pool) -> list[Subscription[Any]]:
    """Inventory's table of handlers: each event in its own transaction, the outputs of a round in
    one Kafka transaction with its offsets."""

    def each(handle: Handle) -> Any:
        async def one(record: Record[Any], publisher: EmitPublisher) -> None:
            await handle(subscribers.Collaborators(pool=pool, publisher=publisher), record.message, record.delivery())

        return one_by_one(one)

    return [
        Subscription(topics.NUMBER_EVENTS, ANY_MESSAGE, each(subscribers.on_number_event)),
        Subscription(topics.INTEGRATION_EVENTS, ANY_MESSAGE, each(subscribers.on_integration_event)),
    ]


def main() -> None:
    """Entry point of ``byosms-inventory``."""
    configure_logging(TelemetrySettings(), SERVICE)
    settings, kafka, database = load_or_exit(
        SERVICE, lambda: (InventorySettings(), KafkaSettings(), DatabaseSettings())
    )
    asyncio.run(run(settings, kafka, database))

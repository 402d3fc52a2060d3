"""Builds and runs the inventory service on ``byosms_common.service``: its table of handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from byosms_common import topics
from byosms_common.consumer import EmitPublisher, Record, Subscription, one_by_one
from byosms_common.logs import configure_logging
from byosms_common.messages import ANY_MESSAGE
from byosms_common.migrate_cli import migrate_main, wants_migrate
from byosms_common.service import ServiceRuntime
from byosms_common.settings import ConsumerSettings, DatabaseSettings, KafkaSettings, TelemetrySettings, load_or_exit
from byosms_inventory import commands, subscribers
from byosms_inventory.settings import InventorySettings

SERVICE = "inventory"
SCHEMA = "inventory"


async def run(
    settings: InventorySettings,
    kafka: KafkaSettings,
    database: DatabaseSettings,
    stop: asyncio.Event | None = None,
) -> None:
    service = ServiceRuntime(
        SERVICE,
        host=settings.host,
        port=settings.port,
        kafka=kafka,
        consumer_group=settings.consumer_group,
        database=database,
        schema=SCHEMA,
        consumer_settings=ConsumerSettings(),
        migrations="byosms_inventory",
    )
    service.consume(lambda: subscriptions(service.connected_pool))
    service.job(
        "old number commands",
        lambda stop_jobs: commands.forget_old_commands(service.connected_pool, settings.command_memory_days, stop_jobs),
    )
    await service.run(stop)


Handle = Callable[[subscribers.Collaborators, Any, Any], Awaitable[None]]


def subscriptions(pool: asyncpg.Pool) -> list[Subscription[Any]]:
    """Inventory's table of handlers: each event in its own transaction, the outputs of a round in
    one Kafka transaction with its offsets."""

    def each(handle: Handle) -> Any:
        async def one(record: Record[Any], publisher: EmitPublisher) -> None:
            await handle(subscribers.Collaborators(pool=pool, publisher=publisher), record.message, record.delivery())

        return one_by_one(one)

    async def command(record: Record[dict[str, Any]], publisher: EmitPublisher) -> None:
        await commands.on_number_command(subscribers.Collaborators(pool=pool, publisher=publisher), record, publisher)

    return [
        Subscription(topics.NUMBER_EVENTS, ANY_MESSAGE, each(subscribers.on_number_event)),
        Subscription(topics.INTEGRATION_EVENTS, ANY_MESSAGE, each(subscribers.on_integration_event)),
        Subscription(topics.NUMBER_COMMANDS, commands.RAW_COMMAND, one_by_one(command)),
    ]


def main() -> None:
    """Entry point of ``byosms-inventory`` (``byosms-inventory migrate``: apply the migrations and exit)."""
    if wants_migrate():
        migrate_main(SERVICE, SCHEMA, "byosms_inventory")
        return
    configure_logging(TelemetrySettings(), SERVICE)
    settings, kafka, database = load_or_exit(
        SERVICE, lambda: (InventorySettings(), KafkaSettings(), DatabaseSettings())
    )
    asyncio.run(run(settings, kafka, database))

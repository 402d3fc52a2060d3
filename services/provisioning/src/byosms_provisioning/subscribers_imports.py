"""Kafka consumers of number imports, and the deadline sweeper (registered by ``app.py``).

- ``NUMBER_COMMANDS``: each ``ImportNumber`` is carried out to exactly one outcome event.
- ``NUMBER_EVENTS``: when inventory removes a number (``NumberStateChanged`` with state
  ``removed``) its claim is released, so this or another organization can import it again.
"""

from __future__ import annotations

import asyncio
import logging

from faststream.kafka import KafkaBroker

from byosms_common import topics
from byosms_common.kafka import Delivery, consume
from byosms_common.messages import ANY_MESSAGE, AnyMessage, ImportNumber, NumberState, NumberStateChanged
from byosms_provisioning import import_service, repo_imports
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.import_service import ImportDeps

log = logging.getLogger(__name__)


async def on_import_command(deps: ImportDeps, command: ImportNumber, _delivery: Delivery) -> None:
    await import_service.handle_import(deps, command)


async def on_number_event(deps: ImportDeps, event: AnyMessage, _delivery: Delivery) -> None:
    """Release the claim of a number inventory removed; every other event on the topic is ignored."""
    if not isinstance(event, NumberStateChanged) or event.payload.state is not NumberState.REMOVED:
        return
    async with deps.pool.acquire() as conn:
        released = await repo_imports.release_removed_number(
            conn, event.payload.address, event.organization_id, event.occurred_at
        )
    if released:
        log.info("released the claim of a removed number (integration %s)", event.payload.integration_id)


def register(broker: KafkaBroker, ctx: ServiceContext) -> None:
    """Consume import commands and number events."""
    deps = import_service.deps_from_context(ctx)

    async def import_command(command: ImportNumber, delivery: Delivery) -> None:
        await on_import_command(deps, command, delivery)

    async def number_event(event: AnyMessage, delivery: Delivery) -> None:
        await on_number_event(deps, event, delivery)

    # Group ids follow the service's command group (tests give each service instance its own).
    group = ctx.settings.command_group_id
    consume(broker, topics.NUMBER_COMMANDS, group_id=f"{group}-imports", model=ImportNumber, handler=import_command)
    consume(broker, topics.NUMBER_EVENTS, group_id=f"{group}-number-claims", model=ANY_MESSAGE, handler=number_event)


async def run_import_sweeper(ctx: ServiceContext, stop: asyncio.Event) -> None:
    """Background task: reject imports past their deadline and free their claims."""
    await import_service.run_sweeper(
        import_service.deps_from_context(ctx), stop, interval_seconds=ctx.settings.import_sweep_seconds
    )

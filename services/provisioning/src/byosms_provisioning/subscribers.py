"""Integration commands from platform services on the command topic.

Every command ends in a visible outcome: the usual integration event when it was carried out (or
nothing new when it changed nothing, e.g. activating an active integration), or
``IntegrationCommandRejected`` with a code and message. A redelivered command is recognised by
its id and skipped. Credentials are not accepted on Kafka (secrets stay off the command log);
they are set through ``PUT /api/v2/integrations/{id}/credentials``.
"""

from __future__ import annotations

import logging
from typing import Annotated

import asyncpg
from faststream.kafka import KafkaBroker
from pydantic import Field, RootModel

from byosms_common.errors import ByosmsError
from byosms_common.kafka import Delivery, consume, current_trace
from byosms_common.messages import (
    ActivateIntegration,
    CommandRejectedPayload,
    CreateIntegration,
    DeactivateIntegration,
    DeleteIntegration,
    IntegrationCommandRejected,
    UpdateIntegration,
)
from byosms_common.topics import INTEGRATION_COMMANDS, INTEGRATION_EVENTS
from byosms_provisioning import outbox, repo, service
from byosms_provisioning.context import ServiceContext

log = logging.getLogger(__name__)

IntegrationCommand = Annotated[
    CreateIntegration | UpdateIntegration | ActivateIntegration | DeactivateIntegration | DeleteIntegration,
    Field(discriminator="type"),
]


class IntegrationCommandMessage(RootModel[IntegrationCommand]):
    """Any integration command, told apart by ``type``."""


async def apply_command(ctx: ServiceContext, command: IntegrationCommand, conn: asyncpg.Connection) -> None:
    """Carry out one command inside the caller's transaction (effects and events roll back together)."""
    actor = service.Actor(organization_id=command.organization_id, name=command.payload.actor)
    match command:
        case CreateIntegration(payload=p):
            await service.create(
                ctx, actor, name=p.name, notes=p.notes, region=p.region, integration_id=p.integration_id, conn=conn
            )
        case UpdateIntegration(payload=p):
            await service.edit(ctx, actor, p.integration_id, name=p.name, notes=p.notes, conn=conn)
        case ActivateIntegration(payload=p):
            await service.activate(ctx, actor, p.integration_id, conn=conn)
        case DeactivateIntegration(payload=p):
            await service.deactivate(ctx, actor, p.integration_id, conn=conn)
        case DeleteIntegration(payload=p):
            await service.delete(ctx, actor, p.integration_id, conn=conn)


def _record_key(command: IntegrationCommand) -> str:
    integration_id = getattr(command.payload, "integration_id", None)
    return integration_id or command.organization_id


async def handle_command(ctx: ServiceContext, command: IntegrationCommand) -> None:
    """Apply a command once; a refused one is answered with ``IntegrationCommandRejected``."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await repo.claim_command(conn, command.id, command.type):
            log.info("command %s was handled before; skipping", command.id)
            return
        try:
            await apply_command(ctx, command, conn)
        except ByosmsError as exc:
            if exc.retryable:
                raise
            log.info("command %s (%s) rejected: %s", command.id, command.type, exc.code)
            rejected = IntegrationCommandRejected(
                organization_id=command.organization_id,
                trace=current_trace(),
                payload=CommandRejectedPayload(
                    command_id=command.id,
                    command_type=command.type,
                    code=exc.code,
                    message=exc.localized(),
                    retryable=False,
                ),
            )
            await outbox.enqueue(conn, INTEGRATION_EVENTS, rejected, _record_key(command))
    ctx.outbox_wakeup.set()


def register(broker: KafkaBroker, ctx: ServiceContext) -> None:
    """Consume the integration command topic."""

    async def on_command(message: IntegrationCommandMessage, _delivery: Delivery) -> None:
        await handle_command(ctx, message.root)

    consume(
        broker,
        INTEGRATION_COMMANDS,
        group_id=ctx.settings.command_group_id,
        model=IntegrationCommandMessage,
        handler=on_command,
    )

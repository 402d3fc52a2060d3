"""Inventory's Kafka handlers: import outcomes and integration lifecycle events change number state.

Each handler changes the database in one transaction, then publishes what changed (a
``NumberStateChanged`` event and the number's record on the compacted state topic). Event ids
are derived from the triggering event, so a redelivered event republishes the same ids.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from byosms_common import topics
from byosms_common.consumer import Publishes
from byosms_common.kafka import Delivery
from byosms_common.messages import (
    AnyMessage,
    Envelope,
    IntegrationActivated,
    IntegrationDeactivated,
    IntegrationDeleted,
    NumberImported,
    NumberState,
    NumberStateChanged,
    NumberStateChangedPayload,
    NumberStatePayload,
    NumberStateRecord,
)
from byosms_inventory import repo
from byosms_inventory.number_states import IntegrationStatusKnown, Trigger, next_state, state_on_import

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Collaborators:
    pool: asyncpg.Pool
    publisher: Publishes


async def on_number_event(deps: Collaborators, event: AnyMessage, _: Delivery) -> None:
    """NUMBER_EVENTS carries import outcomes and inventory's own changes; only imports concern us."""
    if isinstance(event, NumberImported):
        await number_imported(deps, event)


async def on_integration_event(deps: Collaborators, event: AnyMessage, _: Delivery) -> None:
    if isinstance(event, IntegrationActivated):
        await integration_changed(deps, event, IntegrationStatusKnown.ACTIVE, Trigger.INTEGRATION_ACTIVATED)
    elif isinstance(event, IntegrationDeactivated):
        await integration_changed(deps, event, IntegrationStatusKnown.INACTIVE, Trigger.INTEGRATION_DEACTIVATED)
    elif isinstance(event, IntegrationDeleted):
        await integration_changed(deps, event, IntegrationStatusKnown.DELETED, Trigger.INTEGRATION_DELETED)


async def number_imported(deps: Collaborators, event: NumberImported) -> None:
    number = event.payload.number
    async with deps.pool.acquire() as conn, conn.transaction():
        status = await repo.integration_status(conn, number.integration_id)
        state = state_on_import(status)
        if state is None:
            row = None
        else:
            row = await repo.upsert_number(
                conn, number, event.organization_id, state, event.id, import_id=event.payload.import_id
            )
            if row is None:
                log.info(
                    "number %s: import %s was removed since; not added again", number.address, event.payload.import_id
                )
                return
    if row is None:
        log.info("number %s imported for deleted integration %s: not added", number.address, number.integration_id)
        await _publish_change(
            deps,
            event,
            number.address,
            number.integration_id,
            NumberState.REMOVED,
            None,
            "integration deleted",
            import_id=event.payload.import_id,
        )
        return
    await publish_row(deps, event, row, "imported")


async def integration_changed(
    deps: Collaborators,
    event: IntegrationActivated | IntegrationDeactivated | IntegrationDeleted,
    status: IntegrationStatusKnown,
    trigger: Trigger,
) -> None:
    integration_id = event.payload.integration.integration_id
    target = next_state(NumberState.ACTIVE, trigger)
    assert target is not None
    sources = tuple(s for s in (NumberState.ACTIVE, NumberState.INACTIVE) if next_state(s, trigger) != s)
    async with deps.pool.acquire() as conn, conn.transaction():
        await repo.set_integration_status(conn, integration_id, event.organization_id, status)
        if sources:
            await repo.set_state_for_integration(conn, integration_id, sources, target, event.id)
        changed = await repo.changed_by(conn, event.id)
    for row in changed:
        await publish_row(deps, event, row, trigger.value)


async def publish_row(deps: Collaborators, cause: Envelope, row: repo.NumberRow, reason: str) -> None:
    await _publish_change(
        deps,
        cause,
        row.number.address,
        row.number.integration_id,
        row.state,
        row.previous_state,
        reason,
        import_id=row.import_id,
    )
    if row.state is NumberState.REMOVED:
        await deps.publisher.publish_tombstone(topics.NUMBER_STATE, row.number.address)
        return
    record = NumberStateRecord(
        id=f"{cause.id}:{row.number.address}:state",
        organization_id=row.organization_id,
        payload=state_payload(row),
    )
    await deps.publisher.publish(topics.NUMBER_STATE, record, row.number.address)


def state_payload(row: repo.NumberRow) -> NumberStatePayload:
    return NumberStatePayload(
        number=row.number,
        state=row.state,
        version=row.version,
        routing_target=row.routing_target,
        import_id=row.import_id,
        imported_at=row.imported_at,
        updated_at=row.updated_at,
    )


async def _publish_change(
    deps: Collaborators,
    cause: Envelope,
    address: str,
    integration_id: str,
    state: NumberState,
    previous: NumberState | None,
    reason: str,
    *,
    import_id: str | None,
) -> None:
    change = NumberStateChanged(
        id=f"{cause.id}:{address}:changed",
        organization_id=cause.organization_id,
        payload=NumberStateChangedPayload(
            address=address,
            integration_id=integration_id,
            state=state,
            previous_state=previous,
            reason=reason,
            import_id=import_id,
        ),
    )
    await deps.publisher.publish(topics.NUMBER_EVENTS, change, address)

"""Feeds of provisioning's read model of the inventory (registered by ``app.py``).

- ``numbers.state.v1`` (compacted, read from the beginning by a group of its own): every record
  inventory publishes updates its number; a tombstone marks it removed.
- ``numbers.events.v1``: results of number commands end their actions (a result of a command sent
  straight to Kafka by a platform service is recorded as an action too) and carry the number as it is
  afterwards; a removal marks the number removed; routing's ``number.no_route`` sets the warning.

Both are idempotent (versions only grow, actions end once), so a redelivery changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from byosms_common import topics
from byosms_common.consumer import Emit, Record, Subscription
from byosms_common.messages import (
    ANY_MESSAGE,
    AnyMessage,
    NumberCommandApplied,
    NumberCommandRejected,
    NumberRouteMissing,
    NumberState,
    NumberStateChanged,
    NumberStateRecord,
)
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.numbers import repo
from byosms_provisioning.numbers.service import KINDS

STATE_RECORD: TypeAdapter[NumberStateRecord | None] = TypeAdapter(NumberStateRecord | None)


def subscriptions(ctx: ServiceContext) -> list[Subscription[Any]]:
    async def state_records(records: Sequence[Record[NumberStateRecord | None]], _: Emit) -> None:
        batch = [(r.key or "", r.message) for r in records if r.key]
        async with ctx.pool.acquire() as conn, conn.transaction():
            await repo.apply_state_records(conn, batch)

    async def number_events(records: Sequence[Record[AnyMessage]], _: Emit) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            for record in records:
                event = record.message
                match event:
                    case NumberCommandApplied(payload=p):
                        if p.number is not None:
                            await repo.apply_record(conn, event.organization_id, p.number)
                        await repo.record_result(
                            conn,
                            event.organization_id,
                            p.command_id,
                            KINDS.get(p.command_type, p.command_type),
                            p.address,
                            failed=False,
                            code=None,
                            message=None,
                        )
                    case NumberCommandRejected(payload=p):
                        await repo.record_result(
                            conn,
                            event.organization_id,
                            p.command_id,
                            KINDS.get(p.command_type, p.command_type),
                            p.address,
                            failed=True,
                            code=p.code,
                            message=p.message,
                        )
                    case NumberStateChanged(payload=p) if p.state is NumberState.REMOVED:
                        await repo.apply_state_records(conn, [(p.address, None)])
                    case NumberRouteMissing(payload=p):
                        await repo.mark_no_route(
                            conn, event.organization_id, p.address, p.message_sid, event.occurred_at
                        )
                    case _:
                        pass

    group = ctx.settings.command_group_id
    return [
        Subscription(topics.NUMBER_STATE, STATE_RECORD, state_records, group_id=f"{group}-inventory-records"),
        Subscription(topics.NUMBER_EVENTS, ANY_MESSAGE, number_events, group_id=f"{group}-inventory-events"),
    ]

"""Inventory's handler of commands on numbers (``numbers.commands.v1``: remove, routing target,
compliance blocks); import commands on the same topic are provisioning's and skipped here.

Every command ends in exactly one ``NumberCommandApplied`` or ``NumberCommandRejected`` on
``numbers.events.v1`` with its ``command_id``. A change also publishes the number's record on
``numbers.state.v1`` (a tombstone and a ``NumberStateChanged`` to ``removed`` for a removal, from which
provisioning frees the import's claim). The outcome and what it published are recorded with the
Kafka record that carried the command out, in the transaction that makes the change: a redelivery of
that record (its Kafka transaction was aborted) publishes the very same records again, a repeated
command (another record with the same id) publishes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Annotated, Any

import asyncpg
from pydantic import Field, TypeAdapter, ValidationError

from byosms_common import topics
from byosms_common.consumer import EmitPublisher, Record
from byosms_common.errors import localized
from byosms_common.kafka import PermanentError
from byosms_common.messages import (
    Envelope,
    NumberCommandApplied,
    NumberCommandAppliedPayload,
    NumberCommandRejected,
    NumberCommandRejectedPayload,
    NumberState,
    NumberStateRecord,
    RemoveNumber,
    SetNumberCompliance,
    SetNumberRouting,
    decode,
    encode,
    message_type,
)
from byosms_common.topics import TopicSpec, by_name
from byosms_inventory import repo
from byosms_inventory.number_commands import Change, NumberCommand, Refused, Unchanged, decide
from byosms_inventory.subscribers import Collaborators, publish_row, state_payload

log = logging.getLogger(__name__)

RAW_COMMAND: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
_COMMAND: TypeAdapter[NumberCommand] = TypeAdapter(Annotated[NumberCommand, Field(discriminator="type")])
HANDLED = frozenset(message_type(m) for m in (RemoveNumber, SetNumberRouting, SetNumberCompliance))


class Collected:
    """A ``Publishes`` that keeps what a command publishes, to record it before it is sent."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []

    async def publish(self, topic: TopicSpec, message: Envelope, key: str) -> None:
        self.outputs.append({"topic": topic.name, "key": key, "value": encode(message).decode()})

    async def publish_tombstone(self, topic: TopicSpec, key: str) -> None:
        self.outputs.append({"topic": topic.name, "key": key, "value": None})


async def replay(outputs: list[dict[str, Any]], out: EmitPublisher) -> None:
    for output in outputs:
        topic = by_name(output["topic"])
        if output["value"] is None:
            await out.publish_tombstone(topic, output["key"])
        else:
            await out.publish(topic, decode(output["value"]), output["key"])


def _read(raw: dict[str, Any]) -> NumberCommand | NumberCommandRejected:
    """The command, or (when it is invalid but names itself, its organization and its number) its rejection."""
    try:
        return _COMMAND.validate_json(json.dumps(raw))
    except ValidationError as exc:
        payload = raw.get("payload") if isinstance(raw.get("payload"), dict) else {}
        assert isinstance(payload, dict)
        command_id, organization, address = raw.get("id"), raw.get("organization_id"), payload.get("address")
        if not all(isinstance(v, str) and 0 < len(v) <= 200 for v in (command_id, organization, address)):
            raise PermanentError("invalid number command without id, organization or address") from None
        first = exc.errors()[0]
        detail = ".".join(str(p) for p in first.get("loc", ())) + f": {first['msg']}"
        return _rejected(
            str(command_id), str(raw["type"]), str(organization), str(address), "invalid_request", {"detail": detail}
        )


def _rejected(
    command_id: str, command_type: str, organization_id: str, address: str, code: str, params: dict[str, str]
) -> NumberCommandRejected:
    return NumberCommandRejected(
        id=f"{command_id}:result",
        organization_id=organization_id,
        payload=NumberCommandRejectedPayload(
            command_id=command_id,
            command_type=command_type,
            address=address,
            code=code,
            message=localized(code, **params),
        ),
    )


async def on_number_command(deps: Collaborators, record: Record[dict[str, Any]], out: EmitPublisher) -> None:
    """Carry out one command on a number (see the module docstring)."""
    raw = record.message
    if raw.get("type") not in HANDLED:
        return  # an import: provisioning's
    command = _read(raw)
    command_id = command.payload.command_id if isinstance(command, NumberCommandRejected) else command.id
    async with deps.pool.acquire() as conn, conn.transaction():
        recorded = await repo.recorded_command(conn, command_id)
        if recorded is None:
            collected = Collected()
            if isinstance(command, NumberCommandRejected):
                await collected.publish(topics.NUMBER_EVENTS, command, command.payload.address)
            else:
                await _carry_out(conn, command, Collaborators(pool=deps.pool, publisher=collected))
            await repo.record_command(conn, command_id, record.source, collected.outputs)
            outputs = collected.outputs
        elif recorded.source == record.source:
            outputs = recorded.outputs
        else:
            log.info(
                "number command %s repeated (record %s); carried out before, nothing published",
                command_id,
                record.source,
            )
            return
    await replay(outputs, out)


async def forget_old_commands(pool: asyncpg.Pool, older_than_days: float, stop: asyncio.Event) -> None:
    """Background job: commands carried out longer ago than a redelivery can come are forgotten."""
    while not stop.is_set():
        try:
            forgotten = await repo.forget_commands(pool, older_than_days)
            if forgotten:
                log.info("forgot %d number commands carried out long ago", forgotten)
        except Exception as exc:  # noqa: BLE001 - retried next round
            log.warning("forgetting old number commands failed (%s); will retry", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 3600)


async def _carry_out(conn: Any, command: NumberCommand, deps: Collaborators) -> None:
    address = command.payload.address
    row = await repo.lock_number(conn, address)
    outcome = decide(command, row)
    if isinstance(outcome, Refused):
        log.info("number command %s (%s) rejected: %s", command.id, command.type, outcome.code)
        params = {"address": address} if outcome.code == "number_not_in_inventory" else {}
        rejected = _rejected(command.id, command.type, command.organization_id, address, outcome.code, params)
        await deps.publisher.publish(topics.NUMBER_EVENTS, rejected, address)
        return
    assert row is not None
    after = row
    if isinstance(outcome, Change):
        after = await repo.change_number(
            conn,
            address,
            command.id,
            state=NumberState.REMOVED if outcome.remove else None,
            routing_target=outcome.routing_target,
            set_routing_target=outcome.set_routing_target,
            compliance=outcome.compliance,
        )
        if outcome.remove:
            await publish_row(deps, command, after, "removed")
        else:
            state = NumberStateRecord(
                id=f"{command.id}:{address}:state", organization_id=after.organization_id, payload=state_payload(after)
            )
            await deps.publisher.publish(topics.NUMBER_STATE, state, address)
    applied = NumberCommandApplied(
        id=f"{command.id}:result",
        organization_id=command.organization_id,
        payload=NumberCommandAppliedPayload(
            command_id=command.id,
            command_type=command.type,
            address=address,
            changed=not isinstance(outcome, Unchanged),
            number=None if after.state is NumberState.REMOVED else state_payload(after),
        ),
    )
    await deps.publisher.publish(topics.NUMBER_EVENTS, applied, address)

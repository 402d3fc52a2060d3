"""SQL of provisioning's read model of the inventory (``inventory_numbers``) and of the changes asked for
on numbers (``number_actions``), one function per query."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from byosms_common.messages import LocalizedText, NumberStatePayload, NumberStateRecord
from byosms_provisioning.webhook_checks import repo as webhook_repo


@dataclass(frozen=True, slots=True)
class Action:
    """The latest provisioning action on a number: its import, or a change asked for since."""

    kind: str
    """``import``, ``remove``, ``set_routing_target`` or ``set_compliance``."""
    id: str
    state: str
    """``running``, ``completed`` or ``failed``."""
    code: str | None
    message: LocalizedText | None
    at: datetime


@dataclass(frozen=True, slots=True)
class NumberView:
    """One number as the API shows it."""

    id: str
    address: str
    organization_id: str
    integration_id: str
    integration_name: str | None
    number_type: str
    country: str
    twilio_sid: str
    compliance: dict[str, Any] | None
    routing_target: str | None
    integration_target: str | None
    organization_target: str | None
    state: str
    version: int
    imported_at: datetime | None
    updated_at: datetime
    removed_at: datetime | None
    no_route_at: datetime | None
    action: Action | None
    webhook: webhook_repo.CheckState | None = None
    """The last check of where Twilio delivers its inbound SMS (None: not checked yet)."""

    @property
    def effective_target(self) -> tuple[str | None, str | None]:
        """The target routing uses and where it comes from (``number``, ``integration``, ``organization``)."""
        for source, target in (
            ("number", self.routing_target),
            ("integration", self.integration_target),
            ("organization", self.organization_target),
        ):
            if target:
                return target, source
        return None, None


def _json(value: object) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


async def apply_record(conn: asyncpg.Connection, organization_id: str, record: NumberStatePayload) -> None:
    """Take inventory's record of a number (never an older one: versions only grow per address)."""
    number = record.number
    await conn.execute(
        """INSERT INTO inventory_numbers AS n (address, number_id, organization_id, integration_id, number_type,
               country, twilio_sid, compliance, routing_target, state, version, imported_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, COALESCE($13, now()))
           ON CONFLICT (address) DO UPDATE SET
               number_id = EXCLUDED.number_id, organization_id = EXCLUDED.organization_id,
               integration_id = EXCLUDED.integration_id, number_type = EXCLUDED.number_type,
               country = EXCLUDED.country, twilio_sid = EXCLUDED.twilio_sid, compliance = EXCLUDED.compliance,
               routing_target = EXCLUDED.routing_target, state = EXCLUDED.state, version = EXCLUDED.version,
               imported_at = EXCLUDED.imported_at, updated_at = EXCLUDED.updated_at,
               removed_at = CASE WHEN EXCLUDED.state = 'removed' THEN COALESCE(n.removed_at, now()) END,
               no_route_at = CASE WHEN n.number_id = EXCLUDED.number_id THEN n.no_route_at END,
               no_route_message_sid = CASE WHEN n.number_id = EXCLUDED.number_id THEN n.no_route_message_sid END
           WHERE EXCLUDED.version >= n.version""",
        number.address,
        record.import_id or number.address,
        organization_id,
        number.integration_id,
        number.number_type.value,
        number.country,
        number.twilio_sid,
        number.compliance.model_dump_json() if number.compliance else None,
        record.routing_target,
        record.state.value,
        record.version,
        record.imported_at,
        record.updated_at,
    )


async def apply_state_records(conn: asyncpg.Connection, records: list[tuple[str, NumberStateRecord | None]]) -> None:
    """A batch of ``numbers.state.v1`` records in order: a record updates its number, a tombstone marks the
    number removed (kept, listed as removed, until it is forgotten)."""
    for address, record in records:
        if record is None:
            await conn.execute(
                """UPDATE inventory_numbers SET state = 'removed', removed_at = COALESCE(removed_at, now()),
                       updated_at = now() WHERE address = $1 AND state <> 'removed'""",
                address,
            )
        else:
            await apply_record(conn, record.organization_id, record.payload)


async def mark_no_route(
    conn: asyncpg.Connection, organization_id: str, address: str, message_sid: str, at: datetime
) -> None:
    await conn.execute(
        """UPDATE inventory_numbers SET no_route_at = GREATEST(no_route_at, $3), no_route_message_sid = $4
           WHERE organization_id = $1 AND address = $2""",
        organization_id,
        address,
        at,
        message_sid,
    )


async def insert_action(
    conn: asyncpg.Connection,
    *,
    command_id: str,
    organization_id: str,
    number_id: str,
    address: str,
    kind: str,
    actor: str,
) -> None:
    await conn.execute(
        """INSERT INTO number_actions (command_id, organization_id, number_id, address, kind, state, actor)
           VALUES ($1, $2, $3, $4, $5, 'running', $6) ON CONFLICT (command_id) DO NOTHING""",
        command_id,
        organization_id,
        number_id,
        address,
        kind,
        actor,
    )


async def finish_action(
    conn: asyncpg.Connection, command_id: str, *, failed: bool, code: str | None, message: LocalizedText | None
) -> None:
    await conn.execute(
        """UPDATE number_actions SET state = $2, code = $3, message = $4::jsonb, updated_at = now()
           WHERE command_id = $1 AND state = 'running'""",
        command_id,
        "failed" if failed else "completed",
        code,
        message.model_dump_json() if message else None,
    )


async def record_result(
    conn: asyncpg.Connection,
    organization_id: str,
    command_id: str,
    kind: str,
    address: str,
    *,
    failed: bool,
    code: str | None,
    message: LocalizedText | None,
) -> None:
    """End the action of a command (recorded now if it came straight from Kafka, not through the API)."""
    await conn.execute(
        """INSERT INTO number_actions (command_id, organization_id, number_id, address, kind, state, actor)
           SELECT $1, $2, COALESCE((SELECT number_id FROM inventory_numbers WHERE address = $3
                                     AND organization_id = $2), $3), $3, $4, 'running', 'kafka'
           ON CONFLICT (command_id) DO NOTHING""",
        command_id,
        organization_id,
        address,
        kind,
    )
    await finish_action(conn, command_id, failed=failed, code=code, message=message)


async def actions(conn: asyncpg.Connection | asyncpg.Pool, command_ids: list[str]) -> dict[str, Action]:
    rows = await conn.fetch(
        "SELECT command_id, kind, state, code, message, updated_at FROM number_actions WHERE command_id = ANY($1)",
        command_ids,
    )
    return {r["command_id"]: _action(r["kind"], r["command_id"], r) for r in rows}


def _action(kind: str, action_id: str, row: Any) -> Action:
    message = _json(row["message"])
    return Action(
        kind=kind,
        id=action_id,
        state=row["state"],
        code=row["code"],
        message=LocalizedText.model_validate(message) if message else None,
        at=row["updated_at"],
    )


async def forget_removed(conn: asyncpg.Connection | asyncpg.Pool, older_than_days: float) -> int:
    """Delete removed numbers past the time they stay listed; returns how many."""
    status: str = await conn.execute(
        "DELETE FROM inventory_numbers WHERE state = 'removed' AND removed_at < now() - make_interval(secs => $1)",
        older_than_days * 86400,
    )
    return int(status.split()[-1])


@dataclass(frozen=True, slots=True)
class ListFilter:
    integration_id: str | None = None
    states: tuple[str, ...] = ("active", "inactive")
    number_type: str | None = None
    address_prefix: str | None = None
    routing_target: str | None = None


_VIEW = """
SELECT n.*, i.name AS integration_name, i.default_routing_target AS integration_target,
       s.default_routing_target AS organization_target,
       a.command_id AS a_id, a.kind AS a_kind, a.state AS a_state, a.code AS a_code, a.message AS a_message,
       a.updated_at AS a_at,
       im.state AS im_state, im.code AS im_code, im.result AS im_result, im.updated_at AS im_at,
       w.status AS w_status, w.kind AS w_kind, w.kinds AS w_kinds, w.details AS w_details,
       w.trigger AS w_trigger, w.checked_at AS w_checked_at, w.changed_at AS w_changed_at,
       w.error_code AS w_error_code, w.error_at AS w_error_at, w.next_check_at AS w_next_check_at
FROM inventory_numbers n
LEFT JOIN integrations i ON i.id = n.integration_id AND i.organization_id = n.organization_id
LEFT JOIN organization_settings s ON s.organization_id = n.organization_id
LEFT JOIN number_imports im ON im.import_id = n.number_id
LEFT JOIN number_webhook_checks w ON w.address = n.address AND w.number_id = n.number_id
LEFT JOIN LATERAL (
    SELECT * FROM number_actions x WHERE x.number_id = n.number_id ORDER BY x.created_at DESC, x.command_id LIMIT 1
) a ON true
"""

_IMPORT_STATES = {"in_progress": "running", "imported": "completed", "rejected": "failed"}


def _view(row: Any) -> NumberView:
    action: Action | None = None
    if row["a_id"] is not None:
        message = _json(row["a_message"])
        action = Action(
            kind=row["a_kind"],
            id=row["a_id"],
            state=row["a_state"],
            code=row["a_code"],
            message=LocalizedText.model_validate(message) if message else None,
            at=row["a_at"],
        )
    elif row["im_state"] is not None:
        result = _json(row["im_result"]) or {}
        message = result.get("message")
        action = Action(
            kind="import",
            id=row["number_id"],
            state=_IMPORT_STATES.get(row["im_state"], row["im_state"]),
            code=row["im_code"],
            message=LocalizedText.model_validate(message) if message else None,
            at=row["im_at"],
        )
    return NumberView(
        id=row["number_id"],
        address=row["address"],
        organization_id=row["organization_id"],
        integration_id=row["integration_id"],
        integration_name=row["integration_name"],
        number_type=row["number_type"],
        country=row["country"],
        twilio_sid=row["twilio_sid"],
        compliance=_json(row["compliance"]),
        routing_target=row["routing_target"],
        integration_target=row["integration_target"],
        organization_target=row["organization_target"],
        state=row["state"],
        version=row["version"],
        imported_at=row["imported_at"],
        updated_at=row["updated_at"],
        removed_at=row["removed_at"],
        no_route_at=row["no_route_at"],
        action=action,
        webhook=webhook_repo.state_of(row, "w_"),
    )


async def get(conn: asyncpg.Connection | asyncpg.Pool, organization_id: str, number_id: str) -> NumberView | None:
    row = await conn.fetchrow(_VIEW + " WHERE n.organization_id = $1 AND n.number_id = $2", organization_id, number_id)
    return _view(row) if row else None


async def list_page(
    conn: asyncpg.Connection | asyncpg.Pool,
    organization_id: str,
    filters: ListFilter,
    *,
    limit: int,
    after: str | None,
) -> list[NumberView]:
    """One page of the organization's numbers, ordered by address, after the address ``after``."""
    rows = await conn.fetch(
        _VIEW
        + """ WHERE n.organization_id = $1 AND n.state = ANY($2::text[])
                AND ($3::text IS NULL OR n.integration_id = $3)
                AND ($4::text IS NULL OR n.number_type = $4)
                AND ($5::text IS NULL OR starts_with(n.address, $5))
                AND ($6::text IS NULL OR n.routing_target = $6)
                AND ($7::text IS NULL OR n.address > $7)
              ORDER BY n.address LIMIT $8""",
        organization_id,
        list(filters.states),
        filters.integration_id,
        filters.number_type,
        filters.address_prefix,
        filters.routing_target,
        after,
        limit,
    )
    return [_view(r) for r in rows]

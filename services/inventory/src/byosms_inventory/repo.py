"""Inventory's SQL, one function per query. Tables live in the ``inventory`` schema."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from byosms_common.messages import Compliance, ImportedNumber, NumberState, NumberType
from byosms_inventory.number_states import IntegrationStatusKnown


@dataclass(frozen=True)
class NumberRow:
    number: ImportedNumber
    organization_id: str
    state: NumberState
    previous_state: NumberState | None
    version: int
    import_id: str | None = None
    """The import that put the number in the inventory (None for rows from before it was recorded)."""
    routing_target: str | None = None
    imported_at: datetime | None = None
    updated_at: datetime | None = None


def _row(record: asyncpg.Record) -> NumberRow:
    compliance = record["compliance"]
    return NumberRow(
        number=ImportedNumber(
            address=record["address"],
            number_type=NumberType(record["number_type"]),
            country=record["country"],
            twilio_sid=record["twilio_sid"],
            integration_id=record["integration_id"],
            compliance=Compliance.model_validate_json(compliance) if compliance else None,
            messaging_service_sid=record["messaging_service_sid"],
        ),
        organization_id=record["organization_id"],
        state=NumberState(record["state"]),
        previous_state=NumberState(record["previous_state"]) if record["previous_state"] else None,
        version=record["version"],
        import_id=record["import_id"],
        routing_target=record["routing_target"],
        imported_at=record["imported_at"],
        updated_at=record["updated_at"],
    )


async def integration_status(conn: asyncpg.Connection, integration_id: str) -> IntegrationStatusKnown | None:
    value = await conn.fetchval("SELECT status FROM integration_status WHERE integration_id = $1", integration_id)
    return IntegrationStatusKnown(value) if value else None


async def set_integration_status(
    conn: asyncpg.Connection, integration_id: str, organization_id: str, status: IntegrationStatusKnown
) -> None:
    await conn.execute(
        """INSERT INTO integration_status (integration_id, organization_id, status) VALUES ($1, $2, $3)
           ON CONFLICT (integration_id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()""",
        integration_id,
        organization_id,
        status.value,
    )


async def upsert_number(
    conn: asyncpg.Connection,
    number: ImportedNumber,
    organization_id: str,
    state: NumberState,
    event_id: str,
    import_id: str | None = None,
) -> NumberRow | None:
    """Add or update the number an import brought. None when that very import's number was removed since
    (a redelivered import event does not bring back a number removed on request)."""
    compliance = number.compliance.model_dump_json() if number.compliance else None
    record = await conn.fetchrow(
        """INSERT INTO numbers (address, organization_id, integration_id, number_type, country, twilio_sid,
                                compliance, state, previous_state, last_event_id, import_id, messaging_service_sid)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, NULL, $9, $10, $11)
           ON CONFLICT (address) DO UPDATE SET
               organization_id = EXCLUDED.organization_id,
               integration_id = EXCLUDED.integration_id,
               number_type = EXCLUDED.number_type,
               country = EXCLUDED.country,
               twilio_sid = EXCLUDED.twilio_sid,
               compliance = EXCLUDED.compliance,
               messaging_service_sid = EXCLUDED.messaging_service_sid,
               previous_state = CASE WHEN numbers.last_event_id = EXCLUDED.last_event_id
                                     THEN numbers.previous_state ELSE numbers.state END,
               state = EXCLUDED.state,
               version = CASE WHEN numbers.last_event_id = EXCLUDED.last_event_id
                              THEN numbers.version ELSE numbers.version + 1 END,
               last_event_id = EXCLUDED.last_event_id,
               routing_target = CASE WHEN numbers.import_id IS DISTINCT FROM EXCLUDED.import_id
                                     THEN NULL ELSE numbers.routing_target END,
               imported_at = CASE WHEN numbers.import_id IS DISTINCT FROM EXCLUDED.import_id
                                  THEN now() ELSE numbers.imported_at END,
               import_id = EXCLUDED.import_id,
               updated_at = now()
           WHERE NOT (numbers.state = 'removed' AND numbers.import_id IS NOT DISTINCT FROM EXCLUDED.import_id
                      AND numbers.last_event_id <> EXCLUDED.last_event_id)
           RETURNING *""",
        number.address,
        organization_id,
        number.integration_id,
        number.number_type.value,
        number.country,
        number.twilio_sid,
        compliance,
        state.value,
        event_id,
        import_id,
        number.messaging_service_sid,
    )
    return _row(record) if record else None


async def set_state_for_integration(
    conn: asyncpg.Connection, integration_id: str, from_states: tuple[NumberState, ...], to: NumberState, event_id: str
) -> None:
    await conn.execute(
        """UPDATE numbers SET previous_state = state, state = $3, version = version + 1,
                              last_event_id = $4, updated_at = now()
           WHERE integration_id = $1 AND state = ANY($2::text[]) AND last_event_id <> $4""",
        integration_id,
        [s.value for s in from_states],
        to.value,
        event_id,
    )


async def changed_by(conn: asyncpg.Connection, event_id: str) -> list[NumberRow]:
    """Numbers whose last change came from ``event_id`` (to publish, or publish again after a crash)."""
    rows = await conn.fetch("SELECT * FROM numbers WHERE last_event_id = $1 ORDER BY address", event_id)
    return [_row(r) for r in rows]


async def list_numbers(
    conn: asyncpg.Connection, organization_id: str, *, include_removed: bool = False
) -> list[NumberRow]:
    rows = await conn.fetch(
        "SELECT * FROM numbers WHERE organization_id = $1 AND ($2 OR state <> 'removed') ORDER BY address",
        organization_id,
        include_removed,
    )
    return [_row(r) for r in rows]


async def get_number(conn: asyncpg.Connection, address: str) -> NumberRow | None:
    record = await conn.fetchrow("SELECT * FROM numbers WHERE address = $1", address)
    return _row(record) if record else None


async def lock_number(conn: asyncpg.Connection, address: str) -> NumberRow | None:
    record = await conn.fetchrow("SELECT * FROM numbers WHERE address = $1 FOR UPDATE", address)
    return _row(record) if record else None


async def change_number(
    conn: asyncpg.Connection,
    address: str,
    event_id: str,
    *,
    state: NumberState | None = None,
    routing_target: str | None = None,
    set_routing_target: bool = False,
    compliance: Compliance | None = None,
) -> NumberRow:
    """Apply a command's change to a locked number: a new state, routing target or compliance blocks."""
    record = await conn.fetchrow(
        """UPDATE numbers SET
               previous_state = CASE WHEN $2::text IS NULL THEN previous_state ELSE state END,
               state = COALESCE($2::text, state),
               routing_target = CASE WHEN $4 THEN $3 ELSE routing_target END,
               compliance = COALESCE($5::jsonb, compliance),
               version = version + 1, last_event_id = $6, updated_at = now()
           WHERE address = $1 RETURNING *""",
        address,
        state.value if state else None,
        routing_target,
        set_routing_target,
        compliance.model_dump_json() if compliance else None,
        event_id,
    )
    assert record is not None
    return _row(record)


async def forget_commands(conn: asyncpg.Connection | asyncpg.Pool, older_than_days: float) -> int:
    status: str = await conn.execute(
        "DELETE FROM number_commands WHERE recorded_at < now() - make_interval(secs => $1)", older_than_days * 86400
    )
    return int(status.split()[-1])


@dataclass(frozen=True)
class RecordedCommand:
    source: str
    outputs: list[dict[str, Any]]
    """Each ``{"topic": name, "key": key, "value": JSON text or None (a tombstone)}``, in order."""


async def recorded_command(conn: asyncpg.Connection, command_id: str) -> RecordedCommand | None:
    row = await conn.fetchrow("SELECT source, outputs FROM number_commands WHERE command_id = $1", command_id)
    if row is None:
        return None
    outputs = row["outputs"]
    return RecordedCommand(row["source"], json.loads(outputs) if isinstance(outputs, str) else outputs)


async def record_command(conn: asyncpg.Connection, command_id: str, source: str, outputs: list[dict[str, Any]]) -> None:
    await conn.execute(
        "INSERT INTO number_commands (command_id, source, outputs) VALUES ($1, $2, $3::jsonb)",
        command_id,
        source,
        json.dumps(outputs),
    )

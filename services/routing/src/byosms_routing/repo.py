"""Routing's SQL, one function per query. Tables live in the ``routing`` schema."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import asyncpg


async def record_inbound_decision(
    conn: asyncpg.Connection,
    message_sid: str,
    organization_id: str,
    integration_id: str | None,
    decision: str,
    reason: str,
) -> bool:
    """Record the decision; False when this message was decided before (a redelivery)."""
    inserted = await conn.fetchval(
        """INSERT INTO inbound_decisions (message_sid, organization_id, integration_id, decision, reason)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_sid) DO NOTHING RETURNING true""",
        message_sid,
        organization_id,
        integration_id,
        decision,
        reason,
    )
    return bool(inserted)


# --------------------------------------------------------------------------------------------------
# Outbound messages
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboundRow:
    organization_id: str
    message_id: str
    command_id: str
    sender: str
    recipient: str
    integration_id: str | None
    state: str
    message_sid: str | None
    twilio_status: str | None
    code: str | None
    params: dict[str, str]
    error_code: int | None
    lease_owner: str | None = None
    lease_age_seconds: float | None = None
    """How long ago the current send attempt started (by the database's clock); None when unknown."""


_OUTBOUND_COLUMNS = (
    "organization_id, message_id, command_id, sender, recipient, integration_id, state, message_sid, "
    "twilio_status, code, params, error_code, lease_owner, "
    "EXTRACT(EPOCH FROM (now() - lease_started_at))::float8 AS lease_age_seconds"
)


def _outbound(row: asyncpg.Record | None) -> OutboundRow | None:
    if row is None:
        return None
    values = dict(row)
    params = values["params"]
    values["params"] = json.loads(params) if isinstance(params, str) else dict(params or {})
    return OutboundRow(**values)


async def get_outbound(conn: asyncpg.Connection, organization_id: str, message_id: str) -> OutboundRow | None:
    return _outbound(
        await conn.fetchrow(
            f"SELECT {_OUTBOUND_COLUMNS} FROM outbound_messages WHERE organization_id = $1 AND message_id = $2",  # noqa: S608 - fixed column list
            organization_id,
            message_id,
        )
    )


async def insert_outbound(
    conn: asyncpg.Connection,
    *,
    organization_id: str,
    message_id: str,
    command_id: str,
    sender: str,
    recipient: str,
    integration_id: str | None,
    state: str,
    code: str | None = None,
    params: dict[str, str] | None = None,
    lease_owner: str | None = None,
) -> bool:
    """Record a new outbound message; False when one with this id exists (a redelivery). A message
    recorded ``sending`` takes the lease: ``lease_owner`` asks Twilio, starting now."""
    inserted = await conn.fetchval(
        """INSERT INTO outbound_messages
               (organization_id, message_id, command_id, sender, recipient, integration_id, state, code, params,
                lease_owner, lease_started_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, CASE WHEN $7 = 'sending' THEN now() END)
           ON CONFLICT (organization_id, message_id) DO NOTHING RETURNING true""",
        organization_id,
        message_id,
        command_id,
        sender,
        recipient,
        integration_id,
        state,
        code,
        json.dumps(params or {}),
        lease_owner,
    )
    return bool(inserted)


async def fail_outbound(
    conn: asyncpg.Connection,
    organization_id: str,
    message_id: str,
    *,
    code: str,
    params: dict[str, str],
    error_code: int | None,
) -> bool:
    """A message still being sent ends as failed; False when it had ended before."""
    updated = await conn.fetchval(
        """UPDATE outbound_messages SET state = 'failed', code = $3, params = $4::jsonb, error_code = $5,
                  updated_at = now()
           WHERE organization_id = $1 AND message_id = $2 AND state = 'sending' RETURNING true""",
        organization_id,
        message_id,
        code,
        json.dumps(params),
        error_code,
    )
    return bool(updated)


async def expire_lease(
    conn: asyncpg.Connection, organization_id: str, message_id: str, *, lease_seconds: float
) -> bool:
    """A send whose lease is older than ``lease_seconds`` (or has none) ends as ``outcome_unknown``;
    False when the message is not ``sending`` or its lease is still fresh."""
    updated = await conn.fetchval(
        """UPDATE outbound_messages SET state = 'failed', code = 'outcome_unknown', params = '{}', error_code = NULL,
                  updated_at = now()
           WHERE organization_id = $1 AND message_id = $2 AND state = 'sending'
             AND (lease_started_at IS NULL OR lease_started_at < now() - make_interval(secs => $3))
           RETURNING true""",
        organization_id,
        message_id,
        float(lease_seconds),
    )
    return bool(updated)


async def lock_message_sid(conn: asyncpg.Connection, message_sid: str) -> None:
    """Serialize, until the transaction ends, everything done about one MessageSid (accepting the
    message and applying its reports), so a report arriving before the create's answer is kept."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('routing.sid:' || $1, 0))", message_sid)


async def accept_outbound(
    conn: asyncpg.Connection, organization_id: str, message_id: str, *, message_sid: str, twilio_status: str | None
) -> bool:
    """Twilio has the message. Also when an interrupted send was meanwhile declared ``outcome_unknown``:
    now it is known. False when nothing was updated."""
    updated = await conn.fetchval(
        """UPDATE outbound_messages
           SET state = 'accepted', message_sid = $3, twilio_status = $4, code = NULL, params = '{}',
               error_code = NULL, updated_at = now()
           WHERE organization_id = $1 AND message_id = $2
             AND (state = 'sending' OR (state = 'failed' AND code = 'outcome_unknown')) RETURNING true""",
        organization_id,
        message_id,
        message_sid,
        twilio_status,
    )
    return bool(updated)


async def outbound_by_sid(
    conn: asyncpg.Connection, message_sid: str, organization_id: str, integration_id: str
) -> OutboundRow | None:
    """The message with this MessageSid, only if it is of this organization and integration."""
    return _outbound(
        await conn.fetchrow(
            f"""SELECT {_OUTBOUND_COLUMNS} FROM outbound_messages
                WHERE message_sid = $1 AND organization_id = $2 AND integration_id = $3 FOR UPDATE""",  # noqa: S608 - fixed column list
            message_sid,
            organization_id,
            integration_id,
        )
    )


async def set_twilio_status(
    conn: asyncpg.Connection, organization_id: str, message_id: str, status: str, error_code: int | None
) -> None:
    await conn.execute(
        """UPDATE outbound_messages SET twilio_status = $3, error_code = COALESCE($4, error_code), updated_at = now()
           WHERE organization_id = $1 AND message_id = $2""",
        organization_id,
        message_id,
        status,
        error_code,
    )


# --------------------------------------------------------------------------------------------------
# Delivery reports
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    status: str
    error_code: int | None


async def record_report(
    conn: asyncpg.Connection,
    report_id: str,
    message_sid: str,
    status: str,
    error_code: int | None,
    received_at: datetime,
    *,
    organization_id: str,
    integration_id: str,
) -> bool:
    """Keep a delivery report of a tenant; False when it was kept before (a redelivery or Twilio's
    duplicate). Another tenant's report with the same id is kept apart and never replaces it."""
    inserted = await conn.fetchval(
        """INSERT INTO delivery_reports
               (report_id, message_sid, status, error_code, received_at, organization_id, integration_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (organization_id, integration_id, report_id) DO NOTHING RETURNING true""",
        report_id,
        message_sid,
        status,
        error_code,
        received_at,
        organization_id,
        integration_id,
    )
    return bool(inserted)


async def reports_for(
    conn: asyncpg.Connection, message_sid: str, organization_id: str, integration_id: str
) -> list[Report]:
    """The kept reports of this MessageSid that came from this organization and integration."""
    rows = await conn.fetch(
        """SELECT status, error_code FROM delivery_reports
           WHERE message_sid = $1 AND organization_id = $2 AND integration_id = $3
           ORDER BY received_at, recorded_at""",
        message_sid,
        organization_id,
        integration_id,
    )
    return [Report(r["status"], r["error_code"]) for r in rows]


async def delete_unmatched_reports(conn: asyncpg.Connection, *, older_than_seconds: float) -> int:
    """Delete reports kept longer than ``older_than_seconds`` that match no message of their tenant;
    the number deleted."""
    deleted = await conn.fetchval(
        """WITH gone AS (
               DELETE FROM delivery_reports r
               WHERE r.recorded_at < now() - make_interval(secs => $1)
                 AND NOT EXISTS (
                     SELECT 1 FROM outbound_messages o
                     WHERE o.message_sid = r.message_sid AND o.organization_id = r.organization_id
                       AND o.integration_id = r.integration_id)
               RETURNING 1)
           SELECT count(*) FROM gone""",
        float(older_than_seconds),
    )
    return int(deleted or 0)


# --------------------------------------------------------------------------------------------------
# Opt-outs
# --------------------------------------------------------------------------------------------------


async def set_consent(
    conn: asyncpg.Connection,
    *,
    sender: str,
    recipient: str,
    organization_id: str,
    opted_out: bool,
    keyword: str,
    source_id: str,
    changed_at: datetime,
) -> bool:
    """Record an opt-out or opt-in of one organization unless a later signal is recorded; True when this
    signal is now the recorded one (also when it was recorded before: a redelivery)."""
    source = await conn.fetchval(
        """INSERT INTO opt_outs (sender, recipient, organization_id, opted_out, keyword, source_id, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (organization_id, sender, recipient) DO UPDATE
               SET opted_out = EXCLUDED.opted_out,
                   keyword = EXCLUDED.keyword, source_id = EXCLUDED.source_id, changed_at = EXCLUDED.changed_at
               WHERE opt_outs.changed_at <= EXCLUDED.changed_at
           RETURNING source_id""",
        sender,
        recipient,
        organization_id,
        opted_out,
        keyword,
        source_id,
        changed_at,
    )
    if source is not None:
        return True
    current = await conn.fetchval(
        "SELECT source_id FROM opt_outs WHERE organization_id = $1 AND sender = $2 AND recipient = $3",
        organization_id,
        sender,
        recipient,
    )
    return bool(current == source_id)


async def is_opted_out(conn: asyncpg.Connection, organization_id: str, sender: str, recipient: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT opted_out FROM opt_outs WHERE organization_id = $1 AND sender = $2 AND recipient = $3",
            organization_id,
            sender,
            recipient,
        )
    )

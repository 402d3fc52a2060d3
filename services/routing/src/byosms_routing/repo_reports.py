"""Routing's SQL for delivery reports, set-based: a few statements per batch, not per report.

Lookups are shaped so that PostgreSQL can only look each key up in an index, whatever its statistics
say: after five executions a prepared statement may switch to a generic plan, which guesses the arrays'
length (10), and with statistics older than the table's growth a join with ``unnest`` (or an ``IN``) then
scanned the whole table and compared every row with every key (measured in the routing benchmark: one
lookup of 500 reports went from 30 ms to 18 s). A ``LATERAL`` subquery with ``LIMIT 1`` cannot be
flattened, so the keys are the outer side and each is one index probe; a lookup by a uniquely indexed
column uses ``= ANY``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from byosms_routing.address_health import AddressHealth


@dataclass(frozen=True, slots=True)
class NewReport:
    report_id: str
    message_sid: str
    status: str
    error_code: int | None
    received_at: datetime
    organization_id: str
    integration_id: str
    source: str
    moved_to: str | None = None
    moved_error_code: int | None = None


@dataclass(frozen=True, slots=True)
class KeptReport:
    """A report as kept: which record brought it, and the status change it made (if any)."""

    report_id: str
    organization_id: str
    integration_id: str
    source: str | None
    moved_to: str | None
    moved_error_code: int | None


@dataclass(frozen=True, slots=True)
class Target:
    """An outbound message a report may apply to (its MessageSid locked until the transaction ends)."""

    organization_id: str
    integration_id: str
    message_id: str
    message_sid: str
    twilio_status: str | None
    sender: str = ""
    recipient: str = ""


TenantSid = tuple[str, str, str]
"""(organization, integration, MessageSid)."""


async def lock_sids(conn: asyncpg.Connection, message_sids: Sequence[str]) -> None:
    """Per-MessageSid advisory locks (shared with accepting a send, see ``repo.lock_message_sid``),
    taken in one order so two transactions never deadlock."""
    await conn.execute(
        """SELECT pg_advisory_xact_lock(h) FROM (
               SELECT hashtextextended('routing.sid:' || s, 0) AS h FROM unnest($1::text[]) AS s ORDER BY 1
           ) AS locks""",
        sorted(set(message_sids)),
    )


async def keep_reports(conn: asyncpg.Connection, reports: Sequence[NewReport]) -> None:
    """Keep reports, each with the record that brought it and the status it moved its message to (one
    statement; a report kept before stays as it is)."""
    if not reports:
        return
    await conn.execute(
        """INSERT INTO delivery_reports
               (report_id, message_sid, status, error_code, received_at, organization_id, integration_id, source,
                moved_to, moved_error_code)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[],
                                $7::text[], $8::text[], $9::text[], $10::int[])
           ON CONFLICT (organization_id, integration_id, report_id) DO NOTHING""",
        [r.report_id for r in reports],
        [r.message_sid for r in reports],
        [r.status for r in reports],
        [r.error_code for r in reports],
        [r.received_at for r in reports],
        [r.organization_id for r in reports],
        [r.integration_id for r in reports],
        [r.source for r in reports],
        [r.moved_to for r in reports],
        [r.moved_error_code for r in reports],
    )


async def kept_reports(
    conn: asyncpg.Connection, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], KeptReport]:
    """The kept reports with these (organization, integration, report id) keys."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT d.report_id, d.organization_id, d.integration_id, d.source, d.moved_to, d.moved_error_code
           FROM unnest($1::text[], $2::text[], $3::text[]) AS k(org, integ, rid)
           CROSS JOIN LATERAL (
               SELECT * FROM delivery_reports
               WHERE organization_id = k.org AND integration_id = k.integ AND report_id = k.rid
               LIMIT 1
           ) AS d""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
    )
    return {(r["organization_id"], r["integration_id"], r["report_id"]): KeptReport(**dict(r)) for r in rows}


async def targets(conn: asyncpg.Connection, keys: Sequence[TenantSid]) -> dict[TenantSid, Target]:
    """The outbound messages with these MessageSids, each only if it is of that organization and
    integration. Call it holding their MessageSids' locks (:func:`lock_sids`): accepting a send takes
    the same lock, so the rows cannot change before the transaction ends (no row locks needed)."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT organization_id, integration_id, message_id, message_sid, twilio_status, sender, recipient
           FROM outbound_messages WHERE message_sid = ANY($1::text[])""",
        list({k[2] for k in keys}),
    )
    wanted = set(keys)
    found = (Target(**dict(r)) for r in rows)
    return {key: t for t in found if (key := (t.organization_id, t.integration_id, t.message_sid)) in wanted}


async def set_statuses(conn: asyncpg.Connection, moves: Sequence[tuple[str, str, int | None]]) -> None:
    """Set (MessageSid, status, error code) on outbound messages found by :func:`targets`; an error
    code only replaces the kept one when given."""
    if not moves:
        return
    await conn.execute(
        """UPDATE outbound_messages o
           SET twilio_status = m.status, error_code = COALESCE(m.error_code, o.error_code), updated_at = now()
           FROM unnest($1::text[], $2::text[], $3::int[]) AS m(sid, status, error_code)
           WHERE o.message_sid = ANY($1::text[]) AND o.message_sid = m.sid""",
        [m[0] for m in moves],
        [m[1] for m in moves],
        [m[2] for m in moves],
    )


Conversation = tuple[str, str, str]
"""(organization, sender, recipient)."""


async def address_health(conn: asyncpg.Connection, keys: Sequence[Conversation]) -> dict[Conversation, AddressHealth]:
    """The kept health of these conversations' recipient addresses (absent: no failures), locked
    until the transaction ends."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT f.organization_id, f.sender, f.recipient, f.failures, f.last_error_code
           FROM unnest($1::text[], $2::text[], $3::text[]) AS k(organization_id, sender, recipient)
           CROSS JOIN LATERAL (
               SELECT * FROM failing_addresses a
               WHERE a.organization_id = k.organization_id AND a.sender = k.sender AND a.recipient = k.recipient
               FOR UPDATE
           ) AS f""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
    )
    return {
        (r["organization_id"], r["sender"], r["recipient"]): AddressHealth(r["failures"], r["last_error_code"])
        for r in rows
    }


async def set_address_health(conn: asyncpg.Connection, changes: dict[Conversation, AddressHealth]) -> None:
    """Keep the new health of these addresses; one with no failures left is forgotten."""
    healthy = [k for k, h in changes.items() if h.failures == 0]
    failing = [(k, h) for k, h in changes.items() if h.failures > 0]
    if healthy:
        await conn.execute(
            """DELETE FROM failing_addresses a
               USING unnest($1::text[], $2::text[], $3::text[]) AS k(organization_id, sender, recipient)
               WHERE a.organization_id = k.organization_id AND a.sender = k.sender AND a.recipient = k.recipient""",
            [k[0] for k in healthy],
            [k[1] for k in healthy],
            [k[2] for k in healthy],
        )
    if failing:
        await conn.execute(
            """INSERT INTO failing_addresses
                   (organization_id, sender, recipient, failures, last_error_code, flagged_since)
               SELECT o, s, r, f, e, CASE WHEN flagged THEN now() END
               FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::bool[])
                    AS k(o, s, r, f, e, flagged)
               ON CONFLICT (organization_id, sender, recipient) DO UPDATE
               SET failures = EXCLUDED.failures, last_error_code = EXCLUDED.last_error_code,
                   flagged_since = CASE WHEN EXCLUDED.flagged_since IS NULL THEN NULL
                                        ELSE COALESCE(failing_addresses.flagged_since, EXCLUDED.flagged_since) END,
                   updated_at = now()""",
            [k[0] for k, _ in failing],
            [k[1] for k, _ in failing],
            [k[2] for k, _ in failing],
            [h.failures for _, h in failing],
            [h.last_error_code for _, h in failing],
            [h.flagged for _, h in failing],
        )

"""SQL of an integration's webhook summary (``integration_summary``): its numbers in the read model
(not removed) with their last check, the repairs of those numbers, and its recovered inbound messages
in the message trace."""

from __future__ import annotations

import json

import asyncpg

from byosms_provisioning.webhook_checks.integration_summary import (
    RECENT_DAYS,
    Counts,
    DriftedNumber,
    Recovered,
    RecoveredMessage,
    Repair,
)

_NUMBERS = """FROM inventory_numbers n
    LEFT JOIN number_webhook_checks w ON w.address = n.address AND w.number_id = n.number_id
    WHERE n.organization_id = $1 AND n.integration_id = $2 AND n.state <> 'removed'"""


async def counts(conn: asyncpg.Connection | asyncpg.Pool, organization_id: str, integration_id: str) -> Counts:
    row = await conn.fetchrow(
        "SELECT count(*) AS total, count(*) FILTER (WHERE w.status = 'ok') AS ok, "
        "count(*) FILTER (WHERE w.status = 'drifted') AS drifted, "
        "count(*) FILTER (WHERE w.status IS NULL OR w.status = 'unchecked') AS unchecked, "
        "count(*) FILTER (WHERE w.error_code IS NOT NULL) AS check_errors, max(w.checked_at) AS checked_at " + _NUMBERS,
        organization_id,
        integration_id,
    )
    assert row is not None
    return Counts(
        total=row["total"],
        ok=row["ok"],
        drifted=row["drifted"],
        unchecked=row["unchecked"],
        check_errors=row["check_errors"],
        checked_at=row["checked_at"],
    )


async def drifted(
    conn: asyncpg.Connection | asyncpg.Pool, organization_id: str, integration_id: str, limit: int
) -> list[DriftedNumber]:
    """The drifted numbers, the most recently changed first."""
    rows = await conn.fetch(
        "SELECT n.number_id, n.address, w.kind, w.details, w.checked_at, w.changed_at "
        + _NUMBERS
        + " AND w.status = 'drifted' ORDER BY w.changed_at DESC, n.address LIMIT $3",
        organization_id,
        integration_id,
        limit,
    )
    return [
        DriftedNumber(
            number_id=r["number_id"],
            address=r["address"],
            kind=r["kind"],
            details=json.loads(r["details"]) if isinstance(r["details"], str) else dict(r["details"] or {}),
            checked_at=r["checked_at"],
            changed_at=r["changed_at"],
        )
        for r in rows
    ]


async def recent_repairs(
    conn: asyncpg.Connection | asyncpg.Pool, organization_id: str, integration_id: str, limit: int
) -> list[Repair]:
    """Values set at Twilio for the integration's numbers in the last ``RECENT_DAYS`` days, newest first."""
    rows = await conn.fetch(
        "SELECT r.number_id, r.address, r.actor, r.at, r.parameter, r.old_value, r.new_value, r.outcome "
        "FROM number_webhook_repairs r JOIN inventory_numbers n ON n.number_id = r.number_id "
        "WHERE r.organization_id = $1 AND n.organization_id = $1 AND n.integration_id = $2 "
        "AND r.at > now() - make_interval(days => $3) ORDER BY r.at DESC, r.id DESC LIMIT $4",
        organization_id,
        integration_id,
        RECENT_DAYS,
        limit,
    )
    return [
        Repair(
            number_id=r["number_id"],
            address=r["address"],
            actor=r["actor"],
            at=r["at"],
            parameter=r["parameter"],
            old_value=r["old_value"],
            new_value=r["new_value"],
            outcome=r["outcome"],
        )
        for r in rows
    ]


_RECOVERED = """FROM message_trace
    WHERE organization_id = $1 AND direction = 'inbound' AND step IN ('routed', 'discarded')
      AND details->>'recovered' = 'true' AND details->>'integration_id' = $2
      AND at > now() - make_interval(days => $3)"""


async def recovered_messages(
    conn: asyncpg.Connection | asyncpg.Pool, organization_id: str, integration_id: str, limit: int
) -> Recovered:
    """Inbound messages of the integration that routing's recovery job replayed (their webhook never came)
    in the last ``RECENT_DAYS`` days: how many, and the latest, newest first."""
    count = await conn.fetchval("SELECT count(*) " + _RECOVERED, organization_id, integration_id, RECENT_DAYS)
    rows = await conn.fetch(
        "SELECT message_id, at, step " + _RECOVERED + " ORDER BY at DESC, event_id LIMIT $4",
        organization_id,
        integration_id,
        RECENT_DAYS,
        limit,
    )
    return Recovered(
        count=int(count or 0),
        latest=[RecoveredMessage(message_sid=r["message_id"], at=r["at"], step=r["step"]) for r in rows],
    )

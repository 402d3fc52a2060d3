"""Routing's SQL for the recovery job (``recovery``): which number is due, and what routing already has."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from byosms_common.twilio_status import FINAL_RANK, RANK

_NOT_FINAL = [status.value for status, rank in RANK.items() if rank < FINAL_RANK]


@dataclass(frozen=True, slots=True)
class ActiveNumber:
    address: str
    organization_id: str
    integration_id: str


@dataclass(frozen=True, slots=True)
class DueCheck:
    address: str
    organization_id: str
    integration_id: str
    failures: int
    now: datetime


@dataclass(frozen=True, slots=True)
class UnreportedSend:
    message_sid: str
    twilio_status: str | None


async def enroll(conn: asyncpg.Connection, numbers: Sequence[ActiveNumber], *, spread_seconds: float) -> None:
    """Keep one row per active number (new ones due at a random time within ``spread_seconds``, so a
    tenant's many numbers do not all ask Twilio at once). Rows of numbers no longer active are dropped
    when they come due (:func:`forget`): a replica whose caches lag must not drop another's new rows."""
    await conn.execute(
        """INSERT INTO recovery_checks (address, organization_id, integration_id, next_at)
           SELECT a, o, i, now() + make_interval(secs => random() * $4)
           FROM unnest($1::text[], $2::text[], $3::text[]) AS n(a, o, i)
           ON CONFLICT (address) DO UPDATE SET organization_id = EXCLUDED.organization_id,
                                               integration_id = EXCLUDED.integration_id
           WHERE recovery_checks.organization_id <> EXCLUDED.organization_id
              OR recovery_checks.integration_id <> EXCLUDED.integration_id""",
        [n.address for n in numbers],
        [n.organization_id for n in numbers],
        [n.integration_id for n in numbers],
        spread_seconds,
    )


async def claim_due(conn: asyncpg.Connection, *, limit: int, hold_seconds: float) -> list[DueCheck]:
    """Numbers due now, held for ``hold_seconds`` by this process (others skip them)."""
    rows = await conn.fetch(
        """UPDATE recovery_checks SET claimed_until = now() + make_interval(secs => $2)
           WHERE address IN (
               SELECT address FROM recovery_checks
               WHERE next_at <= now() AND (claimed_until IS NULL OR claimed_until < now())
               ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING address, organization_id, integration_id, failures, now() AS now""",
        limit,
        hold_seconds,
    )
    return [DueCheck(**dict(r)) for r in rows]


async def forget(conn: asyncpg.Connection, address: str) -> None:
    """Drop the row of a number that is no longer active."""
    await conn.execute("DELETE FROM recovery_checks WHERE address = $1", address)


async def checked(
    conn: asyncpg.Connection, address: str, *, next_in_seconds: float, inbound: int, reports: int, failed: bool
) -> None:
    """Record a run and when the number is due next; releases the claim."""
    await conn.execute(
        """UPDATE recovery_checks
           SET next_at = now() + make_interval(secs => $2), claimed_until = NULL,
               last_checked_at = CASE WHEN $5 THEN last_checked_at ELSE now() END,
               last_inbound = CASE WHEN $5 THEN last_inbound ELSE $3 END,
               last_reports = CASE WHEN $5 THEN last_reports ELSE $4 END,
               failures = CASE WHEN $5 THEN failures + 1 ELSE 0 END
           WHERE address = $1""",
        address,
        next_in_seconds,
        inbound,
        reports,
        failed,
    )


async def decided_sids(conn: asyncpg.Connection, sids: Sequence[str]) -> set[str]:
    """Which of these MessageSids routing has decided (routed or discarded)."""
    if not sids:
        return set()
    rows = await conn.fetch("SELECT message_sid FROM inbound_decisions WHERE message_sid = ANY($1::text[])", list(sids))
    return {r["message_sid"] for r in rows}


async def unreported_sends(
    conn: asyncpg.Connection,
    organization_id: str,
    integration_id: str,
    sender: str,
    *,
    since: datetime,
    quiet_seconds: float,
    limit: int,
) -> list[UnreportedSend]:
    """Accepted messages from ``sender`` created since ``since`` whose status is not final and has not
    moved for ``quiet_seconds``: their final delivery report has not come (yet)."""
    rows = await conn.fetch(
        """SELECT message_sid, twilio_status FROM outbound_messages
           WHERE organization_id = $1 AND integration_id = $2 AND sender = $3 AND state = 'accepted'
             AND created_at >= $4 AND updated_at <= now() - make_interval(secs => $5)
             AND (twilio_status IS NULL OR twilio_status = ANY($6::text[]))
           ORDER BY created_at LIMIT $7""",
        organization_id,
        integration_id,
        sender,
        since,
        quiet_seconds,
        _NOT_FINAL,
        limit,
    )
    return [UnreportedSend(r["message_sid"], r["twilio_status"]) for r in rows]

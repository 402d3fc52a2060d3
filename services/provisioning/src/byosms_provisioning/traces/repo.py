"""SQL of the message trace (``message_trace``): one statement per batch, lookups by either id."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from byosms_provisioning.traces.steps import Step


async def record(conn: asyncpg.Connection | asyncpg.Pool, steps: Sequence[Step]) -> None:
    """Keep the steps (a redelivered event changes nothing)."""
    if not steps:
        return
    await conn.execute(
        """INSERT INTO message_trace (event_id, organization_id, message_id, message_sid, direction, step, at, details)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                $7::timestamptz[], $8::jsonb[])
           ON CONFLICT (event_id) DO NOTHING""",
        [s.event_id for s in steps],
        [s.organization_id for s in steps],
        [s.message_id for s in steps],
        [s.message_sid for s in steps],
        [s.direction for s in steps],
        [s.step for s in steps],
        [s.at for s in steps],
        [json.dumps(s.details) for s in steps],
    )


async def steps_of(conn: asyncpg.Connection | asyncpg.Pool, organization_id: str, message: str) -> list[dict[str, Any]]:
    """Every step of the organization's message named by its MessageSid or (outbound) its message id."""
    rows = await conn.fetch(
        """SELECT message_id, message_sid, direction, step, at, details FROM message_trace
           WHERE organization_id = $1 AND message_id IN (
               SELECT $2 UNION SELECT message_id FROM message_trace WHERE organization_id = $1 AND message_sid = $2)
           ORDER BY at, recorded_at, event_id""",
        organization_id,
        message,
    )
    return [
        {**dict(r), "details": json.loads(r["details"]) if isinstance(r["details"], str) else r["details"]}
        for r in rows
    ]


async def forget_older_than(conn: asyncpg.Connection | asyncpg.Pool, days: float) -> int:
    status: str = await conn.execute(
        "DELETE FROM message_trace WHERE at < now() - make_interval(secs => $1)", days * 86400
    )
    return int(status.split()[-1])

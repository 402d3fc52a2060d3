"""Routing's SQL, one function per query. Tables live in the ``routing`` schema."""

from __future__ import annotations

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

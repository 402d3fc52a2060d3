"""Routing's SQL that is neither inbound decisions (``repo_inbound``), delivery reports
(``repo_reports``) nor outbound messages (``repo_outbound``): clean-up and consent. Tables live in
the ``routing`` schema."""

from __future__ import annotations

from datetime import datetime

import asyncpg


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

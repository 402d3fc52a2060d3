"""Routing's SQL for inbound decisions, set-based: one statement per batch, not per message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class NewDecision:
    message_sid: str
    organization_id: str
    integration_id: str | None
    decision: str
    reason: str
    source: str
    target: str | None = None
    keyword: str | None = None
    """The ``KeywordKind`` value when the message was a compliance keyword."""


@dataclass(frozen=True, slots=True)
class RecordedDecision:
    message_sid: str
    organization_id: str
    decision: str
    reason: str
    source: str | None
    decided_at: datetime
    target: str | None = None
    keyword: str | None = None


async def record_decisions(conn: asyncpg.Connection, decisions: Sequence[NewDecision]) -> dict[str, RecordedDecision]:
    """Record every decision not recorded before (the first per MessageSid wins) and return, per
    MessageSid, the decision that is recorded now: this batch's or an earlier one's."""
    if not decisions:
        return {}
    await conn.execute(
        """INSERT INTO inbound_decisions
               (message_sid, organization_id, integration_id, decision, reason, source, target, keyword)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                $8::text[])
           ON CONFLICT (message_sid) DO NOTHING""",
        [d.message_sid for d in decisions],
        [d.organization_id for d in decisions],
        [d.integration_id for d in decisions],
        [d.decision for d in decisions],
        [d.reason for d in decisions],
        [d.source for d in decisions],
        [d.target for d in decisions],
        [d.keyword for d in decisions],
    )
    rows = await conn.fetch(
        """SELECT message_sid, organization_id, decision, reason, source, decided_at, target, keyword
           FROM inbound_decisions
           WHERE message_sid = ANY($1::text[])""",
        list({d.message_sid for d in decisions}),
    )
    return {r["message_sid"]: RecordedDecision(**dict(r)) for r in rows}


@dataclass(frozen=True, slots=True)
class SenderService:
    """The Messaging Service an inbound message to ``sender`` came through (None: none)."""

    organization_id: str
    sender: str
    messaging_service_sid: str | None
    seen_at: datetime


async def record_sender_services(conn: asyncpg.Connection, seen: Sequence[SenderService]) -> None:
    """Keep, per organization and sender, the service of its newest inbound message (one statement;
    a row is written only when the service changed)."""
    newest: dict[tuple[str, str], SenderService] = {}
    for item in seen:
        key = (item.organization_id, item.sender)
        if key not in newest or newest[key].seen_at <= item.seen_at:
            newest[key] = item
    if not newest:
        return
    rows = sorted(newest.values(), key=lambda r: (r.organization_id, r.sender))  # one lock order
    await conn.execute(
        """INSERT INTO sender_services (organization_id, sender, messaging_service_sid, seen_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
           ON CONFLICT (organization_id, sender) DO UPDATE
               SET messaging_service_sid = EXCLUDED.messaging_service_sid, seen_at = EXCLUDED.seen_at
               WHERE sender_services.seen_at <= EXCLUDED.seen_at
                 AND sender_services.messaging_service_sid IS DISTINCT FROM EXCLUDED.messaging_service_sid""",
        [r.organization_id for r in rows],
        [r.sender for r in rows],
        [r.messaging_service_sid for r in rows],
        [r.seen_at for r in rows],
    )

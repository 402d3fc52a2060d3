"""Routing's SQL about outbound messages, one function per query (schema ``routing``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from byosms_routing.consent import ConsentRecord
from byosms_routing.send_checks import twilio_sender


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
    source: str | None = None
    """The Kafka record that created the row (``topic:partition:offset``); None for rows from before."""
    accepted_status: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    status: str
    error_code: int | None


_OUTBOUND_COLUMNS = (
    "organization_id, message_id, command_id, sender, recipient, integration_id, state, message_sid, "
    "twilio_status, code, params, error_code, lease_owner, "
    "EXTRACT(EPOCH FROM (now() - lease_started_at))::float8 AS lease_age_seconds, source, accepted_status"
)


def _outbound(row: asyncpg.Record | dict[str, Any] | None) -> OutboundRow | None:
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


@dataclass(frozen=True, slots=True)
class SendState:
    """What a send must know first (see :func:`send_state`)."""

    recorded: OutboundRow | None
    """The message as recorded; None when new."""
    consent: list[ConsentRecord]
    """The customer's consent records of the send's scopes (``consent.send_scopes``)."""
    reply_digest: str | None
    """The content digest of the compliance reply recorded under this id, sender and recipient, if any."""


async def send_state(
    conn: asyncpg.Connection,
    organization_id: str,
    message_id: str,
    scopes: Sequence[str],
    recipient: str,
    sender: str,
) -> SendState:
    """What a send must know first, in one round trip: the message as recorded, the recipient's consent
    records in this organization for ``scopes`` and for the Messaging Service the sender's inbound
    messages last came through (``sender_services``), and whether it is a compliance reply routing
    recorded (``sender`` is the inventory address)."""
    row = await conn.fetchrow(
        f"""SELECT {_OUTBOUND_COLUMNS}, c.scopes, c.opted, c.changed,
                  (SELECT content_digest FROM compliance_replies r
                   WHERE r.organization_id = $1 AND r.message_id = $2 AND r.sender = $5 AND r.recipient = $4)
                      AS reply_digest
           FROM (SELECT 1) AS one
           LEFT JOIN outbound_messages ON organization_id = $1 AND message_id = $2
           CROSS JOIN LATERAL (
               SELECT array_agg(o.sender) AS scopes, array_agg(o.opted_out) AS opted, array_agg(o.changed_at) AS changed
               FROM opt_outs o
               WHERE o.organization_id = $1 AND o.recipient = $4
                 AND (o.sender = ANY($3::text[])
                      OR o.sender = (SELECT s.messaging_service_sid FROM sender_services s
                                     WHERE s.organization_id = $1 AND s.sender = $6))) c""",  # noqa: S608 - fixed column list
        organization_id,
        message_id,
        list(scopes),
        recipient,
        sender,
        twilio_sender(sender),
    )
    assert row is not None  # one row always: (SELECT 1) LEFT JOIN ...
    values = dict(row)
    consent = [
        ConsentRecord(scope, bool(opted), changed)
        for scope, opted, changed in zip(
            values.pop("scopes") or (), values.pop("opted") or (), values.pop("changed") or (), strict=True
        )
    ]
    reply_digest = values.pop("reply_digest")
    recorded = _outbound(values) if values["organization_id"] is not None else None
    return SendState(recorded, consent, reply_digest)


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
    source: str,
    code: str | None = None,
    params: dict[str, str] | None = None,
    lease_owner: str | None = None,
    content_digest: str | None = None,
    media_count: int | None = None,
) -> bool:
    """Record a new outbound message made by Kafka record ``source``; False when one with this id
    exists. A message recorded ``sending`` takes the lease: ``lease_owner`` asks Twilio, starting now.
    ``content_digest``/``media_count``: what is sent, to find it at Twilio if its outcome is lost."""
    inserted = await conn.fetchval(
        """INSERT INTO outbound_messages
               (organization_id, message_id, command_id, sender, recipient, integration_id, state, code, params,
                lease_owner, lease_started_at, source, content_digest, media_count)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, CASE WHEN $7 = 'sending' THEN now() END, $11,
                   $12, $13)
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
        source,
        content_digest,
        media_count,
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
    message and applying its reports), so a report arriving before the create's answer is kept.
    The delivery-report path must take this same lock (same key)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('routing.sid:' || $1, 0))", message_sid)


async def accept_send(
    conn: asyncpg.Connection,
    organization_id: str,
    message_id: str,
    *,
    message_sid: str,
    twilio_status: str | None,
    integration_id: str,
) -> bool | None:
    """Twilio has the message: record it in one round trip, outside any transaction (migration 0013's
    ``accept_send`` takes the MessageSid's lock itself). True when recorded, False when the message was
    not waiting for its acceptance, None when reports of this MessageSid were kept before: then nothing
    was changed, and the caller accepts it with :func:`accept_outbound` in a transaction."""
    row = await conn.fetchrow(
        "SELECT accepted FROM accept_send($1, $2, $3, $4, $5)",
        organization_id,
        message_id,
        message_sid,
        twilio_status,
        integration_id,
    )
    assert row is not None
    accepted: bool | None = row["accepted"]
    return accepted


async def accept_outbound(
    conn: asyncpg.Connection,
    organization_id: str,
    message_id: str,
    *,
    message_sid: str,
    twilio_status: str | None,
    integration_id: str,
) -> list[Report] | None:
    """Twilio has the message. Also when an interrupted send was meanwhile declared ``outcome_unknown``:
    now it is known. Returns the reports of this MessageSid kept before (from this organization and
    integration, in the order they came), read in the same statement; None when nothing was updated.

    Call it holding the MessageSid's lock (:func:`lock_message_sid`), taken by an earlier statement of
    the transaction: this statement's snapshot then shows every report kept before the lock was had."""
    row = await conn.fetchrow(
        """WITH accepted AS (
               UPDATE outbound_messages
               SET state = 'accepted', message_sid = $3, twilio_status = $4, accepted_status = $4, code = NULL,
                   params = '{}', error_code = NULL, updated_at = now()
               WHERE organization_id = $1 AND message_id = $2
                 AND (state = 'sending' OR (state = 'failed' AND code = 'outcome_unknown'))
               RETURNING true
           ), kept AS (
               SELECT status, error_code, received_at, recorded_at FROM delivery_reports
               WHERE message_sid = $3 AND organization_id = $1 AND integration_id = $5
           )
           SELECT EXISTS (SELECT 1 FROM accepted) AS accepted,
                  (SELECT array_agg(status ORDER BY received_at, recorded_at) FROM kept) AS statuses,
                  (SELECT array_agg(error_code ORDER BY received_at, recorded_at) FROM kept) AS error_codes""",
        organization_id,
        message_id,
        message_sid,
        twilio_status,
        integration_id,
    )
    assert row is not None
    if not row["accepted"]:
        return None
    statuses, codes = row["statuses"] or [], row["error_codes"] or []
    return [Report(status, code) for status, code in zip(statuses, codes, strict=True)]


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


async def consent_recorded_by(
    conn: asyncpg.Connection, organization_id: str, sender: str, recipient: str, source_id: str
) -> bool:
    """Whether the recorded consent of (organization, sender, recipient) is the signal ``source_id``."""
    return bool(
        await conn.fetchval(
            """SELECT source_id = $4 FROM opt_outs
               WHERE organization_id = $1 AND sender = $2 AND recipient = $3""",
            organization_id,
            sender,
            recipient,
            source_id,
        )
    )


# --------------------------------------------------------------------------------------------------
# Sends whose outcome is unknown (``unknown_sends``)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnknownSendRow:
    organization_id: str
    message_id: str
    sender: str
    recipient: str
    integration_id: str
    content_digest: str
    media_count: int
    resolve_attempts: int
    started_at: datetime
    ended_at: datetime
    now: datetime
    """The database's clock when the row was claimed (the window is on that clock)."""


async def claim_unknown_sends(conn: asyncpg.Connection, *, limit: int, hold_seconds: float) -> list[UnknownSendRow]:
    """Up to ``limit`` sends ``outcome_unknown`` that are due to be looked up, each held for
    ``hold_seconds`` (so another routing process does not look them up at the same time). Rows without
    a content digest (recorded before it was kept) cannot be matched and are never due."""
    rows = await conn.fetch(
        """WITH due AS (
               SELECT organization_id, message_id FROM outbound_messages
               WHERE state = 'failed' AND code = 'outcome_unknown'
                 AND content_digest IS NOT NULL AND integration_id IS NOT NULL
                 AND (resolve_next_at IS NULL OR resolve_next_at <= now())
               ORDER BY resolve_next_at NULLS FIRST
               LIMIT $1
               FOR UPDATE SKIP LOCKED
           )
           UPDATE outbound_messages o SET resolve_next_at = now() + make_interval(secs => $2)
           FROM due WHERE o.organization_id = due.organization_id AND o.message_id = due.message_id
           RETURNING o.organization_id, o.message_id, o.sender, o.recipient, o.integration_id, o.content_digest,
                     COALESCE(o.media_count, 0) AS media_count, o.resolve_attempts,
                     COALESCE(o.lease_started_at, o.created_at) AS started_at, o.updated_at AS ended_at,
                     now() AS now""",
        limit,
        float(hold_seconds),
    )
    return [UnknownSendRow(**dict(row)) for row in rows]


async def look_again(
    conn: asyncpg.Connection, organization_id: str, message_id: str, *, after_seconds: float, failed: bool
) -> None:
    """Look the send up again in ``after_seconds`` (``failed``: this look failed, count it). Leaves
    ``updated_at`` alone: it is when the send ended, the end of its window."""
    await conn.execute(
        """UPDATE outbound_messages
           SET resolve_next_at = now() + make_interval(secs => $3),
               resolve_attempts = resolve_attempts + CASE WHEN $4 THEN 1 ELSE 0 END
           WHERE organization_id = $1 AND message_id = $2 AND state = 'failed' AND code = 'outcome_unknown'""",
        organization_id,
        message_id,
        float(after_seconds),
        failed,
    )


async def record_not_sent(conn: asyncpg.Connection, organization_id: str, message_id: str) -> bool:
    """A send ``outcome_unknown`` proved absent at Twilio ends ``not_sent``; False when it was resolved
    meanwhile."""
    return bool(
        await conn.fetchval(
            """UPDATE outbound_messages SET code = 'not_sent', params = '{}', error_code = NULL,
                      resolve_next_at = NULL, updated_at = now()
               WHERE organization_id = $1 AND message_id = $2 AND state = 'failed' AND code = 'outcome_unknown'
               RETURNING true""",
            organization_id,
            message_id,
        )
    )


async def recorded_sids(conn: asyncpg.Connection, message_sids: list[str]) -> set[str]:
    """Which of ``message_sids`` are recorded for an outbound message already."""
    if not message_sids:
        return set()
    rows = await conn.fetch(
        "SELECT message_sid FROM outbound_messages WHERE message_sid = ANY($1::text[])", message_sids
    )
    return {row["message_sid"] for row in rows}

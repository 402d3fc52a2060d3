"""Background job (supervised): sends that ended ``outcome_unknown`` are looked up in Twilio's Messages
list until they are known (decisions in ``send_resolution``).

Every ``check_seconds`` the due sends are claimed (a claim holds a send for a while, so two routing
processes do not look it up at once) and, per send, Twilio is asked with the tenant's credentials for
the messages from its sender to its recipient sent since its attempt started (``DateSent>``, paged),
and for the newest page of that conversation without a date filter (a message still queued has no
sent date yet). Then:

- **found**: recorded accepted with its MessageSid, the delivery reports kept for it folded in as
  the normal accept path does (``send_lease.fold_early_reports``), and ``OutboundMessageAccepted``
  (id ``<message_id>:accepted``, as for any send) published, with ``MessageStatusChanged`` if the
  status moved past the acceptance;
- **proved absent** once Twilio's list is consistent (``grace_seconds`` after the attempt ended):
  recorded ``not_sent`` and ``OutboundMessageFailed`` published with ``code=not_sent``,
  ``retryable=True`` and id ``<message_id>:failed:not_sent`` (the first failure, ``outcome_unknown``,
  used ``<message_id>:failed``);
- otherwise looked up again later; after a Twilio error with backoff (at least a 429's
  ``Retry-After``).

Events are published before the transaction that records the outcome commits: if the commit fails,
the send is looked up again and the same events (same ids) are published again, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from byosms_common import topics
from byosms_common.crypto import CryptoError
from byosms_common.errors import localized
from byosms_common.kafka import Publisher
from byosms_common.messages import MessageStatusPayload, OutboundMessageFailed, utc_now
from byosms_common.twilio_client import TwilioFailure
from byosms_common.twilio_status import TwilioMessageStatus
from byosms_routing import repo_outbound, send_resolution
from byosms_routing.api_token import rest_token
from byosms_routing.context import Collaborators
from byosms_routing.outbound import record_acceptance
from byosms_routing.repo_outbound import Report, UnknownSendRow
from byosms_routing.send_checks import twilio_sender
from byosms_routing.send_resolution import Absent, Found, Listed, LookAgain, UnknownSend

log = logging.getLogger(__name__)

CLAIM_LIMIT = 20
"""Sends claimed per round."""
MAX_LISTED = 1000
"""At most this many messages of one conversation are read per look (paged)."""
NEWEST_PAGE = 50
CLAIM_HOLD_SECONDS = 120.0
"""How long a claimed send is left to the process that claimed it (it is looked up well within)."""


class _NotLookedUp(Exception):
    """The send could not be looked up now (no credentials, Twilio failed); ``retry_after``: a 429's hint."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


async def resolve_unknown_sends_periodically(
    deps: Collaborators,
    publisher: Publisher,
    stop: asyncio.Event,
    *,
    grace_seconds: float,
    check_seconds: float,
) -> None:
    """Run until ``stop``: every ``check_seconds`` look up the sends that are due."""
    while not stop.is_set():
        await resolve_due(deps, publisher, grace_seconds=grace_seconds, check_seconds=check_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), check_seconds)


async def resolve_due(deps: Collaborators, publisher: Publisher, *, grace_seconds: float, check_seconds: float) -> int:
    """Look up the sends due now; returns how many were resolved (found or proved absent)."""
    async with deps.pool.acquire() as conn:
        due = await repo_outbound.claim_unknown_sends(conn, limit=CLAIM_LIMIT, hold_seconds=CLAIM_HOLD_SECONDS)
    resolved = 0
    for row in due:
        if await _resolve(deps, publisher, row, grace_seconds=grace_seconds, check_seconds=check_seconds):
            resolved += 1
    return resolved


def _unknown(row: UnknownSendRow) -> UnknownSend:
    return UnknownSend(
        message_id=row.message_id,
        content_digest=row.content_digest,
        media_count=row.media_count,
        started_at=row.started_at,
        ended_at=row.ended_at,
        attempts=row.resolve_attempts,
    )


async def _resolve(
    deps: Collaborators, publisher: Publisher, row: UnknownSendRow, *, grace_seconds: float, check_seconds: float
) -> bool:
    send = _unknown(row)
    try:
        listed = await _listed(deps, row, send)
    except _NotLookedUp as exc:
        wait = send_resolution.after_error(row.resolve_attempts + 1, exc.retry_after)
        log.warning("send %s (outcome unknown) not looked up: %s; again in %.0fs", row.message_id, exc, wait)
        async with deps.pool.acquire() as conn:
            await repo_outbound.look_again(conn, row.organization_id, row.message_id, after_seconds=wait, failed=True)
        return False
    async with deps.pool.acquire() as conn:
        claimed = await repo_outbound.recorded_sids(conn, [m.sid for m in listed])
        verdict = send_resolution.decide(
            send, listed, claimed=claimed, now=row.now, grace_seconds=grace_seconds, check_seconds=check_seconds
        )
        match verdict:
            case Found(message=message):
                return await _found(deps, publisher, conn, row, message)
            case Absent():
                return await _absent(publisher, conn, row)
            case LookAgain(after_seconds=after):
                await repo_outbound.look_again(
                    conn, row.organization_id, row.message_id, after_seconds=after, failed=False
                )
                return False


async def _listed(deps: Collaborators, row: UnknownSendRow, send: UnknownSend) -> list[Listed]:
    integration = deps.integrations.get(row.integration_id)
    if integration is None or integration.organization_id != row.organization_id:
        raise _NotLookedUp("its integration is not known")
    state = integration.payload
    sealed = rest_token(state, utc_now())
    if state.account_sid is None or sealed is None:
        raise _NotLookedUp("its integration has no credentials")
    try:
        token = deps.tokens.open(row.organization_id, row.integration_id, *sealed)
    except CryptoError:
        raise _NotLookedUp("its integration's credentials cannot be read") from None
    client = deps.twilio.client(state.account_sid, token)
    since, _ = send_resolution.window(send)
    sender = twilio_sender(row.sender)
    try:
        dated = await deps.twilio.run(
            "list messages",
            lambda: client.messages.list_async(
                from_=sender, to=row.recipient, date_sent_after=since, page_size=200, limit=MAX_LISTED
            ),
        )
        newest = await deps.twilio.run(
            "list messages",
            lambda: client.messages.list_async(
                from_=sender, to=row.recipient, page_size=NEWEST_PAGE, limit=NEWEST_PAGE
            ),
        )
    except TwilioFailure as failure:
        raise _NotLookedUp(str(failure), failure.retry_after) from None
    seen: dict[str, Listed] = {}
    for message in [*dated, *newest]:
        listed = _as_listed(message)
        seen.setdefault(listed.sid, listed)
    return list(seen.values())


def _value(value: Any) -> str | None:
    value = getattr(value, "value", value)
    return str(value) if value is not None else None


def _as_listed(message: Any) -> Listed:
    num_media = getattr(message, "num_media", None)
    try:
        media = int(num_media) if num_media is not None else 0
    except (TypeError, ValueError):
        media = 0
    created = getattr(message, "date_created", None)
    error_code = getattr(message, "error_code", None)
    return Listed(
        sid=str(message.sid),
        body=str(getattr(message, "body", None) or ""),
        num_media=media,
        date_created=created if isinstance(created, datetime) else None,
        status=_value(getattr(message, "status", None)),
        error_code=error_code if isinstance(error_code, int) else None,
        direction=_value(getattr(message, "direction", None)),
    )


async def _found(deps: Collaborators, publisher: Publisher, conn: Any, row: UnknownSendRow, message: Listed) -> bool:
    org, message_id, sid = row.organization_id, row.message_id, message.sid
    async with conn.transaction():
        # What Twilio's list shows now is the latest report of all.
        listed = [Report(message.status, message.error_code)] if message.status else []
        events = await record_acceptance(
            conn, org, message_id, row.integration_id, sid, TwilioMessageStatus.QUEUED, later=listed
        )
        if events is None:
            return False  # resolved meanwhile
        for event in events:
            await publisher.publish(topics.MESSAGE_EVENTS, event, message_id)
    log.info("send %s (outcome unknown) found at Twilio as %s: accepted", message_id, sid)
    return True


def not_sent_event(organization_id: str, message_id: str) -> OutboundMessageFailed:
    """The failure of a send proved absent at Twilio: safe to send again (as a new message)."""
    return OutboundMessageFailed(
        id=f"{message_id}:failed:not_sent",
        organization_id=organization_id,
        occurred_at=utc_now(),
        payload=MessageStatusPayload(
            message_id=message_id,
            status=TwilioMessageStatus.FAILED,
            code="not_sent",
            message=localized("not_sent"),
            retryable=True,
        ),
    )


async def _absent(publisher: Publisher, conn: Any, row: UnknownSendRow) -> bool:
    async with conn.transaction():
        if not await repo_outbound.record_not_sent(conn, row.organization_id, row.message_id):
            return False
        await publisher.publish(
            topics.MESSAGE_EVENTS, not_sent_event(row.organization_id, row.message_id), row.message_id
        )
    log.info("send %s (outcome unknown) is not at Twilio: not sent, may be sent again", row.message_id)
    return True

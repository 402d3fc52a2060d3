"""Sending one outbound message: ``SendMessage`` in, ``OutboundMessageAccepted`` or
``OutboundMessageFailed`` out (plus status changes already reported, and an opt-out on 21610).

At most once per message (organization + ``message_id``): the message is recorded as ``sending``
before Twilio is asked; that record is a lease (owner, started at). A redelivered command finds the
record: a finished one has its result published again (same event id, consumers drop the duplicate).
One still ``sending`` whose lease is fresh (younger than the longest a send may take, plus a margin)
may still be waiting for Twilio: the redelivery is retried later (``RetryableError``, the consumer
backs off) and then sees the first attempt's result. Only an expired lease means the attempt was
interrupted while Twilio was asked, so it ends as ``outcome_unknown`` instead of being sent a second
time.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from byosms_common import topics
from byosms_common.crypto import CryptoError
from byosms_common.errors import localized
from byosms_common.kafka import RetryableError, current_trace, is_transient
from byosms_common.messages import (
    MessageStatusChanged,
    MessageStatusPayload,
    OutboundMessageAccepted,
    OutboundMessageFailed,
    SendMessage,
    utc_now,
)
from byosms_routing import optouts, repo
from byosms_routing.context import Collaborators
from byosms_routing.delivery_status import FAILED_STATUSES, next_status
from byosms_routing.send_checks import Refusal, SendPlan, check_send, twilio_sender
from byosms_routing.twilio_send import Created, create_message

log = logging.getLogger(__name__)

_RECORD_ATTEMPTS = 6


async def on_send(deps: Collaborators, command: SendMessage, _: object) -> None:
    """Check, record, send at most once, and publish the result."""
    payload = command.payload
    org = command.organization_id
    async with deps.pool.acquire() as conn:
        existing = await repo.get_outbound(conn, org, payload.message_id)
        if existing is not None:
            await _redelivered(deps, conn, command, existing)
            return
        opted_out = await repo.is_opted_out(conn, org, twilio_sender(payload.from_), payload.to)
    number = deps.numbers.get(payload.from_)
    integration = deps.integrations.get(number.payload.number.integration_id) if number is not None else None
    verdict = check_send(command, number, integration, opted_out=opted_out)
    if isinstance(verdict, Refusal):
        log.info("send %s refused: %s", payload.message_id, verdict.code)
    elif verdict.region not in deps.regions:
        verdict = Refusal("unknown_region", {"region": verdict.region})
    async with deps.pool.acquire() as conn:
        if not await repo.insert_outbound(
            conn,
            organization_id=org,
            message_id=payload.message_id,
            command_id=command.id,
            sender=payload.from_,
            recipient=payload.to,
            integration_id=verdict.integration_id if isinstance(verdict, SendPlan) else None,
            state="sending" if isinstance(verdict, SendPlan) else "failed",
            code=verdict.code if isinstance(verdict, Refusal) else None,
            params=dict(verdict.params) if isinstance(verdict, Refusal) else None,
            lease_owner=f"{command.id}:{uuid.uuid4().hex}",
        ):
            # A concurrent delivery of the same message recorded it first.
            existing = await repo.get_outbound(conn, org, payload.message_id)
            assert existing is not None
            await _redelivered(deps, conn, command, existing)
            return
    if isinstance(verdict, Refusal):
        await _publish_failed(deps, command, verdict)
        return
    outcome = await _send(deps, command, verdict)
    if isinstance(outcome, Created):
        await _record_with_retries(lambda: _accepted(deps, command, verdict.integration_id, outcome))
    else:
        await _record_with_retries(lambda: _failed(deps, command, outcome))


async def _send(deps: Collaborators, command: SendMessage, plan: SendPlan) -> Created | Refusal:
    try:
        token = deps.tokens.open(command.organization_id, plan.integration_id, "auth_token", plan.auth_token)
    except CryptoError:
        return Refusal("sender_credentials_unreadable")
    return await create_message(
        deps.twilio,
        plan,
        token,
        status_callback=deps.regions[plan.region].status_callback_url,
        retry_seconds=deps.send_retry_seconds,
        sender=command.payload.from_,
    )


async def _record_with_retries(record: Callable[[], Awaitable[None]]) -> None:
    """Record what Twilio said, trying again while PostgreSQL is away: once Twilio has the message,
    losing its MessageSid would leave the send as ``outcome_unknown``."""
    for attempt in range(1, _RECORD_ATTEMPTS + 1):
        try:
            await record()
            return
        except Exception as exc:
            if not is_transient(exc) or attempt == _RECORD_ATTEMPTS:
                raise
            await asyncio.sleep(min(5.0, 0.2 * 2**attempt))


async def _accepted(deps: Collaborators, command: SendMessage, integration_id: str, created: Created) -> None:
    payload = command.payload
    org = command.organization_id
    async with deps.pool.acquire() as conn, conn.transaction():
        await repo.lock_message_sid(conn, created.message_sid)
        await repo.accept_outbound(
            conn, org, payload.message_id, message_sid=created.message_sid, twilio_status=created.status
        )
        # Reports that arrived before this answer was recorded (from this tenant only).
        status, error_code, moved_any = created.status, None, False
        for report in await repo.reports_for(conn, created.message_sid, org, integration_id):
            moved = next_status(status, report.status)
            if moved is not None:
                status, error_code, moved_any = moved, report.error_code, True
        if moved_any and status is not None:
            error_code = error_code if status in FAILED_STATUSES else None
            await repo.set_twilio_status(conn, org, payload.message_id, status, error_code)
        # Published before the commit (as in ``delivery``): a failure leaves the record 'sending'
        # for the retry; a repeat after a failed commit carries the same event ids.
        await _publish_accepted(deps, org, payload.message_id, created.message_sid, created.status)
        if moved_any and status is not None:
            await publish_status(deps, org, payload.message_id, created.message_sid, status, error_code)


async def _failed(deps: Collaborators, command: SendMessage, refusal: Refusal) -> None:
    payload = command.payload
    log.info("send %s failed: %s (twilio %s)", payload.message_id, refusal.code, refusal.twilio_code)
    async with deps.pool.acquire() as conn:
        await repo.fail_outbound(
            conn,
            command.organization_id,
            payload.message_id,
            code=refusal.code,
            params=dict(refusal.params),
            error_code=refusal.twilio_code,
        )
    if refusal.twilio_code == 21610:
        await optouts.twilio_refused_opted_out(deps, command)
    await _publish_failed(deps, command, refusal)


async def _redelivered(
    deps: Collaborators, conn: asyncpg.Connection, command: SendMessage, row: repo.OutboundRow
) -> None:
    """A command for a message recorded before: never send again; publish its result (again)."""
    if row.state == "accepted" and row.message_sid is not None:
        log.info("send %s redelivered: accepted before as %s", row.message_id, row.message_sid)
        await _publish_accepted(deps, row.organization_id, row.message_id, row.message_sid, None)
        return
    if row.state == "sending":
        lease = deps.send_lease_seconds
        if row.lease_age_seconds is not None and row.lease_age_seconds < lease:
            log.info(
                "send %s redelivered while attempt %s is asking Twilio (%.0fs ago); trying later",
                row.message_id,
                row.lease_owner,
                row.lease_age_seconds,
            )
            raise RetryableError(f"send {row.message_id} is still being sent")
        if not await repo.expire_lease(conn, row.organization_id, row.message_id, lease_seconds=lease):
            # Finished (or taken) meanwhile: the next try publishes what it is now.
            raise RetryableError(f"send {row.message_id} changed while its lease was checked")
        log.warning("send %s redelivered after its lease expired: outcome unknown, not sent again", row.message_id)
        await _publish_failed(deps, command, Refusal("outcome_unknown"))
        return
    await _publish_failed(deps, command, Refusal(row.code or "internal_error", row.params, twilio_code=row.error_code))


async def _publish_accepted(
    deps: Collaborators, organization_id: str, message_id: str, message_sid: str, status: str | None
) -> None:
    event = OutboundMessageAccepted(
        id=f"{message_id}:accepted",
        organization_id=organization_id,
        trace=current_trace(),
        payload=MessageStatusPayload(message_id=message_id, message_sid=message_sid, status=status or "queued"),
    )
    await deps.publisher.publish(topics.MESSAGE_EVENTS, event, message_id)


async def _publish_failed(deps: Collaborators, command: SendMessage, refusal: Refusal) -> None:
    message_id = command.payload.message_id
    event = OutboundMessageFailed(
        id=f"{message_id}:failed",
        organization_id=command.organization_id,
        trace=current_trace(),
        occurred_at=utc_now(),
        payload=MessageStatusPayload(
            message_id=message_id,
            status="failed",
            error_code=refusal.twilio_code,
            code=refusal.code,
            message=localized(refusal.code, **refusal.params),
            retryable=refusal.retryable,
        ),
    )
    await deps.publisher.publish(topics.MESSAGE_EVENTS, event, message_id)


async def publish_status(
    deps: Collaborators, organization_id: str, message_id: str, message_sid: str, status: str, error_code: int | None
) -> None:
    """``MessageStatusChanged`` (id per message and status, so a repeat is dropped by consumers)."""
    failed = status in ("undelivered", "failed")
    code = "message_not_delivered" if failed else None
    text = None
    if failed:
        text = (
            localized("message_not_delivered", twilio_code=str(error_code))
            if error_code is not None
            else localized("message_not_delivered_without_code")
        )
    event = MessageStatusChanged(
        id=f"{message_id}:status:{status}",
        organization_id=organization_id,
        trace=current_trace(),
        payload=MessageStatusPayload(
            message_id=message_id,
            message_sid=message_sid,
            status=status,
            error_code=error_code if failed else None,
            code=code,
            message=text,
        ),
    )
    await deps.publisher.publish(topics.MESSAGE_EVENTS, event, message_id)

"""Sending one outbound message: ``SendMessage`` in, exactly one ``OutboundMessageAccepted`` or
``OutboundMessageFailed`` out (plus status changes already reported, and an opt-out on 21610).

The consumer runs in lane mode (``byosms_common.consumer``): one sender's commands one at a time in
offset order, senders concurrently; what the handler emits is sent after it returns, and only then is
the record's offset committed. Each send waits for its sender's token (``pacing``) before Twilio is
asked; only that sender's lane waits.

At most once and one result per message (organization + ``message_id``): the message is recorded,
with the Kafka record that created it, as ``sending`` before Twilio is asked. A command for a message
recorded before is decided by ``send_lease``: a redelivery of the same record publishes the recorded
result again (same event ids), a repeated command (another record) publishes nothing, a fresh lease
is retried later, an expired one ends ``outcome_unknown``. A send ``outcome_unknown`` is then looked up
at Twilio until it is known (``unknown_sends``): it becomes accepted, or ``not_sent`` (retryable).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from byosms_common import topics
from byosms_common.backoff import Backoff, retry
from byosms_common.consumer import Emit, Record
from byosms_common.conversation import conversation_key
from byosms_common.crypto import CryptoError
from byosms_common.errors import localized
from byosms_common.kafka import RetryableError, is_transient
from byosms_common.messages import (
    Envelope,
    MessageStatusChanged,
    MessageStatusPayload,
    OutboundMessageAccepted,
    OutboundMessageFailed,
    SendMessage,
    utc_now,
)
from byosms_common.twilio_status import TwilioMessageStatus
from byosms_routing import compliance_replies, consent, optouts, repo_outbound, send_lease
from byosms_routing.context import Collaborators
from byosms_routing.pacing import SenderPacer
from byosms_routing.send_checks import Refusal, SendPlan, check_send, twilio_sender
from byosms_routing.send_resolution import content_digest
from byosms_routing.status_events import status_changed
from byosms_routing.twilio_send import Created, create_message

log = logging.getLogger(__name__)

_RECORD_ATTEMPTS = 6
_RECORD_BACKOFF = Backoff(first=0.4, cap=5.0)


async def on_send(
    deps: Collaborators,
    record: Record[SendMessage],
    out: Emit,
    *,
    pacer: SenderPacer,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Check, pace, record, send at most once, and emit the recorded result."""
    command = record.message
    payload = command.payload
    org = command.organization_id
    conn: asyncpg.Connection | None = await deps.pool.acquire()
    try:
        number = deps.numbers.get(payload.from_)
        state = await repo_outbound.send_state(
            conn, org, payload.message_id, consent.send_scopes(payload.from_, number), payload.to, payload.from_
        )
        if state.recorded is not None:
            _emit_all(out, record, await _recorded(deps, conn, record, state.recorded))
            return
        integration = deps.integrations.get(number.payload.number.integration_id) if number is not None else None
        blocking = consent.blocking_record(
            state.consent, compliance_reply=compliance_replies.is_recorded_reply(command, state.reply_digest)
        )
        verdict = check_send(
            command,
            number,
            integration,
            opted_out=blocking is not None,
            opted_out_of_service=blocking.scope
            if blocking is not None and consent.is_service(blocking.scope)
            else None,
            now=utc_now(),
        )
        if isinstance(verdict, Refusal):
            log.info("send %s refused: %s", payload.message_id, verdict.code)
        elif verdict.region not in deps.regions:
            verdict = Refusal("unknown_region", {"region": verdict.region})
        if isinstance(verdict, SendPlan):
            # Before the lease starts: waiting for the token must not eat into the time Twilio may take.
            assert number is not None
            wait = pacer.reserve(payload.from_, number.payload.number.number_type)
            if wait > 0:
                # No connection is held while a sender waits for its pace.
                await deps.pool.release(conn)
                conn = None
                await sleep(wait)
                conn = await deps.pool.acquire()
        if not await repo_outbound.insert_outbound(
            conn,
            organization_id=org,
            message_id=payload.message_id,
            command_id=command.id,
            sender=payload.from_,
            recipient=payload.to,
            integration_id=verdict.integration_id if isinstance(verdict, SendPlan) else None,
            state="sending" if isinstance(verdict, SendPlan) else "failed",
            source=record.source,
            code=verdict.code if isinstance(verdict, Refusal) else None,
            params=dict(verdict.params) if isinstance(verdict, Refusal) else None,
            lease_owner=f"{command.id}:{uuid.uuid4().hex}",
            content_digest=content_digest(payload.message_id, verdict.body) if isinstance(verdict, SendPlan) else None,
            media_count=len(verdict.media_urls) if isinstance(verdict, SendPlan) else None,
        ):
            # Another delivery of this message recorded it first.
            _emit_all(out, record, await _recorded_events(deps, conn, record, payload.message_id))
            return
    finally:
        if conn is not None:
            await deps.pool.release(conn)
    if isinstance(verdict, Refusal):
        _emit(out, record, failed_event(org, payload.message_id, verdict))
        return
    outcome = await _send(deps, command, verdict, lambda: pacer.throttled(payload.from_))
    if isinstance(outcome, Created):
        events = await _record_with_retries(lambda: _accepted(deps, record, verdict.integration_id, outcome))
    else:
        events = await _record_with_retries(lambda: _failed(deps, record, outcome))
    _emit_all(out, record, events)


def _emit_all(out: Emit, record: Record[SendMessage], events: list[Envelope]) -> None:
    for event in events:
        _emit(out, record, event)


def _emit(out: Emit, record: Record[SendMessage], event: Envelope) -> None:
    if isinstance(event, OutboundMessageAccepted | OutboundMessageFailed | MessageStatusChanged):
        key = event.payload.message_id
    else:  # an opt-out: on its conversation
        command = record.message
        key = conversation_key(twilio_sender(command.payload.from_), command.payload.to)
    out.publish(topics.MESSAGE_EVENTS, event, key, cause=record)


async def _send(
    deps: Collaborators, command: SendMessage, plan: SendPlan, on_throttled: Callable[[], None]
) -> Created | Refusal:
    try:
        token = deps.tokens.open(command.organization_id, plan.integration_id, plan.token_field, plan.auth_token)
    except CryptoError:
        return Refusal("sender_credentials_unreadable")
    return await create_message(
        deps.twilio,
        plan,
        token,
        status_callback=deps.regions[plan.region].status_callback_url,
        retry_seconds=deps.send_retry_seconds,
        sender=command.payload.from_,
        on_throttled=on_throttled,
    )


async def _record_with_retries(record: Callable[[], Awaitable[list[Envelope]]]) -> list[Envelope]:
    """Record what Twilio said, trying again while PostgreSQL is away: once Twilio has the message,
    losing its MessageSid would leave the send as ``outcome_unknown``."""
    return await retry(
        record, retryable=is_transient, attempts=_RECORD_ATTEMPTS, backoff=_RECORD_BACKOFF, what="recording a send"
    )


async def _accepted(
    deps: Collaborators, record: Record[SendMessage], integration_id: str, created: Created
) -> list[Envelope]:
    org = record.message.organization_id
    message_id = record.message.payload.message_id
    async with deps.pool.acquire() as conn:
        # The common case in one round trip; with reports kept before it, in a transaction that folds them.
        accepted = await repo_outbound.accept_send(
            conn,
            org,
            message_id,
            message_sid=created.message_sid,
            twilio_status=created.status,
            integration_id=integration_id,
        )
        if accepted:
            return [accepted_event(org, message_id, created.message_sid, created.status or TwilioMessageStatus.QUEUED)]
        async with conn.transaction():
            events = None
            if accepted is None:
                events = await record_acceptance(
                    conn, org, message_id, integration_id, created.message_sid, created.status
                )
            if events is None:
                return await _recorded_events(deps, conn, record, message_id)
    return events


async def record_acceptance(
    conn: asyncpg.Connection,
    organization_id: str,
    message_id: str,
    integration_id: str,
    message_sid: str,
    status: str | None,
    later: Sequence[repo_outbound.Report] = (),
) -> list[Envelope] | None:
    """In ``conn``'s transaction: record that Twilio has the message as ``message_sid`` with ``status``,
    apply the reports of this tenant that arrived before (and ``later`` ones known another way, such as
    the status Twilio's Messages list shows), and return the events to publish; None when the message
    was not waiting for its acceptance (it ended meanwhile)."""
    await repo_outbound.lock_message_sid(conn, message_sid)
    early = await repo_outbound.accept_outbound(
        conn, organization_id, message_id, message_sid=message_sid, twilio_status=status, integration_id=integration_id
    )
    if early is None:
        return None
    moved = send_lease.fold_early_reports(status, [*early, *later])
    if moved is not None:
        await repo_outbound.set_twilio_status(conn, organization_id, message_id, moved.status, moved.error_code)
    events: list[Envelope] = [
        accepted_event(organization_id, message_id, message_sid, status or TwilioMessageStatus.QUEUED)
    ]
    if moved is not None:
        events.append(status_changed(organization_id, message_id, message_sid, moved.status, moved.error_code))
    return events


async def _failed(deps: Collaborators, record: Record[SendMessage], refusal: Refusal) -> list[Envelope]:
    command = record.message
    message_id = command.payload.message_id
    log.info("send %s failed: %s (twilio %s)", message_id, refusal.code, refusal.twilio_code)
    events: list[Envelope] = [failed_event(command.organization_id, message_id, refusal)]
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await repo_outbound.fail_outbound(
            conn,
            command.organization_id,
            message_id,
            code=refusal.code,
            params=dict(refusal.params),
            error_code=refusal.twilio_code,
        ):
            # Ended meanwhile (a redelivery found the lease expired): that result is the recorded one.
            return await _recorded_events(deps, conn, record, message_id)
        if refusal.twilio_code == 21610:
            opted_out = await optouts.record_twilio_opt_out(conn, command)
            if opted_out is not None:
                events.append(opted_out)
    return events


async def _recorded_events(
    deps: Collaborators, conn: asyncpg.Connection, record: Record[SendMessage], message_id: str
) -> list[Envelope]:
    row = await repo_outbound.get_outbound(conn, record.message.organization_id, message_id)
    assert row is not None
    return await _recorded(deps, conn, record, row)


async def _recorded(
    deps: Collaborators, conn: asyncpg.Connection, record: Record[SendMessage], row: repo_outbound.OutboundRow
) -> list[Envelope]:
    """A command for a message recorded before: never send again; the events ``send_lease`` decides."""
    org, message_id = row.organization_id, row.message_id
    decision = send_lease.decide(row, source=record.source, lease_seconds=deps.send_lease_seconds)
    match decision:
        case send_lease.Repeat(source=first):
            log.info(
                "send %s repeated (%s); its result belongs to %s: nothing published", message_id, record.source, first
            )
            return []
        case send_lease.RepublishAccepted(message_sid=sid, status=status, since=since):
            log.info("send %s redelivered: accepted before as %s", message_id, sid)
            events: list[Envelope] = [accepted_event(org, message_id, sid, status)]
            if since is not None:
                events.append(status_changed(org, message_id, sid, since.status, since.error_code))
            return events
        case send_lease.RepublishFailed(refusal=refusal):
            events = [failed_event(org, message_id, refusal)]
            if refusal.twilio_code == 21610:
                opted_out = await optouts.recorded_twilio_opt_out(conn, record.message)
                if opted_out is not None:
                    events.append(opted_out)
            return events
        case send_lease.WaitForLease(age_seconds=age):
            log.info(
                "send %s redelivered while attempt %s is asking Twilio (%.0fs ago); trying later",
                message_id,
                row.lease_owner,
                age,
            )
            raise RetryableError(f"send {message_id} is still being sent")
        case send_lease.ExpireLease(refusal=refusal):
            if not await repo_outbound.expire_lease(conn, org, message_id, lease_seconds=deps.send_lease_seconds):
                # Finished (or taken) meanwhile: the next try publishes what it is now.
                raise RetryableError(f"send {message_id} changed while its lease was checked")
            log.warning("send %s redelivered after its lease expired: outcome unknown, not sent again", message_id)
            return [failed_event(org, message_id, refusal)]


# --------------------------------------------------------------------------------------------------
# Events (deterministic ids: a republished result is dropped by consumers that saw it)
# --------------------------------------------------------------------------------------------------


def accepted_event(organization_id: str, message_id: str, message_sid: str, status: str) -> OutboundMessageAccepted:
    return OutboundMessageAccepted(
        id=f"{message_id}:accepted",
        organization_id=organization_id,
        payload=MessageStatusPayload(message_id=message_id, message_sid=message_sid, status=status),
    )


def failed_event(organization_id: str, message_id: str, refusal: Refusal) -> OutboundMessageFailed:
    return OutboundMessageFailed(
        id=f"{message_id}:failed",
        organization_id=organization_id,
        occurred_at=utc_now(),
        payload=MessageStatusPayload(
            message_id=message_id,
            status=TwilioMessageStatus.FAILED,
            error_code=refusal.twilio_code,
            code=refusal.code,
            message=localized(refusal.code, **refusal.params),
            retryable=refusal.retryable,
        ),
    )


def handler(deps: Collaborators, pacer: SenderPacer) -> Callable[[Record[SendMessage], Emit], Awaitable[None]]:
    """The lane handler to subscribe (lane = ``SendMessage.payload.from_``)."""

    async def handle(record: Record[SendMessage], out: Emit) -> None:
        await on_send(deps, record, out, pacer=pacer)

    return handle


def lane_of(command: SendMessage) -> str:
    """The lane of a send: its sender, so each sender's messages go one at a time, in order."""
    return command.payload.from_

"""Opt-outs: a customer's STOP (and START) to a sender, and Twilio's 21610 refusals.

Recorded per (organization, scope, customer number), a scope being the sender as Twilio writes it
(E.164 number or short code digits) or its Messaging Service (``consent``); the latest signal wins,
so redelivered or late keyword messages never undo a newer one. Sends to an opted-out recipient
fail fast without asking Twilio.

A keyword counts only when the number it was sent to is in the inventory of the message's
organization under the integration whose token signed the webhook (:func:`keyword_applies`):
otherwise one tenant could post a signed START "to" another tenant's number and lift its STOP.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from byosms_common.messages import (
    InboundMessageReceived,
    IntegrationState,
    KeywordKind,
    NumberState,
    NumberStateRecord,
    OptOutPayload,
    RecipientOptedIn,
    RecipientOptedOut,
    SendMessage,
    utc_now,
)
from byosms_routing import consent, repo, repo_outbound
from byosms_routing.keywords import KeywordMatch
from byosms_routing.send_checks import twilio_sender

log = logging.getLogger(__name__)

TWILIO_OPTED_OUT = "TWILIO_21610"


def keyword_applies(
    event: InboundMessageReceived, number: NumberStateRecord | None, integration: IntegrationState | None
) -> bool:
    """Whether a keyword of ``event`` may change consent: its To number is in the inventory (not removed)
    of the event's organization, under the event's integration, which is of that organization. Pure."""
    payload = event.payload
    org = event.organization_id
    return (
        number is not None
        and number.organization_id == org
        and number.payload.state is not NumberState.REMOVED
        and number.payload.number.integration_id == payload.integration_id
        and integration is not None
        and integration.organization_id == org
        and integration.payload.integration_id == payload.integration_id
    )


async def record_keyword(
    conn: asyncpg.Connection,
    event: InboundMessageReceived,
    number: NumberStateRecord | None,
    integration: IntegrationState | None,
    match: KeywordMatch | None,
) -> RecipientOptedOut | RecipientOptedIn | None:
    """Record an opt-out or opt-in on ``conn`` (in the caller's transaction) when the inbound message
    is one (``match``, see ``keywords.classify``) and its number belongs to the signing integration of
    its organization — also when the message is discarded because that integration or number is
    inactive: Twilio blocks the sender either way. Recorded for the sender and, when it is in a
    Messaging Service, for the service (``consent.keyword_scopes``). The event to publish, or None."""
    payload = event.payload
    if match is None or match.kind is KeywordKind.HELP:
        return None
    if not keyword_applies(event, number, integration):
        log.warning(
            "keyword of inbound %s ignored: %s is not a number of integration %s of its organization",
            payload.message_sid,
            payload.to,
            payload.integration_id,
        )
        return None
    opting_out = match.kind is KeywordKind.OPT_OUT
    scopes = consent.keyword_scopes(payload.to, payload.messaging_service_sid, number)
    current = False
    for scope in scopes:
        current = (
            await repo.set_consent(
                conn,
                sender=scope,
                recipient=payload.from_,
                organization_id=event.organization_id,
                opted_out=opting_out,
                keyword=match.keyword,
                source_id=payload.message_sid,
                changed_at=payload.received_at,
            )
            or current
        )
    if not current:
        log.info("keyword of inbound %s is older than the recorded consent; ignored", payload.message_sid)
        return None
    sender, service = scopes[0], next((s for s in scopes[1:] if consent.is_service(s)), None)
    if opting_out:
        return opted_out_event(
            event.organization_id,
            payload.message_sid,
            sender,
            payload.from_,
            match.keyword,
            service,
            occurred_at=payload.received_at,
        )
    return RecipientOptedIn(
        id=f"{payload.message_sid}:opted_in",
        organization_id=event.organization_id,
        occurred_at=payload.received_at,
        payload=OptOutPayload(
            sender=sender, recipient=payload.from_, keyword=match.keyword, messaging_service_sid=service
        ),
    )


def twilio_opt_out_source(message_id: str) -> str:
    """The signal id of Twilio's 21610 refusal of the send ``message_id``."""
    return f"{message_id}:21610"


async def record_twilio_opt_out(conn: asyncpg.Connection, command: SendMessage) -> RecipientOptedOut | None:
    """Twilio refused a send with 21610: the recipient opted out at Twilio (maybe before we knew).
    Recorded on ``conn`` (in the caller's transaction); the event to publish when it is now the
    recorded consent."""
    payload = command.payload
    sender = twilio_sender(payload.from_)
    source = twilio_opt_out_source(payload.message_id)
    current = await repo.set_consent(
        conn,
        sender=sender,
        recipient=payload.to,
        organization_id=command.organization_id,
        opted_out=True,
        keyword=TWILIO_OPTED_OUT,
        source_id=source,
        changed_at=utc_now(),
    )
    if not current:
        return None
    return opted_out_event(command.organization_id, source, sender, payload.to, TWILIO_OPTED_OUT)


async def recorded_twilio_opt_out(conn: asyncpg.Connection, command: SendMessage) -> RecipientOptedOut | None:
    """The opt-out event of an earlier 21610 refusal of this send, when it is still the recorded consent
    (to publish again with the refusal; a newer START is never undone)."""
    payload = command.payload
    sender = twilio_sender(payload.from_)
    source = twilio_opt_out_source(payload.message_id)
    if not await repo_outbound.consent_recorded_by(conn, command.organization_id, sender, payload.to, source):
        return None
    return opted_out_event(command.organization_id, source, sender, payload.to, TWILIO_OPTED_OUT)


def opted_out_event(
    organization_id: str,
    source: str,
    sender: str,
    recipient: str,
    keyword: str,
    service: str | None = None,
    *,
    occurred_at: datetime | None = None,
) -> RecipientOptedOut:
    """``RecipientOptedOut`` (id per signal, so a repeat is dropped by consumers); ``occurred_at``:
    when the keyword arrived (a redelivery publishes the same event), else now."""
    return RecipientOptedOut(
        id=f"{source}:opted_out",
        organization_id=organization_id,
        occurred_at=occurred_at or utc_now(),
        payload=OptOutPayload(sender=sender, recipient=recipient, keyword=keyword, messaging_service_sid=service),
    )

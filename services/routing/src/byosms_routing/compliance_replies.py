"""A short code's answer to its compliance keywords (see ``keywords`` and docs/compliance.md).

The inbound handler records the reply (``compliance_replies`` table) and publishes it as an ordinary
``SendMessage`` on the outbound topic, in the transaction that commits the inbound record's offset, so
it goes out through the normal send path: the sender's pace, at most once per ``message_id``.
Every id is derived from the inbound MessageSid: a redelivered inbound record publishes the same
command again, which the send path takes as a repeat and never sends twice.

A recorded reply (same id, sender, recipient and content digest) goes out even to a customer who
opted out: it is the confirmation of their STOP, or the answer to HELP, that carriers require.
"""

from __future__ import annotations

import asyncpg

from byosms_common.messages import (
    InboundMessageReceived,
    IntegrationState,
    IntegrationStatus,
    NumberState,
    NumberStateRecord,
    SendMessage,
    SendMessagePayload,
)
from byosms_routing.keywords import KeywordMatch
from byosms_routing.send_resolution import content_digest


def reply_message_id(inbound_sid: str) -> str:
    """The ``message_id`` of the reply to the inbound message ``inbound_sid``."""
    return f"{inbound_sid}:compliance_reply"


def reply_due(
    match: KeywordMatch | None, number: NumberStateRecord | None, integration: IntegrationState | None
) -> bool:
    """Whether byosms answers the keyword: there is a reply to send (a short code's configured block,
    Twilio did not answer) and the number and its integration are active, so it can be sent. Pure."""
    return (
        match is not None
        and match.reply is not None
        and number is not None
        and number.payload.state is NumberState.ACTIVE
        and integration is not None
        and integration.payload.status is IntegrationStatus.ACTIVE
    )


def reply_command(event: InboundMessageReceived, number: NumberStateRecord, reply: str) -> SendMessage:
    """The send of ``reply`` from the number to the customer who wrote ``event``. Pure (deterministic ids)."""
    sid = event.payload.message_sid
    return SendMessage(
        id=f"{sid}:compliance_reply_command",
        organization_id=event.organization_id,
        occurred_at=event.payload.received_at,
        payload=SendMessagePayload.model_validate(
            {
                "message_id": reply_message_id(sid),
                "from": number.payload.number.address,
                "to": event.payload.from_,
                "body": reply,
            }
        ),
    )


def is_recorded_reply(command: SendMessage, recorded_digest: str | None) -> bool:
    """Whether ``command`` is the compliance reply recorded under its id (``recorded_digest``, found
    for its sender and recipient), with the very text recorded. Pure."""
    payload = command.payload
    return recorded_digest is not None and recorded_digest == content_digest(payload.message_id, payload.body)


async def record_reply(conn: asyncpg.Connection, command: SendMessage, inbound_sid: str, kind: str) -> None:
    """Record the reply on ``conn`` (in the inbound handler's transaction); a redelivery changes nothing."""
    payload = command.payload
    await conn.execute(
        """INSERT INTO compliance_replies
               (organization_id, message_id, inbound_sid, kind, sender, recipient, content_digest)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (organization_id, message_id) DO NOTHING""",
        command.organization_id,
        payload.message_id,
        inbound_sid,
        kind,
        payload.from_,
        payload.to,
        content_digest(payload.message_id, payload.body),
    )

"""What the recovery job does with what Twilio holds for one number (pure; the job is ``recovery``).

- The window: Twilio's messages *sent* from ``window_seconds`` ago up to ``grace_seconds`` ago. The
  grace gives a webhook posted late (Twilio retries, the ingress's spool, a routing backlog) time to be
  decided before its message counts as missed.
- A missed inbound message is one Twilio lists as ``inbound`` whose MessageSid routing never decided.
  It is replayed as the same ``InboundMessageReceived`` a webhook would have produced (same id, the
  MessageSid; raw parameters as Twilio posts them), marked ``recovered``. Routing's decision row, keyed by
  MessageSid, lets the first of the recovered copy and a late webhook decide and the other publish
  nothing: the message is routed exactly once.
- A missed delivery report is the final status of an accepted outbound message that routing still
  holds at a non-final status. It is applied as the ``DeliveryReportReceived`` its callback would have
  been (id ``<MessageSid>:<status>``, so a callback arriving late too is a duplicate), marked ``recovered``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from byosms_common.messages import (
    DeliveryReportPayload,
    DeliveryReportReceived,
    InboundMessagePayload,
    InboundMessageReceived,
    Media,
)
from byosms_common.twilio_status import FINAL_RANK, RANK, TwilioMessageStatus
from byosms_routing.delivery_status import next_status

API_VERSION = "2010-04-01"


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime


def window(now: datetime, *, window_seconds: float, grace_seconds: float) -> Window:
    """The sent dates compared in one run (see the module docstring)."""
    return Window(start=now - timedelta(seconds=window_seconds), end=now - timedelta(seconds=grace_seconds))


@dataclass(frozen=True, slots=True)
class TwilioMessage:
    """What the job reads of a Message resource."""

    sid: str
    account_sid: str
    from_: str
    to: str
    body: str
    direction: str | None
    status: str | None
    date_sent: datetime | None
    num_segments: int = 1
    num_media: int = 0
    messaging_service_sid: str | None = None
    error_code: int | None = None


@dataclass(frozen=True, slots=True)
class Tenant:
    """Whose number it is: the envelope and origin of a replayed event."""

    organization_id: str
    integration_id: str
    region: str


def missing_inbound(listed: Iterable[TwilioMessage], decided: set[str], within: Window) -> list[TwilioMessage]:
    """Inbound messages in the window that routing never decided, oldest first (each once)."""
    missing: dict[str, TwilioMessage] = {}
    for message in listed:
        if message.direction != "inbound" or message.sid in decided or message.date_sent is None:
            continue
        if within.start <= message.date_sent <= within.end:
            missing.setdefault(message.sid, message)
    return sorted(missing.values(), key=lambda m: (m.date_sent or within.start, m.sid))


def raw_params(message: TwilioMessage, media: Sequence[Media]) -> dict[str, list[str]]:
    """The form parameters Twilio's webhook would have carried (those the Message resource tells)."""
    raw: dict[str, list[str]] = {
        "MessageSid": [message.sid],
        "SmsMessageSid": [message.sid],
        "SmsSid": [message.sid],
        "AccountSid": [message.account_sid],
        "From": [message.from_],
        "To": [message.to],
        "Body": [message.body],
        "NumSegments": [str(message.num_segments)],
        "NumMedia": [str(len(media))],
        "SmsStatus": ["received"],
        "ApiVersion": [API_VERSION],
    }
    if message.messaging_service_sid:
        raw["MessagingServiceSid"] = [message.messaging_service_sid]
    for index, item in enumerate(media):
        raw[f"MediaUrl{index}"] = [item.url]
        if item.content_type:
            raw[f"MediaContentType{index}"] = [item.content_type]
    return raw


def recovered_inbound(
    message: TwilioMessage, media: Sequence[Media], tenant: Tenant, now: datetime
) -> InboundMessageReceived:
    """The replayed webhook of a missed inbound message, marked recovered."""
    return InboundMessageReceived(
        id=message.sid,
        organization_id=tenant.organization_id,
        occurred_at=now,
        payload=InboundMessagePayload.model_validate(
            {
                "message_sid": message.sid,
                "account_sid": message.account_sid,
                "messaging_service_sid": message.messaging_service_sid,
                "from": message.from_,
                "to": message.to,
                "body": message.body,
                "num_segments": max(message.num_segments, 0),
                "media": tuple(media),
                "region": tenant.region,
                "integration_id": tenant.integration_id,
                "received_at": now,
                "raw": raw_params(message, media),
                "recovered": True,
            }
        ),
    )


def missed_final_status(current: str | None, fetched: TwilioMessage) -> TwilioMessageStatus | None:
    """The final status Twilio reports for a message routing holds at ``current``, when it moves it."""
    status = TwilioMessageStatus.parse(fetched.status)
    if status is None or RANK.get(status, -1) < FINAL_RANK:
        return None  # not final yet: its callback may still come
    return next_status(current, status)


def recovered_report(
    fetched: TwilioMessage, status: TwilioMessageStatus, tenant: Tenant, now: datetime
) -> DeliveryReportReceived:
    """The status callback that never came, as the ingress would have published it, marked recovered."""
    raw: dict[str, list[str]] = {
        "MessageSid": [fetched.sid],
        "SmsSid": [fetched.sid],
        "AccountSid": [fetched.account_sid],
        "MessageStatus": [status.value],
        "SmsStatus": [status.value],
        "From": [fetched.from_],
        "To": [fetched.to],
        "ApiVersion": [API_VERSION],
    }
    if fetched.error_code is not None:
        raw["ErrorCode"] = [str(fetched.error_code)]
    return DeliveryReportReceived(
        id=f"{fetched.sid}:{status.value}",
        organization_id=tenant.organization_id,
        occurred_at=now,
        payload=DeliveryReportPayload.model_validate(
            {
                "message_sid": fetched.sid,
                "account_sid": fetched.account_sid,
                "status": status.value,
                "error_code": fetched.error_code,
                "from": fetched.from_ or None,
                "to": fetched.to or None,
                "region": tenant.region,
                "integration_id": tenant.integration_id,
                "received_at": now,
                "raw": raw,
                "recovered": True,
            }
        ),
    )

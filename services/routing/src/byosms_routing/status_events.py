"""``MessageStatusChanged``, the event of a message's status moving. Pure."""

from __future__ import annotations

from datetime import datetime

from byosms_common.errors import localized
from byosms_common.messages import MessageStatusChanged, MessageStatusPayload, utc_now
from byosms_common.twilio_status import FAILED_STATUSES


def status_changed(
    organization_id: str,
    message_id: str,
    message_sid: str,
    status: str,
    error_code: int | None,
    *,
    occurred_at: datetime | None = None,
) -> MessageStatusChanged:
    """The event (id per message and status, so a repeat is dropped by id); ``undelivered`` and
    ``failed`` carry Twilio's error code, if any, and ``message_not_delivered``. ``occurred_at``: when
    Twilio reported it (so the event published again for the same report is the same)."""
    failed = status in FAILED_STATUSES
    text = None
    if failed:
        text = (
            localized("message_not_delivered", twilio_code=str(error_code))
            if error_code is not None
            else localized("message_not_delivered_without_code")
        )
    return MessageStatusChanged(
        id=f"{message_id}:status:{status}",
        organization_id=organization_id,
        occurred_at=occurred_at or utc_now(),
        payload=MessageStatusPayload(
            message_id=message_id,
            message_sid=message_sid,
            status=status,
            error_code=error_code if failed else None,
            code="message_not_delivered" if failed else None,
            message=text,
        ),
    )

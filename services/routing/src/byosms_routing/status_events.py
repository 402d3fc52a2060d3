"""``MessageStatusChanged``, the event of a message's status moving. Pure."""

from __future__ import annotations

from datetime import datetime

from byosms_common.errors import localized
from byosms_common.messages import LocalizedText, MessageStatusChanged, MessageStatusPayload, utc_now
from byosms_common.twilio_status import FAILED_STATUSES, TwilioMessageStatus
from byosms_routing.delivery_errors import CANCELED, PARTIALLY_DELIVERED, DeliveryReason, reason_for


def status_changed(
    organization_id: str,
    message_id: str,
    message_sid: str,
    status: str,
    error_code: int | None,
    *,
    occurred_at: datetime | None = None,
    address_flagged: bool = False,
    recovered: bool = False,
) -> MessageStatusChanged:
    """The event (id per message and status, so a repeat is dropped by id). ``undelivered`` and
    ``failed`` carry Twilio's error code, if any, ``code=message_not_delivered`` and the code's reason
    (``delivery_errors``) with its text, ``retryable`` when the cause is temporary; ``canceled`` and
    ``partially_delivered`` carry their reason too. ``occurred_at``: when Twilio reported it (so the
    event published again for the same report is the same). ``address_flagged``: the recipient's address
    is flagged as failing (``address_health``). ``recovered``: the report was fetched from Twilio by the
    recovery job, its callback never came."""
    failed = status in FAILED_STATUSES
    reason: DeliveryReason | None = None
    text: LocalizedText | None = None
    if failed:
        reason = reason_for(error_code)
        text = (
            localized(reason.text_code, twilio_code=str(error_code))
            if error_code is not None
            else localized("message_not_delivered_without_code")
        )
    elif status == TwilioMessageStatus.CANCELED:
        reason, text = CANCELED, localized(CANCELED.text_code)
    elif status == TwilioMessageStatus.PARTIALLY_DELIVERED:
        reason, text = PARTIALLY_DELIVERED, localized(PARTIALLY_DELIVERED.text_code)
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
            retryable=reason.retryable if reason is not None else False,
            reason=reason.reason if reason is not None else None,
            address_flagged=address_flagged,
            recovered=True if recovered else None,
        ),
    )

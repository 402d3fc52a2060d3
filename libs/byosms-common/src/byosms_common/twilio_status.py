"""Twilio's message statuses (twilio-facts 2.3) in one place: the enum, which of them are failures,
and the order in which an outbound message moves through them. Pure.

Twilio sends delivery reports duplicated and out of order, so routing only ever moves a message's
status up in :data:`RANK`: accepted/scheduled < queued < sending < sent <
delivered/undelivered/failed/partially_delivered/canceled (final) < read. Inbound statuses
(``receiving``, ``received``) have no rank: they never move an outbound message.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class TwilioMessageStatus(StrEnum):
    """A Message resource's ``status`` (also ``MessageStatus`` of a status callback)."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    PARTIALLY_DELIVERED = "partially_delivered"
    CANCELED = "canceled"
    READ = "read"
    RECEIVING = "receiving"
    RECEIVED = "received"

    @classmethod
    def parse(cls, value: str | None) -> TwilioMessageStatus | None:
        """The status named ``value``; None for None or a status Twilio may add later."""
        if value is None:
            return None
        try:
            return cls(value)
        except ValueError:
            return None


S = TwilioMessageStatus

RANK: Mapping[TwilioMessageStatus, int] = {
    S.ACCEPTED: 0,
    S.SCHEDULED: 0,
    S.QUEUED: 1,
    S.SENDING: 2,
    S.SENT: 3,
    S.DELIVERED: 4,
    S.UNDELIVERED: 4,
    S.FAILED: 4,
    S.PARTIALLY_DELIVERED: 4,
    S.CANCELED: 4,
    S.READ: 5,
}
"""Order of the outbound statuses; a message's status only moves to a higher rank."""

FINAL_RANK = 4
"""Statuses of this rank are final; only ``delivered`` may still move on (to ``read``)."""

FAILED_STATUSES: frozenset[TwilioMessageStatus] = frozenset({S.UNDELIVERED, S.FAILED})
"""Statuses that mean the message did not reach the customer (they carry Twilio's ErrorCode)."""

del S

"""How a message's status moves with Twilio's delivery reports. Pure.

Reports arrive duplicated and out of order (twilio-facts 2.3), so a status only ever moves up in
rank (``byosms_common.twilio_status.RANK``): accepted/scheduled < queued < sending < sent <
delivered/undelivered/failed/partially_delivered/canceled (final) < read. A repeat, or a report of a
lower or equal rank, changes nothing; among the final statuses the first one that arrived stays
(Twilio does not order them). Only ``delivered`` and ``partially_delivered`` may still become ``read``
(a read receipt, RCS/WhatsApp); ``read`` straight after ``sent`` is taken too (the delivery report
may be lost or late). ``canceled`` (a scheduled or queued message cancelled) and the failures stay.
"""

from __future__ import annotations

from byosms_common.twilio_status import FAILED_STATUSES, FINAL_RANK, RANK, TwilioMessageStatus

__all__ = ["FAILED_STATUSES", "READABLE", "fold", "next_status"]

READABLE = frozenset({TwilioMessageStatus.DELIVERED, TwilioMessageStatus.PARTIALLY_DELIVERED})
"""Final statuses a read receipt may still follow (what reached the handset, in full or in part)."""


def next_status(current: str | None, reported: str) -> TwilioMessageStatus | None:
    """The new status of a message Twilio accepted (``current``: its last known status, None when
    unknown) after a report of ``reported``; None when nothing changes."""
    new = TwilioMessageStatus.parse(reported)
    new_rank = RANK.get(new) if new is not None else None
    if new is None or new_rank is None:
        return None  # not an outbound status (receiving, received, one Twilio added later)
    if current is None:
        return new
    old = TwilioMessageStatus.parse(current)
    old_rank = RANK.get(old, -1) if old is not None else -1
    if new_rank <= old_rank:
        return None
    if old_rank >= FINAL_RANK and old not in READABLE:
        return None  # only a delivered message can be read later; failures and cancels stay
    return new


def fold(current: str | None, reports: list[str]) -> str | None:
    """The status after applying ``reports`` in this order."""
    status = current
    for reported in reports:
        status = next_status(status, reported) or status
    return status

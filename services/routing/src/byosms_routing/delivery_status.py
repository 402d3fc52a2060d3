"""How a message's status moves with Twilio's delivery reports. Pure.

Reports arrive duplicated and out of order (twilio-facts 2.3), so a status only ever moves up in
rank: accepted/scheduled < queued < sending < sent < delivered/undelivered/failed (final) < read.
``canceled`` is final too. A repeat, or a report of a lower or equal rank, changes nothing; among
the final statuses the first one that arrived stays (Twilio does not order them).
"""

from __future__ import annotations

from collections.abc import Mapping

RANK: Mapping[str, int] = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "partially_delivered": 4,
    "canceled": 4,
    "read": 5,
}
FINAL_RANK = 4
FAILED_STATUSES = frozenset({"undelivered", "failed"})


def next_status(current: str | None, reported: str) -> str | None:
    """The new status of a message Twilio accepted (``current``: its last known status, None when
    unknown) after a report of ``reported``; None when nothing changes."""
    new_rank = RANK.get(reported)
    if new_rank is None:
        return None  # not an outbound status (receiving, received, ...)
    if current is None:
        return reported
    old_rank = RANK.get(current, -1)
    if new_rank <= old_rank:
        return None
    if old_rank >= FINAL_RANK and current != "delivered":
        return None  # only a delivered message can be read later; failures and cancels stay
    return reported


def fold(current: str | None, reports: list[str]) -> str | None:
    """The status after applying ``reports`` in this order."""
    status = current
    for reported in reports:
        status = next_status(status, reported) or status
    return status

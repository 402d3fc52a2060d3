"""The Messages list's ``DateSent``, ``DateSent<`` and ``DateSent>`` filters (pure).

Twilio documents GMT dates ``YYYY-MM-DD``; twilio-python sends a ``datetime`` as ISO 8601
(``2026-12-01T10:00:00Z``). Both are accepted: a date filters by whole days, a date-time by the
instant. ``DateSent>`` keeps messages sent on or after, ``DateSent<`` on or before, ``DateSent`` on
that day. A message not sent yet (no ``date_sent``: still queued, or failed before sending) matches
no DateSent filter, as it has no sent date to compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

from twilio_emulator.errors import TwilioApiError

DATE_SENT_FILTERS = ("DateSent", "DateSent<", "DateSent>")


def _bound(name: str, value: str) -> tuple[datetime, datetime]:
    """The first and last instant ``value`` names (a day, or one instant)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time.min, tzinfo=UTC)
            return start, start + timedelta(days=1) - timedelta(microseconds=1)
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TwilioApiError(20001, message=f"Invalid {name}: {value}") from exc
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant, instant


def sent_date_matches(date_sent: datetime | None, query: Mapping[str, str]) -> bool:
    """Whether a message sent at ``date_sent`` passes the DateSent filters in ``query``."""
    given = {name: query[name] for name in DATE_SENT_FILTERS if query.get(name)}
    if not given:
        return True
    if date_sent is None:
        return False
    for name, value in given.items():
        first, last = _bound(name, value)
        if name == "DateSent>" and date_sent < first:
            return False
        if name == "DateSent<" and date_sent > last:
            return False
        if name == "DateSent" and not first <= date_sent <= last:
            return False
    return True

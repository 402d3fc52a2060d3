"""Whether a send that ended ``outcome_unknown`` reached Twilio, from what Twilio's Messages list shows.
Pure (the asking is ``unknown_sends``).

A send ends ``outcome_unknown`` when its create went out but no answer came back (``twilio_send``) or
its attempt was interrupted (``send_lease``). Twilio has no idempotency key for Messages, so the only
way to know is to look: the Messages list for the send's From and To, in the send's time window
(``window``), matched on what was sent — the body (compared by :func:`content_digest`, as bodies are
not stored) and the number of media items — and not already recorded for another message.

- **Found**: a match; the send is accepted with that MessageSid (the earliest match not claimed by
  another message, so two sends of the same text each get their own).
- **Absent**: no match once Twilio's list is consistent, i.e. ``grace_seconds`` after the attempt
  ended; only then may the message be sent again. Routing does not keep bodies, so it cannot send it
  again itself: it publishes a failure ``not_sent`` with ``retryable=True`` and the platform sends it
  again, as a new message (a new ``message_id``).
- **LookAgain**: no match yet, the list may still be catching up: ask again later.

Never a guess: while unsure (Twilio errors, unreadable credentials) the send stays ``outcome_unknown``
and is looked at again with backoff.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from byosms_common.backoff import Backoff

CLOCK_SLACK = timedelta(minutes=5)
"""How far Twilio's clock and ours may disagree: widens the window on both sides."""

ERROR_BACKOFF = Backoff(first=5.0, cap=600.0)
"""Waits after a failed look (Twilio down, throttled, credentials unreadable)."""


def content_digest(message_id: str, body: str) -> str:
    """What is kept of a body to recognise it in Twilio's list: SHA-256 over the message id and the
    body (salted by the id, so equal texts of different messages differ)."""
    return hashlib.sha256(f"{message_id}\0{body}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class UnknownSend:
    """A send recorded ``outcome_unknown`` (``repo_outbound.UnknownSendRow``)."""

    message_id: str
    content_digest: str
    media_count: int
    started_at: datetime
    """When the attempt started (its lease): no create of it can be older."""
    ended_at: datetime
    """When it was recorded ``outcome_unknown``: no create of it can be younger."""
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Listed:
    """One message of Twilio's Messages list."""

    sid: str
    body: str
    num_media: int
    date_created: datetime | None
    status: str | None
    error_code: int | None = None
    direction: str | None = None


@dataclass(frozen=True, slots=True)
class Found:
    message: Listed


@dataclass(frozen=True, slots=True)
class Absent:
    pass


@dataclass(frozen=True, slots=True)
class LookAgain:
    after_seconds: float


Verdict = Found | Absent | LookAgain


def window(send: UnknownSend) -> tuple[datetime, datetime]:
    """The instants between which Twilio may have created the message (with clock slack)."""
    return send.started_at - CLOCK_SLACK, send.ended_at + CLOCK_SLACK


def matches(send: UnknownSend, listed: Listed) -> bool:
    """Whether ``listed`` is what ``send`` sent: outbound, in its window, same body and media count."""
    if listed.direction is not None and not listed.direction.startswith("outbound"):
        return False
    first, last = window(send)
    if listed.date_created is None or not first <= listed.date_created <= last:
        return False
    return listed.num_media == send.media_count and content_digest(send.message_id, listed.body) == send.content_digest


def decide(
    send: UnknownSend,
    listed: Sequence[Listed],
    *,
    claimed: Collection[str],
    now: datetime,
    grace_seconds: float,
    check_seconds: float,
) -> Verdict:
    """What Twilio's list ``listed`` says about ``send``; ``claimed``: MessageSids recorded for other
    messages already."""
    found = [m for m in listed if m.sid not in claimed and matches(send, m)]
    if found:
        earliest = min(found, key=lambda m: (m.date_created or now, m.sid))
        return Found(earliest)
    consistent_at = send.ended_at + timedelta(seconds=grace_seconds)
    if now >= consistent_at:
        return Absent()
    return LookAgain(max(0.0, min(check_seconds, (consistent_at - now).total_seconds())))


def after_error(attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed look in a row (at least a 429's Retry-After)."""
    wait = ERROR_BACKOFF.delay(max(attempts, 1) + 1)
    return max(wait, retry_after or 0.0)

"""What to do with a ``SendMessage`` for a message recorded before, and which status the reports that
arrived before Twilio's answer leave it in. Pure.

Exactly one result per message (organization + ``message_id``): the result that is *recorded* is
published, never a recomputed one. The outbound row remembers which Kafka record created it
(``source``):

- the **same record** delivered again (its earlier output may not have been committed) publishes the
  recorded result again, with the same event id: ``accepted`` → the acceptance (and the status
  reached since), ``failed`` → the failure;
- a **different record** for the same message (the platform repeated the command) publishes nothing:
  the first record's result is, or will be, published by that record;
- a message still ``sending`` is a lease: younger than the longest a send may take, the first attempt
  may still be waiting for Twilio, so the record is retried later; older, the attempt was interrupted
  while Twilio was asked, so the message ends ``outcome_unknown`` and is never sent a second time
  (Twilio has no idempotency key for Messages).

Rows from before the source was recorded (``source`` None) are treated as the same record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from byosms_common.twilio_status import FAILED_STATUSES, RANK, TwilioMessageStatus
from byosms_routing.delivery_status import next_status
from byosms_routing.send_checks import RETRYABLE_CODES, Refusal


class RecordedSend(Protocol):
    """What is recorded about a message (``repo_outbound.OutboundRow``)."""

    @property
    def state(self) -> str: ...
    @property
    def source(self) -> str | None: ...
    @property
    def message_sid(self) -> str | None: ...
    @property
    def accepted_status(self) -> str | None: ...
    @property
    def twilio_status(self) -> str | None: ...
    @property
    def code(self) -> str | None: ...
    @property
    def params(self) -> Mapping[str, str]: ...
    @property
    def error_code(self) -> int | None: ...
    @property
    def lease_age_seconds(self) -> float | None: ...


class KeptReport(Protocol):
    """A delivery report kept before the create's answer was recorded (``repo_outbound.Report``)."""

    @property
    def status(self) -> str: ...
    @property
    def error_code(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class StatusMove:
    """The message's status moved to ``status`` (``error_code`` only for a failed status)."""

    status: TwilioMessageStatus
    error_code: int | None = None


@dataclass(frozen=True, slots=True)
class RepublishAccepted:
    message_sid: str
    status: str
    """The status of the first acceptance (Twilio's answer to the create)."""
    since: StatusMove | None = None
    """The status the message has reached since, if it moved past the acceptance."""


@dataclass(frozen=True, slots=True)
class RepublishFailed:
    refusal: Refusal


@dataclass(frozen=True, slots=True)
class Repeat:
    """Another record made this message: publish nothing."""

    source: str


@dataclass(frozen=True, slots=True)
class WaitForLease:
    """The first attempt may still be waiting for Twilio: try this record again later."""

    age_seconds: float


@dataclass(frozen=True, slots=True)
class ExpireLease:
    """The attempt was interrupted while Twilio was asked: end as ``outcome_unknown`` (then publish it)."""

    refusal: Refusal = field(default_factory=lambda: Refusal("outcome_unknown"))


Decision = RepublishAccepted | RepublishFailed | Repeat | WaitForLease | ExpireLease


def recorded_refusal(row: RecordedSend) -> Refusal:
    """The failure recorded for ``row``, as it was published."""
    code = row.code or "internal_error"
    return Refusal(code, dict(row.params), twilio_code=row.error_code, retryable=code in RETRYABLE_CODES)


def decide(row: RecordedSend, *, source: str, lease_seconds: float) -> Decision:
    """What record ``source`` does about a message already recorded as ``row``."""
    if row.source is not None and row.source != source:
        return Repeat(row.source)
    if row.state == "accepted" and row.message_sid is not None:
        first = row.accepted_status or TwilioMessageStatus.QUEUED
        return RepublishAccepted(row.message_sid, first, since=_moved_since(first, row))
    if row.state == "sending":
        age = row.lease_age_seconds
        if age is not None and age < lease_seconds:
            return WaitForLease(age)
        return ExpireLease()
    return RepublishFailed(recorded_refusal(row))


def _moved_since(first: str, row: RecordedSend) -> StatusMove | None:
    current = TwilioMessageStatus.parse(row.twilio_status)
    if current is None or current not in RANK or next_status(first, current) is None:
        return None
    return StatusMove(current, row.error_code if current in FAILED_STATUSES else None)


def fold_early_reports(created: str | None, reports: Sequence[KeptReport]) -> StatusMove | None:
    """The status after the reports that arrived before the create's answer (in arrival order), applied
    to Twilio's answer ``created``; None when they move nothing. Only a failed status keeps its report's
    error code."""
    status: str | None = created
    error_code: int | None = None
    moved = False
    for report in reports:
        step = next_status(status, report.status)
        if step is not None:
            status, error_code, moved = step, report.error_code, True
    final = TwilioMessageStatus.parse(status)
    if not moved or final is None:
        return None
    return StatusMove(final, error_code if final in FAILED_STATUSES else None)

"""What a SendMessage does about a message recorded before, and the fold of reports that came before
Twilio's answer: one row per case."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from byosms_common.twilio_status import TwilioMessageStatus
from byosms_routing.send_checks import Refusal
from byosms_routing.send_lease import (
    ExpireLease,
    Repeat,
    RepublishAccepted,
    RepublishFailed,
    StatusMove,
    WaitForLease,
    decide,
    fold_early_reports,
)

pytestmark = pytest.mark.unit

MINE = "sms.outbound.commands.v1:3:41"
OTHER = "sms.outbound.commands.v1:5:7"
LEASE = 70.0


@dataclass(frozen=True)
class Row:
    state: str
    source: str | None = MINE
    message_sid: str | None = None
    accepted_status: str | None = None
    twilio_status: str | None = None
    code: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    error_code: int | None = None
    lease_age_seconds: float | None = None


def moved(status: str, error_code: int | None = None) -> StatusMove:
    return StatusMove(TwilioMessageStatus(status), error_code)


@dataclass(frozen=True)
class Report:
    status: str
    error_code: int | None = None


@pytest.mark.parametrize(
    ("label", "row", "expected"),
    [
        (
            "accepted, same record: the acceptance again, as first said",
            Row("accepted", message_sid="SM1", accepted_status="queued", twilio_status="queued"),
            RepublishAccepted("SM1", "queued"),
        ),
        (
            "accepted and delivered since: the acceptance and where it is now",
            Row("accepted", message_sid="SM1", accepted_status="queued", twilio_status="delivered"),
            RepublishAccepted("SM1", "queued", since=moved("delivered")),
        ),
        (
            "accepted and undelivered since: the error code comes along",
            Row(
                "accepted", message_sid="SM1", accepted_status="accepted", twilio_status="undelivered", error_code=30003
            ),
            RepublishAccepted("SM1", "accepted", since=moved("undelivered", 30003)),
        ),
        (
            "accepted before the status was kept (older row): queued",
            Row("accepted", source=None, message_sid="SM1"),
            RepublishAccepted("SM1", "queued"),
        ),
        (
            "failed, same record: the recorded failure (retryable as recorded)",
            Row("failed", code="vendor_unavailable", error_code=20429),
            RepublishFailed(Refusal("vendor_unavailable", {}, twilio_code=20429, retryable=True)),
        ),
        (
            "failed by Twilio 21211: with its parameters",
            Row("failed", code="recipient_invalid", params={"recipient": "+49151"}, error_code=21211),
            RepublishFailed(Refusal("recipient_invalid", {"recipient": "+49151"}, twilio_code=21211)),
        ),
        ("a repeat of an accepted message: nothing", Row("accepted", source=OTHER, message_sid="SM1"), Repeat(OTHER)),
        ("a repeat of a failed message: nothing", Row("failed", source=OTHER, code="message_empty"), Repeat(OTHER)),
        (
            "a repeat while the first record is still sending: nothing (that record ends it)",
            Row("sending", source=OTHER, lease_age_seconds=500.0),
            Repeat(OTHER),
        ),
        ("sending, fresh lease: try later", Row("sending", lease_age_seconds=3.0), WaitForLease(3.0)),
        ("sending, expired lease: outcome unknown", Row("sending", lease_age_seconds=LEASE + 1), ExpireLease()),
        ("sending without a lease (older row): outcome unknown", Row("sending", source=None), ExpireLease()),
    ],
)
def test_decide(label: str, row: Row, expected: object) -> None:
    assert decide(row, source=MINE, lease_seconds=LEASE) == expected, label


def test_an_expired_lease_ends_as_outcome_unknown_not_retryable() -> None:
    decision = decide(Row("sending", lease_age_seconds=LEASE * 2), source=MINE, lease_seconds=LEASE)
    assert isinstance(decision, ExpireLease)
    assert (decision.refusal.code, decision.refusal.retryable) == ("outcome_unknown", False)


@pytest.mark.parametrize(
    ("label", "created", "reports", "expected"),
    [
        ("no reports", "queued", [], None),
        ("sent then delivered", "queued", [Report("sent"), Report("delivered")], moved("delivered")),
        ("delivered first, sent late", "queued", [Report("delivered"), Report("sent")], moved("delivered")),
        ("only older than the answer", "sent", [Report("queued"), Report("sending")], None),
        (
            "undelivered with its code",
            "queued",
            [Report("sent", 1), Report("undelivered", 30003)],
            moved("undelivered", 30003),
        ),
        ("a code on a good status is dropped", "queued", [Report("delivered", 30003)], moved("delivered")),
        (
            "the first final status stays",
            "queued",
            [Report("failed", 30008), Report("delivered")],
            moved("failed", 30008),
        ),
        ("no answer status: the reports decide", None, [Report("sent")], moved("sent")),
        ("an inbound status moves nothing", "queued", [Report("received")], None),
    ],
)
def test_fold_early_reports(
    label: str, created: str | None, reports: list[Report], expected: StatusMove | None
) -> None:
    assert fold_early_reports(created, reports) == expected, label

"""The message trace's pure parts: which event is which step, and how steps are shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from byosms_common import messages as m
from byosms_common.errors import localized
from byosms_provisioning.traces.service import _view_steps
from byosms_provisioning.traces.steps import step_of

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _row(event: m.Envelope) -> dict[str, object]:
    step = step_of(event)  # type: ignore[arg-type]
    assert step is not None
    return {
        "message_id": step.message_id,
        "message_sid": step.message_sid,
        "direction": step.direction,
        "step": step.step,
        "at": step.at,
        "details": step.details,
    }


def test_a_discarded_inbound_shows_where_it_was_accepted_and_why_it_was_dropped() -> None:
    event = m.InboundMessageDiscarded(
        organization_id="o",
        occurred_at=T0,
        payload=m.DiscardedPayload(
            message_sid="SM1",
            integration_id="i",
            reason="no_route",
            region="eu-central-1",
            received_at=T0,
            spooled=True,
        ),
    )
    assert _view_steps([_row(event)], "en") == [
        {"step": "received", "at": T0.isoformat(), "region": "eu-central-1", "spooled": True},
        {"step": "discarded", "at": T0.isoformat(), "reason": "no_route"},
    ]


def test_an_outbound_message_shows_twilios_answer_before_statuses_that_were_applied_earlier() -> None:
    delivered = m.MessageStatusChanged(
        organization_id="o",
        occurred_at=T0,
        payload=m.MessageStatusPayload(message_id="msg", message_sid="SM2", status="undelivered", error_code=30003),
    )
    accepted = m.OutboundMessageAccepted(
        organization_id="o",
        occurred_at=T0 + timedelta(seconds=1),  # the report was applied before the answer was recorded
        payload=m.MessageStatusPayload(message_id="msg", message_sid="SM2", status="queued"),
    )
    steps = _view_steps([_row(delivered), _row(accepted)], "en")
    assert [s["step"] for s in steps] == ["checks", "accepted", "status"]
    assert steps[2]["error_code"] == 30003


def test_a_refusal_by_the_checks_is_told_apart_from_one_by_twilio() -> None:
    def failed(code: str, error_code: int | None) -> m.OutboundMessageFailed:
        return m.OutboundMessageFailed(
            organization_id="o",
            payload=m.MessageStatusPayload(
                message_id="msg", status="failed", code=code, error_code=error_code, message=localized("not_found")
            ),
        )

    [checks] = _view_steps([_row(failed("recipient_opted_out", None))], "de")
    assert (checks["step"], checks["outcome"], checks["message"]) == ("checks", "refused", "Nicht gefunden.")
    [twilio] = _view_steps([_row(failed("recipient_invalid", 21211))], "en")
    assert (twilio["step"], twilio["error_code"]) == ("failed", 21211)
    [unknown] = _view_steps([_row(failed("outcome_unknown", None))], "en")
    assert unknown["step"] == "failed"


def test_opt_outs_are_not_steps_of_a_message() -> None:
    event = m.RecipientOptedOut(
        organization_id="o", payload=m.OptOutPayload(sender="+4930", recipient="+49151", keyword="STOP")
    )
    assert step_of(event) is None

"""Twilio's 30xxx delivery errors mapped to reasons with English and German texts, and which of them
flag an address that keeps failing (pure)."""

from __future__ import annotations

import pytest

from byosms_common.errors import CATALOG, render
from byosms_routing.address_health import FLAG_AFTER, AddressHealth, after
from byosms_routing.delivery_errors import DELIVERY_REASONS, reason_for
from byosms_routing.status_events import status_changed

pytestmark = pytest.mark.unit

# The codes the issue names and the facts pages list, with the reason each must get.
EXPECTED = {
    30001: "queue_overflow",
    30002: "account_suspended",
    30003: "handset_unreachable",
    30004: "message_blocked",
    30005: "unknown_destination",
    30006: "landline_or_unreachable_carrier",
    30007: "message_filtered",
    30008: "carrier_error",
    30032: "toll_free_unverified",
    30034: "unregistered_10dlc",
    30450: "sms_pumping_blocked",
    30610: "quiet_hours",
    30640: "litigator_blocked",
    30047: "reschedule_failed",
}


@pytest.mark.parametrize(("code", "reason"), sorted(EXPECTED.items()))
def test_each_delivery_error_has_its_reason_and_texts_naming_the_code(code: int, reason: str) -> None:
    mapped = reason_for(code)
    assert mapped.reason == reason
    assert mapped.text_code in CATALOG
    en = render(mapped.text_code, "en", twilio_code=str(code))
    de = render(mapped.text_code, "de", twilio_code=str(code))
    assert str(code) in en
    assert f"Twilio-Fehler {code}" in de
    assert en != de


def test_the_table_is_exactly_the_listed_codes() -> None:
    assert {code: r.reason for code, r in DELIVERY_REASONS.items()} == EXPECTED


def test_an_unlisted_or_missing_code_is_a_plain_non_delivery() -> None:
    assert reason_for(30999).reason == "not_delivered"
    assert reason_for(None).reason == "not_delivered"
    event = status_changed("org-1", "msg-1", "SM1", "undelivered", 30999).payload
    assert (event.code, event.reason, event.error_code) == ("message_not_delivered", "not_delivered", 30999)


def test_the_event_carries_the_reason_its_text_and_whether_trying_later_may_help() -> None:
    unregistered = status_changed("org-1", "msg-1", "SM1", "undelivered", 30034).payload
    assert (unregistered.reason, unregistered.retryable, unregistered.code) == (
        "unregistered_10dlc",
        False,
        "message_not_delivered",
    )
    assert unregistered.message is not None
    assert "10DLC" in unregistered.message.en
    assert "10DLC" in unregistered.message.de
    unreachable = status_changed("org-1", "msg-2", "SM2", "failed", 30003).payload
    assert (unreachable.reason, unreachable.retryable) == ("handset_unreachable", True)
    flagged = status_changed("org-1", "msg-2", "SM2", "failed", 30003, address_flagged=True).payload
    assert flagged.address_flagged is True


@pytest.mark.parametrize("code", [30003, 30005, 30006])
def test_an_address_failing_with_unreachable_unknown_or_landline_is_flagged_after_repeats(code: int) -> None:
    health = AddressHealth()
    for _ in range(FLAG_AFTER - 1):
        changed = after(health, "undelivered", code)
        assert changed is not None
        health = changed
        assert not health.flagged
    changed = after(health, "failed", code)
    assert changed is not None
    assert changed.flagged
    assert changed.last_error_code == code


def test_other_failures_count_nothing_and_a_delivery_clears_the_flag() -> None:
    flagged = AddressHealth(FLAG_AFTER, 30005)
    assert after(flagged, "undelivered", 30007) is None  # filtered content says nothing about the address
    assert after(flagged, "undelivered", None) is None
    assert after(flagged, "sent", None) is None
    for delivered in ("delivered", "partially_delivered", "read"):
        assert after(flagged, delivered, None) == AddressHealth()
    assert after(AddressHealth(), "delivered", None) is None  # nothing to clear


def test_a_batch_flags_the_failure_that_reaches_the_threshold_and_a_later_delivery_clears_it() -> None:
    from datetime import UTC, datetime

    from byosms_common.consumer import Record
    from byosms_common.messages import DeliveryReportPayload, DeliveryReportReceived
    from byosms_routing.delivery import Move, flag_moves
    from byosms_routing.repo_reports import Target

    def move(n: int, to: str, status: str, code: int | None) -> Move:
        event = DeliveryReportReceived(
            organization_id="org-1",
            payload=DeliveryReportPayload.model_validate(
                {
                    "message_sid": f"SM{n}",
                    "account_sid": "AC" + "1" * 32,
                    "status": status,
                    "error_code": code,
                    "region": "eu-central-1",
                    "integration_id": "int-1",
                    "received_at": datetime.now(UTC),
                    "raw": {},
                }
            ),
        )
        record = Record(message=event, topic="reports", partition=0, offset=n, key=f"SM{n}")
        target = Target("org-1", "int-1", f"msg-{n}", f"SM{n}", "sent", sender="+4930111", recipient=to)
        return Move(record, target, status, code)

    bad, other = "+49151000001", "+49151000002"
    moves = [
        move(1, bad, "undelivered", 30006),  # the third in a row: flagged
        move(2, other, "undelivered", 30003),  # another conversation: its first
        move(3, bad, "undelivered", 30007),  # counts nothing, but the address is flagged
        move(4, bad, "delivered", None),  # clears it
        move(5, bad, "undelivered", 30005),  # a fresh start
    ]
    before = {("org-1", "+4930111", bad): AddressHealth(FLAG_AFTER - 1, 30005)}
    flagged, changed = flag_moves(moves, before)
    assert flagged == {0, 2}
    assert changed == {
        ("org-1", "+4930111", bad): AddressHealth(1, 30005),
        ("org-1", "+4930111", other): AddressHealth(1, 30003),
    }

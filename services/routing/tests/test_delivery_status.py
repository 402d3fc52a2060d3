"""The status of a sent message only moves forward, whatever order and repeats the reports come in."""

from __future__ import annotations

import itertools

import pytest

from byosms_routing.delivery_status import fold, next_status

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        ("queued", "sent", "sent"),
        ("sent", "delivered", "delivered"),
        ("queued", "delivered", "delivered"),
        ("sent", "undelivered", "undelivered"),
        ("queued", "failed", "failed"),
        (None, "sent", "sent"),
        ("delivered", "sent", None),  # never backwards
        ("delivered", "delivered", None),  # a duplicate
        ("delivered", "undelivered", None),  # the first final status stays
        ("undelivered", "delivered", None),
        ("delivered", "read", "read"),
        ("failed", "read", None),
        ("queued", "received", None),  # not an outbound status
        ("queued", "nonsense", None),
        ("queued", "partially_delivered", "partially_delivered"),
    ],
)
def test_next_status(current: str | None, reported: str, expected: str | None) -> None:
    assert next_status(current, reported) == expected


def test_any_order_of_a_normal_walk_ends_delivered() -> None:
    for order in itertools.permutations(["sending", "sent", "delivered", "sent", "delivered"]):
        assert fold("queued", list(order)) == "delivered"


def test_a_failed_report_without_error_code_says_so_instead_of_none() -> None:
    from byosms_routing.status_events import status_changed

    sent = [
        status_changed("org-1", "msg-1", "SM1", "undelivered", None),
        status_changed("org-1", "msg-2", "SM2", "failed", 30003),
    ]
    without, with_code = (event.payload for event in sent)
    assert without.code == "message_not_delivered"
    assert "None" not in without.message.en
    assert "None" not in without.message.de
    assert "30003" in with_code.message.en


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        ("partially_delivered", "read", "read"),  # read receipt after a partial delivery
        ("sent", "read", "read"),  # the delivery report was lost or is late
        ("canceled", "read", None),  # a canceled message was never sent
        ("canceled", "delivered", None),
        ("scheduled", "canceled", "canceled"),
        ("queued", "canceled", "canceled"),
        ("read", "delivered", None),
        ("read", "partially_delivered", None),
        ("partially_delivered", "delivered", None),  # the first final status stays
        ("undelivered", "read", None),
    ],
)
def test_read_canceled_and_partially_delivered(current: str | None, reported: str, expected: str | None) -> None:
    assert next_status(current, reported) == expected


def test_canceled_and_partially_delivered_say_why_in_english_and_german() -> None:
    from byosms_routing.status_events import status_changed

    canceled = status_changed("org-1", "msg-1", "SM1", "canceled", None).payload
    assert (canceled.reason, canceled.code, canceled.error_code) == ("canceled", None, None)
    assert canceled.message is not None
    assert "storniert" in canceled.message.de
    partial = status_changed("org-1", "msg-1", "SM1", "partially_delivered", None).payload
    assert partial.reason == "partially_delivered"
    assert partial.message is not None
    assert "teilweise" in partial.message.de
    delivered = status_changed("org-1", "msg-1", "SM1", "delivered", None).payload
    assert (delivered.reason, delivered.message, delivered.address_flagged) == (None, None, False)

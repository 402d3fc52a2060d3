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

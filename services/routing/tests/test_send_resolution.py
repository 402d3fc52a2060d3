"""What Twilio's Messages list says about a send whose outcome is unknown (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from byosms_routing.send_resolution import (
    Absent,
    Found,
    Listed,
    LookAgain,
    UnknownSend,
    after_error,
    content_digest,
    decide,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BODY = "Ihr Termin: morgen 9 Uhr 👋"


def _send(body: str = BODY, media: int = 0) -> UnknownSend:
    return UnknownSend(
        message_id="msg-1",
        content_digest=content_digest("msg-1", body),
        media_count=media,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=15),
    )


def _listed(sid: str, body: str = BODY, *, at: timedelta = timedelta(seconds=2), media: int = 0) -> Listed:
    return Listed(sid=sid, body=body, num_media=media, date_created=T0 + at, status="sent", direction="outbound-api")


def _decide(listed: list[Listed], *, now: timedelta = timedelta(seconds=20), claimed: set[str] | None = None) -> object:
    return decide(_send(), listed, claimed=claimed or set(), now=T0 + now, grace_seconds=300, check_seconds=30)


def test_the_digest_hides_the_body_and_differs_per_message() -> None:
    digest = content_digest("msg-1", BODY)
    assert BODY not in digest
    assert digest == content_digest("msg-1", BODY)
    assert digest != content_digest("msg-2", BODY)


def test_a_message_with_the_same_body_and_media_in_the_window_is_found() -> None:
    found = _decide([_listed("SM-other", "Something else"), _listed("SM-1")])
    assert found == Found(_listed("SM-1"))


@pytest.mark.parametrize(
    "listed",
    [
        _listed("SM-x", BODY + " "),  # another text
        _listed("SM-x", media=1),  # media differ
        _listed("SM-x", at=timedelta(minutes=-30)),  # before the attempt started
        _listed("SM-x", at=timedelta(minutes=30)),  # long after it ended
        Listed("SM-x", BODY, 0, T0, "received", direction="inbound"),  # the customer's message
        Listed("SM-x", BODY, 0, None, "queued"),  # no creation date: cannot be placed
    ],
)
def test_what_was_not_this_send_is_not_taken_for_it(listed: Listed) -> None:
    assert isinstance(_decide([listed]), LookAgain)


def test_a_sid_recorded_for_another_message_is_not_taken_and_the_earliest_free_one_is() -> None:
    first, second = _listed("SM-1", at=timedelta(seconds=1)), _listed("SM-2", at=timedelta(seconds=3))
    assert _decide([second, first]) == Found(first)
    assert _decide([second, first], claimed={"SM-1"}) == Found(second)
    assert isinstance(_decide([second, first], claimed={"SM-1", "SM-2"}), LookAgain)


def test_absent_only_once_the_list_is_consistent() -> None:
    # Ended at T0+15s, grace 300 s: before T0+315s not found means "look again", not "absent".
    early = _decide([], now=timedelta(seconds=20))
    assert early == LookAgain(30)
    nearly = _decide([], now=timedelta(seconds=305))
    assert nearly == LookAgain(10)
    assert _decide([], now=timedelta(seconds=315)) == Absent()
    # Found wins over absent, however late.
    assert _decide([_listed("SM-1")], now=timedelta(hours=2)) == Found(_listed("SM-1"))


def test_after_an_error_the_wait_grows_and_honours_retry_after() -> None:
    waits = [after_error(n) for n in (1, 2, 3, 4, 5)]
    assert all(2.5 <= w <= 600 for w in waits)
    assert after_error(8) > 5 * 2**4  # doubled up to the cap
    assert after_error(1, retry_after=120) == 120
    assert after_error(40) <= 600

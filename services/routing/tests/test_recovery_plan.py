"""The recovery job's decisions (pure): which of Twilio's messages were missed, what their replayed webhook
and fetched report look like, and the pacing of requests to Twilio."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from byosms_common.messages import Media, decode, encode
from byosms_common.request_pacing import AccountPacers, Pacer
from byosms_routing.recovery_plan import (
    Tenant,
    TwilioMessage,
    missed_final_status,
    missing_inbound,
    recovered_inbound,
    recovered_report,
    window,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
WINDOW = window(NOW, window_seconds=3600, grace_seconds=120)
TENANT = Tenant("org-1", "int-1", "eu-central-1")


def message(sid: str, *, minutes_ago: float = 10, direction: str = "inbound", **changes: object) -> TwilioMessage:
    base = TwilioMessage(
        sid=sid,
        account_sid="AC" + "1" * 32,
        from_="+4915112345678",
        to="+493012345678",
        body="Hallo",
        direction=direction,
        status="received",
        date_sent=NOW - timedelta(minutes=minutes_ago),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_only_undecided_inbound_messages_inside_the_window_are_missed() -> None:
    listed = [
        message("SM1"),  # missed
        message("SM2"),  # decided
        message("SM3", direction="outbound-api", status="delivered"),  # ours, not inbound
        message("SM4", minutes_ago=1),  # within the grace: its webhook may still come
        message("SM5", minutes_ago=61),  # before the window
        message("SM6", date_sent=None),
        message("SM1"),  # listed twice (pages shifted)
        message("SM0", minutes_ago=30),
    ]
    assert [m.sid for m in missing_inbound(listed, {"SM2"}, WINDOW)] == ["SM0", "SM1"]


def test_a_replayed_webhook_is_the_event_the_ingress_would_have_published_marked_recovered() -> None:
    mms = message("MM1", num_media=1, messaging_service_sid="MG" + "2" * 32, num_segments=2)
    media = [Media(url="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1", content_type=None)]

    event = recovered_inbound(mms, media, TENANT, NOW)

    assert event.id == "MM1"  # same id as the webhook's event: routing decides it once
    assert event.organization_id == "org-1"
    payload = event.payload
    assert payload.recovered is True
    assert (payload.from_, payload.to, payload.body, payload.num_segments) == (mms.from_, mms.to, "Hallo", 2)
    assert (payload.integration_id, payload.region, payload.received_at) == ("int-1", "eu-central-1", NOW)
    assert payload.media == tuple(media)
    assert payload.raw["MessageSid"] == ["MM1"]
    assert payload.raw["MediaUrl0"] == [media[0].url]
    assert payload.raw["NumMedia"] == ["1"]
    assert payload.raw["MessagingServiceSid"] == [mms.messaging_service_sid]
    assert decode(encode(event)) == event


@pytest.mark.parametrize(
    ("current", "fetched", "expected"),
    [
        ("sent", "delivered", "delivered"),
        (None, "undelivered", "undelivered"),
        ("queued", "sent", None),  # not final: its callback may still come
        ("delivered", "delivered", None),  # applied already
        ("failed", "delivered", None),  # a final status stays
    ],
)
def test_only_a_final_status_that_moves_the_message_is_a_missed_report(
    current: str | None, fetched: str, expected: str | None
) -> None:
    assert missed_final_status(current, message("SM9", direction="outbound-api", status=fetched)) == expected


def test_a_fetched_report_is_the_callback_that_never_came() -> None:
    fetched = message("SM9", direction="outbound-api", status="undelivered", error_code=30003)
    status = missed_final_status("sent", fetched)
    assert status is not None

    report = recovered_report(fetched, status, TENANT, NOW)

    assert report.id == "SM9:undelivered"  # a late callback is a duplicate of it
    assert report.payload.recovered is True
    assert (report.payload.status, report.payload.error_code) == ("undelivered", 30003)
    assert report.payload.raw["ErrorCode"] == ["30003"]
    assert report.payload.integration_id == "int-1"


async def test_requests_are_spaced_and_a_retry_after_pauses_them() -> None:
    clock = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer = Pacer(4.0, lambda: clock[0], sleep)
    for _ in range(3):
        await pacer.turn()
    assert slept == [0.25, 0.25]
    pacer.pause(10.0)
    await pacer.turn()
    assert slept[-1] == pytest.approx(10.0)


async def test_each_account_has_its_own_pace_and_its_own_retry_after() -> None:
    clock = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacers = AccountPacers(4.0, lambda: clock[0], sleep)
    busy, other = pacers.of("int-busy"), pacers.of("int-other")
    assert pacers.of("int-busy") is busy
    await busy.turn()
    busy.pause(30.0)
    await other.turn()  # another tenant's account: neither its pace nor its 429 holds this one up
    await other.turn()
    assert slept == [0.25]
    pacers.forget({"int-other"})
    assert pacers.of("int-busy") is not busy
    assert pacers.of("int-other") is other

from __future__ import annotations

import pytest

from twilio_emulator.errors import TwilioApiError
from twilio_emulator.inbound import UnknownReceiver, plan_inbound
from twilio_emulator.lifecycle import plan_statuses, status_callback_params
from twilio_emulator.routes_api import partial_match
from twilio_emulator.sending import CreateRequest, create_message
from twilio_emulator.state import Account, OutcomeRule, PhoneNumber, RateRule, Service, ShortCode, Store
from twilio_emulator.text import classify_keyword, count_segments
from twilio_emulator.webhooks import Overrides

pytestmark = pytest.mark.unit

AC = "AC" + "a" * 32
PN = "PN" + "b" * 32
PN2 = "PN" + "c" * 32
SC = "SC" + "d" * 32
MG = "MG" + "e" * 32
OWN = "+15005550006"
OWN2 = "+15005550007"
CUSTOMER = "+14155550100"


@pytest.fixture
def store() -> Store:
    s = Store()
    s.accounts[AC] = Account(sid=AC, auth_token="t" * 32, friendly_name="a")
    s.numbers[PN] = PhoneNumber(sid=PN, account_sid=AC, phone_number=OWN, friendly_name="n", sms_url="https://h/mo")
    s.numbers[PN2] = PhoneNumber(sid=PN2, account_sid=AC, phone_number=OWN2, friendly_name="n2", sms_url="https://h/n2")
    s.short_codes[SC] = ShortCode(
        sid=SC, account_sid=AC, short_code="894546", friendly_name="sc", sms_url="https://h/sc"
    )
    return s


def req(**kw: str | tuple[str, ...]) -> CreateRequest:
    base: dict[str, object] = {
        "to": CUSTOMER,
        "from_": OWN,
        "messaging_service_sid": "",
        "body": "hi",
        "media_urls": (),
        "status_callback": "",
    }
    base.update(kw)
    return CreateRequest(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("label", "override", "code"),
    [
        ("missing To", {"to": ""}, 21604),
        ("missing From and service", {"from_": ""}, 21603),
        ("no body and no media", {"body": ""}, 21602),
        ("body too long", {"body": "x" * 1601}, 21617),
        ("too many media", {"media_urls": tuple(f"https://m/{i}" for i in range(11))}, 21623),
        ("invalid To", {"to": "12345"}, 21211),
        ("From not owned", {"from_": "+15005559999"}, 21606),
        ("unknown service", {"from_": "", "messaging_service_sid": "MG" + "0" * 32}, 21701),
        ("callback host with underscore", {"status_callback": "https://bad_host.example/cb"}, 21609),
    ],
)
def test_create_validation(store: Store, label: str, override: dict[str, str], code: int) -> None:
    with pytest.raises(TwilioApiError) as info:
        create_message(store, store.accounts[AC], req(**override), now=0.0)
    assert info.value.code == code, label
    assert info.value.status == 400


def test_create_success_and_mms_prefix(store: Store) -> None:
    sms = create_message(store, store.accounts[AC], req(), now=0.0)
    mms = create_message(store, store.accounts[AC], req(media_urls=("https://m/1",)), now=0.0)
    assert sms.sid.startswith("SM")
    assert sms.status == "queued"
    assert sms.from_ == OWN
    assert mms.sid.startswith("MM")


def test_service_send_picks_sender_later(store: Store) -> None:
    store.services[MG] = Service(
        sid=MG, account_sid=AC, friendly_name="s", members={PN: store.accounts[AC].date_created}
    )
    msg = create_message(store, store.accounts[AC], req(from_="", messaging_service_sid=MG), now=0.0)
    assert msg.status == "accepted"
    assert msg.from_ is None
    assert msg.service_sender == OWN
    assert [s for s, _ in plan_statuses(msg.status, OutcomeRule())] == ["queued", "sent", "delivered"]


def test_rate_limit_per_sender(store: Store) -> None:
    store.rates.append(RateRule(sender="*", limit=2, window_s=1.0))
    account = store.accounts[AC]
    create_message(store, account, req(), now=10.0)
    create_message(store, account, req(), now=10.1)
    with pytest.raises(TwilioApiError) as info:
        create_message(store, account, req(), now=10.2)
    assert (info.value.code, info.value.status) == (20429, 429)
    create_message(store, account, req(from_=OWN2), now=10.2)  # other sender unaffected
    create_message(store, account, req(), now=11.05)  # window moved on


def test_reject_code_outcome(store: Store) -> None:
    store.outcomes.append(OutcomeRule(to=CUSTOMER, reject_code=21408))
    with pytest.raises(TwilioApiError) as info:
        create_message(store, store.accounts[AC], req(), now=0.0)
    assert info.value.code == 21408


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (OutcomeRule(), [("sent", None), ("delivered", None)]),
        (OutcomeRule(status="undelivered", error_code=30006), [("sent", None), ("undelivered", 30006)]),
        (OutcomeRule(status="failed"), [("failed", 30008)]),
        (OutcomeRule(status="sent"), [("sent", None)]),
    ],
)
def test_status_plans(outcome: OutcomeRule, expected: list[tuple[str, int | None]]) -> None:
    assert plan_statuses("queued", outcome) == expected


def test_status_callback_params(store: Store) -> None:
    msg = create_message(store, store.accounts[AC], req(), now=0.0)
    params = dict(status_callback_params(msg, "undelivered", 30003))
    assert params["MessageStatus"] == params["SmsStatus"] == "undelivered"
    assert params["MessageSid"] == params["SmsSid"] == msg.sid
    assert params["ErrorCode"] == "30003"
    assert len(params["RawDlrDoneDate"]) == 10
    assert {"AccountSid", "From", "To", "ApiVersion"} <= params.keys()


def test_stop_blocks_number_then_start_lifts(store: Store) -> None:
    plan = plan_inbound(store, CUSTOMER, OWN, " stop ", [], [])
    assert plan.keyword == "STOP"
    assert (OWN, CUSTOMER) in store.opt_outs
    with pytest.raises(TwilioApiError) as info:
        create_message(store, store.accounts[AC], req(), now=0.0)
    assert info.value.code == 21610
    create_message(store, store.accounts[AC], req(from_=OWN2), now=0.0)  # other standalone number is fine
    plan_inbound(store, CUSTOMER, OWN, "START", [], [])
    create_message(store, store.accounts[AC], req(), now=0.0)


def test_stop_in_service_blocks_whole_service(store: Store) -> None:
    now = store.accounts[AC].date_created
    store.services[MG] = Service(
        sid=MG, account_sid=AC, friendly_name="s", inbound_request_url="https://svc/in", members={PN: now, PN2: now}
    )
    plan = plan_inbound(store, CUSTOMER, OWN, "STOP PLEASE", [], [])
    assert plan.keyword is None
    assert plan.url == "https://svc/in"
    plan_inbound(store, CUSTOMER, OWN, "unsubscribe", [], [])
    with pytest.raises(TwilioApiError):
        create_message(store, store.accounts[AC], req(from_=OWN2), now=0.0)


def test_short_code_has_no_default_opt_out(store: Store) -> None:
    plan_inbound(store, CUSTOMER, "894546", "STOP", [], [])
    assert not store.opt_outs


def test_inbound_routing_and_fields(store: Store) -> None:
    now = store.accounts[AC].date_created
    store.services[MG] = Service(sid=MG, account_sid=AC, friendly_name="s", members={PN: now})
    dropped = plan_inbound(store, CUSTOMER, OWN, "hi", [], [])
    assert dropped.dropped_reason is not None  # service without inbound URL drops the message
    store.services[MG].use_inbound_webhook_on_number = True
    plan = plan_inbound(store, CUSTOMER, OWN, "hi", [("https://m/1", "image/png")], [("FromCity", "BERLIN")])
    fields = dict(plan.params)
    assert plan.url == "https://h/mo"
    assert fields["MessagingServiceSid"] == MG
    assert fields["NumMedia"] == "1"
    assert fields["MediaUrl0"] == "https://m/1"
    assert fields["MediaContentType0"] == "image/png"
    assert fields["FromCity"] == "BERLIN"
    assert fields["FromZip"] == ""
    assert plan.message.sid.startswith("MM")
    with pytest.raises(UnknownReceiver):
        plan_inbound(store, CUSTOMER, "+19999999999", "hi", [], [])


def test_partial_match_like_twilio() -> None:
    assert partial_match("+15005550006", "+15005550006")
    assert partial_match("+1500555000", "+15005550006")  # prefix also matches: compare exactly!
    assert partial_match("555*006", "+15005550006")
    assert not partial_match("+15005550007", "+15005550006")
    assert partial_match("8945", "894546")


def test_segments_and_keywords() -> None:
    assert count_segments("a" * 160) == 1
    assert count_segments("a" * 161) == 2
    assert count_segments("€" * 80) == 1
    assert count_segments("👋" * 35) == 1
    assert count_segments("ü" + "я" * 70) == 2
    assert classify_keyword("Cancel") == "STOP"
    assert classify_keyword("yes") == "START"
    assert classify_keyword("info") == "HELP"
    assert classify_keyword("OPT OUT") is None


def test_connection_overrides() -> None:
    default = Overrides.parse("")
    assert (default.retries, default.policy) == (1, frozenset({"ct"}))
    custom = Overrides.parse("ct=2000&rt=8000&rc=3&rp=ct,rt,5xx")
    assert custom.connect_ms == 2000
    assert custom.read_ms == 8000
    assert custom.retries == 3
    assert custom.should_retry("5xx")
    assert not custom.should_retry("4xx")
    assert Overrides.parse("rc=99&rp=all").retries == 5

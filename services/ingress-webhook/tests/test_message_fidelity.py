"""What a webhook is and what of it reaches the event: classification, media, other channels. Pure.

Payloads follow captured Twilio shapes (field order as Twilio sends it, blanks included).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from byosms_common.channels import channel_of, other_channel
from byosms_common.messages import InboundMessagePayload
from byosms_ingress.inbound_media import DropReason, media_items, media_url_problem
from byosms_ingress.twilio_form import (
    CALLBACK_STATUSES,
    Endpoint,
    FormError,
    Origin,
    WebhookKind,
    classify,
    inbound_parts,
    kind_of,
    raw_params,
)

pytestmark = pytest.mark.unit

ACCOUNT = "AC" + "2" * 32
OTHER_ACCOUNT = "AC" + "3" * 32
SID = "MM" + "1" * 32
ORIGIN = Origin(region="us-east-1", integration_id="int-1", received_at=datetime(2026, 1, 2, tzinfo=UTC))
API = "https://api.twilio.com/2010-04-01"


def media_url(n: int, *, account: str = ACCOUNT, sid: str = SID) -> str:
    return f"{API}/Accounts/{account}/Messages/{sid}/Media/ME{n:032x}"


Params = list[tuple[str, str]]


def inbound(*, body: str | None = "Hello", media: Params | None = None, num_media: str | None = None,
            from_: str = "+14155550100", to: str = "+15005550006", status: str = "received") -> Params:  # fmt: skip
    """An inbound SMS/MMS as Twilio posts it; ``body=None`` leaves the Body field out entirely."""
    media = media or []
    params = [("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", SID),
              ("NumMedia", str(len(media)) if num_media is None else num_media), ("ToCity", ""), ("FromZip", ""),
              ("SmsSid", SID), ("FromState", "CA"), ("SmsStatus", status), ("FromCity", "")]  # fmt: skip
    for index, (url, content_type) in enumerate(media):
        params += [(f"MediaContentType{index}", content_type), (f"MediaUrl{index}", url)]
    if body is not None:
        params.append(("Body", body))
    params += [("FromCountry", "US"), ("To", to), ("ToZip", ""), ("NumSegments", "1"), ("ReferralNumMedia", "0"),
               ("MessageSid", SID), ("AccountSid", ACCOUNT), ("From", from_), ("ApiVersion", "2010-04-01")]  # fmt: skip
    return params


def callback(status: str, *, message_status: bool = True, from_: str = "+15005550006") -> list[tuple[str, str]]:
    params = [("SmsSid", SID), ("SmsStatus", status)]
    if message_status:
        params.append(("MessageStatus", status))
    return [*params, ("To", "+14155550100"), ("MessageSid", SID), ("AccountSid", ACCOUNT), ("From", from_),
            ("ApiVersion", "2010-04-01")]  # fmt: skip


ONE = [(media_url(1), "image/jpeg")]
TEN = [(media_url(n), f"image/type{n}") for n in range(10)]

CLASSIFY = [
    ("sms on mo", inbound(), Endpoint.MO, WebhookKind.INBOUND),
    ("mms with body on mo", inbound(media=ONE), Endpoint.MO, WebhookKind.INBOUND),
    ("mms with empty body on mo", inbound(body="", media=ONE), Endpoint.MO, WebhookKind.INBOUND),
    ("mms without Body on mo", inbound(body=None, media=ONE), Endpoint.MO, WebhookKind.INBOUND),
    ("10 media without Body on mo", inbound(body=None, media=TEN), Endpoint.MO, WebhookKind.INBOUND),
    # No message in it: a notice about an inbound message (routing it could route an empty copy first).
    ("received without Body or media on mo", inbound(body=None), Endpoint.MO, WebhookKind.STATUS),
    ("received without Body or media on status", inbound(body=None), Endpoint.STATUS, WebhookKind.STATUS),
    ("received with NumMedia only", inbound(body=None, num_media="1"), Endpoint.MO, WebhookKind.INBOUND),
    ("received with NumMedia 0001", inbound(body=None, num_media="0001"), Endpoint.MO, WebhookKind.INBOUND),
    ("received with NumMedia 00", inbound(body=None, num_media="00"), Endpoint.MO, WebhookKind.STATUS),
    ("received with NumMedia ²", inbound(body=None, num_media="²"), Endpoint.MO, WebhookKind.STATUS),
    ("mms without Body posted to status", inbound(body=None, media=ONE), Endpoint.STATUS, WebhookKind.INBOUND),
    ("receiving without Body", inbound(body=None, media=ONE, status="receiving"), Endpoint.MO, WebhookKind.INBOUND),
    ("status value in upper case", inbound(body="", status="RECEIVED"), Endpoint.MO, WebhookKind.INBOUND),
    ("whatsapp inbound", inbound(from_="whatsapp:+14155550100", to="whatsapp:+15005550006"), Endpoint.MO,
     WebhookKind.INBOUND),
    ("rcs inbound without body", inbound(body=None, from_="+14155550100", to="rcs:brand_agent", media=ONE),
     Endpoint.MO, WebhookKind.INBOUND),
    *[(f"{s} on status", callback(s), Endpoint.STATUS, WebhookKind.STATUS) for s in sorted(CALLBACK_STATUSES)],
    *[(f"{s} posted to mo", callback(s), Endpoint.MO, WebhookKind.STATUS) for s in sorted(CALLBACK_STATUSES)],
    ("SmsStatus only (old callbacks)", callback("delivered", message_status=False), Endpoint.MO, WebhookKind.STATUS),
    ("rcs read receipt", callback("read", from_="rcs:brand_agent"), Endpoint.STATUS, WebhookKind.STATUS),
    ("a status Twilio adds later, on status", callback("paused"), Endpoint.STATUS, WebhookKind.STATUS),
    ("a status Twilio adds later, on mo", callback("paused"), Endpoint.MO, WebhookKind.STATUS),
    ("no status, a Body, on mo", [p for p in inbound() if p[0] != "SmsStatus"], Endpoint.MO, WebhookKind.INBOUND),
]  # fmt: skip

NEITHER = [
    ("no status nor message on mo", [("MessageSid", SID), ("AccountSid", ACCOUNT)], Endpoint.MO),
    ("no status on status", [p for p in inbound() if p[0] != "SmsStatus"], Endpoint.STATUS),
    ("no MessageSid", [("SmsStatus", "received"), ("AccountSid", ACCOUNT), ("Body", "x")], Endpoint.MO),
    ("blank MessageSid", [("MessageSid", ""), ("MessageStatus", "delivered"), ("AccountSid", ACCOUNT)],
     Endpoint.STATUS),
    ("empty form", [], Endpoint.MO),
]  # fmt: skip


@pytest.mark.parametrize(("label", "params", "endpoint", "kind"), CLASSIFY, ids=[c[0] for c in CLASSIFY])
def test_classify(label: str, params: list[tuple[str, str]], endpoint: Endpoint, kind: WebhookKind) -> None:
    assert classify(tuple(params), endpoint) is kind, label


@pytest.mark.parametrize(("label", "params", "endpoint"), NEITHER, ids=[c[0] for c in NEITHER])
def test_neither_is_refused(label: str, params: list[tuple[str, str]], endpoint: Endpoint) -> None:
    with pytest.raises(FormError) as err:
        classify(tuple(params), endpoint)
    assert (err.value.code, err.value.reason) == ("webhook_not_recognized", "webhook_not_recognized"), label
    assert kind_of(tuple(params), endpoint) is None


def _payload(params: list[tuple[str, str]]) -> InboundMessagePayload:
    return InboundMessagePayload.model_validate(inbound_parts(tuple(params), ORIGIN)[0])


@pytest.mark.parametrize(
    ("label", "params", "body", "media", "dropped"),
    [
        ("sms, no media", inbound(), "Hello", [], 0),
        ("mms, 1 item, with Body", inbound(media=ONE), "Hello", ONE, 0),
        ("mms, 1 item, empty Body", inbound(body="", media=ONE), "", ONE, 0),
        ("mms, 1 item, without Body", inbound(body=None, media=ONE), "", ONE, 0),
        ("mms, 10 items, without Body", inbound(body=None, media=TEN), "", TEN, 0),
        ("unicode body", inbound(body="Grüße 👋🏽 ☃ مرحبا", media=ONE), "Grüße 👋🏽 ☃ مرحبا", ONE, 0),
        ("another account's media", inbound(media=[(media_url(1, account=OTHER_ACCOUNT), "image/png"), *ONE]),
         "Hello", ONE, 1),
        ("another message's media", inbound(media=[(media_url(1, sid="MM" + "9" * 32), "image/png")]), "Hello", [], 1),
        ("another host", inbound(media=[("https://evil.example/2010-04-01/Accounts/" + ACCOUNT + "/x", "image/png"),
                                        *ONE]), "Hello", ONE, 1),
        ("NumMedia announces more than posted", inbound(media=ONE, num_media="3"), "Hello", ONE, 2),
        ("blank content type", inbound(media=[(media_url(1), "")]), "Hello", [(media_url(1), None)], 0),
    ],
)  # fmt: skip
def test_inbound_mapping(label: str, params: list[tuple[str, str]], body: str, media: list[tuple[str, str | None]],
                         dropped: int) -> None:  # fmt: skip
    payload = _payload(params)
    assert payload.body == body, label
    assert [(m.url, m.content_type) for m in payload.media] == media, label
    assert payload.media_dropped == dropped, label
    assert payload.raw == raw_params(tuple(params))  # every parameter kept, the dropped URLs too


def test_media_past_the_tenth_is_dropped() -> None:
    eleven = [*TEN, (media_url(10), "image/png")]
    payload = _payload(inbound(media=eleven))
    assert len(payload.media) == 10
    assert payload.media_dropped == 1
    assert media_items(raw_params(tuple(inbound(media=eleven))), ACCOUNT, SID, 11).dropped == (DropReason.OVER_LIMIT,)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (media_url(7), None),
        (media_url(7, account=OTHER_ACCOUNT), DropReason.FOREIGN_ACCOUNT),
        (media_url(7, sid="MM" + "0" * 32), DropReason.FOREIGN_MESSAGE),
        (media_url(7).replace("https://", "http://"), DropReason.FOREIGN_HOST),
        (media_url(7).replace("api.twilio.com", "api.twilio.com.evil.example"), DropReason.FOREIGN_HOST),
        (media_url(7).replace("api.twilio.com", "api.twilio.com:8443"), DropReason.FOREIGN_HOST),
        (media_url(7).replace("api.twilio.com", "user:pw@api.twilio.com"), DropReason.FOREIGN_HOST),
        (media_url(7).replace("api.twilio.com", "evil.example#@api.twilio.com"), DropReason.FOREIGN_HOST),
        (media_url(7).replace("https://api.twilio.com", "HTTPS://API.TWILIO.COM"), DropReason.FOREIGN_HOST),
        ("https://media.twiliocdn.com/" + ACCOUNT + "/abc", DropReason.FOREIGN_HOST),
        ("https://evil.example/?u=" + media_url(7), DropReason.FOREIGN_HOST),
        (media_url(7) + "?redirect=https://evil.example", DropReason.MALFORMED),
        (media_url(7) + "#x", DropReason.MALFORMED),
        (media_url(7) + "/../../../../Accounts/" + OTHER_ACCOUNT, DropReason.MALFORMED),
        (f"{API}/Accounts/{ACCOUNT}/Messages/{SID}/Media/ME1", DropReason.MALFORMED),
        (f"{API}/Accounts/{ACCOUNT}/Messages/{SID}/Media/%2E%2E", DropReason.MALFORMED),
        (f"{API}/Accounts/{ACCOUNT}/Calls/{SID}/Media/ME{7:032x}", DropReason.MALFORMED),
        ("https://api.twilio.com/2010-04-01/Accounts/" + ACCOUNT + ".json", DropReason.MALFORMED),
        ("", DropReason.FOREIGN_HOST),
        ("javascript:alert(1)", DropReason.FOREIGN_HOST),
    ],
)
def test_media_url_check(url: str, problem: DropReason | None) -> None:
    assert media_url_problem(url, ACCOUNT, SID) is problem


@pytest.mark.parametrize(
    ("address", "channel"),
    [
        ("+14155550100", "sms"),
        ("12345", "sms"),  # a short code
        ("", "sms"),
        (None, "sms"),
        ("whatsapp:+14155550100", "whatsapp"),
        ("WhatsApp:+14155550100", "whatsapp"),
        ("rcs:brand_agent", "rcs"),
        ("messenger:1234", "messenger"),
    ],
)
def test_channel_of(address: str | None, channel: str) -> None:
    assert channel_of(address) == channel


def test_other_channel_looks_at_both_addresses() -> None:
    assert other_channel("+14155550100", "+15005550006") is None
    assert other_channel("whatsapp:+14155550100", "whatsapp:+15005550006") == "whatsapp"
    assert other_channel("+14155550100", "rcs:brand_agent") == "rcs"

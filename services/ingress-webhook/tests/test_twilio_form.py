"""Parsing and mapping of real Twilio webhook bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from byosms_ingress.twilio_form import (
    MAX_FIELDS,
    Endpoint,
    FormError,
    Origin,
    WebhookKind,
    classify,
    delivery_report_payload,
    inbound_payload,
    parse_form,
    parse_json_object,
)

pytestmark = pytest.mark.unit

ORIGIN = Origin(region="us-east-1", integration_id="int-1", received_at=datetime(2026, 1, 2, tzinfo=UTC))

# Captured shapes (field order as Twilio sends it, not alphabetical).
SMS = (
    b"ToCountry=US&ToState=CA&SmsMessageSid=SM11111111111111111111111111111111&NumMedia=0&ToCity=&FromZip="
    b"&SmsSid=SM11111111111111111111111111111111&FromState=CA&SmsStatus=received&FromCity=&Body=Hello+w%C3%B6rld+%F0%9F%91%8B"
    b"&FromCountry=US&To=%2B15005550006&ToZip=&NumSegments=1&ReferralNumMedia=0"
    b"&MessageSid=SM11111111111111111111111111111111&AccountSid=AC22222222222222222222222222222222"
    b"&From=%2B14155550100&ApiVersion=2010-04-01"
)
MMS = (
    b"ToCountry=US&MediaContentType0=image%2Fjpeg&MediaContentType1=image%2Fpng&NumMedia=2&Body="
    b"&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC22222222222222222222222222222222"
    b"%2FMessages%2FMM11111111111111111111111111111111%2FMedia%2FME55555555555555555555555555555551"
    b"&MediaUrl1=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC22222222222222222222222222222222"
    b"%2FMessages%2FMM11111111111111111111111111111111%2FMedia%2FME55555555555555555555555555555552"
    b"&SmsStatus=received&NumSegments=1&MessageSid=MM11111111111111111111111111111111"
    b"&MessagingServiceSid=MG44444444444444444444444444444444"
    b"&AccountSid=AC22222222222222222222222222222222&From=%2B14155550100&To=%2B15005550006&ApiVersion=2010-04-01"
)
STATUS = (
    b"ErrorCode=30003&SmsSid=SM33333333333333333333333333333333&SmsStatus=undelivered&MessageStatus=undelivered"
    b"&To=%2B14155550100&MessageSid=SM33333333333333333333333333333333&AccountSid=AC22222222222222222222222222222222"
    b"&From=%2B15005550006&ApiVersion=2010-04-01"
)
STATUS_NO_ERROR = b"MessageStatus=sent&SmsStatus=sent&MessageSid=SM3&AccountSid=AC2&ErrorCode="


@pytest.mark.parametrize(
    ("label", "body", "endpoint", "kind"),
    [
        ("sms on mo", SMS, Endpoint.MO, WebhookKind.INBOUND),
        ("mms on mo", MMS, Endpoint.MO, WebhookKind.INBOUND),
        ("status on status", STATUS, Endpoint.STATUS, WebhookKind.STATUS),
        ("status posted to mo", STATUS, Endpoint.MO, WebhookKind.STATUS),
        ("sent status without error", STATUS_NO_ERROR, Endpoint.MO, WebhookKind.STATUS),
    ],
)
def test_classify(label: str, body: bytes, endpoint: Endpoint, kind: WebhookKind) -> None:
    assert classify(parse_form(body), endpoint) is kind, label


def test_sms_mapping_keeps_blanks_and_decodes_once() -> None:
    params = parse_form(SMS)
    assert ("FromZip", "") in params
    payload = inbound_payload(params, ORIGIN)
    assert payload.body == "Hello wörld 👋"
    assert (payload.from_, payload.to, payload.num_segments) == ("+14155550100", "+15005550006", 1)
    assert payload.message_sid == "SM" + "1" * 32
    assert payload.raw["ToCity"] == [""]
    assert next(iter(payload.raw)) == "ToCountry"
    assert payload.media == ()


def test_mms_mapping() -> None:
    payload = inbound_payload(parse_form(MMS), ORIGIN)
    assert payload.body == ""
    assert [(m.url.rsplit("/", 1)[1], m.content_type) for m in payload.media] == [
        ("ME" + "5" * 31 + "1", "image/jpeg"),
        ("ME" + "5" * 31 + "2", "image/png"),
    ]
    assert payload.media_dropped == 0
    assert payload.messaging_service_sid == "MG" + "4" * 32


def test_status_mapping() -> None:
    payload = delivery_report_payload(parse_form(STATUS), ORIGIN)
    assert (payload.status, payload.error_code, payload.to) == ("undelivered", 30003, "+14155550100")
    assert delivery_report_payload(parse_form(STATUS_NO_ERROR), ORIGIN).error_code is None


def test_repeated_names_are_kept() -> None:
    params = parse_form(b"a=1&b=&a=2&a=1")
    assert params == (("a", "1"), ("b", ""), ("a", "2"), ("a", "1"))


@pytest.mark.parametrize(
    ("label", "body", "reason"),
    [
        ("field without =", b"AccountSid=AC1&Body", "malformed_form"),
        ("empty field", b"a=1&&b=2", "malformed_form"),
        ("bad utf-8 escape", b"Body=%FF", "malformed_form"),
        ("raw bad utf-8", b"Body=\xff", "malformed_form"),
    ],
)
def test_malformed_forms(label: str, body: bytes, reason: str) -> None:
    with pytest.raises(FormError) as err:
        parse_form(body)
    assert err.value.reason == reason, label


@pytest.mark.parametrize(
    ("label", "body", "reason"),
    [
        ("no MessageSid", b"AccountSid=AC1&From=%2B1&To=%2B2&Body=x", "missing_parameter"),
        ("no From", b"AccountSid=AC1&MessageSid=SM1&To=%2B2&Body=x", "missing_parameter"),
        (
            "bad NumSegments",
            b"AccountSid=AC1&MessageSid=SM1&From=%2B1&To=%2B2&Body=x&NumSegments=two",
            "invalid_parameter",
        ),
        (
            "negative NumMedia",
            b"AccountSid=AC1&MessageSid=SM1&From=%2B1&To=%2B2&Body=x&NumMedia=-1",
            "invalid_parameter",
        ),
    ],
)
def test_unusable_inbound(label: str, body: bytes, reason: str) -> None:
    with pytest.raises(FormError) as err:
        inbound_payload(parse_form(body), ORIGIN)
    assert err.value.reason == reason, label


def test_json_object() -> None:
    assert parse_json_object('{"A": "1", "B": 2, "C": null, "D": {"x": true}}') == (
        ("A", "1"),
        ("B", "2"),
        ("C", ""),
        ("D", '{"x":true}'),
    )
    for bad in ("[1]", "{", '"x"'):
        with pytest.raises(FormError):
            parse_json_object(bad)


def _reference(body: bytes) -> tuple[tuple[str, str], ...] | None:
    """What ``parse_qsl`` makes of a body (None: it refuses it), the behaviour parse_form keeps."""
    try:
        return tuple(
            parse_qsl(
                body.decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=True,
                errors="strict",
                max_num_fields=MAX_FIELDS,
            )
        )
    except ValueError:
        return None


# Pieces of form bodies: separators, escapes good and bad, raw non-ASCII text.
_PIECES = [*"aZ09=&+%-_.~ é👋", "%2B", "%20", "%C3%A9", "%F0%9F%91%8B", "%FF", "%zz", "%"]


@given(parts=st.lists(st.sampled_from(_PIECES), max_size=60))
def test_parse_form_reads_every_body_as_parse_qsl_does(parts: list[str]) -> None:
    body = "".join(parts).encode()
    expected = _reference(body)
    if expected is None:
        with pytest.raises(FormError):
            parse_form(body)
    else:
        assert parse_form(body) == expected


def test_parse_form_refuses_too_many_fields() -> None:
    assert len(parse_form(b"&".join([b"a=1"] * MAX_FIELDS))) == MAX_FIELDS
    with pytest.raises(FormError):
        parse_form(b"&".join([b"a=1"] * (MAX_FIELDS + 1)))

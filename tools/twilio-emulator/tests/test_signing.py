from __future__ import annotations

import pytest
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from twilio_emulator.signing import compute_signature, settings_header_value, strip_fragment

pytestmark = pytest.mark.unit

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]
SMS_TOKEN = "0123456789abcdef0123456789abcdef"
SMS_URL = "https://byosms.example.com/vendors/v1/twilio/a906d2848ad146028e8805a8bbaa24d3/mo"
SM1 = "SM" + "1" * 32
AC2 = "AC" + "2" * 32
SMS_PARAMS = [
    ("ToCountry", "US"),
    ("ToState", "CA"),
    ("SmsMessageSid", SM1),
    ("NumMedia", "0"),
    ("ToCity", ""),
    ("FromZip", ""),
    ("SmsSid", SM1),
    ("FromState", "CA"),
    ("SmsStatus", "received"),
    ("FromCity", ""),
    ("Body", "Hello world"),
    ("FromCountry", "US"),
    ("To", "+15005550006"),
    ("ToZip", ""),
    ("NumSegments", "1"),
    ("ReferralNumMedia", "0"),
    ("MessageSid", SM1),
    ("AccountSid", AC2),
    ("From", "+14155550100"),
    ("ApiVersion", "2010-04-01"),
]


@pytest.mark.parametrize(
    ("label", "url", "params", "token", "expected"),
    [
        ("twilio docs vector", URL, PARAMS, TOKEN, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (
            "http with port",
            "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
            PARAMS,
            TOKEN,
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
        ),
        (
            "repeated names, distinct values sorted",
            URL,
            [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")],
            TOKEN,
            "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
        ),
        ("sms with empty fields", SMS_URL, SMS_PARAMS, SMS_TOKEN, "WJHYd5waE1WOJJaQyFZW0ww99ik="),
        (
            "unicode",
            SMS_URL,
            [("Body", "héllo 👋"), ("From", "+14155550100")],
            SMS_TOKEN,
            "SDPRfN3JS/H5brospTnHM08HOYk=",
        ),
    ],
)
def test_signature_vectors(label: str, url: str, params: list[tuple[str, str]], token: str, expected: str) -> None:
    assert compute_signature(url, params, token) == expected, label


def test_dropping_empty_fields_changes_signature() -> None:
    non_empty = [(k, v) for k, v in SMS_PARAMS if v]
    assert compute_signature(SMS_URL, non_empty, SMS_TOKEN) != "WJHYd5waE1WOJJaQyFZW0ww99ik="


def test_twilio_validator_accepts_sha1_and_sha256() -> None:
    sha1 = compute_signature(SMS_URL, SMS_PARAMS, SMS_TOKEN)
    sha256 = compute_signature(SMS_URL, SMS_PARAMS, "shared-secret", "HMAC_SHA256")
    assert RequestValidator(SMS_TOKEN).validate(SMS_URL, MultiDict(SMS_PARAMS), sha1)
    assert RequestValidator("shared-secret").validate(SMS_URL, MultiDict(SMS_PARAMS), sha256, algorithm="HMAC_SHA256")
    assert not RequestValidator("other").validate(SMS_URL, MultiDict(SMS_PARAMS), sha1)


def test_fragment_and_settings_header() -> None:
    assert strip_fragment("https://h/p?q=1#rc=3&rp=5xx") == "https://h/p?q=1"
    assert strip_fragment("https://h/p") == "https://h/p"
    assert settings_header_value("KS1", "HMAC_SHA256") == "key=KS1,algorithm=HMAC_SHA256"

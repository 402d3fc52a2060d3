"""Signature vectors from twilio-python's tests and our own SMS-shaped ones (twilio-facts §3.7)."""

from __future__ import annotations

import pytest

from byosms_ingress import signature
from byosms_ingress.signature import Verdict

pytestmark = pytest.mark.unit

TOKEN = "12345"
BASE = "https://mycompany.com/myapp.php?foo=1&bar=2"
CALL = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]
SMS_TOKEN = "0123456789abcdef0123456789abcdef"
MO_URL = "https://byosms.example.com/vendors/v1/twilio/a906d2848ad146028e8805a8bbaa24d3/mo"
SM1 = "SM" + "1" * 32
AC2 = "AC" + "2" * 32
SMS = [
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
SM3 = "SM" + "3" * 32
STATUS = [
    ("MessageStatus", "delivered"),
    ("SmsStatus", "delivered"),
    ("MessageSid", SM3),
    ("SmsSid", SM3),
    ("AccountSid", AC2),
    ("From", "+15005550006"),
    ("To", "+14155550100"),
    ("ApiVersion", "2010-04-01"),
    ("RawDlrDoneDate", "2401011230"),
]
STATUS_URL = MO_URL.removesuffix("/mo") + "/status?conversationId=abc%20def"

VECTORS = [
    # label, token, url, params, header, expected
    ("twilio compute", TOKEN, BASE, CALL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", Verdict.VALID),
    (
        "https port 1234 stripped",
        TOKEN,
        BASE.replace(".com", ".com:1234"),
        CALL,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        Verdict.VALID,
    ),
    (
        "http signed with port",
        TOKEN,
        "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
        CALL,
        "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
        Verdict.VALID,
    ),
    ("signer added :443", TOKEN, BASE, CALL, "kvajT1Ptam85bY51eRf/AJRuM3w=", Verdict.VALID),
    (
        "signer added :80",
        TOKEN,
        "http://mycompany.com/myapp.php?foo=1&bar=2",
        CALL,
        "0ZXoZLH/DfblKGATFgpif+LLRf4=",
        Verdict.VALID,
    ),
    (
        "docs example",
        TOKEN,
        BASE,
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ],
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
        Verdict.VALID,
    ),
    (
        "repeated names",
        TOKEN,
        BASE,
        [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")],
        "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
        Verdict.VALID,
    ),
    ("sms with blanks", SMS_TOKEN, MO_URL, SMS, "WJHYd5waE1WOJJaQyFZW0ww99ik=", Verdict.VALID),
    ("sms signed with :443", SMS_TOKEN, MO_URL, SMS, "Tkx2ccgDKvUD4vnFzahSYqF5b1k=", Verdict.VALID),
    ("sms blanks dropped", SMS_TOKEN, MO_URL, [p for p in SMS if p[1]], "WJHYd5waE1WOJJaQyFZW0ww99ik=", Verdict.WRONG),
    ("status with query", SMS_TOKEN, STATUS_URL, STATUS, "CP6fE/peVCupDAFK8L9n8ro+dHk=", Verdict.VALID),
    (
        "query re-encoded",
        SMS_TOKEN,
        STATUS_URL.replace("%20", "+"),
        STATUS,
        "CP6fE/peVCupDAFK8L9n8ro+dHk=",
        Verdict.WRONG,
    ),
    (
        "unicode body",
        SMS_TOKEN,
        MO_URL,
        [("Body", "héllo 👋"), ("From", "+14155550100")],
        "SDPRfN3JS/H5brospTnHM08HOYk=",
        Verdict.VALID,
    ),
    ("wrong token", "54321", BASE, CALL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", Verdict.WRONG),
    ("missing header", TOKEN, BASE, CALL, None, Verdict.MISSING),
    ("empty header", TOKEN, BASE, CALL, "", Verdict.MISSING),
    ("non-ascii header", TOKEN, BASE, CALL, "RSOYDt4T1cUTdK1PDd93/VVr8Bä=", Verdict.WRONG),
]


@pytest.mark.parametrize(
    ("label", "token", "url", "params", "header", "expected"), VECTORS, ids=[v[0] for v in VECTORS]
)
def test_form_vectors(
    label: str, token: str, url: str, params: list[tuple[str, str]], header: str | None, expected: Verdict
) -> None:
    assert signature.check_form(token, url, params, header) is expected, label


def test_json_body_vector() -> None:
    body = '{"property": "value", "boolean": true}'
    assert signature.body_hash(body) == "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    url = BASE + "&bodySHA256=" + signature.body_hash(body)
    assert signature.check_json(TOKEN, url, body, "a9nBmqA0ju/hNViExpshrM61xv4=") is Verdict.VALID
    assert signature.check_json(TOKEN, url, body + " ", "a9nBmqA0ju/hNViExpshrM61xv4=") is Verdict.BODY_HASH_MISMATCH
    assert signature.check_json(TOKEN, url, body, None) is Verdict.MISSING


def test_shared_key_sha256() -> None:
    secret = "shared-secret-value"
    sig = signature.compute_signature(secret, MO_URL, SMS, signature.HMAC_SHA256)
    assert signature.check_form(secret, MO_URL, SMS, sig, "HMAC_SHA256") is Verdict.VALID
    assert signature.check_form(secret, MO_URL, SMS, sig, "HMAC_SHA1") is Verdict.WRONG
    assert signature.check_form(secret, MO_URL, SMS, sig, "HMAC_MD5") is Verdict.UNSUPPORTED_ALGORITHM


@pytest.mark.parametrize(
    ("header", "key_id", "algorithm"),
    [
        (None, None, "HMAC_SHA1"),
        ("", None, "HMAC_SHA1"),
        ("key=webhooks_sharedkey_1,algorithm=HMAC_SHA256", "webhooks_sharedkey_1", "HMAC_SHA256"),
        (" key = k2 , algorithm = HMAC_SHA1 ", "k2", "HMAC_SHA1"),
        ("algorithm=", None, "HMAC_SHA1"),
        ("key=k3", "k3", "HMAC_SHA1"),
    ],
)
def test_signature_settings_header(header: str | None, key_id: str | None, algorithm: str) -> None:
    parsed = signature.parse_signature_settings(header)
    assert (parsed.key_id, parsed.algorithm) == (key_id, algorithm)

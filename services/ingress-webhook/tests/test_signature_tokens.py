"""Signatures checked against several Auth Tokens (a rotation window): which one matched, in order; the
next token counts only while the window is open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from twilio.request_validator import RequestValidator

from byosms_common.messages import IntegrationStatus, SealedSecret
from byosms_ingress import signature
from byosms_ingress.integrations_cache import Integration
from byosms_ingress.signature import Verdict

pytestmark = pytest.mark.unit

CURRENT, NEXT, OTHER = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210", "f" * 32
URL = "https://byosms.example.com/vendors/v1/twilio/key/mo"
PARAMS = [("MessageSid", "SM" + "1" * 32), ("Body", "Hallo"), ("To", "+493012345678")]


def signed(token: str, url: str = URL) -> str:
    return str(RequestValidator(token).compute_signature(url, dict(PARAMS)))


@pytest.mark.parametrize(("token", "index"), [(CURRENT, 0), (NEXT, 1)])
def test_either_token_of_a_window_validates_and_says_which(token: str, index: int) -> None:
    assert signature.check_form_any((CURRENT, NEXT), URL, PARAMS, signed(token)) == (Verdict.VALID, index)


def test_a_third_token_is_wrong() -> None:
    assert signature.check_form_any((CURRENT, NEXT), URL, PARAMS, signed(OTHER)) == (Verdict.WRONG, None)


def test_the_url_forms_are_accepted_for_the_next_token_too() -> None:
    with_port = "https://byosms.example.com:443/vendors/v1/twilio/key/mo"
    assert signature.check_form_any((CURRENT, NEXT), URL, PARAMS, signed(NEXT, with_port)) == (Verdict.VALID, 1)


def test_json_bodies_with_several_tokens() -> None:
    body = '{"a": 1}'
    url = URL + "?bodySHA256=" + signature.body_hash(body)
    sig = signature.compute_signature(NEXT, url, ())
    assert signature.check_json_any((CURRENT, NEXT), url, body, sig) == (Verdict.VALID, 1)
    assert signature.check_json_any((CURRENT, NEXT), url, body + " ", sig) == (Verdict.BODY_HASH_MISMATCH, None)
    assert signature.check_json_any((CURRENT,), url, body, sig) == (Verdict.WRONG, None)


def test_missing_signature() -> None:
    assert signature.check_form_any((CURRENT, NEXT), URL, PARAMS, None) == (Verdict.MISSING, None)


def test_the_next_token_counts_only_until_the_window_closes() -> None:
    sealed = SealedSecret(kek_id="k1", wrapped_key="dw==", nonce="bg==", ciphertext="Yw==")
    closes = datetime(2026, 12, 2, 12, tzinfo=UTC)
    rotating = Integration(
        integration_id="i-1",
        organization_id="org-1",
        account_sid="AC" + "1" * 32,
        status=IntegrationStatus.ACTIVE,
        version=2,
        auth_token=sealed,
        shared_key=None,
        next_auth_token=sealed,
        next_auth_token_expires_at=closes,
    )
    assert rotating.next_token_valid(closes - timedelta(seconds=1))
    assert not rotating.next_token_valid(closes)
    assert rotating.sealed("auth_token_next") is sealed
    without = Integration("i-2", "org-1", "AC" + "2" * 32, IntegrationStatus.ACTIVE, 1, sealed, None)
    assert not without.next_token_valid(closes)

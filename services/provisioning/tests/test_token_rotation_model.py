"""Auth Token rotation and the signature mode as pure transitions (no database, no crypto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from byosms_common.errors import Conflict, InvalidInput
from byosms_common.messages import SealedSecret
from byosms_provisioning.integrations import model as integrations
from byosms_provisioning.integrations import token_rotation
from byosms_provisioning.integrations.model import Integration

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(hours=24)
OLD = SealedSecret(kek_id="k1", wrapped_key="dA==", nonce="bg==", ciphertext="b2xk")
NEXT = SealedSecret(kek_id="k1", wrapped_key="dA==", nonce="bg==", ciphertext="bmV4dA==")
PROMOTED = SealedSecret(kek_id="k1", wrapped_key="dA==", nonce="bg==", ciphertext="cHJvbW90ZWQ=")


def connected() -> Integration:
    created = integrations.create(
        integration_id="i-1", organization_id="org-1", name="n", notes="", region="us-east-1", now=T0
    ).current
    return integrations.set_credentials(
        created, account_sid="AC" + "a" * 32, auth_token=OLD, shared_key=None, now=T0
    ).current


def test_a_window_holds_the_next_token_beside_the_current_one() -> None:
    opened = token_rotation.start(connected(), NEXT, window=DAY, now=T0).current
    assert (opened.auth_token, opened.next_auth_token) == (OLD, NEXT)
    assert opened.next_auth_token_expires_at == T0 + DAY
    payload = integrations.state_payload(opened)
    assert (payload.auth_token, payload.next_auth_token, payload.next_auth_token_expires_at) == (OLD, NEXT, T0 + DAY)
    assert integrations.snapshot(opened).auth_token_rotation_expires_at == T0 + DAY


def test_confirming_makes_the_next_token_the_token() -> None:
    opened = token_rotation.start(connected(), NEXT, window=DAY, now=T0).current
    confirmed = token_rotation.confirm(opened, PROMOTED, now=T0).current
    assert confirmed.auth_token == PROMOTED
    assert confirmed.next_auth_token is None
    assert confirmed.next_auth_token_expires_at is None
    with pytest.raises(Conflict):
        token_rotation.confirm(confirmed, PROMOTED, now=T0)


def test_a_rotation_needs_credentials() -> None:
    bare = integrations.create(
        integration_id="i-2", organization_id="org-1", name="n", notes="", region="us-east-1", now=T0
    ).current
    with pytest.raises(Conflict):
        token_rotation.start(bare, NEXT, window=DAY, now=T0)


def test_the_expiry_job_closes_only_windows_whose_time_is_up() -> None:
    opened = token_rotation.start(connected(), NEXT, window=DAY, now=T0).current
    assert not token_rotation.end(opened, now=T0 + DAY / 2, only_if_expired=True).changed
    closed = token_rotation.end(opened, now=T0 + DAY, only_if_expired=True)
    assert closed.changed
    assert closed.current.next_auth_token is None
    assert closed.current.auth_token == OLD


def test_new_credentials_end_a_window() -> None:
    opened = token_rotation.start(connected(), NEXT, window=DAY, now=T0).current
    reset = integrations.set_credentials(
        opened, account_sid="AC" + "a" * 32, auth_token=PROMOTED, shared_key=None, now=T0
    )
    assert reset.current.next_auth_token is None


def test_the_signature_mode() -> None:
    observed = token_rotation.set_signature_mode(connected(), "observe", now=T0)
    assert observed.changed
    assert integrations.state_payload(observed.current).signature_mode == "observe"
    assert not token_rotation.set_signature_mode(observed.current, "observe", now=T0).changed
    with pytest.raises(InvalidInput):
        token_rotation.set_signature_mode(observed.current, "lenient", now=T0)


def test_observe_mode_holds_for_its_time_24_hours_unless_named_and_at_most_7_days() -> None:
    observed = token_rotation.set_signature_mode(connected(), "observe", now=T0).current
    assert (observed.signature_mode, observed.signature_mode_expires_at) == ("observe", T0 + DAY)
    assert integrations.state_payload(observed).signature_mode_expires_at == T0 + DAY
    assert observed.effective_signature_mode(T0 + DAY - timedelta(seconds=1)) == "observe"
    assert observed.effective_signature_mode(T0 + DAY) == "enforce"

    short = token_rotation.set_signature_mode(connected(), "observe", now=T0, observe_for=timedelta(hours=2)).current
    assert short.signature_mode_expires_at == T0 + timedelta(hours=2)
    renewed = token_rotation.set_signature_mode(short, "observe", now=T0 + timedelta(hours=1))
    assert renewed.changed
    assert renewed.current.signature_mode_expires_at == T0 + timedelta(hours=25)

    for too_long_or_short in (timedelta(days=7, seconds=1), timedelta(seconds=59)):
        with pytest.raises(InvalidInput):
            token_rotation.set_signature_mode(connected(), "observe", now=T0, observe_for=too_long_or_short)
    with pytest.raises(InvalidInput):
        token_rotation.set_signature_mode(observed, "enforce", now=T0, observe_for=timedelta(hours=1))
    enforced = token_rotation.set_signature_mode(observed, "enforce", now=T0).current
    assert (enforced.signature_mode, enforced.signature_mode_expires_at) == ("enforce", None)


def test_the_expiry_job_sets_only_an_expired_observe_mode_back_to_enforce() -> None:
    observed = token_rotation.set_signature_mode(connected(), "observe", now=T0).current
    assert not token_rotation.end_observe(observed, now=T0 + DAY - timedelta(seconds=1)).changed
    ended = token_rotation.end_observe(observed, now=T0 + DAY)
    assert ended.changed
    assert (ended.current.signature_mode, ended.current.signature_mode_expires_at) == ("enforce", None)
    assert integrations.state_payload(ended.current).signature_mode == "enforce"
    assert not token_rotation.end_observe(ended.current, now=T0 + DAY).changed

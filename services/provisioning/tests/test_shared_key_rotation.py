"""SharedKey ids and the rotation window as pure transitions (no database, no crypto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from byosms_common.errors import Conflict, InvalidInput, NotFound
from byosms_common.messages import IntegrationStatePayload, SealedSecret
from byosms_provisioning.integrations import model as integrations
from byosms_provisioning.integrations.model import Action, Integration

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SID = "AC" + "a" * 32
TOKEN = SealedSecret(kek_id="k1", wrapped_key="dA==", nonce="bg==", ciphertext="dG9rZW4=")
KEY_A = SealedSecret(kek_id="k1", wrapped_key="YQ==", nonce="bg==", ciphertext="a2V5LWE=")
KEY_B = SealedSecret(kek_id="k1", wrapped_key="Yg==", nonce="bg==", ciphertext="a2V5LWI=")
ID_A, ID_B, ID_C = "SK" + "a" * 32, "SK" + "b" * 32, "SK" + "c" * 32


def demote(sealed: SealedSecret) -> SealedSecret:
    """Stands in for re-sealing under the previous key's associated data (marks the blob)."""
    return sealed.model_copy(update={"ciphertext": "previous:" + sealed.ciphertext})


def fresh() -> Integration:
    return integrations.create(
        integration_id="i-1", organization_id="org-1", name="n", notes="", region="us-east-1", now=T0
    ).current


def set_key(current: Integration, key: SealedSecret | None, key_id: str | None, *, keep: bool = True) -> Integration:
    return integrations.set_credentials(
        current,
        account_sid=SID,
        auth_token=TOKEN,
        shared_key=key,
        shared_key_id=key_id,
        keep_previous_shared_key=keep,
        demote=demote,
        now=T0 + timedelta(minutes=current.version),
    ).current


def test_new_key_with_another_id_keeps_the_current_one_as_previous() -> None:
    rotated = set_key(set_key(fresh(), KEY_A, ID_A), KEY_B, ID_B)
    assert (rotated.shared_key, rotated.shared_key_id) == (KEY_B, ID_B)
    assert rotated.previous_shared_key == demote(KEY_A)  # re-sealed for its own slot, not copied
    assert rotated.previous_shared_key_id == ID_A
    assert rotated.shared_key_ids == {"current": ID_B, "previous": ID_A}


def test_a_third_key_replaces_the_previous_one() -> None:
    rotated = set_key(set_key(set_key(fresh(), KEY_A, ID_A), KEY_B, ID_B), KEY_A, ID_C)
    assert rotated.shared_key_ids == {"current": ID_C, "previous": ID_B}


@pytest.mark.parametrize(
    ("label", "key", "key_id", "keep"),
    [
        ("same id again", KEY_B, ID_A, True),
        ("explicitly not kept", KEY_B, ID_B, False),
        ("new key without id", KEY_B, None, True),
        ("no shared key at all", None, None, True),
    ],
)
def test_no_rotation_window(label: str, key: SealedSecret | None, key_id: str | None, keep: bool) -> None:
    after = set_key(set_key(fresh(), KEY_A, ID_A), key, key_id, keep=keep)
    assert after.previous_shared_key is None, label
    assert after.previous_shared_key_id is None
    assert after.shared_key == key
    assert after.shared_key_id == key_id


def test_any_later_credentials_change_ends_the_window() -> None:
    rotated = set_key(set_key(fresh(), KEY_A, ID_A), KEY_B, ID_B)
    again = set_key(rotated, KEY_B, ID_B)  # e.g. a new auth token, same shared key
    assert again.shared_key_ids == {"current": ID_B}


def test_a_key_stored_without_id_is_not_kept() -> None:
    # A key without id could never be told apart in a webhook: rotating from it leaves no previous key.
    after = set_key(set_key(fresh(), KEY_A, None), KEY_B, ID_B)
    assert after.shared_key_ids == {"current": ID_B}


def test_key_id_without_key_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        set_key(fresh(), None, ID_A)
    assert "shared_key_id" in caught.value.message("en")


def test_rotation_without_a_demote_function_is_a_bug_not_silence() -> None:
    current = set_key(fresh(), KEY_A, ID_A)
    with pytest.raises(ValueError, match="demote"):
        integrations.set_credentials(
            current, account_sid=SID, auth_token=TOKEN, shared_key=KEY_B, shared_key_id=ID_B, now=T0
        )


def test_retire_the_previous_key() -> None:
    rotated = set_key(set_key(fresh(), KEY_A, ID_A), KEY_B, ID_B)
    change = integrations.retire_shared_key(rotated, ID_A, now=T0 + timedelta(hours=1))
    assert change.action is Action.SHARED_KEY_RETIRED
    assert change.current.shared_key_ids == {"current": ID_B}
    assert change.current.version == rotated.version + 1
    assert change.current.shared_key == KEY_B


def test_the_current_key_cannot_be_retired_and_unknown_ids_are_not_found() -> None:
    rotated = set_key(set_key(fresh(), KEY_A, ID_A), KEY_B, ID_B)
    with pytest.raises(Conflict) as current:
        integrations.retire_shared_key(rotated, ID_B, now=T0)
    assert current.value.code == "shared_key_is_current"
    with pytest.raises(NotFound) as unknown:
        integrations.retire_shared_key(rotated, ID_C, now=T0)
    assert unknown.value.code == "shared_key_not_found"
    retired = integrations.retire_shared_key(rotated, ID_A, now=T0).current
    with pytest.raises(NotFound):  # retiring twice: the key is gone
        integrations.retire_shared_key(retired, ID_A, now=T0)


@pytest.mark.parametrize("value", ["SK" + "0" * 32, "webhooks_sharedkey_1", "a", "A-b_9" * 12])
def test_valid_key_ids(value: str) -> None:
    assert integrations.check_shared_key_id(value) == value


@pytest.mark.parametrize("value", ["", "x" * 65, "key,algorithm=HMAC_SHA1", "a=b", "with space", "ключ"])
def test_invalid_key_ids(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        integrations.check_shared_key_id(value)
    assert "SK" in caught.value.message("en")


def test_events_and_audit_carry_ids_only_and_state_carries_both_sealed_keys() -> None:
    rotated = set_key(set_key(fresh(), KEY_A, ID_A), KEY_B, ID_B)
    snap = integrations.snapshot(rotated)
    assert (snap.has_shared_key, snap.shared_key_id, snap.previous_shared_key_id) == (True, ID_B, ID_A)
    audit = integrations.audit_view(rotated)
    assert audit is not None
    assert "ciphertext" not in str(audit)
    state = integrations.state_payload(rotated)
    assert (state.shared_key, state.shared_key_id) == (KEY_B, ID_B)
    assert (state.previous_shared_key, state.previous_shared_key_id) == (demote(KEY_A), ID_A)


def test_old_state_records_without_ids_still_parse() -> None:
    old = {"integration_id": "i", "account_sid": SID, "shared_key": KEY_A.model_dump(), "region": "r"}
    parsed = IntegrationStatePayload.model_validate({**old, "status": "active", "version": 3})
    assert parsed.shared_key == KEY_A
    assert (parsed.shared_key_id, parsed.previous_shared_key, parsed.previous_shared_key_id) == (None, None, None)


def test_a_current_key_that_cannot_be_opened_rotates_without_a_window() -> None:
    # Its KEK was retired: it could not validate a webhook anyway, so no previous key is kept.
    with_a = set_key(fresh(), KEY_A, ID_A)
    rotated = integrations.set_credentials(
        with_a,
        account_sid=SID,
        auth_token=TOKEN,
        shared_key=KEY_B,
        shared_key_id=ID_B,
        demote=lambda _sealed: None,
        now=T0 + timedelta(hours=1),
    ).current
    assert (rotated.shared_key, rotated.shared_key_id) == (KEY_B, ID_B)
    assert rotated.previous_shared_key is None
    assert rotated.shared_key_ids == {"current": ID_B}

import pytest

from byosms_common.crypto import CryptoError, Keyring, associated_data, open_sealed, rewrap, seal

pytestmark = pytest.mark.unit

TOKEN = "0123456789abcdef0123456789abcdef"


def _keyring(active: str = "k1") -> Keyring:
    return Keyring({"k1": b"\x01" * 32, "k2": b"\x02" * 32}, active)


def test_round_trip_and_no_clear_text_in_the_sealed_form() -> None:
    aad = associated_data("org-1", "int-1", "auth_token")
    sealed = seal(_keyring(), TOKEN, aad)
    assert TOKEN not in sealed.model_dump_json()
    assert open_sealed(_keyring(), sealed, aad) == TOKEN


def test_ciphertext_moved_to_another_integration_does_not_open() -> None:
    sealed = seal(_keyring(), TOKEN, associated_data("org-1", "int-1", "auth_token"))
    with pytest.raises(CryptoError, match="context"):
        open_sealed(_keyring(), sealed, associated_data("org-2", "int-1", "auth_token"))
    with pytest.raises(CryptoError, match="context"):
        open_sealed(_keyring(), sealed, associated_data("org-1", "int-1", "shared_key"))


def test_rotation_rewraps_under_the_new_key_and_old_key_can_be_retired() -> None:
    aad = associated_data("org-1", "int-1", "auth_token")
    old = seal(_keyring("k1"), TOKEN, aad)
    new = rewrap(_keyring("k2"), old, aad)
    assert new.kek_id == "k2"
    assert new.ciphertext == old.ciphertext
    retired = Keyring({"k2": b"\x02" * 32}, "k2")
    assert open_sealed(retired, new, aad) == TOKEN
    with pytest.raises(CryptoError, match="not configured"):
        open_sealed(retired, old, aad)


def test_configuration_errors_do_not_echo_keys() -> None:
    key = Keyring.generate_key()
    ring = Keyring.from_config(f'{{"v1": "{key}"}}', "v1")
    assert key not in repr(ring)
    with pytest.raises(CryptoError, match="active"):
        Keyring.from_config(f'{{"v1": "{key}"}}', "v2")
    with pytest.raises(CryptoError, match="32 bytes"):
        Keyring.from_config('{"v1": "c2hvcnQ="}', "v1")

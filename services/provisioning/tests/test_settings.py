"""Settings fail loudly and never show secrets."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from byosms_common.crypto import CryptoError
from byosms_common.settings import KeyringSettings
from byosms_provisioning.settings import ProvisioningSettings, SealingKeySettings

pytestmark = pytest.mark.unit


def test_a_jwt_key_source_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PUBLIC_KEY_FILE", "JWKS_FILE", "JWKS_URL"):
        monkeypatch.delenv(f"BYOSMS_PROVISIONING_JWT_{name}", raising=False)
    with pytest.raises(ValidationError):
        ProvisioningSettings()


def test_symmetric_algorithms_are_refused() -> None:
    with pytest.raises(ValidationError):
        ProvisioningSettings(jwt_jwks_url="http://x/jwks", jwt_algorithms=("HS256",))


def test_twilio_base_is_read_from_the_shared_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYOSMS_TWILIO_API_BASE", "http://127.0.0.1:8099/")
    monkeypatch.setenv("BYOSMS_PROVISIONING_JWT_JWKS_URL", "http://x/jwks")
    assert ProvisioningSettings().twilio_api_base == "http://127.0.0.1:8099"


def test_keks_have_no_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BYOSMS_KEKS", raising=False)
    monkeypatch.delenv("BYOSMS_ACTIVE_KEK", raising=False)
    with pytest.raises(ValidationError):
        KeyringSettings()


def test_bad_keks_fail_without_showing_key_material(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYOSMS_KEKS", '{"k1": "c2hvcnQ="}')
    monkeypatch.setenv("BYOSMS_ACTIVE_KEK", "k1")
    settings = KeyringSettings()
    assert "c2hvcnQ" not in repr(settings)
    with pytest.raises(CryptoError) as caught:
        settings.keyring()
    assert "c2hvcnQ" not in str(caught.value)
    monkeypatch.setenv("BYOSMS_ACTIVE_KEK", "k9")
    with pytest.raises(CryptoError):
        KeyringSettings().keyring()


@pytest.mark.parametrize(
    ("keys", "active"),
    [('{"s1": "bm90IGEga2V5"}', None), ("not json", None), ("[]", None), ('{"s1": "%s"}', "s9")],
)
def test_malformed_sealing_keys_are_refused_without_showing_them(
    monkeypatch: pytest.MonkeyPatch, keys: str, active: str | None
) -> None:
    valid = base64.b64encode(bytes(32)).decode()
    monkeypatch.setenv("BYOSMS_PROVISIONING_SEALING_KEYS", keys.replace("%s", valid))
    if active is not None:
        monkeypatch.setenv("BYOSMS_PROVISIONING_SEALING_ACTIVE_KEY", active)
    settings = SealingKeySettings()
    assert "bm90IGEga2V5" not in repr(settings)
    with pytest.raises(ValueError, match=r"(?i)sealing") as caught:
        settings.keyring()  # `byosms-provisioning serve` calls this before it starts
    assert "bm90IGEga2V5" not in str(caught.value)
    assert valid not in str(caught.value)


def test_sealing_keys_are_optional_and_the_first_is_active_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SealingKeySettings().keyring() is None
    key = base64.b64encode(bytes(range(32))).decode()
    monkeypatch.setenv("BYOSMS_PROVISIONING_SEALING_KEYS", f'{{"s1": "{key}", "s2": "{key}"}}')
    keyring = SealingKeySettings().keyring()
    assert keyring is not None
    assert keyring.active == "s1"

"""Settings fail loudly and never show secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from byosms_common.crypto import CryptoError
from byosms_common.settings import KeyringSettings
from byosms_provisioning.settings import ProvisioningSettings

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

"""Credentials sealed for provisioning open only where they were sealed for, and never half-open."""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from byosms_common.messages import SealedCredentials
from byosms_provisioning.integrations import credential_sealing
from byosms_provisioning.integrations.credential_sealing import SealingError, SealingKeyring

pytestmark = pytest.mark.unit

SID = "AC" + "1" * 32
WHERE = {"organization_id": "org-a", "integration_id": "int-1", "account_sid": SID}


def keyring() -> tuple[SealingKeyring, str]:
    private = credential_sealing.generate_private_key()
    return SealingKeyring.from_config(json.dumps({"s1": private}), "s1"), credential_sealing.public_key_b64(private)


def test_sealed_credentials_open_where_they_were_sealed_for() -> None:
    ring, public = keyring()
    sealed = credential_sealing.seal(public, "s1", **WHERE, auth_token="a" * 32, shared_key="k" * 20)
    assert "a" * 32 not in sealed.model_dump_json()
    opened = ring.open(sealed, **WHERE)
    assert (opened.auth_token, opened.shared_key) == ("a" * 32, "k" * 20)
    assert "a" * 32 not in repr(opened)


@pytest.mark.parametrize("field", ["organization_id", "integration_id", "account_sid"])
def test_credentials_moved_to_another_place_do_not_open(field: str) -> None:
    ring, public = keyring()
    sealed = credential_sealing.seal(public, "s1", **WHERE, auth_token="a" * 32)
    with pytest.raises(SealingError):
        ring.open(sealed, **(WHERE | {field: "AC" + "2" * 32 if field == "account_sid" else "other"}))


def _sealed_plaintext(public: str, plaintext: bytes) -> SealedCredentials:
    """What a sender with the public key could publish: any plaintext, correctly sealed."""
    recipient = base64.b64decode(public)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = credential_sealing._raw_public(ephemeral.public_key())
    shared = ephemeral.exchange(credential_sealing.X25519PublicKey.from_public_bytes(recipient))
    key = credential_sealing._derive(shared, ephemeral_public, recipient)
    nonce = os.urandom(12)
    aad = credential_sealing.associated_data(WHERE["organization_id"], WHERE["integration_id"], SID, "s1")
    return SealedCredentials(
        key_id="s1",
        ephemeral_public_key=base64.b64encode(ephemeral_public).decode(),
        nonce=base64.b64encode(nonce).decode(),
        ciphertext=base64.b64encode(AESGCM(key).encrypt(nonce, plaintext, aad)).decode(),
    )


@pytest.mark.parametrize(
    "plaintext",
    [b"[]", b'"token"', b"42", b"null", b"not json", b'{"auth_token": 5}', b"[" * 2_000],
    ids=["list", "string", "number", "null", "not-json", "token-not-text", "deeply-nested"],
)
def test_well_sealed_nonsense_is_refused_not_crashed_on(plaintext: bytes) -> None:
    ring, public = keyring()
    with pytest.raises(SealingError):
        ring.open(_sealed_plaintext(public, plaintext), **WHERE)

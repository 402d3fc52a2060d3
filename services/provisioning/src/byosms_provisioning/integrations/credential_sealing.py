"""Twilio credentials sealed for provisioning, so ``integration.set_credentials`` commands carry no
clear secret on Kafka.

Design (an ECIES construction; the same shape as HPKE base mode, RFC 9180):

- Provisioning holds versioned X25519 key pairs; the private keys come from configuration
  (``BYOSMS_PROVISIONING_SEALING_KEYS`` = ``{"<key id>": "<base64 raw 32-byte private key>"}``, a
  Kubernetes secret in production; ``BYOSMS_PROVISIONING_SEALING_ACTIVE_KEY`` names the one
  platform services should use). The public keys are published to platform services through their
  configuration (``public_keys()`` / :func:`public_key_b64` print them); they are not secret.
- A sender makes a one-time X25519 key pair, agrees a shared secret with the provisioning public
  key, derives a 256-bit key with HKDF-SHA256 (salt = ephemeral public key + recipient public key,
  info = :data:`INFO`), and encrypts ``{"auth_token": ..., "shared_key": ..., "shared_key_id": ...}``
  with AES-256-GCM (``shared_key_id`` optional: senders that predate it leave it out). The key id
  travels inside the seal, so it cannot be changed apart from its key.
- The associated data is the organization, the integration id, the Account SID and the key id, so
  a sealed blob copied into another organization's (or integration's) command does not open.
- Provisioning opens it in memory, validates the credentials with Twilio, and stores them under its
  own key-encryption keys exactly like ``PUT .../credentials``. The clear token is never logged,
  published or stored. Key rotation: add a key, make it active, tell the senders, retire the old one
  once no command sealed with it can still be in flight (the topic's retention).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from byosms_common.errors import InvalidInput
from byosms_common.messages import SealedCredentials

INFO = b"byosms sealed twilio credentials v1"
_NONCE_BYTES = 12


class SealingError(InvalidInput):
    """Sealed credentials that do not open; never carries any part of the secret."""

    def __init__(self) -> None:
        super().__init__("sealed_credentials_invalid")


@dataclass(frozen=True, slots=True)
class OpenedCredentials:
    auth_token: str
    shared_key: str | None
    shared_key_id: str | None = None

    def __repr__(self) -> str:
        return "OpenedCredentials(***)"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SealingError from None


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def associated_data(organization_id: str, integration_id: str, account_sid: str, key_id: str) -> bytes:
    return json.dumps(
        {"org": organization_id, "integration": integration_id, "account_sid": account_sid, "key": key_id},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=INFO).derive(shared)


def generate_private_key() -> str:
    """A new private key for configuration (base64 of 32 raw bytes)."""
    return _b64(X25519PrivateKey.generate().private_bytes_raw())


def public_key_b64(private_key_b64: str) -> str:
    """The public key to publish for a configured private key."""
    return _b64(_raw_public(X25519PrivateKey.from_private_bytes(base64.b64decode(private_key_b64)).public_key()))


def seal(
    public_key_b64_: str,
    key_id: str,
    *,
    organization_id: str,
    integration_id: str,
    account_sid: str,
    auth_token: str,
    shared_key: str | None = None,
    shared_key_id: str | None = None,
) -> SealedCredentials:
    """What a platform service does before publishing ``integration.set_credentials``."""
    recipient = base64.b64decode(public_key_b64_)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = _raw_public(ephemeral.public_key())
    key = _derive(ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient)), ephemeral_public, recipient)
    nonce = os.urandom(_NONCE_BYTES)
    secrets: dict[str, str | None] = {"auth_token": auth_token, "shared_key": shared_key}
    if shared_key_id is not None:
        secrets["shared_key_id"] = shared_key_id
    plaintext = json.dumps(secrets).encode()
    aad = associated_data(organization_id, integration_id, account_sid, key_id)
    return SealedCredentials(
        key_id=key_id,
        ephemeral_public_key=_b64(ephemeral_public),
        nonce=_b64(nonce),
        ciphertext=_b64(AESGCM(key).encrypt(nonce, plaintext, aad)),
    )


@dataclass(frozen=True)
class SealingKeyring:
    """Provisioning's private keys by id; ``active`` is the one senders are told to use."""

    keys: Mapping[str, X25519PrivateKey]
    active: str

    def __repr__(self) -> str:  # private keys never appear in logs or tracebacks
        return f"SealingKeyring(active={self.active!r}, ids={sorted(self.keys)!r})"

    @classmethod
    def from_config(cls, keys_json: str, active: str) -> SealingKeyring:
        try:
            raw = json.loads(keys_json)
            keys = {str(k): X25519PrivateKey.from_private_bytes(base64.b64decode(str(v))) for k, v in raw.items()}
        except (ValueError, TypeError, AttributeError, binascii.Error):
            raise ValueError("BYOSMS_PROVISIONING_SEALING_KEYS must map key ids to base64 X25519 keys") from None
        if active not in keys:
            raise ValueError(f"active sealing key {active!r} is not configured")
        return cls(keys, active)

    def public_keys(self) -> dict[str, str]:
        return {kid: _b64(_raw_public(k.public_key())) for kid, k in self.keys.items()}

    def open(
        self, sealed: SealedCredentials, *, organization_id: str, integration_id: str, account_sid: str
    ) -> OpenedCredentials:
        private = self.keys.get(sealed.key_id)
        if private is None:
            raise SealingError
        ephemeral = _unb64(sealed.ephemeral_public_key)
        try:
            shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
        except ValueError:
            raise SealingError from None
        key = _derive(shared, ephemeral, _raw_public(private.public_key()))
        aad = associated_data(organization_id, integration_id, account_sid, sealed.key_id)
        try:
            plaintext = AESGCM(key).decrypt(_unb64(sealed.nonce), _unb64(sealed.ciphertext), aad)
            secrets = json.loads(plaintext)
        except (InvalidTag, ValueError, RecursionError):
            raise SealingError from None
        if not isinstance(secrets, dict):
            raise SealingError
        token, shared_key, key_id = secrets.get("auth_token"), secrets.get("shared_key"), secrets.get("shared_key_id")
        if not isinstance(token, str) or not all(v is None or isinstance(v, str) for v in (shared_key, key_id)):
            raise SealingError
        return OpenedCredentials(token, shared_key, key_id)

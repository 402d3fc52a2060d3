"""Envelope encryption of tenant secrets (Twilio auth tokens, webhook shared keys).

Each secret gets a fresh 256-bit data key; the secret is sealed with AES-256-GCM under it, and the
data key itself is sealed (wrapped) with AES-256-GCM under a versioned key-encryption key (KEK)
from configuration. The associated data names the organization, the integration and the field,
so a ciphertext copied to another row or field does not decrypt.

Rotating KEKs: add the new KEK, make it active, then :func:`rewrap` every sealed secret (only the
small wrapped data key changes), then retire the old KEK.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from byosms_common.messages import SealedSecret

log = logging.getLogger(__name__)

_NONCE_BYTES = 12
_KEY_BYTES = 32


class CryptoError(Exception):
    """A secret could not be sealed or opened. Never carries the secret itself."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("sealed secret is not valid base64") from None


def associated_data(organization_id: str, integration_id: str, field: str) -> bytes:
    """The context a sealed secret is bound to."""
    return json.dumps(
        {"org": organization_id, "integration": integration_id, "field": field},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


@dataclass(frozen=True)
class Keyring:
    """Key-encryption keys by id, and which one seals new secrets."""

    keys: Mapping[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise CryptoError(f"active key-encryption key {self.active!r} is not configured")
        for kek_id, key in self.keys.items():
            if len(key) != _KEY_BYTES:
                raise CryptoError(f"key-encryption key {kek_id!r} must be 32 bytes")

    def __repr__(self) -> str:  # keys never appear in logs or tracebacks
        return f"Keyring(active={self.active!r}, ids={sorted(self.keys)!r})"

    @classmethod
    def from_config(cls, keys_json: str, active: str) -> Keyring:
        """Build from ``{"<id>": "<base64 32-byte key>", ...}`` and the active id."""
        try:
            raw = json.loads(keys_json)
        except json.JSONDecodeError:
            raise CryptoError("key-encryption keys are not valid JSON") from None
        if not isinstance(raw, dict) or not raw:
            raise CryptoError("key-encryption keys must be a non-empty JSON object")
        return cls({str(k): _unb64(str(v)) for k, v in raw.items()}, active)

    @staticmethod
    def generate_key() -> str:
        """A new random key-encryption key, base64-encoded, for configuration."""
        return _b64(AESGCM.generate_key(bit_length=256))


def seal(keyring: Keyring, plaintext: str, aad: bytes) -> SealedSecret:
    """Encrypt ``plaintext`` under a fresh data key wrapped by the active KEK."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext.encode(), aad)
    return SealedSecret(
        kek_id=keyring.active,
        wrapped_key=_wrap(keyring, keyring.active, data_key, aad),
        nonce=_b64(nonce),
        ciphertext=_b64(ciphertext),
    )


def open_sealed(keyring: Keyring, sealed: SealedSecret, aad: bytes) -> str:
    """Decrypt a sealed secret; fails if the KEK is unknown or the context does not match."""
    data_key = _unwrap(keyring, sealed, aad)
    try:
        plaintext = AESGCM(data_key).decrypt(_unb64(sealed.nonce), _unb64(sealed.ciphertext), aad)
    except InvalidTag:
        raise CryptoError("sealed secret does not match its context") from None
    return plaintext.decode()


def rewrap(keyring: Keyring, sealed: SealedSecret, aad: bytes) -> SealedSecret:
    """Re-wrap the data key under the active KEK; the secret's ciphertext stays as it is."""
    if sealed.kek_id == keyring.active:
        return sealed
    data_key = _unwrap(keyring, sealed, aad)
    return sealed.model_copy(
        update={"kek_id": keyring.active, "wrapped_key": _wrap(keyring, keyring.active, data_key, aad)}
    )


def _wrap(keyring: Keyring, kek_id: str, data_key: bytes, aad: bytes) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    return _b64(nonce + AESGCM(keyring.keys[kek_id]).encrypt(nonce, data_key, aad))


def _unwrap(keyring: Keyring, sealed: SealedSecret, aad: bytes) -> bytes:
    kek = keyring.keys.get(sealed.kek_id)
    if kek is None:
        raise CryptoError(f"key-encryption key {sealed.kek_id!r} is not configured")
    blob = _unb64(sealed.wrapped_key)
    try:
        return AESGCM(kek).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
    except InvalidTag:
        raise CryptoError("sealed secret does not match its context") from None


@dataclass
class SecretOpener:
    """Opens integrations' sealed secrets in memory, for services that use them (never stored, never logged).

    Each plaintext is kept only for the exact sealed value it came from, so a rotated or re-sealed
    secret is opened again; :meth:`forget` drops an integration's plaintexts when its record changes.
    """

    keyring: Keyring | None
    _opened: dict[tuple[str, str], tuple[SealedSecret, str]] = field(default_factory=dict, repr=False)

    def open(self, organization_id: str, integration_id: str, field_name: str, sealed: SealedSecret) -> str:
        """The plaintext of ``sealed``; raises CryptoError (logged without any secret) when it cannot be opened."""
        cached = self._opened.get((integration_id, field_name))
        if cached is not None and (cached[0] is sealed or cached[0] == sealed):  # `is`: skips pydantic's __eq__
            return cached[1]
        try:
            if self.keyring is None:
                raise CryptoError("no key-encryption keys are configured")
            plaintext = open_sealed(self.keyring, sealed, associated_data(organization_id, integration_id, field_name))
        except CryptoError as exc:
            log.error(
                "cannot open %s of integration %s (%s; key-encryption key %s)",
                field_name,
                integration_id,
                type(exc).__name__,
                sealed.kek_id,
            )
            raise
        self._opened[(integration_id, field_name)] = (sealed, plaintext)
        return plaintext

    def forget(self, integration_id: str) -> None:
        """Drop every plaintext opened for ``integration_id``."""
        for key in [k for k in self._opened if k[0] == integration_id]:
            del self._opened[key]

"""Tenants' Twilio auth tokens, opened in memory only when a message is sent.

The integration state records carry the token sealed under the key-encryption keys (as the
ingress sees them); the plaintext is kept in memory for that exact sealed value only, so a rotated
token or a re-sealed record is opened again. Tokens are never logged or stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from byosms_common.crypto import CryptoError, Keyring, associated_data, open_sealed
from byosms_common.messages import SealedSecret

log = logging.getLogger(__name__)


class TokenUnavailableError(Exception):
    """The sealed token cannot be opened (its key-encryption key is missing, or the record is corrupt)."""


@dataclass
class TokenOpener:
    keyring: Keyring | None
    _opened: dict[str, tuple[SealedSecret, str]] = field(default_factory=dict, repr=False)

    def auth_token(self, organization_id: str, integration_id: str, sealed: SealedSecret) -> str:
        cached = self._opened.get(integration_id)
        if cached is not None and cached[0] == sealed:
            return cached[1]
        if self.keyring is None:
            raise TokenUnavailableError("no key-encryption keys configured")
        try:
            token = open_sealed(self.keyring, sealed, associated_data(organization_id, integration_id, "auth_token"))
        except CryptoError as exc:
            log.error("cannot open the auth token of integration %s: %s", integration_id, exc)
            raise TokenUnavailableError(str(exc)) from None
        self._opened[integration_id] = (sealed, token)
        return token

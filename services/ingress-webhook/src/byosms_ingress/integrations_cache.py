"""AccountSid → integration, learned from the integrations' compacted state topic.

The ingress has no database: a :class:`~byosms_common.state_cache.StateTopicFollower` replays the
state topic and follows it live; :meth:`IntegrationsCache.apply` is its change callback and keeps
an index by AccountSid. Tokens stay sealed in the records and are opened only when a webhook must
be validated; the plaintext is cached in memory for that exact sealed value and dropped as soon as
the record changes (rotation, deactivation, deletion).

SharedKeys carry their id: a webhook naming ``key=<id>`` is checked with the integration's key of
that id, the current one or, during a rotation window, the previous one (:func:`select_shared_key`).
During an Auth Token rotation window the record carries the next token too, valid until the window's
end (:meth:`Integration.next_token_valid`); the signature mode says whether a failing signature is
refused or only observed, observe only until its expiry (:meth:`Integration.signature_mode_at`), so an
expired observe mode is never honoured, even before provisioning publishes enforce again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from byosms_common.crypto import CryptoError, Keyring, SecretOpener
from byosms_common.messages import (
    IntegrationState,
    IntegrationStatus,
    SealedSecret,
    SignatureMode,
    signature_mode_in_effect,
)

log = logging.getLogger(__name__)

SecretField = Literal["auth_token", "auth_token_next", "shared_key", "shared_key_previous"]
_DELETED_MEMORY = 10_000


class SecretUnavailableError(Exception):
    """A sealed secret could not be opened (KEK missing or record corrupt): a server-side problem."""


@dataclass(frozen=True, slots=True)
class Integration:
    """What validation needs to know about one integration."""

    integration_id: str
    organization_id: str
    account_sid: str
    status: IntegrationStatus
    version: int
    auth_token: SealedSecret | None
    shared_key: SealedSecret | None
    shared_key_id: str | None = None
    previous_shared_key: SealedSecret | None = None
    previous_shared_key_id: str | None = None
    next_auth_token: SealedSecret | None = None
    next_auth_token_expires_at: datetime | None = None
    signature_mode: SignatureMode = "enforce"
    signature_mode_expires_at: datetime | None = None

    def signature_mode_at(self, now: datetime) -> SignatureMode:
        """The mode in effect (:func:`~byosms_common.messages.signature_mode_in_effect`)."""
        return signature_mode_in_effect(self.signature_mode, self.signature_mode_expires_at, now)

    def sealed(self, name: SecretField) -> SealedSecret | None:
        if name == "auth_token":
            return self.auth_token
        if name == "auth_token_next":
            return self.next_auth_token
        return self.shared_key if name == "shared_key" else self.previous_shared_key

    def next_token_valid(self, now: datetime) -> bool:
        """Whether a rotation window is open: webhooks signed with the next Auth Token are accepted."""
        expires = self.next_auth_token_expires_at
        return self.next_auth_token is not None and expires is not None and now < expires


def select_shared_key(integration: Integration, key_id: str) -> SecretField | Literal["none", "unknown"]:
    """Which stored SharedKey checks a webhook whose settings header names ``key=<key_id>``.

    The key with that id (current first, then the previous one of a rotation window); a current key
    stored without id stands for any id (keys set before ids were recorded). ``"none"``: the
    integration has no shared key; ``"unknown"``: it has, but none with this id.
    """
    if integration.shared_key is None:
        return "none"
    if integration.shared_key_id == key_id:
        return "shared_key"
    if integration.previous_shared_key is not None and integration.previous_shared_key_id == key_id:
        return "shared_key_previous"
    if integration.shared_key_id is None:
        return "shared_key"
    return "unknown"


@dataclass
class IntegrationsCache:
    """Integrations of this region by AccountSid, with their secrets opened on demand."""

    keyring: Keyring
    region: str
    _by_id: dict[str, Integration] = field(default_factory=dict)
    _by_account: dict[str, set[str]] = field(default_factory=dict)
    _account_of: dict[str, str] = field(default_factory=dict)
    _deleted_accounts: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _opener: SecretOpener = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._opener = SecretOpener(self.keyring)

    def apply(self, key: str, state: IntegrationState | None) -> None:
        """Change callback of the state-topic follower (``None`` = tombstone, the integration is deleted)."""
        self._forget(key, deleted=state is None)
        if state is None:
            return
        payload = state.payload
        if payload.region != self.region or not payload.account_sid:
            return
        integration = Integration(
            integration_id=payload.integration_id,
            organization_id=state.organization_id,
            account_sid=payload.account_sid,
            status=payload.status,
            version=payload.version,
            auth_token=payload.auth_token,
            shared_key=payload.shared_key,
            shared_key_id=payload.shared_key_id,
            previous_shared_key=payload.previous_shared_key,
            previous_shared_key_id=payload.previous_shared_key_id,
            next_auth_token=payload.next_auth_token,
            next_auth_token_expires_at=payload.next_auth_token_expires_at,
            signature_mode=payload.signature_mode,
            signature_mode_expires_at=payload.signature_mode_expires_at,
        )
        self._by_id[key] = integration
        self._account_of[key] = integration.account_sid
        self._by_account.setdefault(integration.account_sid, set()).add(key)
        self._deleted_accounts.pop(integration.account_sid, None)

    def _forget(self, key: str, *, deleted: bool) -> None:
        self._by_id.pop(key, None)
        self._opener.forget(key)
        account = self._account_of.pop(key, None)
        if account is None:
            return
        keys = self._by_account.get(account, set())
        keys.discard(key)
        if not keys:
            self._by_account.pop(account, None)
            if deleted:
                self._deleted_accounts[account] = None
                while len(self._deleted_accounts) > _DELETED_MEMORY:
                    self._deleted_accounts.popitem(last=False)

    def find(self, account_sid: str) -> Integration | None:
        """The integration of this region for ``account_sid``; an active one wins if there are several."""
        keys = self._by_account.get(account_sid)
        if not keys:
            return None
        if len(keys) == 1:  # nearly always: one integration per account
            for key in keys:
                return self._by_id[key]
        candidates = [self._by_id[k] for k in keys]
        return max(candidates, key=lambda i: (i.status is IntegrationStatus.ACTIVE, i.version, i.integration_id))

    def was_deleted(self, account_sid: str) -> bool:
        """True when the account's last integration was deleted while this process ran."""
        return account_sid in self._deleted_accounts

    def secret(self, integration: Integration, name: SecretField) -> str | None:
        """The plaintext (current or next) auth token or (current or previous) shared key; None when the
        integration has none."""
        sealed = integration.sealed(name)
        if sealed is None:
            return None
        try:
            return self._opener.open(integration.organization_id, integration.integration_id, name, sealed)
        except CryptoError as exc:
            raise SecretUnavailableError(str(exc)) from None

    def __len__(self) -> int:
        return len(self._by_id)

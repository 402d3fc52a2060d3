"""The integration lifecycle as pure functions: no I/O, no clock, no crypto.

States and transitions::

    (none) --create--> inactive --set credentials--> inactive (credentials set)
    inactive (credentials set) --activate--> active --deactivate--> inactive
    any --edit name/notes | set credentials--> same status
    any --delete--> (gone)

Activating needs credentials; activating an active or deactivating an inactive integration is a
no-op (no version bump, no event), so retried commands are harmless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from byosms_common.errors import Conflict, InvalidField
from byosms_common.messages import IntegrationSnapshot, IntegrationStatePayload, IntegrationStatus, SealedSecret

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
# Twilio auth tokens are 32 hex characters; accept a little more so the check stays Twilio's job.
AUTH_TOKEN = re.compile(r"^[A-Za-z0-9]{16,128}$")
INTEGRATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

AUTH_TOKEN_FIELD = "auth_token"  # noqa: S105 - a field name, not a secret
SHARED_KEY_FIELD = "shared_key"


class Action(StrEnum):
    """What a change did; names the audit row and picks the event."""

    CREATED = "created"
    EDITED = "edited"
    CREDENTIALS_SET = "credentials_set"
    ACTIVATED = "activated"
    DEACTIVATED = "deactivated"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Integration:
    """A tenant's connection to its own Twilio account."""

    id: str
    organization_id: str
    name: str
    notes: str
    region: str
    account_sid: str | None
    auth_token: SealedSecret | None
    shared_key: SealedSecret | None
    status: IntegrationStatus
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def has_credentials(self) -> bool:
        return self.account_sid is not None and self.auth_token is not None

    def __repr__(self) -> str:  # sealed secrets are harmless, but keep reprs short and uniform
        return f"Integration(id={self.id!r}, org={self.organization_id!r}, status={self.status}, v={self.version})"


@dataclass(frozen=True, slots=True)
class Change:
    """The outcome of a transition: before/after (None when created/deleted) and whether anything changed."""

    action: Action
    before: Integration | None
    after: Integration | None

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def current(self) -> Integration:
        result = self.after or self.before
        assert result is not None
        return result


def check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 200:
        raise InvalidField("name", "must be 1 to 200 characters", "muss 1 bis 200 Zeichen lang sein")
    return cleaned


def check_notes(notes: str) -> str:
    if len(notes) > 2000:
        raise InvalidField("notes", "must be at most 2000 characters", "darf höchstens 2000 Zeichen lang sein")
    return notes


def check_integration_id(value: str) -> str:
    if not INTEGRATION_ID.fullmatch(value):
        raise InvalidField(
            "id",
            "letters, digits, '_', '.', '-' (at most 100, starting with a letter or digit)",
            "Buchstaben, Ziffern, '_', '.', '-' (höchstens 100, beginnend mit Buchstabe oder Ziffer)",
        )
    return value


def check_account_sid(value: str) -> str:
    if not ACCOUNT_SID.fullmatch(value):
        raise InvalidField(
            "account_sid",
            "must be 'AC' followed by 32 hexadecimal digits",
            "muss 'AC' gefolgt von 32 Hexadezimalziffern sein",
        )
    return value


def check_auth_token(value: str) -> None:
    # The message never repeats the value.
    if not AUTH_TOKEN.fullmatch(value):
        raise InvalidField(
            AUTH_TOKEN_FIELD, "must be 16 to 128 letters or digits", "muss 16 bis 128 Buchstaben oder Ziffern sein"
        )


def check_shared_key(value: str) -> None:
    if not 16 <= len(value) <= 256 or not value.isprintable():
        raise InvalidField(
            SHARED_KEY_FIELD, "must be 16 to 256 printable characters", "muss 16 bis 256 druckbare Zeichen lang sein"
        )


def create(*, integration_id: str, organization_id: str, name: str, notes: str, region: str, now: datetime) -> Change:
    created = Integration(
        id=check_integration_id(integration_id),
        organization_id=organization_id,
        name=check_name(name),
        notes=check_notes(notes),
        region=region,
        account_sid=None,
        auth_token=None,
        shared_key=None,
        status=IntegrationStatus.INACTIVE,
        version=1,
        created_at=now,
        updated_at=now,
    )
    return Change(Action.CREATED, None, created)


def _bump(current: Integration, now: datetime, **changes: Any) -> Integration:
    return replace(current, version=current.version + 1, updated_at=now, **changes)


def edit(current: Integration, *, name: str | None, notes: str | None, now: datetime) -> Change:
    new_name = check_name(name) if name is not None else current.name
    new_notes = check_notes(notes) if notes is not None else current.notes
    if (new_name, new_notes) == (current.name, current.notes):
        return Change(Action.EDITED, current, current)
    return Change(Action.EDITED, current, _bump(current, now, name=new_name, notes=new_notes))


def set_credentials(
    current: Integration,
    *,
    account_sid: str,
    auth_token: SealedSecret,
    shared_key: SealedSecret | None,
    now: datetime,
) -> Change:
    """Store new credentials (already validated with Twilio and sealed). Always a change: rotation."""
    updated = _bump(current, now, account_sid=account_sid, auth_token=auth_token, shared_key=shared_key)
    return Change(Action.CREDENTIALS_SET, current, updated)


def activate(current: Integration, *, now: datetime) -> Change:
    if current.status is IntegrationStatus.ACTIVE:
        return Change(Action.ACTIVATED, current, current)
    if not current.has_credentials:
        raise Conflict("integration_no_credentials")
    return Change(Action.ACTIVATED, current, _bump(current, now, status=IntegrationStatus.ACTIVE))


def deactivate(current: Integration, *, now: datetime) -> Change:
    if current.status is IntegrationStatus.INACTIVE:
        return Change(Action.DEACTIVATED, current, current)
    return Change(Action.DEACTIVATED, current, _bump(current, now, status=IntegrationStatus.INACTIVE))


def delete(current: Integration) -> Change:
    return Change(Action.DELETED, current, None)


def check_version(current: Integration, expected: int | None) -> None:
    """Optimistic concurrency: the caller's version (If-Match) must be the stored one."""
    if expected is not None and expected != current.version:
        raise Conflict("version_conflict")


def snapshot(integration: Integration) -> IntegrationSnapshot:
    """The integration as events show it: no secrets, only whether they are set."""
    return IntegrationSnapshot(
        integration_id=integration.id,
        name=integration.name,
        notes=integration.notes,
        account_sid=integration.account_sid,
        has_credentials=integration.has_credentials,
        has_shared_key=integration.shared_key is not None,
        region=integration.region,
        status=integration.status,
        version=integration.version,
        created_at=integration.created_at,
        updated_at=integration.updated_at,
    )


def state_payload(integration: Integration) -> IntegrationStatePayload:
    """The record for the compacted state topic: the token stays sealed."""
    return IntegrationStatePayload(
        integration_id=integration.id,
        account_sid=integration.account_sid,
        auth_token=integration.auth_token,
        shared_key=integration.shared_key,
        region=integration.region,
        status=integration.status,
        version=integration.version,
    )


def audit_view(integration: Integration | None) -> dict[str, Any] | None:
    """What the audit log records of an integration: everything but the sealed secrets."""
    if integration is None:
        return None
    return snapshot(integration).model_dump(mode="json")

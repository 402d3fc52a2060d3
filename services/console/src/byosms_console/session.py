"""Who is signed in: the bearer token in the session cookie, and what it lets the user do.

The console reads the token's claims only to show the user who they are and to disable controls
they lack the permission for; it never trusts them: the admin API verifies every call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

TOKEN_COOKIE = "byosms_console_token"  # noqa: S105 - a cookie name, not a secret
LANGUAGE_COOKIE = "byosms_console_lang"

INTEGRATION_ADD = "integrations:integration:add"
INTEGRATION_VIEW = "integrations:integration:view"
INTEGRATION_EDIT = "integrations:integration:edit"
INTEGRATION_DELETE = "integrations:integration:delete"
PHONE_NUMBER_ALL = "sms:phoneNumber:all"
# Issue 11's finer permissions; sms:phoneNumber:all grants each of them.
PHONE_NUMBER_VIEW = "sms:phoneNumber:view"
PHONE_NUMBER_EDIT = "sms:phoneNumber:edit"
PHONE_NUMBER_DELETE = "sms:phoneNumber:delete"
PHONE_NUMBER_IMPORT = "sms:phoneNumber:byoImport"

SEED_PERMISSIONS = (INTEGRATION_ADD, INTEGRATION_DELETE, INTEGRATION_EDIT, INTEGRATION_VIEW, PHONE_NUMBER_ALL)
FINER_PERMISSIONS = (PHONE_NUMBER_VIEW, PHONE_NUMBER_EDIT, PHONE_NUMBER_DELETE, PHONE_NUMBER_IMPORT)


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as the token describes them."""

    token: str
    subject: str
    organization_id: str
    permissions: frozenset[str]
    expires_at: int

    def may(self, permission: str) -> bool:
        if permission in self.permissions:
            return True
        return permission.startswith("sms:phoneNumber:") and PHONE_NUMBER_ALL in self.permissions

    def lacking(self, permission: str) -> str | None:
        """The permission to name as the reason a control is disabled, or None when it is allowed."""
        return None if self.may(permission) else permission


class NotAToken(ValueError):
    """The text is not a JWT with the claims the console needs."""


def viewer_of(token: str, now: float | None = None) -> Viewer:
    """The viewer a token describes (signature not checked here: the API checks it on every call)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise NotAToken() from None
    subject, org, permissions, exp = (
        claims.get("sub"),
        claims.get("org"),
        claims.get("permissions", []),
        claims.get("exp"),
    )
    if not isinstance(subject, str) or not isinstance(org, str) or not isinstance(exp, int):
        raise NotAToken()
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise NotAToken()
    viewer = Viewer(token, subject, org, frozenset(permissions), exp)
    if viewer.expires_at <= (time.time() if now is None else now):
        raise TokenExpired()
    return viewer


class TokenExpired(NotAToken):
    """The token's ``exp`` has passed."""

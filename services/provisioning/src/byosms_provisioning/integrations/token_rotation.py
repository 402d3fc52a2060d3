"""Auth Token rotation without loss, and the signature mode, as pure transitions (no I/O, no clock).

Twilio signs webhooks with the account's primary Auth Token, and promoting the secondary token deletes
the old primary at once: webhooks signed a moment earlier (in flight, retried) carry the old token's
signature, those after it the new one's. So the tenant first gives byosms the *next* token (its
secondary token), which opens a rotation window: the ingress accepts webhooks signed with either token.
Then the tenant promotes it in Twilio, and confirms in byosms: the next token becomes the current one and
only it validates from then on. A window that is not confirmed closes by itself at ``expires_at``: the
next token is dropped, the current one stays. New credentials (``model.set_credentials``) end a window
too.

The signature mode is ``enforce`` (a bad signature is refused, the default) or ``observe`` (the failure
is counted, reported and logged, the message still accepted): for the first hours behind a new proxy
that may rewrite what Twilio signed. Observe mode is time-limited: it holds for ``OBSERVE_DEFAULT``
(24 hours) unless the tenant names a duration, at most ``OBSERVE_MAX`` (7 days); at
``signature_mode_expires_at`` the integration is back in enforce (the ingress by itself, the stored
state through :func:`end_observe`, run by the expiry job).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import get_args

from byosms_common.errors import Conflict, InvalidField
from byosms_common.messages import SealedSecret, SignatureMode
from byosms_provisioning.integrations.model import Action, Change, Integration, _bump

SIGNATURE_MODES: tuple[str, ...] = get_args(SignatureMode)
OBSERVE_DEFAULT = timedelta(hours=24)
OBSERVE_MAX = timedelta(days=7)
OBSERVE_MIN = timedelta(minutes=1)


def start(current: Integration, next_token: SealedSecret, *, window: timedelta, now: datetime) -> Change:
    """Open (or restart with another token) the rotation window; needs credentials."""
    if not current.has_credentials:
        raise Conflict("integration_no_credentials")
    updated = _bump(
        current,
        now,
        next_auth_token=next_token,
        next_auth_token_started_at=now,
        next_auth_token_expires_at=now + window,
    )
    return Change(Action.AUTH_TOKEN_ROTATION_STARTED, current, updated)


def confirm(current: Integration, promoted: SealedSecret, *, now: datetime) -> Change:
    """Close the window: the next token (re-sealed as ``promoted`` for the current slot) is the token now."""
    if current.next_auth_token is None:
        raise Conflict("auth_token_rotation_not_started")
    updated = _bump(
        current,
        now,
        auth_token=promoted,
        next_auth_token=None,
        next_auth_token_started_at=None,
        next_auth_token_expires_at=None,
    )
    return Change(Action.AUTH_TOKEN_ROTATION_CONFIRMED, current, updated)


def end(current: Integration, *, now: datetime, only_if_expired: bool = False) -> Change:
    """Close the window without the new token (cancelled, or its time is up): the current token stays.

    ``only_if_expired``: change nothing unless the window's time has passed (the expiry job)."""
    expires = current.next_auth_token_expires_at
    if current.next_auth_token is None or (only_if_expired and (expires is None or expires > now)):
        return Change(Action.AUTH_TOKEN_ROTATION_ENDED, current, current)
    updated = _bump(
        current, now, next_auth_token=None, next_auth_token_started_at=None, next_auth_token_expires_at=None
    )
    return Change(Action.AUTH_TOKEN_ROTATION_ENDED, current, updated)


def set_signature_mode(
    current: Integration, mode: str, *, now: datetime, observe_for: timedelta | None = None
) -> Change:
    """Enforce, or observe for ``observe_for`` (default ``OBSERVE_DEFAULT``, 1 minute to ``OBSERVE_MAX``).

    Observe again while observing starts its time anew; enforce while enforcing changes nothing."""
    if mode not in SIGNATURE_MODES:
        raise InvalidField("mode", "must be enforce or observe", "muss enforce oder observe sein")
    if mode == "enforce":
        if observe_for is not None:
            raise InvalidField("observe_hours", "only with mode observe", "nur mit mode observe")
        if current.signature_mode == "enforce" and current.signature_mode_expires_at is None:
            return Change(Action.SIGNATURE_MODE_SET, current, current)
        return Change(
            Action.SIGNATURE_MODE_SET,
            current,
            _bump(current, now, signature_mode="enforce", signature_mode_expires_at=None),
        )
    duration = OBSERVE_DEFAULT if observe_for is None else observe_for
    if not OBSERVE_MIN <= duration <= OBSERVE_MAX:
        raise InvalidField(
            "observe_hours",
            "must be from 1 minute to 168 hours (7 days)",
            "muss zwischen 1 Minute und 168 Stunden (7 Tagen) liegen",
        )
    if current.signature_mode == "observe" and current.signature_mode_expires_at == now + duration:
        return Change(Action.SIGNATURE_MODE_SET, current, current)
    updated = _bump(current, now, signature_mode="observe", signature_mode_expires_at=now + duration)
    return Change(Action.SIGNATURE_MODE_SET, current, updated)


def end_observe(current: Integration, *, now: datetime) -> Change:
    """Back to enforce when observe mode's time is up (or it has none); otherwise nothing changes."""
    if current.signature_mode != "observe" or current.effective_signature_mode(now) == "observe":
        return Change(Action.SIGNATURE_MODE_EXPIRED, current, current)
    updated = _bump(current, now, signature_mode="enforce", signature_mode_expires_at=None)
    return Change(Action.SIGNATURE_MODE_EXPIRED, current, updated)

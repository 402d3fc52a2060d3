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
that may rewrite what Twilio signed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import get_args

from byosms_common.errors import Conflict, InvalidField
from byosms_common.messages import SealedSecret, SignatureMode
from byosms_provisioning.integrations.model import Action, Change, Integration, _bump

SIGNATURE_MODES: tuple[str, ...] = get_args(SignatureMode)


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


def set_signature_mode(current: Integration, mode: str, *, now: datetime) -> Change:
    if mode not in SIGNATURE_MODES:
        raise InvalidField("mode", "must be enforce or observe", "muss enforce oder observe sein")
    chosen: SignatureMode = "observe" if mode == "observe" else "enforce"
    if chosen == current.signature_mode:
        return Change(Action.SIGNATURE_MODE_SET, current, current)
    return Change(Action.SIGNATURE_MODE_SET, current, _bump(current, now, signature_mode=chosen))

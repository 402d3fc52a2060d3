"""Which of a tenant's Auth Tokens routing uses for Twilio's REST API (pure).

During an Auth Token rotation window (docs/recovery-and-rotation.md) the integration's state carries the
next token: Twilio's secondary token, which authenticates the REST API before its promotion and, as the
new primary, after it, while the current token stops working the moment the tenant promotes. So the
next token is used while the window is open; otherwise the current one.
"""

from __future__ import annotations

from datetime import datetime

from byosms_common.messages import IntegrationStatePayload, SealedSecret

CURRENT_FIELD = "auth_token"
NEXT_FIELD = "auth_token_next"


def rest_token(state: IntegrationStatePayload, now: datetime) -> tuple[str, SealedSecret] | None:
    """(sealed field name, sealed token) for REST calls; None without credentials."""
    expires = state.next_auth_token_expires_at
    if state.next_auth_token is not None and expires is not None and now < expires:
        return NEXT_FIELD, state.next_auth_token
    if state.auth_token is not None:
        return CURRENT_FIELD, state.auth_token
    return None

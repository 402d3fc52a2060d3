"""Twilio-style SIDs: two-letter prefix + 32 lowercase hex characters."""

from __future__ import annotations

import re
import secrets

SID_RE = re.compile(r"^[A-Z]{2}[0-9a-f]{32}$")


def new_sid(prefix: str) -> str:
    if len(prefix) != 2 or not prefix.isupper():
        raise ValueError(prefix)
    return prefix + secrets.token_hex(16)


def new_token() -> str:
    """A random 32-hex auth token (same shape as Twilio's)."""
    return secrets.token_hex(16)

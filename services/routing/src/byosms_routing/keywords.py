"""Twilio's default opt-out and opt-in keywords (twilio-facts 7.1). Pure.

Only a message that is exactly one keyword counts ("STOP PLEASE" does not); case and surrounding
white space are ignored.
"""

from __future__ import annotations

from enum import StrEnum

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})


class Consent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


def consent_keyword(body: str) -> tuple[Consent, str] | None:
    """Whether ``body`` is an opt-out or opt-in keyword, and which one (upper case)."""
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return Consent.OPT_OUT, word
    if word in OPT_IN_KEYWORDS:
        return Consent.OPT_IN, word
    return None

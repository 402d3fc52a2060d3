"""Twilio's default opt-out and opt-in keywords (twilio-facts 7.1) and Advanced Opt-Out's
``OptOutType`` (7.2). Pure.

Only a message that is exactly one keyword counts ("STOP PLEASE" does not); case, surrounding white
space, punctuation and quotes ("Stop!", "\u201cSTOP\u201d") and invisible format characters (zero-width
space, BOM, ...) are ignored. When Twilio's Advanced Opt-Out matched a keyword, the webhook's
``OptOutType`` (STOP/START/HELP) is authoritative and wins over our own parsing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from enum import StrEnum

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})


class Consent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


def _bare_word(body: str) -> str:
    """``body`` without format characters (category Cf), then without surrounding white space,
    punctuation and symbols, upper case."""
    visible = "".join(ch for ch in body if unicodedata.category(ch) != "Cf")
    start, end = 0, len(visible)
    while start < end and _surrounding(visible[start]):
        start += 1
    while end > start and _surrounding(visible[end - 1]):
        end -= 1
    return visible[start:end].upper()


def _surrounding(ch: str) -> bool:
    category = unicodedata.category(ch)
    return ch.isspace() or category[0] in ("P", "S", "Z") or category == "Cc"


def consent_keyword(body: str, raw: Mapping[str, Sequence[str]] | None = None) -> tuple[Consent, str] | None:
    """Whether the inbound message is an opt-out or opt-in, and which keyword (upper case).

    ``raw`` are the webhook's parameters: a Twilio ``OptOutType`` of STOP or START decides (HELP, or
    an unknown value, means no consent change); without it ``body`` must be exactly one keyword.
    """
    opt_out_type = next(iter((raw or {}).get("OptOutType") or ()), "").strip().upper()
    word = _bare_word(body)
    if opt_out_type == "STOP":
        return Consent.OPT_OUT, word or "STOP"
    if opt_out_type == "START":
        return Consent.OPT_IN, word or "START"
    if opt_out_type:
        return None  # HELP (or a type we do not know): not a consent signal
    if word in OPT_OUT_KEYWORDS:
        return Consent.OPT_OUT, word
    if word in OPT_IN_KEYWORDS:
        return Consent.OPT_IN, word
    return None

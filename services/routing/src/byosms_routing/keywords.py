"""Which compliance keyword an inbound message is, if any, and whether byosms must answer it. Pure.

Long codes and toll-free numbers: Twilio answers its standard keywords itself (twilio-facts 7.1:
opt-out STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT; opt-in START, YES, UNSTOP;
help HELP, INFO), so byosms only records them. Short codes: Twilio does nothing (7.3), so a message
equal to a keyword of one of the number's compliance blocks (given at import or with
``number.set_compliance``) is answered with that block's message; the carriers' standard opt-out
words, HELP/INFO and START/UNSTOP count as well and are answered with the matching block's message.
When Twilio's Advanced Opt-Out matched (a Messaging Service; the webhook carries ``OptOutType``),
Twilio has answered already: its type decides and byosms sends nothing.

Only a message that is exactly one keyword counts ("STOP PLEASE" does not); case, surrounding white
space, punctuation and quotes ("Stop!", "\u201cSTOP\u201d") and invisible format characters (zero-width
space, BOM, ...) are ignored. When Twilio's Advanced Opt-Out matched a keyword, the webhook's
``OptOutType`` (STOP/START/HELP) is authoritative and wins over our own parsing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from byosms_common.messages import Compliance, ComplianceBlock, KeywordKind, NumberType

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
SHORT_CODE_OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
"""Standard re-opt-in words a short code also answers (not YES: an everyday answer to an agent)."""


class Consent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


MAX_KEYWORD_SPAN = 200
"""Longer text between the surrounding characters is never a keyword (configured ones have at most
50 characters), and is not looked at further: a long message costs almost nothing."""


_ASCII_SURROUNDING = "".join(chr(c) for c in range(128) if not chr(c).isalnum())
"""ASCII white space, punctuation, symbols and controls (ASCII has no format characters)."""


def _bare_word(body: str) -> str:
    """``body`` without format characters (category Cf), then without surrounding white space,
    punctuation and symbols, upper case, inner white space as one space; "" when too long to be one."""
    if body.isascii():  # the common case, without a look at each character's category
        core = body.strip(_ASCII_SURROUNDING)
        return " ".join(core.upper().split()) if len(core) <= MAX_KEYWORD_SPAN else ""
    start, end = 0, len(body)
    while start < end and _ignored(body[start]):
        start += 1
    while end > start and _ignored(body[end - 1]):
        end -= 1
    if end - start > MAX_KEYWORD_SPAN:
        return ""
    core = "".join(ch for ch in body[start:end] if unicodedata.category(ch) != "Cf")
    return " ".join(core.upper().split())


def _ignored(ch: str) -> bool:
    return _surrounding(ch) or unicodedata.category(ch) == "Cf"


def _surrounding(ch: str) -> bool:
    category = unicodedata.category(ch)
    return ch.isspace() or category[0] in ("P", "S", "Z") or category == "Cc"


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    """An inbound message that is a compliance keyword."""

    kind: KeywordKind
    keyword: str
    """The keyword as matched (upper case), or Twilio's ``OptOutType`` for an empty body."""
    reply: str | None = None
    """The message byosms sends back (a short code's block), None when Twilio answers or nothing is configured."""


def normalized(text: str) -> str:
    """A message or configured keyword as keywords are compared: see the module docstring."""
    return _bare_word(text)


_TWILIO_TYPES = {"STOP": KeywordKind.OPT_OUT, "START": KeywordKind.OPT_IN, "HELP": KeywordKind.HELP}


def _standard_kind(word: str, *, short_code: bool) -> KeywordKind | None:
    if word in OPT_OUT_KEYWORDS:
        return KeywordKind.OPT_OUT
    if word in (SHORT_CODE_OPT_IN_KEYWORDS if short_code else OPT_IN_KEYWORDS):
        return KeywordKind.OPT_IN
    if word in HELP_KEYWORDS:
        return KeywordKind.HELP
    return None


def _blocks(compliance: Compliance) -> tuple[tuple[KeywordKind, ComplianceBlock], ...]:
    # Opt-out first: should a word be configured in two blocks, the customer's wish to stop wins.
    return (
        (KeywordKind.OPT_OUT, compliance.opt_out),
        (KeywordKind.OPT_IN, compliance.re_opt_in),
        (KeywordKind.HELP, compliance.help),
    )


def classify(
    body: str,
    raw: Mapping[str, Sequence[str]] | None,
    number_type: NumberType | None,
    compliance: Compliance | None,
) -> KeywordMatch | None:
    """The keyword ``body`` is for a number of ``number_type`` with ``compliance`` blocks, or None.

    ``raw`` are the webhook's parameters (``OptOutType``); ``number_type`` None: a number byosms does
    not know, treated like a long code (nothing is answered).
    """
    opt_out_type = next(iter((raw or {}).get("OptOutType") or ()), "").strip().upper()
    word = _bare_word(body)
    if opt_out_type:
        kind = _TWILIO_TYPES.get(opt_out_type)
        return KeywordMatch(kind, word or opt_out_type) if kind is not None else None
    if not word:
        return None
    if number_type is not NumberType.SHORTCODE:
        kind = _standard_kind(word, short_code=False)
        return KeywordMatch(kind, word) if kind is not None else None
    blocks = _blocks(compliance) if compliance is not None else ()
    for kind, block in blocks:
        if any(normalized(keyword) == word for keyword in block.keywords):
            return KeywordMatch(kind, word, block.message.strip() or None)
    standard = _standard_kind(word, short_code=True)
    if standard is None:
        return None
    reply = next((block.message.strip() or None for kind, block in blocks if kind is standard), None)
    return KeywordMatch(standard, word, reply)


def consent_keyword(body: str, raw: Mapping[str, Sequence[str]] | None = None) -> tuple[Consent, str] | None:
    """Whether a message to a long code is an opt-out or opt-in, and which keyword (upper case): a
    Twilio ``OptOutType`` of STOP or START decides (HELP, or an unknown value, means no consent
    change); without it ``body`` must be exactly one standard keyword."""
    found = classify(body, raw, None, None)
    if found is None or found.kind is KeywordKind.HELP:
        return None
    return (Consent.OPT_OUT if found.kind is KeywordKind.OPT_OUT else Consent.OPT_IN), found.keyword

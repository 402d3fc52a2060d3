"""Message text rules: segment counting, E.164 and short-code shapes, opt-out keywords (pure)."""

from __future__ import annotations

import re
from typing import Literal

E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
SHORT_CODE_RE = re.compile(r"^[0-9]{3,8}$")

# GSM 03.38 basic set; the extension table characters cost two septets.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = "^{}\\[~]|€\f"

# Twilio's default keywords (twilio-facts section 7.1). Only a message that is exactly one keyword counts.
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

KeywordType = Literal["STOP", "START", "HELP"]


def is_e164(value: str) -> bool:
    return bool(E164_RE.match(value))


def is_short_code(value: str) -> bool:
    return bool(SHORT_CODE_RE.match(value))


def count_segments(body: str) -> int:
    """SMS segments: GSM-7 160/153 septets, otherwise UCS-2 70/67 (UTF-16 code units)."""
    if not body:
        return 1
    if all(c in _GSM_BASIC or c in _GSM_EXT for c in body):
        units = sum(2 if c in _GSM_EXT else 1 for c in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


def classify_keyword(body: str) -> KeywordType | None:
    """STOP/START/HELP when the whole body is one keyword (case-insensitive), else None."""
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return "STOP"
    if word in OPT_IN_KEYWORDS:
        return "START"
    if word in HELP_KEYWORDS:
        return "HELP"
    return None


def country_of(number: str) -> str:
    """Very small geo lookup for webhook Geo fields; empty when unknown (Twilio sends blanks too)."""
    prefixes = {"+1": "US", "+44": "GB", "+49": "DE", "+43": "AT", "+41": "CH", "+33": "FR", "+61": "AU"}
    for prefix, country in prefixes.items():
        if number.startswith(prefix):
            return country
    if is_short_code(number):
        return "US"
    return ""

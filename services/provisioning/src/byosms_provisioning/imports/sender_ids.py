"""Sender ids of an import: is it well formed for its type, and does it match its country?

Pure functions, no I/O. Long codes (local, mobile, toll-free) must be given in E.164 and are
parsed with ``phonenumbers``; short codes are 5–6 digits plus the country they are provisioned
in. The result carries the inventory *address* (E.164, or ``<COUNTRY>:<shortcode>``) and the value
to look up at Twilio.

Order of the checks (issue 6): the sender id's form for its type first
(``sender_id_type_invalid``), then its country (``sender_id_country_mismatch``), then the
compliance blocks of a short code (``compliance_missing``).
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from byosms_common.errors import InvalidInput
from byosms_common.messages import Compliance, ComplianceBlock, NumberType

SHORT_CODE_LENGTHS = (5, 6)

# Kinds the library reports that contradict the chosen type. Only clear contradictions are listed:
# where libphonenumber cannot tell (FIXED_LINE_OR_MOBILE in North America, VOIP, UAN, ...) the
# tenant's choice stands, because Twilio sells "local" numbers that the library files under several
# kinds.
_CONTRADICTIONS: dict[NumberType, frozenset[int]] = {
    NumberType.LOCAL: frozenset({PhoneNumberType.TOLL_FREE, PhoneNumberType.MOBILE, PhoneNumberType.PREMIUM_RATE}),
    NumberType.MOBILE: frozenset({PhoneNumberType.TOLL_FREE, PhoneNumberType.FIXED_LINE, PhoneNumberType.PREMIUM_RATE}),
    NumberType.TOLLFREE: frozenset(
        {
            PhoneNumberType.FIXED_LINE,
            PhoneNumberType.MOBILE,
            PhoneNumberType.FIXED_LINE_OR_MOBILE,
            PhoneNumberType.PREMIUM_RATE,
        }
    ),
}


@dataclass(frozen=True, slots=True)
class SenderId:
    """A validated sender id."""

    number_type: NumberType
    address: str
    """Inventory key: E.164 for long codes, ``<COUNTRY>:<digits>`` for short codes."""
    country: str
    """ISO 3166 alpha-2, upper case."""
    vendor_value: str
    """What Twilio lists it as: the E.164 number, or the short code's digits."""

    @property
    def is_short_code(self) -> bool:
        return self.number_type is NumberType.SHORTCODE


def short_code_address(country: str, digits: str) -> str:
    return f"{country}:{digits}"


def validate_sender_id(number_type: NumberType, sender_id: str, country: str | None) -> SenderId:
    """Check form and country of a sender id; raise :class:`InvalidInput` with the seed's code."""
    if number_type is NumberType.SHORTCODE:
        return _short_code(sender_id, country)
    return _long_code(number_type, sender_id, country)


def _long_code(number_type: NumberType, sender_id: str, country: str | None) -> SenderId:
    raw = sender_id.strip()
    if not raw.startswith("+"):
        raise InvalidInput("sender_id_type_invalid")
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise InvalidInput("sender_id_type_invalid") from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    # The library is lenient on input (spaces, dashes, letters, extensions); E.164 is required, so the
    # input must already be the canonical form.
    if e164 != raw or parsed.extension or not phonenumbers.is_valid_number(parsed):
        raise InvalidInput("sender_id_type_invalid")
    if phonenumbers.number_type(parsed) in _CONTRADICTIONS[number_type]:
        raise InvalidInput("sender_id_type_invalid")
    if country is None or not country.strip():
        region = phonenumbers.region_code_for_number(parsed)
        if not region or region == "001":
            raise InvalidInput("sender_id_country_mismatch")
        return SenderId(number_type, e164, region, e164)
    wanted = _country(country)
    # The calling code alone is not enough: +1 is shared by the US, Canada and the Caribbean (and +44,
    # +7, ... by several regions), and the inventory stores the country. The number must be valid in
    # the region given, so a Canadian +1 number imported as US is refused; numbers valid in several
    # regions (NANP toll-free) are accepted for each of them.
    if wanted is None or not phonenumbers.is_valid_number_for_region(parsed, wanted):
        raise InvalidInput("sender_id_country_mismatch")
    return SenderId(number_type, e164, wanted, e164)


def _short_code(sender_id: str, country: str | None) -> SenderId:
    digits = sender_id.strip()
    if len(digits) not in SHORT_CODE_LENGTHS or not (digits.isascii() and digits.isdigit()):
        raise InvalidInput("sender_id_type_invalid")
    wanted = _country(country) if country is not None else None
    if wanted is None:
        raise InvalidInput("sender_id_country_mismatch")
    return SenderId(NumberType.SHORTCODE, short_code_address(wanted, digits), wanted, digits)


def _country(country: str) -> str | None:
    """The upper-case ISO alpha-2 code if the library knows the region, else None."""
    code = country.strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return None
    return code if phonenumbers.country_code_for_region(code) else None


def _complete(block: ComplianceBlock | None) -> bool:
    if block is None:
        return False
    return any(k.strip() for k in block.keywords) and bool(block.message.strip())


def _blank(block: ComplianceBlock) -> bool:
    """A block with neither a keyword nor a message: not given (forms send empty blocks)."""
    return not any(k.strip() for k in block.keywords) and not block.message.strip()


def validate_compliance(sender: SenderId, compliance: Compliance | None) -> Compliance | None:
    """Short codes need help, opt-out and re-opt-in blocks, each with a keyword and a message.

    Long codes need none; but once any block is given for a long code, all three must be complete,
    as for a short code: the blocks are used for keyword replies, so a partial set is refused
    (``compliance_missing``) rather than silently dropped or kept half. Blocks that are entirely
    blank count as not given. Returns the blocks with blank keywords dropped, duplicates removed
    and surrounding whitespace trimmed.
    """
    if not sender.is_short_code and (
        compliance is None or all(_blank(b) for b in (compliance.help, compliance.opt_out, compliance.re_opt_in))
    ):
        return None
    if compliance is None or not all(_complete(b) for b in (compliance.help, compliance.opt_out, compliance.re_opt_in)):
        raise InvalidInput("compliance_missing")
    return Compliance(
        help=_clean(compliance.help),
        opt_out=_clean(compliance.opt_out),
        re_opt_in=_clean(compliance.re_opt_in),
    )


def _clean(block: ComplianceBlock) -> ComplianceBlock:
    keywords = tuple(dict.fromkeys(k.strip() for k in block.keywords if k.strip()))
    return ComplianceBlock(keywords=keywords, message=block.message.strip())

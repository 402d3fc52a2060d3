"""Sender-id form, type and country checks of a number import (issue 6, checks 2–4)."""

from __future__ import annotations

import pytest

from byosms_common.errors import CATALOG, InvalidInput
from byosms_common.messages import Compliance, ComplianceBlock, NumberType
from byosms_provisioning.imports.sender_ids import validate_compliance, validate_sender_id

pytestmark = pytest.mark.unit

LOCAL, MOBILE, TOLLFREE, SHORT = NumberType.LOCAL, NumberType.MOBILE, NumberType.TOLLFREE, NumberType.SHORTCODE

VALID = [
    # label, type, sender id, country, expected address, expected country
    ("US local, country given", LOCAL, "+14155550100", "US", "+14155550100", "US"),
    ("US local, country derived", LOCAL, "+14155550100", None, "+14155550100", "US"),
    ("US local as mobile (library can't tell)", MOBILE, "+14155550100", "US", "+14155550100", "US"),
    ("country in lower case", LOCAL, "+14155550100", "us", "+14155550100", "US"),
    ("surrounding blanks", LOCAL, " +14155550100 ", "US", "+14155550100", "US"),
    ("Canadian number, country CA", LOCAL, "+16135550123", "CA", "+16135550123", "CA"),
    ("Canadian number, country derived", LOCAL, "+16135550123", None, "+16135550123", "CA"),
    ("NANP toll-free is valid in Canada", TOLLFREE, "+18885550100", "CA", "+18885550100", "CA"),
    ("US toll-free", TOLLFREE, "+18885550100", "US", "+18885550100", "US"),
    ("German toll-free", TOLLFREE, "+4980012345678", "DE", "+4980012345678", "DE"),
    ("German mobile", MOBILE, "+4915112345678", "DE", "+4915112345678", "DE"),
    ("German landline", LOCAL, "+493012345678", "DE", "+493012345678", "DE"),
    ("UK landline", LOCAL, "+442071838750", "GB", "+442071838750", "GB"),
    ("short code, 5 digits", SHORT, "12345", "US", "US:12345", "US"),
    ("short code, 6 digits", SHORT, "894546", "us", "US:894546", "US"),
]


@pytest.mark.parametrize(
    ("number_type", "sender_id", "country", "address", "want_country"),
    [pytest.param(*row[1:], id=row[0]) for row in VALID],
)
def test_valid_sender_ids(
    number_type: NumberType, sender_id: str, country: str | None, address: str, want_country: str
) -> None:
    sender = validate_sender_id(number_type, sender_id, country)
    assert sender.address == address
    assert sender.country == want_country
    assert sender.vendor_value == (sender_id.strip() if number_type is SHORT else address)


INVALID = [
    # label, type, sender id, country, expected code
    ("no plus", LOCAL, "14155550100", "US", "sender_id_type_invalid"),
    ("national format", LOCAL, "(415) 555-0100", "US", "sender_id_type_invalid"),
    ("spaces inside", LOCAL, "+1 415 555 0100", "US", "sender_id_type_invalid"),
    ("dashes inside", LOCAL, "+1-415-555-0100", "US", "sender_id_type_invalid"),
    ("letters (vanity)", TOLLFREE, "+1800FLOWERS", "US", "sender_id_type_invalid"),
    ("extension", LOCAL, "+14155550100;ext=12", "US", "sender_id_type_invalid"),
    ("too short", LOCAL, "+1415555", "US", "sender_id_type_invalid"),
    ("too long", LOCAL, "+1415555010099", "US", "sender_id_type_invalid"),
    ("invalid area code", LOCAL, "+10005550100", "US", "sender_id_type_invalid"),
    ("empty", LOCAL, "", "US", "sender_id_type_invalid"),
    ("plus only", MOBILE, "+", "US", "sender_id_type_invalid"),
    ("unassigned UK range", MOBILE, "+447700900123", "GB", "sender_id_type_invalid"),
    ("toll-free imported as mobile", MOBILE, "+18885550100", "US", "sender_id_type_invalid"),
    ("toll-free imported as local", LOCAL, "+18005550100", "US", "sender_id_type_invalid"),
    ("German landline imported as mobile", MOBILE, "+493012345678", "DE", "sender_id_type_invalid"),
    ("German mobile imported as local", LOCAL, "+4915112345678", "DE", "sender_id_type_invalid"),
    ("German mobile imported as toll-free", TOLLFREE, "+4915112345678", "DE", "sender_id_type_invalid"),
    ("US geographic imported as toll-free", TOLLFREE, "+14155550100", "US", "sender_id_type_invalid"),
    ("premium rate as local", LOCAL, "+19005550100", "US", "sender_id_type_invalid"),
    ("short code, 4 digits", SHORT, "1234", "US", "sender_id_type_invalid"),
    ("short code, 7 digits", SHORT, "1234567", "US", "sender_id_type_invalid"),
    ("short code with letters", SHORT, "12a45", "US", "sender_id_type_invalid"),
    ("short code with plus", SHORT, "+12345", "US", "sender_id_type_invalid"),
    ("short code, non-ASCII digits", SHORT, "١٢٣٤٥", "US", "sender_id_type_invalid"),
    ("E.164 number as short code", SHORT, "+14155550100", "US", "sender_id_type_invalid"),
    ("US number with country DE", LOCAL, "+14155550100", "DE", "sender_id_country_mismatch"),
    # +1 is shared: the country must be the number's region, not only share its calling code.
    ("Canadian number imported as US", LOCAL, "+16135550123", "US", "sender_id_country_mismatch"),
    ("Toronto number imported as US", LOCAL, "+14165551234", "US", "sender_id_country_mismatch"),
    ("US number imported as CA", LOCAL, "+14155550100", "CA", "sender_id_country_mismatch"),
    ("Bahamas number imported as US", MOBILE, "+12423570000", "US", "sender_id_country_mismatch"),
    ("German number with country US", MOBILE, "+4915112345678", "US", "sender_id_country_mismatch"),
    ("UK number with country DE", LOCAL, "+442071838750", "DE", "sender_id_country_mismatch"),
    ("unknown country", LOCAL, "+14155550100", "XX", "sender_id_country_mismatch"),
    ("alpha-3 country", LOCAL, "+14155550100", "USA", "sender_id_country_mismatch"),
    ("short code without country", SHORT, "12345", None, "sender_id_country_mismatch"),
    ("short code with blank country", SHORT, "12345", " ", "sender_id_country_mismatch"),
    ("short code with unknown country", SHORT, "12345", "ZZ", "sender_id_country_mismatch"),
    # The type check comes before the country check.
    ("bad form and bad country", LOCAL, "415", "XX", "sender_id_type_invalid"),
]


@pytest.mark.parametrize(
    ("number_type", "sender_id", "country", "code"),
    [pytest.param(*row[1:], id=row[0]) for row in INVALID],
)
def test_invalid_sender_ids(number_type: NumberType, sender_id: str, country: str | None, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_sender_id(number_type, sender_id, country)
    assert caught.value.code == code


def test_seed_messages_are_served() -> None:
    assert CATALOG["sender_id_type_invalid"].en == "Please check your sender ID type."
    assert CATALOG["sender_id_country_mismatch"].en == "Please check your sender ID's country code."
    assert InvalidInput("sender_id_type_invalid").message("de") == "Bitte überprüfen Sie den Typ Ihrer Absender-ID."


def _block(keywords: tuple[str, ...] = ("HELP",), message: str = "Acme: help at acme.example") -> ComplianceBlock:
    return ComplianceBlock(keywords=keywords, message=message)


def _compliance(**blocks: ComplianceBlock) -> Compliance:
    base = {"help": _block(), "opt_out": _block(("STOP",)), "re_opt_in": _block(("START",))}
    return Compliance.model_validate({**base, **blocks})


SHORT_SENDER = validate_sender_id(SHORT, "12345", "US")
LONG_SENDER = validate_sender_id(LOCAL, "+14155550100", "US")


@pytest.mark.parametrize(
    "compliance",
    [
        pytest.param(None, id="no blocks"),
        pytest.param(_compliance(help=_block(keywords=())), id="help without keyword"),
        pytest.param(_compliance(opt_out=_block(message="")), id="opt-out without message"),
        pytest.param(_compliance(re_opt_in=_block(message="   ")), id="re-opt-in with blank message"),
        pytest.param(_compliance(help=_block(keywords=(" ", "\t"))), id="help with blank keywords only"),
    ],
)
def test_short_code_needs_all_compliance_blocks(compliance: Compliance | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_compliance(SHORT_SENDER, compliance)
    assert caught.value.code == "compliance_missing"
    assert caught.value.message() == (
        "Please provide the required compliance keywords and messages for your sender ID."
    )


def test_complete_compliance_is_cleaned() -> None:
    given = _compliance(help=_block(keywords=(" HELP ", " ", "INFO", "HELP"), message=" Acme help "))
    cleaned = validate_compliance(SHORT_SENDER, given)
    assert cleaned is not None
    assert cleaned.help == ComplianceBlock(keywords=("HELP", "INFO"), message="Acme help")


def test_long_codes_need_no_compliance() -> None:
    assert validate_compliance(LONG_SENDER, None) is None
    given = _compliance(help=_block(keywords=(" HELP ", "HELP"), message=" Acme help "))
    # Blocks given for a long code are kept, cleaned exactly as a short code's.
    assert validate_compliance(LONG_SENDER, given) == validate_compliance(SHORT_SENDER, given)


def test_long_code_with_only_blank_blocks_has_none() -> None:
    blank = ComplianceBlock(keywords=(" ",), message=" ")
    assert validate_compliance(LONG_SENDER, Compliance(help=blank, opt_out=blank, re_opt_in=blank)) is None


@pytest.mark.parametrize(
    "compliance",
    [
        pytest.param(_compliance(help=_block(keywords=())), id="help without keyword"),
        pytest.param(_compliance(opt_out=_block(message="")), id="opt-out without message"),
        pytest.param(_compliance(re_opt_in=_block(keywords=(), message="")), id="re-opt-in not given"),
    ],
)
def test_long_code_with_some_blocks_needs_all_of_them(compliance: Compliance) -> None:
    # Compliance is optional for a long code, but blocks that are given are used for keyword
    # replies, so a partial set is refused like a short code's instead of being dropped silently.
    with pytest.raises(InvalidInput) as caught:
        validate_compliance(LONG_SENDER, compliance)
    assert caught.value.code == "compliance_missing"

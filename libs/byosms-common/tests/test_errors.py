import string

import pytest

from byosms_common.errors import CATALOG, ByosmsError, InvalidInput, pick_language, render

pytestmark = pytest.mark.unit


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_every_code_has_english_and_german_with_the_same_placeholders(code: str) -> None:
    text = CATALOG[code]
    assert text.en.strip()
    assert text.de.strip()
    assert text.en != text.de
    assert _fields(text.en) == _fields(text.de)
    assert 400 <= text.http_status < 600


def test_seed_messages_are_verbatim() -> None:
    assert render("provisioning_in_progress") == "A provisioning action is already in progress for this phone number."
    assert render("number_not_found_at_vendor", "de") == "Diese Telefonnummer ist beim Verkäufer nicht zu finden."


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, "en"), ("de-DE,de;q=0.9,en;q=0.8", "de"), ("en-US,de;q=0.5", "en"), ("fr", "en"), ("de;q=x", "en")],
)
def test_language_negotiation(header: str | None, expected: str) -> None:
    assert pick_language(header) == expected


def test_errors_render_params_and_refuse_unknown_codes() -> None:
    err = InvalidInput(detail="name is missing")
    assert err.http_status == 400
    assert err.message("de") == "Die Anfrage ist ungültig: name is missing"
    with pytest.raises(ValueError, match="unknown error code"):
        ByosmsError("no_such_code")

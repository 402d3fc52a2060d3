"""Pure parts of the console: texts in both languages, the import dialog's steps, reading a token,
safe redirects."""

from __future__ import annotations

import re
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from byosms_console import import_form, session, texts
from byosms_console.web_support import local_path

pytestmark = pytest.mark.unit

TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "byosms_console" / "templates"


def test_every_text_has_english_and_german_with_the_same_placeholders() -> None:
    for key, (en, de) in texts.TEXTS.items():
        assert en.strip(), key
        assert de.strip(), key
        assert set(re.findall(r"{(\w+)}", en)) == set(re.findall(r"{(\w+)}", de)), key


def test_every_text_the_templates_name_exists() -> None:
    named = set()
    for template in TEMPLATES.glob("*.html"):
        named |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.-]+)["']""", template.read_text()))
    named = {n for n in named if not n.endswith(".")}  # prefixes of keys built in the template
    assert named, "no t() call found"
    assert named <= set(texts.TEXTS), sorted(named - set(texts.TEXTS))


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "en"),
        (None, "de-DE,de;q=0.9,en;q=0.8", "de"),
        (None, "en-US,en;q=0.9,de;q=0.8", "en"),
        (None, "fr-FR,de;q=0.5", "de"),
        ("en", "de-DE", "en"),
        ("de", "en-US", "de"),
        ("xx", "de", "de"),
    ],
)
def test_the_switch_wins_over_the_browser_language(cookie: str | None, header: str | None, expected: str) -> None:
    assert texts.pick_language(cookie, header) == expected


def test_a_long_code_goes_from_details_to_confirm_and_sends_no_compliance() -> None:
    form = import_form.ImportForm.of(
        {"integration_id": "i1", "type": "local", "sender_id": " +4930123456 ", "country": "DE", "help_message": "x"}
    )
    assert import_form.next_step("details", "next", form) == "confirm"
    assert import_form.next_step("confirm", "back", form) == "details"
    assert import_form.next_step("confirm", "next", form) == "submit"
    assert form.body() == {"integration_id": "i1", "type": "local", "sender_id": "+4930123456"}
    cleared = form.without_compliance_when_long_code()
    assert cleared.values["country"] == ""
    assert cleared.values["help_message"] == ""


def test_a_shortcode_passes_the_compliance_step_and_sends_all_three_blocks() -> None:
    form = import_form.ImportForm.of(
        {
            "integration_id": "i1",
            "type": "shortcode",
            "sender_id": "12345",
            "country": "",
            "help_keywords": "HELP, , INFO",
            "help_message": "Help text",
            "opt_out_keywords": "STOP",
        }
    )
    assert import_form.next_step("details", "next", form) == "compliance"
    assert import_form.next_step("compliance", "next", form) == "confirm"
    assert import_form.next_step("confirm", "back", form) == "compliance"
    assert import_form.next_step("compliance", "back", form) == "details"
    body = form.body()
    assert body["country"] is None  # left for the API to refuse with the seed's words
    assert body["compliance"] == {
        "help": {"keywords": ["HELP", "INFO"], "message": "Help text"},
        "opt_out": {"keywords": ["STOP"], "message": ""},
        "re_opt_in": {"keywords": [], "message": ""},
    }


def _token(**claims: object) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode({"sub": "ann", "org": "acme", "exp": int(time.time()) + 60, **claims}, key, algorithm="RS256")


def test_a_token_tells_who_is_signed_in_and_what_they_may_do() -> None:
    viewer = session.viewer_of(_token(permissions=["integrations:integration:view", "sms:phoneNumber:all"]))
    assert (viewer.subject, viewer.organization_id) == ("ann", "acme")
    assert viewer.may("integrations:integration:view")
    assert viewer.lacking("integrations:integration:add") == "integrations:integration:add"
    assert viewer.may("sms:phoneNumber:view")  # :all grants issue 11's finer permissions
    assert viewer.lacking(session.PHONE_NUMBER_ALL) is None
    only_view = session.viewer_of(_token(permissions=["sms:phoneNumber:view"]))
    assert only_view.lacking(session.PHONE_NUMBER_ALL) == session.PHONE_NUMBER_ALL


@pytest.mark.parametrize("text", ["", "not a token", "a.b.c"])
def test_text_that_is_no_token_is_refused(text: str) -> None:
    with pytest.raises(session.NotAToken):
        session.viewer_of(text)


def test_an_expired_token_is_refused_as_expired() -> None:
    with pytest.raises(session.TokenExpired):
        session.viewer_of(_token(exp=int(time.time()) - 5))
    with pytest.raises(session.NotAToken):
        session.viewer_of(_token(org=7))


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("/numbers?x=1", "/numbers?x=1"),
        ("https://evil.example/", "/integrations"),
        ("//evil.example/", "/integrations"),
        ("/\\evil.example", "/integrations"),
        ("numbers", "/integrations"),
        (None, "/integrations"),
    ],
)
def test_redirects_stay_on_the_console(candidate: str | None, expected: str) -> None:
    assert local_path(candidate) == expected

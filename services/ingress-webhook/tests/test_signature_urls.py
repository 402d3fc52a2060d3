"""Signature URLs as a region's public base URL may be written: an upper-case scheme, credentials, a
port, an IPv6 literal host. Table-driven against twilio-python's ``RequestValidator``.

Every signature the reference accepts is accepted; the only signatures accepted beyond it are over
the URL with just its port removed, where the reference cuts the network location at its first ``:``
(``user:pass@host:8443`` → ``user``, ``[2001:db8::1]:8443`` → ``[2001``) and so refuses what Twilio
signs without the port.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from multidict import MultiDict
from twilio.request_validator import RequestValidator, add_port, remove_port

from byosms_ingress import signature

pytestmark = pytest.mark.unit

TOKEN = "12345678901234567890123456789012"
PARAMS = [("AccountSid", "AC" + "1" * 32), ("Body", "Grüße 👋"), ("FromZip", ""), ("MessageSid", "MM" + "2" * 32)]
PATH = "/vendors/v1/twilio/abcdef12/mo?tenant=a%20b&x=%27"

# (base URL as configured, the same URL with only its port removed, written out by hand)
BASES = [
    ("https://hooks.example.com", None),
    ("HTTPS://hooks.example.com", None),
    ("HTTPS://hooks.example.com:8443", "https://hooks.example.com"),
    ("https://hooks.example.com:443", "https://hooks.example.com"),
    ("HTTP://Hooks.Example.com:8080", "http://Hooks.Example.com"),
    ("https://user:pass@hooks.example.com", None),
    ("HTTPS://user:pass@hooks.example.com:8443", "https://user:pass@hooks.example.com"),
    ("https://user:p%40ss@hooks.example.com:443", "https://user:p%40ss@hooks.example.com"),
    ("https://[2001:db8::1]", None),
    ("https://[2001:db8::1]:8443", "https://[2001:db8::1]"),
    ("http://[::1]:80", "http://[::1]"),
    ("HTTPS://user:pass@[2001:db8::1]:8443", "https://user:pass@[2001:db8::1]"),
]


def _signed_forms(url: str, port_removed: str | None) -> dict[str, str]:
    """The URLs a signature may have been computed over (labels for the test ids)."""
    parsed = urlparse(url)
    forms = {
        "as written": url,
        "lower-case scheme": parsed.geturl(),
        "reference without port": remove_port(parsed),
        "reference with port": add_port(parsed),
        "another path": parsed.geturl().replace("/mo?", "/status?"),
    }
    if port_removed is not None:
        forms["only the port removed"] = port_removed + PATH
    return forms


CASES = [
    pytest.param(base + PATH, label, signed, (base + PATH, port_removed), id=f"{base} signed {label}")
    for base, port_removed in BASES
    for label, signed in _signed_forms(base + PATH, port_removed).items()
]


def _sign(url: str) -> str:
    return str(RequestValidator(TOKEN).compute_signature(url, MultiDict(PARAMS)))


def _ours(url: str, sig: str) -> bool:
    return signature.check_form(TOKEN, url, PARAMS, sig) is signature.Verdict.VALID


@pytest.mark.parametrize(("url", "label", "signed", "case"), CASES)
def test_signature_urls_against_the_reference(url: str, label: str, signed: str, case: tuple[str, str | None]) -> None:
    sig = _sign(signed)
    reference = bool(RequestValidator(TOKEN).validate(url, MultiDict(PARAMS), sig))
    _, port_removed = case
    only_port_removed = port_removed is not None and signed == port_removed + PATH
    assert _ours(url, sig) is (reference or only_port_removed), label
    # Never a signature of another account's token.
    assert not _ours(url, str(RequestValidator("f" * 32).compute_signature(signed, MultiDict(PARAMS))))


@pytest.mark.parametrize(
    ("url", "forms"),
    [
        ("HTTPS://hooks.example.com/mo", ("https://hooks.example.com/mo", "https://hooks.example.com:443/mo")),
        (
            "HTTPS://user:pass@hooks.example.com:8443/mo",
            (
                "https://user/mo",  # twilio-python's remove_port
                "https://user:pass@hooks.example.com:8443/mo",
                "https://user:pass@hooks.example.com/mo",
            ),
        ),
        ("https://[2001:db8::1]/mo", ("https://[2001:db8::1]/mo", "https://[2001:db8::1]:443/mo")),
        (
            "https://[2001:db8::1]:8443/mo",
            ("https://[2001/mo", "https://[2001:db8::1]:8443/mo", "https://[2001:db8::1]/mo"),
        ),
    ],
)
def test_url_variants(url: str, forms: tuple[str, ...]) -> None:
    assert signature.url_variants(url) == forms


def test_a_port_that_is_no_number_is_never_valid() -> None:
    url = "https://hooks.example.com:84x3/mo"
    assert signature.check_form(TOKEN, url, PARAMS, _sign(url)) is signature.Verdict.WRONG

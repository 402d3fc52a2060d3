import pytest

from byosms_routing.keywords import Consent, consent_keyword

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", (Consent.OPT_OUT, "STOP")),
        (" stop\n", (Consent.OPT_OUT, "STOP")),
        ("Unsubscribe", (Consent.OPT_OUT, "UNSUBSCRIBE")),
        ("optout", (Consent.OPT_OUT, "OPTOUT")),
        ("REVOKE", (Consent.OPT_OUT, "REVOKE")),
        ("start", (Consent.OPT_IN, "START")),
        ("YES", (Consent.OPT_IN, "YES")),
        ("unstop", (Consent.OPT_IN, "UNSTOP")),
        ("STOP PLEASE", None),
        ("OPT OUT", None),
        ("HELP", None),
        ("", None),
    ],
)
def test_only_a_single_keyword_counts(body: str, expected: tuple[Consent, str] | None) -> None:
    assert consent_keyword(body) == expected

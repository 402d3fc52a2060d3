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


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP.", (Consent.OPT_OUT, "STOP")),
        ("Stop!", (Consent.OPT_OUT, "STOP")),
        ('"STOP"', (Consent.OPT_OUT, "STOP")),
        ("\u201cstop\u201d", (Consent.OPT_OUT, "STOP")),
        ("STOP\u200b", (Consent.OPT_OUT, "STOP")),
        ("\ufeffunstop\u200d", (Consent.OPT_IN, "UNSTOP")),
        ("(start) ", (Consent.OPT_IN, "START")),
        ("¡Stop! 🛑", (Consent.OPT_OUT, "STOP")),
        ("ST.OP", None),
        ("STOP, please", None),
        ("...", None),
    ],
)
def test_punctuation_quotes_and_invisible_characters_around_a_keyword_are_ignored(
    body: str, expected: tuple[Consent, str] | None
) -> None:
    assert consent_keyword(body) == expected


@pytest.mark.parametrize(
    ("body", "opt_out_type", "expected"),
    [
        ("ARRET", "STOP", (Consent.OPT_OUT, "ARRET")),  # a service's own keyword (Advanced Opt-Out)
        ("", "STOP", (Consent.OPT_OUT, "STOP")),
        ("REPRENDRE", "START", (Consent.OPT_IN, "REPRENDRE")),
        ("STOP", "HELP", None),  # Twilio says it is a help keyword for this service
        ("hello", "stop", (Consent.OPT_OUT, "HELLO")),
    ],
)
def test_twilio_opt_out_type_decides_when_present(
    body: str, opt_out_type: str, expected: tuple[Consent, str] | None
) -> None:
    assert consent_keyword(body, {"OptOutType": [opt_out_type]}) == expected
    assert consent_keyword(body, {}) == consent_keyword(body)

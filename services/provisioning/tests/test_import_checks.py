"""Pure decisions of a number import: integration, claim, Twilio answers, webhook URL (issue 6)."""

from __future__ import annotations

import pytest

from byosms_common.errors import CATALOG
from byosms_common.messages import IntegrationStatus
from byosms_common.regions import DEFAULT_REGIONS
from byosms_provisioning.imports.checks import (
    ClaimRow,
    ClaimState,
    IntegrationFacts,
    VendorNumber,
    VendorService,
    claim_outcome,
    integration_problem,
    pick_exact,
    same_webhook_url,
    webhook_problem,
)

pytestmark = pytest.mark.unit

EXPECTED = DEFAULT_REGIONS["eu-central-1"].inbound_url  # https://byosms.mypurecloud.de/vendors/v1/twilio/<key>/mo
KEY = DEFAULT_REGIONS["eu-central-1"].key
ZURICH = DEFAULT_REGIONS["eu-central-2"].inbound_url  # key with mixed case


def _integration(**changes: object) -> IntegrationFacts:
    fields: dict[str, object] = {
        "integration_id": "int-1",
        "organization_id": "org-a",
        "status": IntegrationStatus.ACTIVE,
        "account_sid": "AC" + "0" * 32,
        "has_auth_token": True,
        "region": "eu-central-1",
    }
    fields.update(changes)
    return IntegrationFacts(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("integration", "problem"),
    [
        pytest.param(_integration(), None, id="usable"),
        pytest.param(None, "integration_sender_id_invalid", id="missing"),
        pytest.param(_integration(organization_id="org-b"), "integration_sender_id_invalid", id="other org"),
        pytest.param(_integration(status=IntegrationStatus.INACTIVE), "integration_sender_id_invalid", id="inactive"),
        pytest.param(_integration(account_sid=None), "integration_sender_id_invalid", id="no account sid"),
        pytest.param(_integration(has_auth_token=False), "integration_sender_id_invalid", id="no token"),
    ],
)
def test_integration_problem(integration: IntegrationFacts | None, problem: str | None) -> None:
    assert integration_problem(integration, "org-a") == problem


def test_integration_message_is_the_seeds() -> None:
    assert CATALOG["integration_sender_id_invalid"].en == "Please check the integration for BYO Sender ID."


@pytest.mark.parametrize(
    ("row", "outcome"),
    [
        pytest.param(ClaimRow("org-a", "imp-1", ClaimState.IN_PROGRESS), None, id="ours (new or redelivered)"),
        pytest.param(ClaimRow("org-a", "imp-1", ClaimState.HELD), None, id="ours, already finished"),
        pytest.param(
            ClaimRow("org-a", "imp-0", ClaimState.IN_PROGRESS), "provisioning_in_progress", id="same org in progress"
        ),
        pytest.param(ClaimRow("org-a", "imp-0", ClaimState.HELD), "number_already_imported", id="same org holds"),
        pytest.param(
            ClaimRow("org-b", "imp-9", ClaimState.IN_PROGRESS), "provisioning_in_progress", id="other org in progress"
        ),
        pytest.param(ClaimRow("org-b", "imp-9", ClaimState.HELD), "number_not_available", id="other org holds"),
    ],
)
def test_claim_outcome(row: ClaimRow, outcome: str | None) -> None:
    assert claim_outcome(row, "org-a", "imp-1") == outcome


def _pn(value: str, sid: str = "PN1") -> VendorNumber:
    return VendorNumber(sid=sid, value=value, sms_url=EXPECTED)


def test_pick_exact_ignores_partial_matches() -> None:
    listed = [_pn("+141555501001", "PN1"), _pn("+14155550100", "PN2"), _pn("+4414155550100", "PN3")]
    picked = pick_exact(listed, "+14155550100")
    assert picked is not None
    assert picked.sid == "PN2"
    assert pick_exact([_pn("+141555501001")], "+14155550100") is None
    assert pick_exact([], "+14155550100") is None


def test_pick_exact_short_codes() -> None:
    listed = [_pn("123456", "SC1"), _pn("12345", "SC2"), _pn("+54321", "SC3")]
    assert pick_exact(listed, "12345") == listed[1]
    assert pick_exact(listed, "54321") == listed[2]
    assert pick_exact(listed, "2345") is None


URL_CASES = [
    ("identical", EXPECTED, True),
    ("connection-override fragment", EXPECTED + "#rc=3&rp=ct,rt,5xx", True),
    ("empty fragment", EXPECTED + "#", True),
    ("host in upper case", EXPECTED.replace("byosms.mypurecloud.de", "BYOSMS.MyPureCloud.DE"), True),
    ("scheme in upper case", EXPECTED.replace("https://", "HTTPS://"), True),
    ("explicit default port", EXPECTED.replace(".de/", ".de:443/"), True),
    ("surrounding blanks", f"  {EXPECTED} ", True),
    ("http instead of https", EXPECTED.replace("https://", "http://"), False),
    ("trailing slash", EXPECTED + "/", False),
    ("other port", EXPECTED.replace(".de/", ".de:8443/"), False),
    ("other region's host", EXPECTED.replace("mypurecloud.de", "mypurecloud.ie"), False),
    ("other region's key", EXPECTED.replace(KEY, DEFAULT_REGIONS["eu-west-1"].key), False),
    ("key in other case", ZURICH.replace("FhcOBG", "fhcobg"), False),
    ("status path instead of mo", EXPECTED.removesuffix("/mo") + "/status", False),
    ("query string", EXPECTED + "?x=1", False),
    ("credentials in URL", EXPECTED.replace("https://", "https://user:pw@"), False),
    ("not a URL", "twilio", False),
    ("bad port", EXPECTED.replace(".de/", ".de:99999/"), False),
    ("ftp", EXPECTED.replace("https://", "ftp://"), False),
    ("empty", "", False),
    ("None", None, False),
]


@pytest.mark.parametrize(("actual", "same"), [pytest.param(a, s, id=label) for label, a, s in URL_CASES])
def test_same_webhook_url(actual: str | None, same: bool) -> None:
    assert same_webhook_url(actual, EXPECTED) is same


def _number(sms_url: str | None = EXPECTED, app: str | None = None, method: str | None = "POST") -> VendorNumber:
    return VendorNumber(sid="PN1", value="+4915112345678", sms_url=sms_url, sms_method=method, sms_application_sid=app)


DEFERRING = VendorService(sid="MG1", use_inbound_webhook_on_number=True, inbound_request_url="https://x.example/in")
NOT_DEFERRING = VendorService(sid="MG1", use_inbound_webhook_on_number=False, inbound_request_url=EXPECTED)


@pytest.mark.parametrize(
    ("number", "service", "problem"),
    [
        pytest.param(_number(), None, None, id="number carries our URL"),
        pytest.param(_number(EXPECTED + "#rc=2"), None, None, id="with override fragment"),
        pytest.param(_number(None), None, "webhook_not_configured", id="no SMS URL"),
        pytest.param(_number("https://demo.twilio.com/welcome/sms/reply"), None, "webhook_not_configured", id="demo"),
        pytest.param(_number(app="AP" + "1" * 32), None, "webhook_application_override", id="TwiML app overrides"),
        pytest.param(_number(), DEFERRING, None, id="service defers to the number"),
        pytest.param(_number(None), DEFERRING, "webhook_not_configured", id="service defers, number lacks URL"),
        pytest.param(
            _number(), NOT_DEFERRING, "messaging_service_not_deferring", id="service uses its own URL (even ours)"
        ),
        pytest.param(
            _number(None), NOT_DEFERRING, "messaging_service_not_deferring", id="service not deferring comes first"
        ),
        # The ingress answers anything but POST with 405 (twilio-facts §1.4: require POST).
        pytest.param(_number(method="GET"), None, "webhook_method_not_post", id="our URL called with GET"),
        pytest.param(_number(method="get"), DEFERRING, "webhook_method_not_post", id="GET, service defers"),
        pytest.param(_number(method="post"), None, None, id="method in lower case"),
        pytest.param(_number(method=None), None, None, id="no method listed: Twilio's default POST"),
        pytest.param(_number(None, method="GET"), None, "webhook_not_configured", id="the URL is named first"),
    ],
)
def test_webhook_problem(number: VendorNumber, service: VendorService | None, problem: str | None) -> None:
    assert webhook_problem(number, service, EXPECTED) == problem


@pytest.mark.parametrize(
    "code",
    [
        "webhook_not_configured",
        "messaging_service_not_deferring",
        "webhook_application_override",
        "webhook_method_not_post",
    ],
)
def test_webhook_messages_name_the_url(code: str) -> None:
    text = CATALOG[code]
    assert "{expected_url}" in text.en
    assert "{expected_url}" in text.de


def test_method_message_names_post() -> None:
    text = CATALOG["webhook_method_not_post"]
    assert "POST" in text.en
    assert "POST" in text.de

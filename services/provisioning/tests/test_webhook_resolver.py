"""The effective-webhook resolver: each kind of drift told apart, where the message goes instead, and
what to set (pure)."""

from __future__ import annotations

import pytest

from byosms_common.errors import CATALOG
from byosms_common.regions import DEFAULT_REGIONS
from byosms_provisioning.imports.checks import VendorNumber, VendorService
from byosms_provisioning.webhook_checks.resolver import (
    AddressConfig,
    DriftKind,
    Fix,
    NumberConfiguration,
    VendorApplication,
    resolve,
)

pytestmark = pytest.mark.unit

EXPECTED = DEFAULT_REGIONS["eu-central-1"].inbound_url
ELSEWHERE = "https://other-vendor.example/sms"
PN = "PN" + "1" * 32
AP = "AP" + "2" * 32
MG = "MG" + "3" * 32
IG = "IG" + "4" * 32
ADDRESS = "+4915112345678"


def number(sms_url: str | None = EXPECTED, method: str | None = "POST", app: str | None = None) -> VendorNumber:
    return VendorNumber(sid=PN, value=ADDRESS, sms_url=sms_url, sms_method=method, sms_application_sid=app)


def service(defer: bool, url: str | None = ELSEWHERE) -> VendorService:
    return VendorService(sid=MG, use_inbound_webhook_on_number=defer, inbound_request_url=url, inbound_method="POST")


def capture(address: str = ADDRESS, enabled: bool = True) -> AddressConfig:
    return AddressConfig(sid=IG, address=address, auto_creation_enabled=enabled, auto_creation_type="webhook")


def test_healthy_number_is_ok_and_delivers_to_the_ingress() -> None:
    result = resolve(NumberConfiguration(number()), EXPECTED)
    assert (result.status, result.kind, result.kinds, result.fixes) == ("ok", None, (), ())
    assert (result.via, result.delivers_to, result.method) == ("number", EXPECTED, "POST")


def test_deferring_service_and_disabled_capture_leave_it_ok() -> None:
    configuration = NumberConfiguration(
        number(), service=service(defer=True), address_configs=(capture(enabled=False), capture("+4930123456"))
    )
    assert resolve(configuration, EXPECTED).ok


def test_url_changed_in_the_console() -> None:
    result = resolve(NumberConfiguration(number(ELSEWHERE)), EXPECTED)
    assert (result.status, result.kind) == ("drifted", DriftKind.URL_MISMATCH)
    assert (result.via, result.delivers_to) == ("number", ELSEWHERE)
    assert result.fixes == (Fix("number", PN, "SmsUrl", EXPECTED, ELSEWHERE),)


def test_method_get() -> None:
    result = resolve(NumberConfiguration(number(method="GET")), EXPECTED)
    assert result.kind is DriftKind.METHOD_NOT_POST
    assert result.fixes == (Fix("number", PN, "SmsMethod", "POST", "GET"),)


def test_twiml_app_overrides_the_url() -> None:
    app = VendorApplication(sid=AP, sms_url="https://bot.example/sms", sms_method="POST")
    result = resolve(NumberConfiguration(number(app=AP), application=app), EXPECTED)
    assert result.kinds == (DriftKind.APPLICATION_OVERRIDE,)
    assert (result.via, result.delivers_to) == ("application", "https://bot.example/sms")
    assert result.fixes == (Fix("number", PN, "SmsApplicationSid", "", AP),)


def test_twiml_app_that_cannot_be_read_still_overrides() -> None:
    result = resolve(NumberConfiguration(number(ELSEWHERE, app=AP)), EXPECTED)
    assert result.kinds == (DriftKind.APPLICATION_OVERRIDE, DriftKind.URL_MISMATCH)
    assert (result.via, result.delivers_to) == ("application", None)
    assert [f.parameter for f in result.fixes] == ["SmsApplicationSid", "SmsUrl"]


@pytest.mark.parametrize("url", [ELSEWHERE, None, EXPECTED], ids=["own URL", "no URL (dropped)", "even ours"])
def test_service_not_deferring(url: str | None) -> None:
    result = resolve(NumberConfiguration(number(), service=service(defer=False, url=url)), EXPECTED)
    assert result.kinds == (DriftKind.MESSAGING_SERVICE_NOT_DEFERRING,)
    assert (result.via, result.delivers_to) == ("messaging_service", url)
    assert result.fixes == (Fix("messaging_service", MG, "UseInboundWebhookOnNumber", "true", "false"),)


def test_conversations_capture_wins_over_everything() -> None:
    configuration = NumberConfiguration(
        number(ELSEWHERE, app=AP), service=service(defer=False), address_configs=(capture(ADDRESS.lstrip("+")),)
    )
    result = resolve(configuration, EXPECTED)
    assert result.kinds == (
        DriftKind.CONVERSATIONS_AUTOCREATE,
        DriftKind.MESSAGING_SERVICE_NOT_DEFERRING,
        DriftKind.APPLICATION_OVERRIDE,
        DriftKind.URL_MISMATCH,
    )
    assert (result.via, result.delivers_to, result.method) == ("conversations", None, None)
    assert result.fixes[0] == Fix("address_configuration", IG, "AutoCreation.Enabled", "false", "true")
    assert [f.target for f in result.fixes] == ["address_configuration", "messaging_service", "number", "number"]


def test_every_kind_is_told_apart_and_has_a_message_in_both_languages() -> None:
    cases = {
        DriftKind.CONVERSATIONS_AUTOCREATE: NumberConfiguration(number(), address_configs=(capture(),)),
        DriftKind.MESSAGING_SERVICE_NOT_DEFERRING: NumberConfiguration(number(), service=service(defer=False)),
        DriftKind.APPLICATION_OVERRIDE: NumberConfiguration(number(app=AP)),
        DriftKind.URL_MISMATCH: NumberConfiguration(number(None)),
        DriftKind.METHOD_NOT_POST: NumberConfiguration(number(method="GET")),
    }
    seen = {kind: resolve(configuration, EXPECTED).kind for kind, configuration in cases.items()}
    assert seen == {kind: kind for kind in DriftKind}
    for kind in DriftKind:
        text = CATALOG[kind.value]
        assert "{expected_url}" in text.en
        assert "{expected_url}" in text.de

import pytest

from byosms_common.messages import (
    ImportedNumber,
    IntegrationStatePayload,
    IntegrationStatus,
    NumberState,
    NumberStatePayload,
    NumberType,
)
from byosms_routing.routing_rules import Decision, decide_inbound

pytestmark = pytest.mark.unit


def _integration(
    status: IntegrationStatus, default: str | None = "queue-int", organization: str | None = None
) -> IntegrationStatePayload:
    return IntegrationStatePayload(
        integration_id="int-1",
        region="eu-central-1",
        status=status,
        version=1,
        default_routing_target=default,
        organization_routing_target=organization,
    )


def _number(state: NumberState, integration_id: str = "int-1", target: str | None = None) -> NumberStatePayload:
    number = ImportedNumber(
        address="+4930123456",
        number_type=NumberType.LOCAL,
        country="DE",
        twilio_sid="PN" + "0" * 32,
        integration_id=integration_id,
    )
    return NumberStatePayload(number=number, state=state, version=1, routing_target=target)


@pytest.mark.parametrize(
    ("integration", "number", "decision", "reason"),
    [
        (IntegrationStatus.ACTIVE, _number(NumberState.ACTIVE), Decision.ROUTED, "ok"),
        (IntegrationStatus.INACTIVE, _number(NumberState.INACTIVE), Decision.DISCARDED, "integration_inactive"),
        (None, _number(NumberState.ACTIVE), Decision.DISCARDED, "integration_deleted"),
        (IntegrationStatus.ACTIVE, None, Decision.DISCARDED, "number_not_in_inventory"),
        (IntegrationStatus.ACTIVE, _number(NumberState.INACTIVE), Decision.DISCARDED, "number_inactive"),
        (
            IntegrationStatus.ACTIVE,
            _number(NumberState.ACTIVE, "int-2"),
            Decision.DISCARDED,
            "number_belongs_to_another_integration",
        ),
    ],
)
def test_inbound_is_routed_only_for_active_integration_and_number(
    integration: IntegrationStatus | None, number: NumberStatePayload | None, decision: Decision, reason: str
) -> None:
    verdict = decide_inbound(_integration(integration) if integration else None, number, "int-1")
    assert (verdict.decision, verdict.reason) == (decision, reason)


@pytest.mark.parametrize(
    ("number_target", "integration_default", "organization_default", "expected"),
    [
        ("queue-number", "queue-int", "queue-org", "queue-number"),
        (None, "queue-int", "queue-org", "queue-int"),
        (None, None, "queue-org", "queue-org"),
        ("queue-number", None, None, "queue-number"),
    ],
)
def test_the_target_is_the_numbers_else_the_integrations_else_the_organizations(
    number_target: str | None, integration_default: str | None, organization_default: str | None, expected: str
) -> None:
    verdict = decide_inbound(
        _integration(IntegrationStatus.ACTIVE, integration_default, organization_default),
        _number(NumberState.ACTIVE, target=number_target),
        "int-1",
    )
    assert (verdict.decision, verdict.reason, verdict.target) == (Decision.ROUTED, "ok", expected)


def test_an_active_number_without_any_target_is_discarded_as_no_route() -> None:
    verdict = decide_inbound(_integration(IntegrationStatus.ACTIVE, None, None), _number(NumberState.ACTIVE), "int-1")
    assert (verdict.decision, verdict.reason, verdict.target) == (Decision.DISCARDED, "no_route", None)


def test_an_inactive_number_is_discarded_as_inactive_even_without_a_target() -> None:
    verdict = decide_inbound(_integration(IntegrationStatus.ACTIVE, None, None), _number(NumberState.INACTIVE), "int-1")
    assert verdict.reason == "number_inactive"


@pytest.mark.parametrize(
    ("label", "addresses", "reason"),
    [
        ("sms", ("+14155550100", "+4930123456"), "ok"),
        ("whatsapp from and to", ("whatsapp:+14155550100", "whatsapp:+4930123456"), "unsupported_channel"),
        ("rcs recipient", ("+14155550100", "rcs:brand_agent"), "unsupported_channel"),
        ("rcs sender", ("rcs:brand_agent", "+4930123456"), "unsupported_channel"),
    ],
)
def test_other_channels_are_discarded_as_unsupported(label: str, addresses: tuple[str, str], reason: str) -> None:
    """Even to an active, routable number: byosms carries SMS and MMS only."""
    verdict = decide_inbound(_integration(IntegrationStatus.ACTIVE), _number(NumberState.ACTIVE), "int-1", addresses)
    assert verdict.reason == reason, label
    assert verdict.decision is (Decision.ROUTED if reason == "ok" else Decision.DISCARDED)

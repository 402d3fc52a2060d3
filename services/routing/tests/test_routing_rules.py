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


def _integration(status: IntegrationStatus) -> IntegrationStatePayload:
    return IntegrationStatePayload(integration_id="int-1", region="eu-central-1", status=status, version=1)


def _number(state: NumberState, integration_id: str = "int-1") -> NumberStatePayload:
    number = ImportedNumber(
        address="+4930123456",
        number_type=NumberType.LOCAL,
        country="DE",
        twilio_sid="PN" + "0" * 32,
        integration_id=integration_id,
    )
    return NumberStatePayload(number=number, state=state, version=1)


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

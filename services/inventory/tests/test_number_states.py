import pytest

from byosms_common.messages import NumberState
from byosms_inventory.number_states import IntegrationStatusKnown, Trigger, next_state, state_on_import

pytestmark = pytest.mark.unit

ON, OFF, GONE = NumberState.ACTIVE, NumberState.INACTIVE, NumberState.REMOVED


@pytest.mark.parametrize(
    ("current", "trigger", "expected"),
    [
        (None, Trigger.IMPORTED, ON),
        (ON, Trigger.INTEGRATION_DEACTIVATED, OFF),
        (OFF, Trigger.INTEGRATION_ACTIVATED, ON),
        (OFF, Trigger.INTEGRATION_DEACTIVATED, OFF),
        (ON, Trigger.INTEGRATION_ACTIVATED, ON),
        (ON, Trigger.INTEGRATION_DELETED, GONE),
        (OFF, Trigger.INTEGRATION_DELETED, GONE),
        (None, Trigger.INTEGRATION_DELETED, None),
    ],
)
def test_transitions(current: NumberState | None, trigger: Trigger, expected: NumberState | None) -> None:
    assert next_state(current, trigger) == expected


@pytest.mark.parametrize(
    ("integration", "expected"),
    [
        (None, ON),
        (IntegrationStatusKnown.ACTIVE, ON),
        (IntegrationStatusKnown.INACTIVE, OFF),
        (IntegrationStatusKnown.DELETED, None),
    ],
)
def test_a_number_imported_for_an_inactive_integration_starts_inactive(
    integration: IntegrationStatusKnown | None, expected: NumberState | None
) -> None:
    assert state_on_import(integration) == expected

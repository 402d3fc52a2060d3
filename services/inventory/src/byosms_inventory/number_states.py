"""The number state machine: what an inventory event does to a number.

States: ``active`` ⇄ ``inactive`` (with the integration), and ``removed`` (terminal: the row goes;
a later import starts over). Pure functions, no I/O.
"""

from __future__ import annotations

from enum import StrEnum

from byosms_common.messages import NumberState


class IntegrationStatusKnown(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DELETED = "deleted"


class Trigger(StrEnum):
    IMPORTED = "imported"
    INTEGRATION_ACTIVATED = "integration_activated"
    INTEGRATION_DEACTIVATED = "integration_deactivated"
    INTEGRATION_DELETED = "integration_deleted"


_TRANSITIONS: dict[tuple[NumberState | None, Trigger], NumberState | None] = {
    (None, Trigger.IMPORTED): NumberState.ACTIVE,
    (NumberState.ACTIVE, Trigger.IMPORTED): NumberState.ACTIVE,
    (NumberState.INACTIVE, Trigger.IMPORTED): NumberState.INACTIVE,
    (NumberState.ACTIVE, Trigger.INTEGRATION_DEACTIVATED): NumberState.INACTIVE,
    (NumberState.INACTIVE, Trigger.INTEGRATION_DEACTIVATED): NumberState.INACTIVE,
    (NumberState.INACTIVE, Trigger.INTEGRATION_ACTIVATED): NumberState.ACTIVE,
    (NumberState.ACTIVE, Trigger.INTEGRATION_ACTIVATED): NumberState.ACTIVE,
    (NumberState.ACTIVE, Trigger.INTEGRATION_DELETED): NumberState.REMOVED,
    (NumberState.INACTIVE, Trigger.INTEGRATION_DELETED): NumberState.REMOVED,
}


def next_state(current: NumberState | None, trigger: Trigger) -> NumberState | None:
    """The state after ``trigger``; ``None`` means the number is not (or no longer) in the inventory."""
    return _TRANSITIONS.get((current, trigger), current)


def state_on_import(integration: IntegrationStatusKnown | None) -> NumberState | None:
    """The state a newly imported number starts in, given what is known of its integration.

    ``None``: the integration was deleted, so the number is not added.
    """
    if integration is IntegrationStatusKnown.DELETED:
        return None
    if integration is IntegrationStatusKnown.INACTIVE:
        return NumberState.INACTIVE
    return NumberState.ACTIVE

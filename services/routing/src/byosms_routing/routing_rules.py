"""Whether an inbound message is routed to the tenant's queues or discarded, and why. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from byosms_common.messages import IntegrationStatePayload, IntegrationStatus, NumberState, NumberStatePayload


class Decision(StrEnum):
    ROUTED = "routed"
    DISCARDED = "discarded"


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str


def decide_inbound(
    integration: IntegrationStatePayload | None, number: NumberStatePayload | None, integration_id: str
) -> Verdict:
    """Route only when the integration exists and is active and the number is active in the inventory."""
    if integration is None:
        return Verdict(Decision.DISCARDED, "integration_deleted")
    if integration.status is not IntegrationStatus.ACTIVE:
        return Verdict(Decision.DISCARDED, "integration_inactive")
    if number is None or number.state is NumberState.REMOVED:
        return Verdict(Decision.DISCARDED, "number_not_in_inventory")
    if number.number.integration_id != integration_id:
        return Verdict(Decision.DISCARDED, "number_belongs_to_another_integration")
    if number.state is not NumberState.ACTIVE:
        return Verdict(Decision.DISCARDED, "number_inactive")
    return Verdict(Decision.ROUTED, "ok")

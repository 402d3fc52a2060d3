"""Whether an inbound message is routed to the tenant's queues or discarded, why, and to which target. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from byosms_common.channels import UNSUPPORTED_CHANNEL, other_channel
from byosms_common.messages import IntegrationStatePayload, IntegrationStatus, NumberState, NumberStatePayload

NO_ROUTE = "no_route"


class Decision(StrEnum):
    ROUTED = "routed"
    DISCARDED = "discarded"


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str
    target: str | None = None
    """Where a routed message goes: a queue or inbound flow id of the platform."""


def routing_target(integration: IntegrationStatePayload, number: NumberStatePayload) -> str | None:
    """The number's own target, else its integration's default, else its organization's default."""
    return number.routing_target or integration.default_routing_target or integration.organization_routing_target


def decide_inbound(
    integration: IntegrationStatePayload | None,
    number: NumberStatePayload | None,
    integration_id: str,
    addresses: tuple[str, str] = ("", ""),
) -> Verdict:
    """Route only an SMS/MMS (``addresses``, From and To, of no other channel such as ``whatsapp:`` or
    ``rcs:``), when the integration exists and is active, the number is active in the inventory and a
    routing target resolves (number → integration → organization); otherwise discard, saying why."""
    if other_channel(*addresses) is not None:
        return Verdict(Decision.DISCARDED, UNSUPPORTED_CHANNEL)
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
    target = routing_target(integration, number)
    if target is None:
        return Verdict(Decision.DISCARDED, NO_ROUTE)
    return Verdict(Decision.ROUTED, "ok", target)

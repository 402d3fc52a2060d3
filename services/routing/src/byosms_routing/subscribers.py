"""Routing's Kafka handler for inbound messages; outbound sends are in ``outbound``, delivery reports
in ``delivery``, opt-out keywords in ``optouts``."""

from __future__ import annotations

import logging

from byosms_common import topics
from byosms_common.kafka import Delivery, current_trace
from byosms_common.messages import (
    DiscardedPayload,
    InboundMessageDiscarded,
    InboundMessageReceived,
    InboundMessageRouted,
    RoutedMessagePayload,
)
from byosms_routing import optouts, repo
from byosms_routing.context import Collaborators
from byosms_routing.routing_rules import Decision, decide_inbound

log = logging.getLogger(__name__)


__all__ = ["Collaborators", "on_inbound"]


async def on_inbound(deps: Collaborators, event: InboundMessageReceived, _: Delivery) -> None:
    """Route an inbound message to the tenant's queues, or discard it and record why. A message that is
    exactly an opt-out or opt-in keyword is also recorded as the customer's consent for that sender
    when the number belongs to the message's integration and organization (also when the message is
    discarded because that integration or number is inactive: Twilio blocks the sender either way);
    never for a number of another integration or tenant."""
    payload = event.payload
    integration = deps.integrations.get(payload.integration_id)
    number = deps.numbers.get(payload.to)
    verdict = decide_inbound(
        integration.payload if integration else None, number.payload if number else None, payload.integration_id
    )
    async with deps.pool.acquire() as conn:
        await repo.record_inbound_decision(
            conn, payload.message_sid, event.organization_id, payload.integration_id, verdict.decision, verdict.reason
        )
    await optouts.on_inbound_keyword(deps, event, number, integration)
    # Published even on a redelivery: the ids are deterministic, so consumers drop the duplicate.
    if verdict.decision is Decision.ROUTED:
        routed = InboundMessageRouted(
            id=f"{payload.message_sid}:routed",
            organization_id=event.organization_id,
            trace=current_trace(),
            payload=RoutedMessagePayload.model_validate(
                {
                    "message_sid": payload.message_sid,
                    "integration_id": payload.integration_id,
                    "from": payload.from_,
                    "to": payload.to,
                    "body": payload.body,
                    "media": payload.media,
                }
            ),
        )
        await deps.publisher.publish(topics.MESSAGE_EVENTS, routed, f"{payload.to}|{payload.from_}")
    else:
        log.info("discarding inbound %s: %s", payload.message_sid, verdict.reason)
        discarded = InboundMessageDiscarded(
            id=f"{payload.message_sid}:discarded",
            organization_id=event.organization_id,
            trace=current_trace(),
            payload=DiscardedPayload(
                message_sid=payload.message_sid, integration_id=payload.integration_id, reason=verdict.reason
            ),
        )
        await deps.publisher.publish(topics.MESSAGE_EVENTS, discarded, f"{payload.to}|{payload.from_}")

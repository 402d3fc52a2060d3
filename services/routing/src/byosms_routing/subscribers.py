"""Routing's handler for inbound messages, one partition's batch at a time; outbound sends are in
``outbound``, delivery reports in ``delivery``, opt-out keywords in ``optouts``.

A batch is one transaction: every decision is recorded with the Kafka record that made it
(``repo_inbound``), then each record publishes the decision that is *recorded* for its MessageSid —
never a recomputed one. A record whose MessageSid was decided by another record (Twilio posted the
webhook again, a proxy replayed it, two ingress pods got it) publishes nothing; a redelivery of the
deciding record (its earlier output was never committed) publishes the recorded decision again with
the same event ids. The events and the offsets are committed in one Kafka transaction by the engine
(``byosms_common.consumer``), so the platform sees exactly one routed or discarded event per message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from byosms_common import topics
from byosms_common.consumer import Emit, Record
from byosms_common.conversation import conversation_key
from byosms_common.kafka import HEADER_SPOOLED
from byosms_common.messages import (
    DiscardedPayload,
    InboundMessageDiscarded,
    InboundMessageReceived,
    InboundMessageRouted,
    NumberRouteMissing,
    NumberRouteMissingPayload,
    RoutedMessagePayload,
)
from byosms_routing import optouts, repo_inbound
from byosms_routing.context import Collaborators
from byosms_routing.repo_inbound import NewDecision, RecordedDecision
from byosms_routing.routing_rules import NO_ROUTE, Decision, decide_inbound

log = logging.getLogger(__name__)


__all__ = ["Collaborators", "on_inbound_batch"]


def plan_decisions(deps: Collaborators, records: Sequence[Record[InboundMessageReceived]]) -> list[NewDecision]:
    """The decision for each MessageSid of the batch (its first record), from the state caches."""
    planned: dict[str, NewDecision] = {}
    for record in records:
        event = record.message
        payload = event.payload
        if payload.message_sid in planned:
            continue
        integration = deps.integrations.get(payload.integration_id)
        number = deps.numbers.get(payload.to)
        verdict = decide_inbound(
            integration.payload if integration else None,
            number.payload if number else None,
            payload.integration_id,
            (payload.from_, payload.to),
        )
        planned[payload.message_sid] = NewDecision(
            message_sid=payload.message_sid,
            organization_id=event.organization_id,
            integration_id=payload.integration_id,
            decision=verdict.decision.value,
            reason=verdict.reason,
            source=record.source,
            target=verdict.target,
        )
    return list(planned.values())


def decides(record: Record[InboundMessageReceived], recorded: RecordedDecision | None) -> bool:
    """Whether this record is the one whose decision is recorded (or a row from before sources were
    kept: published again rather than risk losing it)."""
    return recorded is not None and (recorded.source is None or recorded.source == record.source)


def _ingress(record: Record[InboundMessageReceived]) -> dict[str, Any]:
    """Where and when the ingress accepted the message, whether it came through its spool and whether routing's
    recovery job found it at Twilio (for the trace)."""
    payload = record.message.payload
    return {
        "region": payload.region,
        "received_at": payload.received_at,
        "spooled": record.headers.get(HEADER_SPOOLED) == "1",
        "recovered": True if payload.recovered else None,
    }


def decision_event(
    record: Record[InboundMessageReceived], recorded: RecordedDecision
) -> InboundMessageRouted | InboundMessageDiscarded:
    """The event of a recorded decision, built from the record that made it. Pure."""
    event = record.message
    payload = event.payload
    if recorded.decision == Decision.ROUTED.value:
        return InboundMessageRouted(
            id=f"{payload.message_sid}:routed",
            organization_id=event.organization_id,
            occurred_at=recorded.decided_at,
            payload=RoutedMessagePayload.model_validate(
                {
                    "message_sid": payload.message_sid,
                    "integration_id": payload.integration_id,
                    "from": payload.from_,
                    "to": payload.to,
                    "body": payload.body,
                    "media": payload.media,
                    "media_dropped": payload.media_dropped,
                    "queue": recorded.target,
                    **_ingress(record),
                }
            ),
        )
    return InboundMessageDiscarded(
        id=f"{payload.message_sid}:discarded",
        organization_id=event.organization_id,
        occurred_at=recorded.decided_at,
        payload=DiscardedPayload(
            message_sid=payload.message_sid,
            integration_id=payload.integration_id,
            reason=recorded.reason,
            **_ingress(record),
        ),
    )


def no_route_event(record: Record[InboundMessageReceived]) -> NumberRouteMissing:
    """The ``no_route`` warning for the number a message was discarded at, for want of a target. Pure."""
    event = record.message
    return NumberRouteMissing(
        id=f"{event.payload.message_sid}:no_route",
        organization_id=event.organization_id,
        occurred_at=event.payload.received_at,
        payload=NumberRouteMissingPayload(
            address=event.payload.to,
            integration_id=event.payload.integration_id,
            message_sid=event.payload.message_sid,
        ),
    )


async def on_inbound_batch(deps: Collaborators, records: Sequence[Record[InboundMessageReceived]], out: Emit) -> None:
    """Route or discard each inbound message of one partition's batch (see the module docstring)."""
    planned = plan_decisions(deps, records)
    async with deps.pool.acquire() as conn, conn.transaction():
        recorded = await repo_inbound.record_decisions(conn, planned)
        consent = [
            await optouts.record_keyword(
                conn,
                r.message,
                deps.numbers.get(r.message.payload.to),
                deps.integrations.get(r.message.payload.integration_id),
            )
            if decides(r, recorded.get(r.message.payload.message_sid))
            else None
            for r in records
        ]
    for record, opt in zip(records, consent, strict=True):
        payload = record.message.payload
        decision = recorded.get(payload.message_sid)
        if not decides(record, decision):
            log.info(
                "inbound %s repeated (record %s); decided before, nothing published", payload.message_sid, record.source
            )
            continue
        assert decision is not None
        if decision.decision != Decision.ROUTED.value:
            log.info("discarding inbound %s: %s", payload.message_sid, decision.reason)
        if deps.decisions is not None:
            deps.decisions.labels(decision.decision, decision.reason).inc()
        key = conversation_key(payload.to, payload.from_)
        out.publish(topics.MESSAGE_EVENTS, decision_event(record, decision), key, cause=record)
        if decision.reason == NO_ROUTE:
            out.publish(topics.NUMBER_EVENTS, no_route_event(record), payload.to, cause=record)
        if opt is not None:
            out.publish(topics.MESSAGE_EVENTS, opt, key, cause=record)

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from byosms_common import topics
from byosms_common.consumer import Emit, Record
from byosms_common.conversation import conversation_key
from byosms_common.kafka import HEADER_SPOOLED
from byosms_common.messages import (
    DiscardedPayload,
    InboundMessageDiscarded,
    InboundMessageReceived,
    InboundMessageRouted,
    IntegrationState,
    NumberRouteMissing,
    NumberRouteMissingPayload,
    NumberStateRecord,
    RecipientOptedIn,
    RecipientOptedOut,
    RoutedMessagePayload,
    SendMessage,
)
from byosms_routing import compliance_replies, optouts, repo_inbound
from byosms_routing.context import Collaborators
from byosms_routing.inbound_numbers import inventory_number
from byosms_routing.keywords import KeywordMatch, classify
from byosms_routing.repo_inbound import NewDecision, RecordedDecision
from byosms_routing.routing_rules import NO_ROUTE, Decision, decide_inbound
from byosms_routing.send_checks import twilio_sender

log = logging.getLogger(__name__)


__all__ = ["Collaborators", "on_inbound_batch"]


@dataclass(frozen=True, slots=True)
class Planned:
    """What the caches say about one inbound message: its number, integration and keyword."""

    number: NumberStateRecord | None
    integration: IntegrationState | None
    keyword: KeywordMatch | None


def plan_inbound(deps: Collaborators, event: InboundMessageReceived) -> Planned:
    """The number (short codes too, ``inbound_numbers``), integration and keyword of ``event``."""
    payload = event.payload
    number = inventory_number(deps.numbers.values, payload)
    imported = number.payload.number if number is not None else None
    match = classify(
        payload.body,
        payload.raw,
        imported.number_type if imported is not None else None,
        imported.compliance if imported is not None else None,
    )
    return Planned(number, deps.integrations.get(payload.integration_id), match)


def plan_decisions(records: Sequence[Record[InboundMessageReceived]], plans: Sequence[Planned]) -> list[NewDecision]:
    """The decision for each MessageSid of the batch (its first record), from the state caches."""
    planned: dict[str, NewDecision] = {}
    for record, plan in zip(records, plans, strict=True):
        event = record.message
        payload = event.payload
        if payload.message_sid in planned:
            continue
        verdict = decide_inbound(
            plan.integration.payload if plan.integration else None,
            plan.number.payload if plan.number else None,
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
            keyword=plan.keyword.kind.value if plan.keyword is not None else None,
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
                    "keyword": recorded.keyword,
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
    """Route or discard each inbound message of one partition's batch (see the module docstring); a
    keyword also changes consent (``optouts``) and a short code's is answered (``compliance_replies``)."""
    plans = [plan_inbound(deps, r.message) for r in records]
    planned = plan_decisions(records, plans)
    async with deps.pool.acquire() as conn, conn.transaction():
        recorded = await repo_inbound.record_decisions(conn, planned)
        seen = sender_services(records, plans, recorded, deps.sender_services)
        await repo_inbound.record_sender_services(conn, seen)
        consent: list[RecipientOptedOut | RecipientOptedIn | None] = []
        replies: list[SendMessage | None] = []
        for r, plan in zip(records, plans, strict=True):
            if not decides(r, recorded.get(r.message.payload.message_sid)) or plan.keyword is None:
                consent.append(None)
                replies.append(None)
                continue
            consent.append(await optouts.record_keyword(conn, r.message, plan.number, plan.integration, plan.keyword))
            replies.append(await _reply(conn, r.message, plan))
    _remember(deps, seen)
    for record, opt, reply in zip(records, consent, replies, strict=True):
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
        if reply is not None:
            out.publish(topics.OUTBOUND_COMMANDS, reply, reply.payload.from_, cause=record)


_MAX_REMEMBERED_SENDERS = 100_000


def _remember(deps: Collaborators, seen: Sequence[repo_inbound.SenderService]) -> None:
    """After the commit: these senders' services are recorded."""
    if len(deps.sender_services) + len(seen) > _MAX_REMEMBERED_SENDERS:
        deps.sender_services.clear()
    for item in sorted(seen, key=lambda i: i.seen_at):
        deps.sender_services[(item.organization_id, item.sender)] = item.messaging_service_sid


def sender_services(
    records: Sequence[Record[InboundMessageReceived]],
    plans: Sequence[Planned],
    recorded: dict[str, RecordedDecision],
    known: Mapping[tuple[str, str], str | None],
) -> list[repo_inbound.SenderService]:
    """Which Messaging Service each deciding record's number was reached through, where it is not the
    one ``known`` (recorded before) for numbers of the record's own organization and signing
    integration (``optouts.keyword_applies``). Pure."""
    seen = []
    for record, plan in zip(records, plans, strict=True):
        event = record.message
        payload = event.payload
        sender = twilio_sender(payload.to)
        if known.get((event.organization_id, sender), "") == payload.messaging_service_sid:
            continue
        if decides(record, recorded.get(payload.message_sid)) and optouts.keyword_applies(
            event, plan.number, plan.integration
        ):
            seen.append(
                repo_inbound.SenderService(
                    organization_id=event.organization_id,
                    sender=sender,
                    messaging_service_sid=payload.messaging_service_sid,
                    seen_at=payload.received_at,
                )
            )
    return seen


async def _reply(conn: asyncpg.Connection, event: InboundMessageReceived, plan: Planned) -> SendMessage | None:
    """Record and return the short code's answer to the keyword, when one is due."""
    match = plan.keyword
    if not compliance_replies.reply_due(match, plan.number, plan.integration):
        return None
    assert match is not None
    assert match.reply is not None
    assert plan.number is not None
    if not optouts.keyword_applies(event, plan.number, plan.integration):
        return None
    command = compliance_replies.reply_command(event, plan.number, match.reply)
    await compliance_replies.record_reply(conn, command, event.payload.message_sid, match.kind.value)
    log.info(
        "inbound %s is a %s keyword: answered as %s", event.payload.message_sid, match.kind, command.payload.message_id
    )
    return command

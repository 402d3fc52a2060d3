"""Applying Twilio's delivery reports to outbound messages (``DeliveryReportReceived`` in,
``MessageStatusChanged`` out, only when the status really moved; see ``delivery_status``).

Every report is kept (duplicates once) under the tenant the ingress attributed it to (organization and
integration of the callback's signing token). It is applied only to a message of that same organization
and integration: a report naming another tenant's MessageSid changes nothing. One for a MessageSid
routing does not know (yet) changes nothing; when the create's answer is recorded later, the kept
reports of that tenant are applied then (``outbound``). Unmatched reports are deleted after
``BYOSMS_ROUTING_UNMATCHED_REPORT_HOURS`` (:func:`delete_unmatched_reports_periodically`).

Each status change also updates the health of the recipient's address in its conversation
(``address_health``): a failure to an address that keeps failing with 30003/30005/30006 is published
with ``address_flagged=True``. (Reports folded in when a send is accepted late, ``outbound`` and
``unknown_sends``, do not count.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from byosms_common import topics
from byosms_common.consumer import Emit, Record
from byosms_common.messages import DeliveryReportReceived
from byosms_routing import address_health, repo, repo_reports
from byosms_routing.address_health import AddressHealth
from byosms_routing.context import Collaborators
from byosms_routing.delivery_status import FAILED_STATUSES, next_status
from byosms_routing.repo_reports import Conversation, KeptReport, NewReport, Target, TenantSid
from byosms_routing.status_events import status_changed

log = logging.getLogger(__name__)

ReportKey = tuple[str, str, str]
"""(organization, integration, report id): how a kept report is named."""


@dataclass(frozen=True, slots=True)
class Move:
    """A report that moves its message's status: what to record and publish."""

    record: Record[DeliveryReportReceived]
    target: Target
    status: str
    error_code: int | None


def report_key(event: DeliveryReportReceived) -> ReportKey:
    return (event.organization_id, event.payload.integration_id, event.id)


def tenant_sid(event: DeliveryReportReceived) -> TenantSid:
    return (event.organization_id, event.payload.integration_id, event.payload.message_sid)


def fold_reports(
    records: Sequence[Record[DeliveryReportReceived]], fresh: set[ReportKey], targets: dict[TenantSid, Target]
) -> list[Move]:
    """The status moves of the fresh reports (first kept now), in offset order, each message's status
    only ever moving forward (``delivery_status``). Pure."""
    current = {key: target.twilio_status for key, target in targets.items()}
    seen: set[ReportKey] = set()
    moves: list[Move] = []
    for record in records:
        event = record.message
        key = report_key(event)
        if key not in fresh or key in seen:
            continue
        seen.add(key)
        sid = tenant_sid(event)
        target = targets.get(sid)
        if target is None:
            continue
        moved = next_status(current[sid], event.payload.status)
        if moved is None:
            continue  # a duplicate, or older than what is known
        current[sid] = moved
        error_code = event.payload.error_code if moved in FAILED_STATUSES else None
        moves.append(Move(record, target, moved, error_code))
    return moves


def replays(
    records: Sequence[Record[DeliveryReportReceived]], fresh: set[ReportKey], kept: dict[ReportKey, KeptReport]
) -> list[Record[DeliveryReportReceived]]:
    """Records delivered again whose kept report moved its message: their output may not have been
    committed, so it is published again (the same event id). Twilio's repeats (another record) are
    not. Pure."""
    again = []
    for record in records:
        key = report_key(record.message)
        if key in fresh:
            continue
        report = kept.get(key)
        if report is not None and report.moved_to is not None and report.source == record.source:
            again.append(record)
    return again


async def on_delivery_reports(
    deps: Collaborators, records: Sequence[Record[DeliveryReportReceived]], out: Emit
) -> None:
    """Keep one partition's batch of reports and apply them (see the module docstring)."""
    keys = [report_key(r.message) for r in records]
    async with deps.pool.acquire() as conn, conn.transaction():
        # Everything done about a MessageSid holds its lock (also accepting a send), so what is kept
        # cannot change between reading it and inserting the fresh reports below.
        await repo_reports.lock_sids(conn, [r.message.payload.message_sid for r in records])
        kept = await repo_reports.kept_reports(conn, list(set(keys)))
        fresh = {key for key in keys if key not in kept}
        found = await repo_reports.targets(conn, list({tenant_sid(r.message) for r in records}))
        moves = fold_reports(records, fresh, found)
        moved = {report_key(m.record.message): m for m in moves}
        first: dict[ReportKey, Record[DeliveryReportReceived]] = {}
        for record, key in zip(records, keys, strict=True):
            if key in fresh:
                first.setdefault(key, record)
        await repo_reports.keep_reports(conn, [_kept(r, moved.get(key)) for key, r in first.items()])
        final: dict[str, tuple[str, str, int | None]] = {}
        for move in moves:
            sid = move.target.message_sid
            previous = final.get(sid)
            code = move.error_code if move.error_code is not None else (previous[2] if previous else None)
            final[sid] = (sid, move.status, code)
        await repo_reports.set_statuses(conn, list(final.values()))
        flagged = await _track_address_health(conn, moves)
    unmatched = sum(1 for r in records if tenant_sid(r.message) not in found)
    if unmatched:
        log.info("%d delivery report(s) for no message of their tenant (or not yet); kept", unmatched)
    for record in replays(records, fresh, kept):
        report = kept[report_key(record.message)]
        target = found.get(tenant_sid(record.message))
        if target is None or report.moved_to is None:
            continue
        event = status_changed(
            target.organization_id,
            target.message_id,
            target.message_sid,
            report.moved_to,
            report.moved_error_code,
            occurred_at=record.message.payload.received_at,
            recovered=record.message.payload.recovered,
        )
        out.publish(topics.MESSAGE_EVENTS, event, target.message_id, cause=record)
    for index, move in enumerate(moves):
        t = move.target
        event = status_changed(
            t.organization_id,
            t.message_id,
            t.message_sid,
            move.status,
            move.error_code,
            occurred_at=move.record.message.payload.received_at,
            address_flagged=index in flagged,
            recovered=move.record.message.payload.recovered,
        )
        out.publish(topics.MESSAGE_EVENTS, event, t.message_id, cause=move.record)


def flag_moves(
    moves: Sequence[Move], health: dict[Conversation, AddressHealth]
) -> tuple[set[int], dict[Conversation, AddressHealth]]:
    """Which moves (by index) are failures to an address flagged after them, and the addresses' new
    health (``address_health``), applying the moves in order. Pure."""
    current = dict(health)
    changed: dict[Conversation, AddressHealth] = {}
    flagged: set[int] = set()
    for index, move in enumerate(moves):
        t = move.target
        key = (t.organization_id, t.sender, t.recipient)
        new = address_health.after(current.get(key, AddressHealth()), move.status, move.error_code)
        if new is not None:
            current[key] = changed[key] = new
        if move.status in FAILED_STATUSES and current.get(key, AddressHealth()).flagged:
            flagged.add(index)
    return flagged, changed


async def _track_address_health(conn: asyncpg.Connection, moves: Sequence[Move]) -> set[int]:
    """Only conversations with a failure are read (and locked); one with deliveries only just has its
    failures forgotten. Most moves (queued, sent, ...) touch nothing."""
    failing: set[Conversation] = set()
    delivered: set[Conversation] = set()
    for move in moves:
        key = (move.target.organization_id, move.target.sender, move.target.recipient)
        if move.status in FAILED_STATUSES:
            failing.add(key)
        elif move.status in address_health.DELIVERED:
            delivered.add(key)
    if not failing and not delivered:
        return set()
    health = await repo_reports.address_health(conn, sorted(failing)) if failing else {}
    flagged, changed = flag_moves(moves, health)
    changed.update({key: AddressHealth() for key in delivered - failing})
    await repo_reports.set_address_health(conn, changed)
    return flagged


def _kept(record: Record[DeliveryReportReceived], move: Move | None) -> NewReport:
    payload = record.message.payload
    return NewReport(
        report_id=record.message.id,
        message_sid=payload.message_sid,
        status=payload.status,
        error_code=payload.error_code,
        received_at=payload.received_at,
        organization_id=record.message.organization_id,
        integration_id=payload.integration_id,
        source=record.source,
        moved_to=move.status if move is not None else None,
        moved_error_code=move.error_code if move is not None else None,
    )


async def delete_unmatched_reports_periodically(
    deps: Collaborators, stop: asyncio.Event, *, older_than_seconds: float, every_seconds: float
) -> None:
    """Background job (supervised): every ``every_seconds`` delete the reports that matched no message
    of their tenant for ``older_than_seconds``, so reports for unknown MessageSids are not kept forever."""
    while not stop.is_set():
        async with deps.pool.acquire() as conn:
            deleted = await repo.delete_unmatched_reports(conn, older_than_seconds=older_than_seconds)
        if deleted:
            log.info("deleted %d delivery report(s) that matched no message", deleted)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_seconds)

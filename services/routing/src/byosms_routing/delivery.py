"""Applying Twilio's delivery reports to outbound messages (``DeliveryReportReceived`` in,
``MessageStatusChanged`` out, only when the status really moved; see ``delivery_status``).

Every report is kept (duplicates once) under the tenant the ingress attributed it to (organization and
integration of the callback's signing token). It is applied only to a message of that same organization
and integration: a report naming another tenant's MessageSid changes nothing. One for a MessageSid
routing does not know (yet) changes nothing; when the create's answer is recorded later, the kept
reports of that tenant are applied then (``outbound``). Unmatched reports are deleted after
``BYOSMS_ROUTING_UNMATCHED_REPORT_HOURS`` (:func:`delete_unmatched_reports_periodically`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from byosms_common.kafka import Delivery
from byosms_common.messages import DeliveryReportReceived
from byosms_routing import repo
from byosms_routing.context import Collaborators
from byosms_routing.delivery_status import FAILED_STATUSES, next_status
from byosms_routing.outbound import publish_status

log = logging.getLogger(__name__)


async def on_delivery_report(deps: Collaborators, event: DeliveryReportReceived, _: Delivery) -> None:
    payload = event.payload
    async with deps.pool.acquire() as conn, conn.transaction():
        await repo.lock_message_sid(conn, payload.message_sid)
        await repo.record_report(
            conn,
            event.id,
            payload.message_sid,
            payload.status,
            payload.error_code,
            payload.received_at,
            organization_id=event.organization_id,
            integration_id=payload.integration_id,
        )
        row = await repo.outbound_by_sid(conn, payload.message_sid, event.organization_id, payload.integration_id)
        if row is None:
            log.info("delivery report %s for no message of its tenant (or not yet); kept", event.id)
            return
        moved = next_status(row.twilio_status, payload.status)
        if moved is None:
            return  # a duplicate, or older than what is known
        error_code = payload.error_code if moved in FAILED_STATUSES else None
        await repo.set_twilio_status(conn, row.organization_id, row.message_id, moved, error_code)
        # Published before the commit: if it fails, nothing is committed and the redelivered report
        # moves the status again; if the commit fails after it, the repeat has the same event id.
        await publish_status(deps, row.organization_id, row.message_id, payload.message_sid, moved, error_code)


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

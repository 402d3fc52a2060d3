"""Applying Twilio's delivery reports to outbound messages (``DeliveryReportReceived`` in,
``MessageStatusChanged`` out, only when the status really moved; see ``delivery_status``).

Every report is kept (duplicates once). One for a MessageSid routing does not know (yet) changes nothing; when the
create's answer is recorded later, the kept reports are applied then (``outbound``).
"""

from __future__ import annotations

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
            conn, event.id, payload.message_sid, payload.status, payload.error_code, payload.received_at
        )
        row = await repo.outbound_by_sid(conn, payload.message_sid)
        if row is None:
            log.info("delivery report %s for a message routing did not send (or not yet); kept", event.id)
            return
        moved = next_status(row.twilio_status, payload.status)
        if moved is None:
            return  # a duplicate, or older than what is known
        error_code = payload.error_code if moved in FAILED_STATUSES else None
        await repo.set_twilio_status(conn, row.organization_id, row.message_id, moved, error_code)
        # Published before the commit: if it fails, nothing is committed and the redelivered report
        # moves the status again; if the commit fails after it, the repeat has the same event id.
        await publish_status(deps, row.organization_id, row.message_id, payload.message_sid, moved, error_code)

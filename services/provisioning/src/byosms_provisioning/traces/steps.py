"""Which step of a message's trace an event on ``sms.message-events.v1`` is, and what of it is kept. Pure.

Nothing of a message's body is kept; opt-in and opt-out events are not steps of one message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from byosms_common.messages import (
    AnyMessage,
    InboundMessageDiscarded,
    InboundMessageRouted,
    MessageStatusChanged,
    OutboundMessageAccepted,
    OutboundMessageFailed,
)


@dataclass(frozen=True, slots=True)
class Step:
    event_id: str
    organization_id: str
    message_id: str
    message_sid: str | None
    direction: str
    step: str
    at: datetime
    details: dict[str, Any]


def _ingress(
    region: str | None, received_at: datetime | None, spooled: bool | None, recovered: bool | None
) -> dict[str, Any]:
    ingress: dict[str, Any] = {
        "region": region,
        "received_at": received_at.isoformat() if received_at else None,
        "spooled": spooled,
    }
    if recovered:
        ingress["recovered"] = True
    return ingress


def step_of(event: AnyMessage) -> Step | None:
    """The trace step ``event`` is, or None when it is not one."""
    org, at = event.organization_id, event.occurred_at
    match event:
        case InboundMessageRouted(payload=p):
            ingress = _ingress(p.region, p.received_at, p.spooled, p.recovered)
            details = {"target": p.queue, "integration_id": p.integration_id, **ingress}
            return Step(event.id, org, p.message_sid, p.message_sid, "inbound", "routed", at, details)
        case InboundMessageDiscarded(payload=p):
            ingress = _ingress(p.region, p.received_at, p.spooled, p.recovered)
            details = {"reason": p.reason, "integration_id": p.integration_id, **ingress}
            return Step(event.id, org, p.message_sid, p.message_sid, "inbound", "discarded", at, details)
        case OutboundMessageAccepted(payload=p):
            return Step(event.id, org, p.message_id, p.message_sid, "outbound", "accepted", at, {"status": p.status})
        case OutboundMessageFailed(payload=p) | MessageStatusChanged(payload=p):
            details = {
                "status": p.status,
                "code": p.code,
                "message": p.message.model_dump() if p.message else None,
                "error_code": p.error_code,
                "retryable": p.retryable,
            }
            if p.recovered:
                details["recovered"] = True
            step = "failed" if isinstance(event, OutboundMessageFailed) else "status"
            return Step(event.id, org, p.message_id, p.message_sid, "outbound", step, at, details)
        case _:
            return None

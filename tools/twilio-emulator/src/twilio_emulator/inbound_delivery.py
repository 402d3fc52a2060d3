"""Posting a planned inbound message (:func:`twilio_emulator.inbound.plan_inbound`) to the receiver's
webhook, and to its fallback URL when that fails, as Twilio does; used for a simulated customer's
message (``POST /_emulator/inbound``) and for a message one emulated number sends to another."""

from __future__ import annotations

from dataclasses import dataclass

from twilio_emulator.inbound import InboundPlan
from twilio_emulator.webhooks import WebhookPoster


@dataclass(frozen=True)
class InboundDelivery:
    url: str | None
    status: int | None
    error: str | None
    fallback_status: int | None


async def deliver_inbound(poster: WebhookPoster, plan: InboundPlan) -> InboundDelivery | None:
    """Post the webhook of ``plan``; None when nothing is posted (no URL, or Twilio's keyword handling
    dropped the message)."""
    if plan.url is None or plan.dropped_reason is not None:
        return None
    delivery = await poster.deliver(
        kind="inbound",
        account=plan.account,
        message_sid=plan.message.sid,
        url=plan.url,
        method=plan.method,
        params=plan.params,
    )
    fallback_status: int | None = None
    if not delivery.ok and plan.fallback_url:
        # Twilio calls the fallback URL with the same fields plus ErrorCode/ErrorUrl.
        fallback = await poster.deliver(
            kind="fallback",
            account=plan.account,
            message_sid=plan.message.sid,
            url=plan.fallback_url,
            method=plan.fallback_method,
            params=[*plan.params, ("ErrorCode", "11200"), ("ErrorUrl", delivery.url)],
        )
        fallback_status = fallback.status
    return InboundDelivery(delivery.url, delivery.status, delivery.error, fallback_status)

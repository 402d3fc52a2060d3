"""Creating one message at Twilio: the only place routing talks to Twilio.

At most once: a create is tried again only when Twilio said it did not do it (429/20429, "not
processed") or the connection was never made (refused, DNS). When Twilio or a gateway answers with a
server error (500/502/503/504), the deadline passes, the connection breaks after the request went
out, or the answer cannot be read, Twilio may have created the message, so it is not sent again:
the send ends as ``outcome_unknown``.

Every 429/20429 is also told to ``on_throttled``, so the sender's pace slows down (``pacing``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from byosms_common.twilio_client import FailureKind, TwilioClients, TwilioFailure, retry_with_backoff
from byosms_routing.send_checks import Refusal, SendPlan, may_retry, refusal_for_twilio

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Created:
    message_sid: str
    status: str | None


def _retryable(exc: Exception) -> bool:
    if not isinstance(exc, TwilioFailure):
        return False
    if exc.kind is FailureKind.UNREACHABLE:
        return True
    return exc.kind is FailureKind.ANSWERED and may_retry(exc.status, exc.code)


async def create_message(
    twilio: TwilioClients,
    plan: SendPlan,
    auth_token: str,
    *,
    status_callback: str,
    retry_seconds: float,
    sender: str,
    on_throttled: Callable[[], None] | None = None,
) -> Created | Refusal:
    """Create the message with the tenant's credentials; Twilio's refusal mapped to ours."""
    client = twilio.client(plan.account_sid, auth_token)
    fields: dict[str, Any] = {"to": plan.to, "from_": plan.twilio_from, "status_callback": status_callback}
    if plan.body:
        fields["body"] = plan.body
    if plan.media_urls:
        fields["media_url"] = list(plan.media_urls)

    async def once() -> Any:
        try:
            return await twilio.run("create message", lambda: client.messages.create_async(**fields), creates=True)
        except TwilioFailure as failure:
            if (
                on_throttled is not None
                and failure.kind is FailureKind.ANSWERED
                and may_retry(failure.status, failure.code)
            ):
                on_throttled()
            raise

    try:
        message = await retry_with_backoff(
            once, retryable=_retryable, within_seconds=retry_seconds, what="twilio create message"
        )
    except TwilioFailure as failure:
        if failure.kind is FailureKind.NO_ANSWER:
            return Refusal("outcome_unknown", retryable=False)
        if failure.kind is FailureKind.UNREACHABLE:
            return Refusal("vendor_unavailable", retryable=True)
        return refusal_for_twilio(failure.status, failure.code, sender=sender, recipient=plan.to)
    status = getattr(message, "status", None)
    status = getattr(status, "value", status)
    return Created(message_sid=str(message.sid), status=str(status) if status else None)

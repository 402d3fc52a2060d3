"""Whether an outbound message may go to Twilio, and what Twilio's refusals mean. Pure.

A ``SendMessage`` passes when its From is an active number of the command's organization in the
inventory, that number's integration (same organization) is active and has credentials, To is a
valid E.164 number, text and media are within Twilio's limits (twilio-facts 5.5) and the recipient
has not opted out from this sender or its Messaging Service (``consent``). Refusals carry a stable
code from ``byosms_common.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers

from byosms_common.messages import (
    MAX_MEDIA_URLS,
    IntegrationState,
    IntegrationStatus,
    NumberState,
    NumberStateRecord,
    SealedSecret,
    SendMessage,
    are_sendable_media_urls,
)
from byosms_routing.api_token import CURRENT_FIELD, rest_token

MAX_BODY_CHARS = 1600
MAX_MEDIA = MAX_MEDIA_URLS


@dataclass(frozen=True, slots=True)
class Refusal:
    """The message is not sent: our error code, its parameters, and Twilio's code if Twilio refused."""

    code: str
    params: Mapping[str, str] = field(default_factory=dict)
    twilio_code: int | None = None
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class SendPlan:
    """Everything needed to create the message at Twilio (the token still sealed)."""

    integration_id: str
    account_sid: str
    auth_token: SealedSecret
    region: str
    twilio_from: str
    to: str
    body: str
    media_urls: tuple[str, ...]
    token_field: str = CURRENT_FIELD
    """Which sealed field ``auth_token`` is: the current token, or the next one of a rotation window."""


def is_e164(number: str) -> bool:
    """A valid phone number written in E.164 (``+`` and up to 15 digits), per libphonenumber."""
    if not number.startswith("+") or not number[1:].isascii() or not number[1:].isdigit() or len(number) > 16:
        return False
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(parsed))


def twilio_sender(address: str) -> str:
    """What Twilio expects in From: the E.164 number, or the bare digits of a short code (``US:12345``)."""
    return address.split(":", 1)[1] if ":" in address else address


def check_send(
    command: SendMessage,
    number: NumberStateRecord | None,
    integration: IntegrationState | None,
    *,
    opted_out: bool,
    opted_out_of_service: str | None = None,
    now: datetime | None = None,
) -> SendPlan | Refusal:
    """The plan to send ``command``, or why it is refused (first failing check wins). ``opted_out``:
    the recipient's consent refuses it (``consent.blocking_record``), through the Messaging Service
    ``opted_out_of_service`` when that record is the service's. ``now`` picks the token during an Auth
    Token rotation window (``api_token``); without it the current token is used."""
    payload = command.payload
    org = command.organization_id
    sender = payload.from_
    if number is None or number.organization_id != org or number.payload.state is NumberState.REMOVED:
        return Refusal("sender_not_in_inventory", {"sender": sender})
    if (
        integration is None
        or integration.organization_id != org
        or integration.payload.integration_id != number.payload.number.integration_id
    ):
        return Refusal("sender_not_in_inventory", {"sender": sender})
    if number.payload.state is not NumberState.ACTIVE or integration.payload.status is not IntegrationStatus.ACTIVE:
        return Refusal("sender_inactive", {"sender": sender})
    state = integration.payload
    token = rest_token(state, now) if now is not None else None
    if token is None and state.auth_token is not None:
        token = (CURRENT_FIELD, state.auth_token)
    if not state.account_sid or token is None:
        return Refusal("sender_no_credentials", {"sender": sender})
    if not is_e164(payload.to):
        return Refusal("recipient_invalid", {"recipient": payload.to})
    if not payload.body and not payload.media_urls:
        return Refusal("message_empty")
    if len(payload.body) > MAX_BODY_CHARS:
        return Refusal("message_too_long", {"limit": str(MAX_BODY_CHARS)})
    if not are_sendable_media_urls(payload.media_urls):
        return Refusal("message_media_invalid", {"limit": str(MAX_MEDIA)})
    if opted_out:
        if opted_out_of_service:
            return Refusal("recipient_opted_out_of_service", {"service": opted_out_of_service})
        return Refusal("recipient_opted_out")
    return SendPlan(
        integration_id=state.integration_id,
        account_sid=state.account_sid,
        auth_token=token[1],
        token_field=token[0],
        region=state.region,
        twilio_from=twilio_sender(sender),
        to=payload.to,
        body=payload.body,
        media_urls=payload.media_urls,
    )


# Twilio's synchronous refusals of Messages create (twilio-facts section 6) -> our code.
TWILIO_SEND_CODES: Mapping[int, str] = {
    20003: "credentials_rejected",
    21211: "recipient_invalid",
    21408: "destination_not_permitted",
    21606: "sender_not_capable",
    21610: "recipient_opted_out",
    21611: "sender_queue_full",
    21612: "recipient_unreachable",
    21614: "recipient_unreachable",
    21635: "recipient_unreachable",
}

# Twilio codes that mean "not done, try again later": only the rate limit is documented as "the request
# was not processed" (twilio-facts 6, 20429). A 5xx (20500, 20503, or a gateway's 502/504) does not say
# that Twilio skipped the create, so repeating it could text twice.
RETRYABLE_TWILIO_CODES = frozenset({20429})

# Our codes whose failure may pass when the platform sends the message again later.
RETRYABLE_CODES = frozenset({"vendor_unavailable", "sender_queue_full", "not_sent"})


def may_retry(status: int | None, twilio_code: int | None) -> bool:
    """Whether a refused create may be tried again: only a rate limit (429/20429)."""
    return twilio_code in RETRYABLE_TWILIO_CODES or status == 429


def outcome_unknown(status: int | None) -> bool:
    """Whether Twilio's answer leaves open if the message was created: a server or gateway error."""
    return status is not None and status >= 500


def refusal_for_twilio(status: int | None, twilio_code: int | None, *, sender: str, recipient: str) -> Refusal:
    """Our refusal for Twilio's answer to a create that failed for good."""
    if twilio_code is None and status in (401, 403):
        return Refusal("credentials_rejected", twilio_code=None)
    code = TWILIO_SEND_CODES.get(twilio_code) if twilio_code is not None else None
    shown = str(twilio_code if twilio_code is not None else status)
    if code is None:
        if may_retry(status, twilio_code):
            return Refusal("vendor_unavailable", twilio_code=twilio_code, retryable=True)
        if outcome_unknown(status):
            return Refusal("outcome_unknown", twilio_code=twilio_code, retryable=False)
        return Refusal("vendor_rejected", {"twilio_code": shown}, twilio_code=twilio_code)
    params: dict[str, str] = {}
    if code == "recipient_invalid":
        params = {"recipient": recipient}
    elif code == "sender_not_capable":
        params = {"sender": sender}
    elif code == "recipient_unreachable":
        params = {"twilio_code": shown}
    return Refusal(code, params, twilio_code=twilio_code, retryable=code in RETRYABLE_CODES)

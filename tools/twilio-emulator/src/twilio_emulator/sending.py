"""Messages create: Twilio's synchronous validation, sender selection and opt-out checks (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from twilio_emulator.errors import TwilioApiError
from twilio_emulator.ids import new_sid
from twilio_emulator.state import Account, Message, OutcomeRule, Store
from twilio_emulator.text import count_segments, is_e164, is_short_code

MAX_BODY = 1600
MAX_MEDIA = 10
_HOST_RE = re.compile(r"^[A-Za-z0-9.-]+$")


@dataclass(frozen=True)
class CreateRequest:
    to: str
    from_: str
    messaging_service_sid: str
    body: str
    media_urls: tuple[str, ...]
    status_callback: str

    @classmethod
    def from_form(cls, form: list[tuple[str, str]]) -> CreateRequest:
        first: dict[str, str] = {}
        for name, value in form:
            first.setdefault(name, value)
        return cls(
            to=first.get("To", "").strip(),
            from_=first.get("From", "").strip(),
            messaging_service_sid=first.get("MessagingServiceSid", "").strip(),
            body=first.get("Body", ""),
            media_urls=tuple(v for n, v in form if n == "MediaUrl"),
            status_callback=first.get("StatusCallback", "").strip(),
        )


def valid_callback_url(url: str) -> bool:
    """Twilio requires an http(s) URL with a valid hostname; underscores are rejected."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return parts.scheme in {"http", "https"} and bool(host) and bool(_HOST_RE.match(host))


def create_message(store: Store, account: Account, req: CreateRequest, now: float) -> Message:
    """Validate like Twilio and store a new outbound message; raise TwilioApiError on rejection."""
    if not req.to:
        raise TwilioApiError(21604)
    if not req.from_ and not req.messaging_service_sid:
        raise TwilioApiError(21603)
    if not req.body and not req.media_urls:
        raise TwilioApiError(21602)
    if len(req.body) > MAX_BODY:
        raise TwilioApiError(21617)
    if len(req.media_urls) > MAX_MEDIA:
        raise TwilioApiError(21623)
    if not is_e164(req.to):
        raise TwilioApiError(21211, value=req.to)
    if req.from_ and req.from_ == req.to:
        raise TwilioApiError(21266)
    if req.status_callback and not valid_callback_url(req.status_callback):
        raise TwilioApiError(21609)

    service = None
    if req.messaging_service_sid:
        service = store.services.get(req.messaging_service_sid)
        if service is None or service.account_sid != account.sid:
            raise TwilioApiError(21701, value=req.messaging_service_sid)

    sender_sid: str | None = None
    if req.from_:
        sender_sid = store.sender_sid_for(req.from_, account.sid)
        number = store.numbers.get(sender_sid) if sender_sid else None
        if sender_sid is None or (number is not None and not number.capabilities.get("sms", False)):
            raise TwilioApiError(21606, value=req.from_)
        if not is_e164(req.from_) and not is_short_code(req.from_):
            raise TwilioApiError(21606, value=req.from_)
    elif service is not None:
        sender_sid = next(iter(service.members), None)
        if sender_sid is None:
            raise TwilioApiError(21703)

    sender_address = req.from_ or (store.address_of(sender_sid) if sender_sid else None) or ""
    scope = service.sid if service is not None else store.opt_out_scope(sender_address, sender_sid)
    if (scope, req.to) in store.opt_outs or (sender_address, req.to) in store.opt_outs:
        raise TwilioApiError(21610)

    outcome: OutcomeRule = store.outcome_for(req.to)
    if outcome.reject_code is not None:
        raise TwilioApiError(outcome.reject_code)

    rate_key = req.from_ or req.messaging_service_sid
    if store.rate_exceeded(rate_key, now):
        raise TwilioApiError(20429)

    prefix = "MM" if req.media_urls else "SM"
    message = Message(
        sid=new_sid(prefix),
        account_sid=account.sid,
        to=req.to,
        # With only a Messaging Service Twilio picks the sender later; 'from' is null until then.
        from_=req.from_ or None,
        body=req.body,
        direction="outbound-api",
        status="accepted" if service is not None and not req.from_ else "queued",
        messaging_service_sid=service.sid if service is not None else None,
        media_urls=list(req.media_urls),
        status_callback=req.status_callback or (service.status_callback if service is not None else None),
        num_segments=count_segments(req.body),
        service_sender=sender_address or None,
    )
    store.messages[message.sid] = message
    return message

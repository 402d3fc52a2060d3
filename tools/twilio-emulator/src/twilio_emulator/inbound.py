"""Simulated customer messages to a Twilio number: routing, opt-out keywords, webhook fields (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from twilio_emulator.ids import new_sid
from twilio_emulator.overrides import inbound_route
from twilio_emulator.render import API_VERSION
from twilio_emulator.state import Account, Message, PhoneNumber, ShortCode, Store, utcnow
from twilio_emulator.text import KeywordType, classify_keyword, count_segments, country_of


class UnknownReceiver(LookupError):
    """No phone number or short code with that address exists in the emulator."""


@dataclass
class InboundPlan:
    account: Account
    message: Message
    params: list[tuple[str, str]]
    url: str | None
    method: str
    fallback_url: str | None
    fallback_method: str
    keyword: KeywordType | None
    dropped_reason: str | None = None
    media: list[tuple[str, str]] = field(default_factory=list)


def plan_inbound(
    store: Store,
    from_: str,
    to: str,
    body: str,
    media: list[tuple[str | None, str]],
    extra: list[tuple[str, str]],
    *,
    omit_body: bool = False,
) -> InboundPlan:
    """Store the inbound message, apply Twilio's default keyword handling and decide where it goes.

    ``to`` may carry a channel prefix (``whatsapp:+1…``, ``rcs:+1…``): the receiver is the number after
    it, and the webhook's To/From keep the prefixes, as Twilio posts a Messaging Service's other senders.
    A media item without a URL gets Twilio's own media URL of this message (``/Media/ME…`` under the
    account); ``omit_body`` leaves the Body field out, as some MMS webhooks come.
    """
    address = _without_channel(to)
    receiver: PhoneNumber | ShortCode | None = store.number_by_phone(address) or store.short_code_by_code(address)
    if receiver is None:
        raise UnknownReceiver(to)
    account = store.accounts[receiver.account_sid]
    service = store.service_of(receiver.sid)

    keyword = classify_keyword(body)
    # Twilio's default handling covers long codes/toll-free (per number, or per whole service);
    # standalone short codes get no automatic opt-out handling (twilio-facts 7.3).
    scope: str | None = None
    if service is not None:
        scope = service.sid
    elif isinstance(receiver, PhoneNumber):
        scope = receiver.phone_number
    if scope is not None and keyword == "STOP":
        store.opt_outs.add((scope, from_))
    elif scope is not None and keyword == "START":
        store.opt_outs.discard((scope, from_))

    sid = new_sid("MM" if media else "SM")
    items = [(url or twilio_media_url(account.sid, sid), content_type) for url, content_type in media]
    message = Message(
        sid=sid,
        account_sid=account.sid,
        to=to,
        from_=from_,
        body=body,
        direction="inbound",
        status="received",
        messaging_service_sid=service.sid if service is not None else None,
        media_urls=[url for url, _ in items],
        num_segments=count_segments(body),
        date_sent=utcnow(),  # Twilio dates a received message (the Messages list's DateSent filters see it)
    )
    store.messages[message.sid] = message

    params = webhook_params(message, items, omit_body=omit_body)
    if service is not None and service.advanced_opt_out and keyword is not None:
        params.append(("OptOutType", keyword))
    params = _merge(params, extra)

    route = inbound_route(store, receiver, service)
    url, method = route.url, route.method
    fallback_url, fallback_method = route.fallback_url, route.fallback_method
    dropped = route.dropped
    return InboundPlan(
        account=account,
        message=message,
        params=params,
        url=url or None,
        method=method,
        fallback_url=fallback_url or None,
        fallback_method=fallback_method,
        keyword=keyword,
        dropped_reason=dropped,
        media=items,
    )


def twilio_media_url(account_sid: str, message_sid: str) -> str:
    """A media item's URL as Twilio posts it: its API host, the account, the message, a fresh ME SID."""
    return f"https://api.twilio.com/{API_VERSION}/Accounts/{account_sid}/Messages/{message_sid}/Media/{new_sid('ME')}"


def _without_channel(address: str) -> str:
    """``+1…`` of ``whatsapp:+1…`` or ``rcs:+1…``; other addresses unchanged."""
    prefix, separator, rest = address.partition(":")
    return rest if separator and prefix.isalpha() else address


def webhook_params(message: Message, media: list[tuple[str, str]], *, omit_body: bool = False) -> list[tuple[str, str]]:
    """Every field Twilio sends for an SMS/MMS, blanks included, in a capture-like (unsorted) order
    (without Body when ``omit_body``)."""
    to_country = country_of(message.to)
    from_country = country_of(message.from_ or "")
    params = [
        ("ToCountry", to_country),
        ("ToState", ""),
        ("SmsMessageSid", message.sid),
        ("NumMedia", str(len(media))),
        ("ToCity", ""),
        ("FromZip", ""),
        ("SmsSid", message.sid),
        ("FromState", ""),
        ("SmsStatus", "received"),
        ("FromCity", ""),
        *([] if omit_body else [("Body", message.body)]),
        ("FromCountry", from_country),
        ("To", message.to),
    ]
    if message.messaging_service_sid:
        params.append(("MessagingServiceSid", message.messaging_service_sid))
    params += [
        ("ToZip", ""),
        ("NumSegments", str(message.num_segments)),
        ("ReferralNumMedia", "0"),
        ("MessageSid", message.sid),
        ("AccountSid", message.account_sid),
        ("From", message.from_ or ""),
        ("ApiVersion", API_VERSION),
    ]
    for index, (url, content_type) in enumerate(media):
        params.append((f"MediaContentType{index}", content_type))
        params.append((f"MediaUrl{index}", url))
    return params


def _merge(params: list[tuple[str, str]], extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Extra fields override same-named ones (e.g. FromCity) or are appended."""
    overrides = dict(extra)
    merged = [(name, overrides.pop(name, value)) for name, value in params]
    return merged + [(name, value) for name, value in extra if name in overrides]

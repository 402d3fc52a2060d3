"""Twilio webhook parameters: parsing the body and mapping it to typed event fields. Pure, no I/O.

Parameters stay a sequence of ``(name, value)`` pairs in the order received: blank values and
repeated names are kept, because the signature covers every one of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

from byosms_common.conversation import conversation_key as conversation_key  # the key of the inbound topic
from byosms_common.messages import DeliveryReportPayload, InboundMessagePayload
from byosms_ingress.inbound_media import MediaItems, media_items

Params = tuple[tuple[str, str], ...]

MAX_FIELDS = 1000
MAX_SID_LENGTH = 64
# What a message's status says about the webhook (Twilio's ``message_enum_status``). An inbound message
# carries SmsStatus ``received`` (``receiving`` while an MMS is still arriving); every other value is a
# status callback of an outbound message.
INBOUND_STATUSES = frozenset({"received", "receiving"})
CALLBACK_STATUSES = frozenset(
    {
        "queued",
        "sending",
        "sent",
        "failed",
        "delivered",
        "undelivered",
        "accepted",
        "scheduled",
        "read",
        "partially_delivered",
        "canceled",
    }
)


class FormError(ValueError):
    """The body is not a usable Twilio webhook (answered with 400). ``reason`` is a stable label (the
    metric's), ``code`` the problem code of the answer."""

    def __init__(self, reason: str, detail: str, code: str = "invalid_request") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.code = code


class WebhookKind(StrEnum):
    INBOUND = "inbound"
    STATUS = "status"


class Endpoint(StrEnum):
    """Which of our URLs was called."""

    MO = "mo"
    STATUS = "status"


def parse_form(body: bytes) -> Params:
    """Parse ``application/x-www-form-urlencoded``, keeping blanks, repeats and order.

    ``+`` becomes a space and percent escapes are decoded once, as UTF-8, like every form parser.
    The result is exactly ``urllib.parse.parse_qsl``'s with strict parsing, blank values kept and
    at most :data:`MAX_FIELDS` fields (a property test holds it to that); it only skips the decoding
    of fields that have nothing to decode, which is most of them, on the hottest path of the ingress.
    """
    try:
        text = body.decode("utf-8")
        if not text:
            return ()
        if text.count("&") >= MAX_FIELDS:
            raise ValueError("too many fields")
        pairs = []
        for field in text.split("&"):
            name, separator, value = field.partition("=")
            if not separator:
                raise ValueError("a field without =")
            if "%" in name or "+" in name:
                name = unquote(name.replace("+", " "), errors="strict")
            if "%" in value or "+" in value:
                value = unquote(value.replace("+", " "), errors="strict")
            pairs.append((name, value))
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise FormError("malformed_form", f"form body cannot be parsed: {type(exc).__name__}") from None
    return tuple(pairs)


def parse_json_object(body: str) -> Params:
    """A JSON webhook body as parameters: a flat object; nested values are kept as JSON text.

    Anything a client can send that Python's ``json`` refuses or cannot carry further answers
    FormError (400): syntax errors, nesting too deep (RecursionError), integers over Python's digit
    limit (ValueError), and lone surrogates such as ``"\\ud800"`` (not encodable as UTF-8).
    """
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise FormError("malformed_json", "JSON body must be an object")
        if len(data) > MAX_FIELDS:
            raise FormError("malformed_json", "JSON body has too many fields")
        pairs: list[tuple[str, str]] = []
        for name, value in data.items():
            if isinstance(value, str):
                pairs.append((name, value))
            elif value is None:
                pairs.append((name, ""))
            else:
                pairs.append((name, json.dumps(value, separators=(",", ":"))))
        for name, value in pairs:
            name.encode("utf-8")
            value.encode("utf-8")
    except FormError:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeEncodeError are ValueErrors
        raise FormError("malformed_json", "JSON body cannot be parsed") from None
    return tuple(pairs)


def raw_params(params: Params) -> dict[str, list[str]]:
    """Every parameter as received: names in first-seen order, all values of repeated names."""
    raw: dict[str, list[str]] = {}
    for name, value in params:
        raw.setdefault(name, []).append(value)
    return raw


def first(params: Params, name: str) -> str | None:
    """The first value of ``name``, or None when absent."""
    for key, value in params:
        if key == name:
            return value
    return None


def account_sid(params: Params) -> str:
    """The AccountSid, which picks the integration and its token (400 when missing)."""
    value = first(params, "AccountSid")
    if not value:
        raise FormError("missing_parameter", "AccountSid is missing")
    return value


def classify(params: Params, endpoint: Endpoint) -> WebhookKind:
    """:func:`kind_of`, raising :class:`FormError` (``webhook_not_recognized``, answered 400) for a
    webhook that is neither: it is counted, never published where no consumer would handle it."""
    kind = kind_of(params, endpoint)
    if kind is None:
        raise FormError(
            "webhook_not_recognized",
            "not an inbound message nor a status callback (a MessageSid and a status or a message are needed)",
            code="webhook_not_recognized",
        )
    return kind


def kind_of(params: Params, endpoint: Endpoint) -> WebhookKind | None:
    """Inbound message or status callback (None: neither), from the endpoint called and Twilio's fields.

    - A status of an inbound message (``received``, ``receiving``) with a message in it (a ``Body``
      field, blank or not, or media) is an inbound message on either URL: an MMS may come without
      ``Body``. Routing drops a MessageSid it has seen, so a copy posted to both URLs is routed once.
      Without ``Body`` and without media it is a notice about an inbound message (a status callback):
      routed, such a copy could win the race against the real webhook and route an empty message.
    - Any other known status is a status callback on either URL (tenants may point a Messaging
      Service's status callback at the inbound URL).
    - A status Twilio may add later is a status callback on the status URL; on the inbound URL it is
      an inbound message when the webhook carries one, else a status callback.
    - Without a status, the inbound URL takes a message, the status URL nothing.
    - A webhook without a MessageSid is neither.
    """
    has_sid, carries_message = False, False
    message_status: str | None = None
    sms_status: str | None = None
    for name, value in params:  # one pass, no lookup table: this runs for every webhook
        if name in _SID_NAMES:
            has_sid = has_sid or bool(value)
        elif name == "MessageStatus":
            message_status = value if message_status is None else message_status
        elif name == "SmsStatus":
            sms_status = value if sms_status is None else sms_status
        elif name == "Body" or name.startswith("MediaUrl") or (name == "NumMedia" and _positive(value)):
            carries_message = True
    if not has_sid:
        return None
    status = (message_status or sms_status or "").strip().lower()
    if status in INBOUND_STATUSES:
        return WebhookKind.INBOUND if carries_message else WebhookKind.STATUS
    if status in CALLBACK_STATUSES:
        return WebhookKind.STATUS
    if endpoint is Endpoint.STATUS:
        return WebhookKind.STATUS if status else None
    if carries_message:
        return WebhookKind.INBOUND
    return WebhookKind.STATUS if status else None


def _positive(value: str) -> bool:
    """An ASCII decimal count above zero (``"0"``, ``"00"``, ``"-1"``, ``"²"`` are not)."""
    digits = value.strip()
    return digits.isascii() and digits.isdigit() and digits.strip("0") != ""


@dataclass(frozen=True, slots=True)
class Origin:
    """Who the webhook belongs to and when it arrived."""

    region: str
    integration_id: str
    received_at: datetime


def inbound_payload(params: Params, origin: Origin) -> InboundMessagePayload:
    """Typed fields of an inbound SMS/MMS plus every raw parameter (FormError when unusable)."""
    return InboundMessagePayload.model_validate(inbound_fields(params, origin))


def inbound_fields(params: Params, origin: Origin) -> dict[str, Any]:
    """The fields of :class:`InboundMessagePayload` (by alias), not validated yet: the ingress puts
    them into the event's envelope and validates that once (FormError when unusable)."""
    return inbound_parts(params, origin)[0]


def inbound_parts(params: Params, origin: Origin) -> tuple[dict[str, Any], MediaItems]:
    """:func:`inbound_fields` and the media check they came from (its drop reasons feed the metric)."""
    raw = raw_params(params)  # one lookup table for the dozen fields read below
    message_sid = _message_sid(raw)
    account = _required(raw, "AccountSid")
    media = media_items(raw, account, message_sid, _count(raw, "NumMedia", default=0))
    fields = {
        "message_sid": message_sid,
        "account_sid": account,
        "messaging_service_sid": _first(raw, "MessagingServiceSid") or None,
        "from": _required(raw, "From"),
        "to": _required(raw, "To"),
        "body": _first(raw, "Body") or "",  # an MMS may come without a Body
        "num_segments": _count(raw, "NumSegments", default=1),
        "media": media.kept,
        "media_dropped": len(media.dropped),
        "region": origin.region,
        "integration_id": origin.integration_id,
        "received_at": origin.received_at,
        "raw": raw,
    }
    return fields, media


def delivery_report_payload(params: Params, origin: Origin) -> DeliveryReportPayload:
    """Typed fields of a status callback plus every raw parameter (FormError when unusable)."""
    return DeliveryReportPayload.model_validate(delivery_report_fields(params, origin))


def delivery_report_fields(params: Params, origin: Origin) -> dict[str, Any]:
    """The fields of :class:`DeliveryReportPayload` (by alias), not validated yet (see inbound_fields)."""
    raw = raw_params(params)
    return {
        "message_sid": _message_sid(raw),
        "account_sid": _required(raw, "AccountSid"),
        "status": _status(raw),
        "error_code": _int(raw, "ErrorCode", default=None),
        "from": _first(raw, "From") or None,
        "to": _first(raw, "To") or None,
        "region": origin.region,
        "integration_id": origin.integration_id,
        "received_at": origin.received_at,
        "raw": raw,
    }


def message_sid(params: Params) -> str:
    """MessageSid, or its deprecated twins SmsMessageSid / SmsSid on older payloads."""
    return _message_sid(raw_params(params))


def status(params: Params) -> str:
    """MessageStatus, or the deprecated SmsStatus."""
    return _status(raw_params(params))


Raw = dict[str, list[str]]


def _first(raw: Raw, name: str) -> str | None:
    values = raw.get(name)
    return values[0] if values else None


_SID_NAMES = ("MessageSid", "SmsMessageSid", "SmsSid")


def _message_sid(raw: Raw) -> str:
    for name in _SID_NAMES:
        value = _first(raw, name)
        if value:
            if len(value) > MAX_SID_LENGTH:
                raise FormError("invalid_parameter", f"{name} is too long")
            return value
    raise FormError("missing_parameter", "MessageSid is missing")


def _status(raw: Raw) -> str:
    value = _first(raw, "MessageStatus") or _first(raw, "SmsStatus")
    if not value:
        raise FormError("missing_parameter", "MessageStatus is missing")
    if len(value) > MAX_SID_LENGTH:
        raise FormError("invalid_parameter", "MessageStatus is too long")
    return value


def _required(raw: Raw, name: str) -> str:
    value = _first(raw, name)
    if not value:
        raise FormError("missing_parameter", f"{name} is missing")
    return value


def _count(raw: Raw, name: str, *, default: int) -> int:
    value = _int(raw, name, default=None)
    return default if value is None else value


def _int(raw: Raw, name: str, *, default: int | None) -> int | None:
    value = _first(raw, name)
    if value is None or not value.strip():
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise FormError("invalid_parameter", f"{name} is not a number") from None
    if number < 0:
        raise FormError("invalid_parameter", f"{name} is negative")
    return number

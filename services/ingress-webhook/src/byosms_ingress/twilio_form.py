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

Params = tuple[tuple[str, str], ...]

MAX_FIELDS = 1000
MAX_MEDIA = 100
MAX_SID_LENGTH = 64
# Statuses an inbound message carries in SmsStatus; anything else on /mo is a status callback.
INBOUND_STATUSES = frozenset({"received", "receiving"})


class FormError(ValueError):
    """The body is not a usable Twilio webhook (answered with 400). ``reason`` is a stable label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


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
    """Inbound message or status callback.

    Our status URL only receives status callbacks. Tenants may also point their Messaging Service's
    status callback at the inbound URL, so there a request counts as a status callback when it
    carries a status but no Body, or a status other than the inbound ones.
    """
    if endpoint is Endpoint.STATUS:
        return WebhookKind.STATUS
    message_status = first(params, "MessageStatus")
    sms_status = first(params, "SmsStatus")
    if first(params, "Body") is None and (message_status or sms_status):
        return WebhookKind.STATUS
    if message_status and message_status not in INBOUND_STATUSES:
        return WebhookKind.STATUS
    return WebhookKind.INBOUND


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
    raw = raw_params(params)  # one lookup table for the dozen fields read below
    return {
        "message_sid": _message_sid(raw),
        "account_sid": _required(raw, "AccountSid"),
        "messaging_service_sid": _first(raw, "MessagingServiceSid") or None,
        "from": _required(raw, "From"),
        "to": _required(raw, "To"),
        "body": _present(raw, "Body"),
        "num_segments": _count(raw, "NumSegments", default=1),
        "media": _media(raw),
        "region": origin.region,
        "integration_id": origin.integration_id,
        "received_at": origin.received_at,
        "raw": raw,
    }


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


def _message_sid(raw: Raw) -> str:
    for name in ("MessageSid", "SmsMessageSid", "SmsSid"):
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


def _present(raw: Raw, name: str) -> str:
    """A parameter that must be sent but may be blank (an MMS without text has ``Body=``)."""
    value = _first(raw, name)
    if value is None:
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


def _media(raw: Raw) -> list[dict[str, str | None]]:
    """MediaUrl{N}/MediaContentType{N} pairs (fields of :class:`Media`), N = 0, 1, ... as long as
    they are present."""
    declared = _count(raw, "NumMedia", default=0)
    media: list[dict[str, str | None]] = []
    for index in range(min(declared, MAX_MEDIA) if declared else MAX_MEDIA):
        url = _first(raw, f"MediaUrl{index}")
        if url is None:
            if declared:
                continue  # tolerate a gap; NumMedia is the authority on how many to look for
            break
        media.append({"url": url, "content_type": _first(raw, f"MediaContentType{index}") or None})
    return media

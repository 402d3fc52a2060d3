"""From validated webhook parameters to the event put on Kafka: topic, key, envelope. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import trace as otel_trace
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from byosms_common.channels import other_channel
from byosms_common.messages import DeliveryReportReceived, Envelope, InboundMessageReceived, TraceContext, encode
from byosms_common.topics import DELIVERY_REPORTS, INBOUND_MESSAGES
from byosms_ingress.inbound_media import DropReason
from byosms_ingress.integrations_cache import Integration
from byosms_ingress.spool import SpoolRecord
from byosms_ingress.twilio_form import (
    FormError,
    Origin,
    Params,
    WebhookKind,
    conversation_key,
    delivery_report_fields,
    inbound_parts,
)


@dataclass(frozen=True, slots=True)
class Built:
    """The record to publish and what the webhook's check found on the way (for metrics and logs)."""

    record: SpoolRecord
    media_dropped: tuple[DropReason, ...] = ()
    channel: str | None = None
    """The channel of From/To when not SMS (``whatsapp``, ``rcs``): routing discards such inbound messages."""


def build_record(
    kind: WebhookKind,
    params: Params,
    integration: Integration,
    region: str,
    received_at: datetime,
    *,
    signed_with: str | None = None,
    signature_failure: str | None = None,
) -> Built:
    """The event for a webhook. Its id is deterministic so consumers can drop Twilio's retries:
    the MessageSid for an inbound message, MessageSid and status for a delivery report.

    The envelope and its payload are validated in one pass (one dict through the event's pydantic
    model, not a payload model first and the envelope around it), then serialised. ``signed_with``: the
    secret whose signature matched; ``signature_failure``: why it failed, for a webhook accepted in
    signature mode observe.
    """
    origin = Origin(region=region, integration_id=integration.integration_id, received_at=received_at)
    trace = request_trace()  # in the envelope and, as headers, on the record
    fields: dict[str, Any] = {
        "occurred_at": received_at,
        "organization_id": integration.organization_id,
        "trace": trace,
    }
    dropped: tuple[DropReason, ...] = ()
    try:
        if kind is WebhookKind.INBOUND:
            parts, media = inbound_parts(params, origin)
            payload = fields["payload"] = _signed(parts, signed_with, signature_failure)
            dropped = media.dropped
            fields["id"] = event_id = payload["message_sid"]
            event: Envelope = InboundMessageReceived.model_validate(fields)
            topic, key = INBOUND_MESSAGES, conversation_key(payload["to"], payload["from"])
        else:
            payload = fields["payload"] = _signed(
                delivery_report_fields(params, origin), signed_with, signature_failure
            )
            fields["id"] = event_id = f"{payload['message_sid']}:{payload['status']}"
            event = DeliveryReportReceived.model_validate(fields)
            topic, key = DELIVERY_REPORTS, payload["message_sid"]
        value = encode(event)
    except ValidationError as exc:
        loc = exc.errors()[0].get("loc", ())
        where = ".".join(str(p) for p in (loc[1:] if loc[:1] == ("payload",) else loc))  # a Twilio parameter's name
        raise FormError("invalid_parameter", f"{where} is not valid") from None
    except PydanticSerializationError:  # e.g. a lone surrogate the parsers let through
        raise FormError("invalid_parameter", "a parameter cannot be encoded as UTF-8") from None
    record = SpoolRecord(
        event_id=event_id,
        topic=topic.name,
        key=key,
        value=value,
        message_type=_TYPES[kind],
        traceparent=trace.traceparent if trace is not None else None,
        tracestate=trace.tracestate if trace is not None else None,
    )
    return Built(record, dropped, other_channel(payload["from"], payload["to"]))


def _signed(payload: dict[str, Any], signed_with: str | None, failure: str | None) -> dict[str, Any]:
    if signed_with is not None:
        payload["signed_with"] = signed_with
    if failure is not None:
        payload["signature_failure"] = failure
    return payload


_TYPES = {
    WebhookKind.INBOUND: InboundMessageReceived.model_fields["type"].default,
    WebhookKind.STATUS: DeliveryReportReceived.model_fields["type"].default,
}


def request_trace() -> TraceContext | None:
    """The W3C trace context of the current span (the webhook's request span), or None without one.

    Formatted here as the W3C propagator formats it (``byosms_common.kafka.current_trace`` goes
    through the global propagators, which cost several times as much on the ingress's hot path).
    """
    context = otel_trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    tracestate = context.trace_state.to_header()
    return TraceContext(
        traceparent=f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}",
        tracestate=tracestate or None,
    )

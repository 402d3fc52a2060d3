"""From validated webhook parameters to the event put on Kafka: topic, key, envelope. Pure."""

from __future__ import annotations

from datetime import datetime

from opentelemetry import trace as otel_trace
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from byosms_common.messages import DeliveryReportReceived, InboundMessageReceived, TraceContext, encode
from byosms_common.topics import DELIVERY_REPORTS, INBOUND_MESSAGES
from byosms_ingress.integrations_cache import Integration
from byosms_ingress.spool import SpoolRecord
from byosms_ingress.twilio_form import (
    FormError,
    Origin,
    Params,
    WebhookKind,
    conversation_key,
    delivery_report_payload,
    inbound_payload,
)


def build_record(
    kind: WebhookKind, params: Params, integration: Integration, region: str, received_at: datetime
) -> SpoolRecord:
    """The event for a webhook. Its id is deterministic so consumers can drop Twilio's retries:
    the MessageSid for an inbound message, MessageSid and status for a delivery report."""
    origin = Origin(region=region, integration_id=integration.integration_id, received_at=received_at)
    trace = request_trace()  # in the envelope and, as headers, on the record
    try:
        if kind is WebhookKind.INBOUND:
            inbound = inbound_payload(params, origin)
            event: InboundMessageReceived | DeliveryReportReceived = InboundMessageReceived(
                id=inbound.message_sid,
                occurred_at=received_at,
                organization_id=integration.organization_id,
                trace=trace,
                payload=inbound,
            )
            topic, key = INBOUND_MESSAGES, conversation_key(inbound.to, inbound.from_)
        else:
            report = delivery_report_payload(params, origin)
            event = DeliveryReportReceived(
                id=f"{report.message_sid}:{report.status}",
                occurred_at=received_at,
                organization_id=integration.organization_id,
                trace=trace,
                payload=report,
            )
            topic, key = DELIVERY_REPORTS, report.message_sid
        value = encode(event)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0].get("loc", ()))
        raise FormError("invalid_parameter", f"{where} is not valid") from None
    except PydanticSerializationError:  # e.g. a lone surrogate the parsers let through
        raise FormError("invalid_parameter", "a parameter cannot be encoded as UTF-8") from None
    return SpoolRecord(
        event_id=event.id,
        topic=topic.name,
        key=key,
        value=value,
        message_type=event.type,
        traceparent=trace.traceparent if trace is not None else None,
        tracestate=trace.tracestate if trace is not None else None,
    )


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

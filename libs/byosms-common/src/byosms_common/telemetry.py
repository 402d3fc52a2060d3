"""OpenTelemetry tracing: W3C trace context across HTTP and Kafka hops; OTLP export when configured."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from byosms_common.settings import TelemetrySettings


def setup_tracing(
    settings: TelemetrySettings,
    service: str,
    *,
    extra_processors: tuple[SpanProcessor, ...] = (),
    set_global: bool = True,
) -> TracerProvider:
    """A tracer provider for ``service``; spans go to OTLP only when an endpoint is configured."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"byosms-{service}"}))
    if settings.otlp_endpoint:
        # Imported here: the exporter pulls in protobuf, which services without OTLP need not load.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    for processor in extra_processors:
        provider.add_span_processor(processor)
    if set_global:
        trace.set_tracer_provider(provider)
    return provider

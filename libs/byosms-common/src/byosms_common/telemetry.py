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


def setup_tracing_if_exported(
    settings: TelemetrySettings, service: str, *, set_global: bool = True
) -> trace.TracerProvider:
    """For a hot HTTP path: :func:`setup_tracing` when an OTLP endpoint is configured, else the API's
    no-op provider (also made the global one). SDK spans cost about 40 µs each on this kind of
    machine, a large share of a webhook's CPU, for spans nobody would export; a caller's trace
    context still passes through (see the ingress's routes)."""
    if settings.otlp_endpoint:
        return setup_tracing(settings, service, set_global=set_global)
    provider = trace.NoOpTracerProvider()
    if set_global:
        trace.set_tracer_provider(provider)
    return provider

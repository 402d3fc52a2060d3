"""Which tracer provider a service gets: spans only where they can be exported, on the hot HTTP path."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from byosms_common.settings import TelemetrySettings
from byosms_common.telemetry import setup_tracing_if_exported

pytestmark = pytest.mark.unit


def test_without_an_otlp_endpoint_no_spans_are_made() -> None:
    provider = setup_tracing_if_exported(TelemetrySettings(otlp_endpoint=None), "ingress", set_global=False)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /vendors/v1/twilio/key/mo") as span:
        assert not span.is_recording()
        assert not span.get_span_context().is_valid  # nothing to put on a record either


def test_with_an_otlp_endpoint_the_sdk_provider_is_set_up() -> None:
    settings = TelemetrySettings(otlp_endpoint="http://127.0.0.1:4318")
    provider = setup_tracing_if_exported(settings, "ingress", set_global=False)
    try:
        assert isinstance(provider, TracerProvider)
        assert trace.get_tracer_provider() is not provider  # set_global=False left the global one alone
    finally:
        provider.shutdown()

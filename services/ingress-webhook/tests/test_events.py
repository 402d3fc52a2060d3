"""The event's trace context: formatted by hand on the hot path, it must equal what the W3C
propagator (``byosms_common.kafka.current_trace``) would put on the envelope."""

from __future__ import annotations

import pytest
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider

from byosms_common.kafka import current_trace
from byosms_ingress.events import request_trace

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "incoming",
    [
        {},
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "tracestate": "a=1,b=2"},
    ],
    ids=["root span", "sampled parent", "unsampled parent with tracestate"],
)
def test_request_trace_is_what_the_w3c_propagator_writes(incoming: dict[str, str]) -> None:
    tracer = TracerProvider().get_tracer("test")
    token = otel_context.attach(propagate.extract(incoming))
    try:
        with tracer.start_as_current_span("POST /vendors/v1/twilio/key/mo"):
            assert request_trace() == current_trace()
            assert request_trace() is not None
    finally:
        otel_context.detach(token)


def test_no_span_no_trace() -> None:
    assert request_trace() is None
    assert current_trace() is None

"""Logs are JSON lines with the current trace and span ids."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from byosms_common.logs import JsonFormatter

pytestmark = pytest.mark.unit


def test_json_log_lines_carry_trace_ids_and_extras() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    formatter = JsonFormatter("inventory")
    with tracer.start_as_current_span("work") as span:
        record = logging.LogRecord("byosms.test", logging.INFO, __file__, 1, "imported %s", ("+4930",), None)
        record.number_sid = "PN1"
        line = json.loads(formatter.format(record))
    assert line["message"] == "imported +4930"
    assert line["service"] == "inventory"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["number_sid"] == "PN1"

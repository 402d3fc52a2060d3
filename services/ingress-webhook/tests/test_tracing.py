"""One trace from webhook to routed event: the ingress's request span travels on the Kafka record as
W3C ``traceparent`` / ``tracestate`` headers (which consumers continue), and in the envelope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

from byosms_common.messages import decode
from byosms_common.settings import KafkaSettings
from byosms_ingress.app import Ingress
from byosms_ingress.settings import IngressSettings

pytestmark = pytest.mark.integration

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Traced:
    ingress: Ingress
    client: TestClient[web.Request, web.Application]
    exporter: InMemorySpanExporter
    tenant: Any


@pytest.fixture
async def traced(ingress_kit: Any, ingress_kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    keyring = ingress_kit.new_keyring()
    settings = IngressSettings(region="us-east-1", spool_dir=tmp_path / "spool", publish_deadline_s=5.0)
    kafka = KafkaSettings(kafka_bootstrap=ingress_kafka_bootstrap)
    ingress = Ingress(settings, kafka, keyring, tracer_provider=provider)
    tenant = ingress_kit.new_tenant()
    await ingress_kit.seed(ingress_kafka_bootstrap, keyring, tenant)
    async with TestClient(TestServer(ingress.web_app())) as client:
        await ingress_kit.wait_until(lambda: ingress.cache.find(tenant.account_sid) is not None, 30, "tenant cached")
        yield Traced(ingress, client, exporter, tenant)
    provider.shutdown()


async def _post(traced: Traced, kit: Any, sid: str, extra: dict[str, str]) -> None:
    params = kit.sms_params(traced.tenant.account_sid, sid)
    headers = {**FORM, "X-Twilio-Signature": kit.sign(traced.tenant.token, kit.MO_URL, params), **extra}
    path = kit.MO_URL.removeprefix(kit.REGION.base_url)
    assert (await traced.client.post(path, data=kit.form(params), headers=headers)).status == 200


def _server_span(traced: Traced) -> Any:
    [span] = [s for s in traced.exporter.get_finished_spans() if s.name.startswith("POST /vendors/")]
    return span


async def test_the_record_carries_the_trace_of_the_ingress_request_span(
    traced: Traced, ingress_kit: Any, ingress_readers: dict[str, Any]
) -> None:
    """Twilio sends no trace context: the ingress's span starts the trace the consumers continue."""
    sid = ingress_kit.new_message_sid()
    await _post(traced, ingress_kit, sid, {})

    [record] = await ingress_readers["mo"].collect(lambda r: sid.encode() in r.value, 1)
    headers = dict(record.headers)
    span = _server_span(traced).get_span_context()
    version, trace_id, parent_id, _ = headers["traceparent"].decode().split("-")
    assert (version, trace_id, parent_id) == ("00", format(span.trace_id, "032x"), format(span.span_id, "016x"))
    assert "tracestate" not in headers
    envelope = decode(record.value)
    assert envelope.trace is not None
    assert envelope.trace.traceparent == headers["traceparent"].decode()


async def test_a_callers_trace_context_continues_through_the_record(
    traced: Traced, ingress_kit: Any, ingress_readers: dict[str, Any]
) -> None:
    """Behind a proxy that traces: the same trace id end to end, and its tracestate passed on."""
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    sid = ingress_kit.new_message_sid()
    await _post(
        traced,
        ingress_kit,
        sid,
        {"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01", "tracestate": "lb=proxy1"},
    )

    [record] = await ingress_readers["mo"].collect(lambda r: sid.encode() in r.value, 1)
    headers = dict(record.headers)
    span = _server_span(traced).get_span_context()
    assert format(span.trace_id, "032x") == caller_trace
    assert headers["traceparent"].decode() == f"00-{caller_trace}-{span.span_id:016x}-01"
    assert headers["tracestate"] == b"lb=proxy1"
    envelope = decode(record.value)
    assert envelope.trace is not None
    assert envelope.trace.tracestate == "lb=proxy1"


@pytest.fixture
async def untraced(ingress_kit: Any, ingress_kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Traced]:
    """Tracing off, as ``byosms-ingress`` runs without an OTLP endpoint: the API's no-op provider."""
    keyring = ingress_kit.new_keyring()
    settings = IngressSettings(region="us-east-1", spool_dir=tmp_path / "spool", publish_deadline_s=5.0)
    kafka = KafkaSettings(kafka_bootstrap=ingress_kafka_bootstrap)
    ingress = Ingress(settings, kafka, keyring, tracer_provider=NoOpTracerProvider())
    tenant = ingress_kit.new_tenant()
    await ingress_kit.seed(ingress_kafka_bootstrap, keyring, tenant)
    async with TestClient(TestServer(ingress.web_app())) as client:
        await ingress_kit.wait_until(lambda: ingress.cache.find(tenant.account_sid) is not None, 30, "tenant cached")
        yield Traced(ingress, client, InMemorySpanExporter(), tenant)


async def test_without_tracing_the_record_carries_no_trace(
    untraced: Traced, ingress_kit: Any, ingress_readers: dict[str, Any]
) -> None:
    sid = ingress_kit.new_message_sid()
    await _post(untraced, ingress_kit, sid, {})

    [record] = await ingress_readers["mo"].collect(lambda r: sid.encode() in r.value, 1)
    assert "traceparent" not in dict(record.headers)
    assert decode(record.value).trace is None


async def test_without_tracing_a_callers_trace_context_is_passed_on_unchanged(
    untraced: Traced, ingress_kit: Any, ingress_readers: dict[str, Any]
) -> None:
    """No span of its own, but the ingress does not break a tracing caller's trace either."""
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    sid = ingress_kit.new_message_sid()
    await _post(untraced, ingress_kit, sid, {"traceparent": traceparent, "tracestate": "lb=proxy1"})

    [record] = await ingress_readers["mo"].collect(lambda r: sid.encode() in r.value, 1)
    headers = dict(record.headers)
    assert headers["traceparent"].decode() == traceparent
    assert headers["tracestate"] == b"lb=proxy1"
    envelope = decode(record.value)
    assert envelope.trace is not None
    assert envelope.trace.traceparent == traceparent

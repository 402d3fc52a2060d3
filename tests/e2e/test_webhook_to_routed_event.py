"""From a signed Twilio webhook to routing's verdict, across the ingress and routing, on the real broker
and database:

- the same webhook posted three times to one ingress and once to another (Twilio retries, proxies
  replay, two pods both receive it) gives exactly one committed ``InboundMessageRouted``; the
  services run as their own processes, as deployed;
- one trace from the webhook to the routed event: the ingress's HTTP span and routing's consumer
  span share a trace, the consumer span's parents lead to the ingress's span, and the routed
  event carries that trace on. Both services run in this process with one tracer provider and an
  in-memory exporter; also when the webhook went through the ingress's disk spool first.

The tenant (an active integration with its sealed auth token, and an active number) is put on the
compacted state topics directly, the way provisioning and inventory publish it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from multidict import MultiDict
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from byosms_common import messages as m
from byosms_common import service as service_module
from byosms_common import topics
from byosms_common.crypto import Keyring, associated_data, seal
from byosms_common.regions import DEFAULT_REGIONS
from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.testing import eventually, free_port, start_group_at_end
from byosms_ingress.app import Ingress
from byosms_ingress.settings import IngressSettings
from byosms_routing import app as routing_app
from byosms_routing.settings import RoutingSettings

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
REGION = DEFAULT_REGIONS["us-east-1"]
ROUTING_INPUTS = [topics.INBOUND_MESSAGES.name, topics.DELIVERY_REPORTS.name, topics.OUTBOUND_COMMANDS.name]
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Tenant:
    organization_id: str
    integration_id: str
    account_sid: str
    token: str
    number: str
    keyring: Keyring

    def keks_env(self) -> dict[str, str]:
        """The key-encryption key the services need to open the sealed auth token."""
        [(kek_id, key)] = self.keyring.keys.items()
        return {"BYOSMS_KEKS": json.dumps({kek_id: base64.b64encode(key).decode()}), "BYOSMS_ACTIVE_KEK": kek_id}


async def _seed_tenant(bootstrap: str) -> Tenant:
    """An active integration of the region (sealed auth token) and one active number of it."""
    keyring = Keyring.from_config(json.dumps({"e2e": Keyring.generate_key()}), "e2e")
    suffix = uuid.uuid4().hex[:8]
    tenant = Tenant(
        organization_id=f"org-{suffix}",
        integration_id=f"int-{suffix}",
        account_sid="AC" + uuid.uuid4().hex,
        token=uuid.uuid4().hex,
        number="+1555" + str(uuid.uuid4().int)[:7],
        keyring=keyring,
    )
    integration = m.IntegrationState(
        organization_id=tenant.organization_id,
        payload=m.IntegrationStatePayload(
            integration_id=tenant.integration_id,
            account_sid=tenant.account_sid,
            auth_token=seal(
                keyring, tenant.token, associated_data(tenant.organization_id, tenant.integration_id, "auth_token")
            ),
            region=REGION.id,
            status=m.IntegrationStatus.ACTIVE,
            version=1,
            default_routing_target="queue-e2e",  # without a target anywhere a message is discarded (no_route)
        ),
    )
    number = m.NumberStateRecord(
        organization_id=tenant.organization_id,
        payload=m.NumberStatePayload(
            number=m.ImportedNumber(
                address=tenant.number,
                number_type=m.NumberType.LOCAL,
                country="US",
                twilio_sid="PN" + uuid.uuid4().hex,
                integration_id=tenant.integration_id,
            ),
            state=m.NumberState.ACTIVE,
            version=1,
        ),
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        key = tenant.integration_id.encode()
        await producer.send_and_wait(topics.INTEGRATION_STATE.name, m.encode(integration), key)
        await producer.send_and_wait(topics.NUMBER_STATE.name, m.encode(number), tenant.number.encode())
    finally:
        await producer.stop()
    return tenant


def _signed_sms(tenant: Tenant, sid: str, customer: str) -> tuple[bytes, dict[str, str]]:
    """An inbound SMS webhook as Twilio posts it to the region's public URL, signed with the token."""
    params = [
        ("ToCountry", "US"), ("SmsMessageSid", sid), ("NumMedia", "0"), ("SmsSid", sid), ("SmsStatus", "received"),
        ("Body", "Hello"), ("To", tenant.number), ("NumSegments", "1"), ("MessageSid", sid),
        ("AccountSid", tenant.account_sid), ("From", customer), ("ApiVersion", "2010-04-01"),
    ]  # fmt: skip
    signature = RequestValidator(tenant.token).compute_signature(REGION.inbound_url, MultiDict(params))
    return urlencode(params).encode(), {"Content-Type": FORM, "X-Twilio-Signature": signature}


@dataclass(frozen=True)
class Seen:
    event: m.AnyMessage
    headers: dict[str, str]


class Verdicts:
    """Routing's verdicts (read_committed) on the message events topic from now on, by MessageSid."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topics.MESSAGE_EVENTS.name,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="latest",
            isolation_level="read_committed",
        )
        self.by_sid: dict[str, list[Seen]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        await self._consumer.getmany(timeout_ms=100)  # positioned at the end before anything is posted
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    event = m.decode(record.value or b"")
                    if isinstance(event, m.InboundMessageRouted | m.InboundMessageDiscarded):
                        headers = {k: v.decode() for k, v in record.headers or ()}
                        self.by_sid.setdefault(event.payload.message_sid, []).append(Seen(event, headers))

    def routed(self, sid: str) -> list[Seen]:
        return [seen for seen in self.by_sid.get(sid, []) if isinstance(seen.event, m.InboundMessageRouted)]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._consumer.stop()


@pytest.fixture
async def verdicts(kafka_bootstrap: str) -> AsyncIterator[Verdicts]:
    watcher = Verdicts(kafka_bootstrap)
    await watcher.start()
    yield watcher
    await watcher.stop()


# ------------------------------------------------------------------------------ duplicates, as processes


def _spawn(command: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(list(command), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


async def _ready(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def test_one_webhook_posted_three_times_and_to_two_ingresses_is_routed_once(
    kafka_bootstrap: str, database_url: str, tmp_path: Path, verdicts: Verdicts
) -> None:
    tenant = await _seed_tenant(kafka_bootstrap)
    group = f"e2e-routing-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka_bootstrap, group, ROUTING_INPUTS)
    env = {**os.environ, "BYOSMS_LOG_FORMAT": "json", **tenant.keks_env()}
    ports = {name: free_port() for name in ("ingress-a", "ingress-b", "routing")}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for name in ("ingress-a", "ingress-b"):
        ingress_env = {
            **env,
            "BYOSMS_INGRESS_REGION": REGION.id,
            "BYOSMS_INGRESS_PORT": str(ports[name]),
            "BYOSMS_INGRESS_SPOOL_DIR": str(tmp_path / f"{name}-spool"),
        }
        processes[name] = _spawn([str(BIN / "byosms-ingress")], ingress_env, tmp_path / f"{name}.log")
    routing_env = {**env, "BYOSMS_ROUTING_PORT": str(ports["routing"]), "BYOSMS_ROUTING_CONSUMER_GROUP": group}
    processes["routing"] = _spawn([str(BIN / "byosms-routing")], routing_env, tmp_path / "routing.log")
    try:
        async with aiohttp.ClientSession() as session:
            for name, port in ports.items():

                async def ready(name: str = name, port: int = port) -> bool:
                    assert processes[name].poll() is None, (tmp_path / f"{name}.log").read_text()[-2000:]
                    return await _ready(session, f"http://127.0.0.1:{port}/readyz")

                await eventually(ready, within=90, interval=0.2, what=f"{name} ready")

            customer = "+1415" + str(uuid.uuid4().int)[:7]
            sid, later_sid = "SM" + uuid.uuid4().hex, "SM" + uuid.uuid4().hex
            body, headers = _signed_sms(tenant, sid, customer)

            async def post(name: str, body: bytes = body, headers: dict[str, str] = headers) -> int:
                url = f"http://127.0.0.1:{ports[name]}{REGION.inbound_path}"
                async with session.post(url, data=body, headers=headers) as response:
                    return response.status

            # Both pods at once, then Twilio's retries to one of them.
            assert list(await asyncio.gather(post("ingress-a"), post("ingress-b"))) == [200, 200]
            assert [await post("ingress-a"), await post("ingress-a")] == [200, 200]
            # A later message of the same conversation, on the same partition behind every copy:
            # once it is routed, routing has seen all of them.
            later_body, later_headers = _signed_sms(tenant, later_sid, customer)
            assert await post("ingress-b", later_body, later_headers) == 200
            await eventually(lambda: verdicts.routed(later_sid), within=60, what="the later message routed")
            await asyncio.sleep(2)  # a duplicate verdict, if any, would be committed by now
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    seen = verdicts.by_sid.get(sid, [])
    counts = Counter(type(s.event).__name__ for s in seen)
    print(f"\nduplicates drill: posted 4 times to 2 ingresses, verdicts {dict(counts)}")  # noqa: T201 - the report
    assert len(verdicts.routed(sid)) == 1, counts
    assert len(seen) == 1, counts  # and no contradicting verdict (discarded) either
    assert len(verdicts.by_sid[later_sid]) == 1


# ------------------------------------------------------------------------------ one trace, in this process


@dataclass
class Traced:
    ingress: Ingress
    client: TestClient[Any, Any]
    exporter: InMemorySpanExporter
    tenant: Tenant


@pytest.fixture
async def traced(
    kafka_bootstrap: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Traced]:
    """The ingress's app and routing (its real ``run``: followers, database, the consumer engine) in
    this process, both tracing into one provider with an in-memory exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # Routing's runtime builds its tracer provider with setup_tracing: this test's instead.
    monkeypatch.setattr(service_module, "setup_tracing", lambda *_, **__: provider)
    tenant = await _seed_tenant(kafka_bootstrap)
    group = f"e2e-trace-routing-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka_bootstrap, group, ROUTING_INPUTS)
    routing_port = free_port()
    stop_routing = asyncio.Event()
    routing = asyncio.create_task(
        routing_app.run(
            RoutingSettings(port=routing_port, consumer_group=group),
            KafkaSettings(kafka_bootstrap=kafka_bootstrap),
            DatabaseSettings(database_url=SecretStr(database_url)),
            stop=stop_routing,
            keyring=tenant.keyring,
        )
    )
    settings = IngressSettings(region=REGION.id, spool_dir=tmp_path / "spool", publish_deadline_s=5.0)
    # No periodic reachability probe: the spool case below says when Kafka counts as away.
    ingress = Ingress(
        settings,
        KafkaSettings(kafka_bootstrap=kafka_bootstrap),
        tenant.keyring,
        tracer_provider=provider,
        probe_every_s=3600,
    )
    try:
        async with aiohttp.ClientSession() as session:

            async def routing_ready() -> bool:
                assert not routing.done(), routing
                return await _ready(session, f"http://127.0.0.1:{routing_port}/readyz")

            await eventually(routing_ready, within=90, interval=0.2, what="routing ready")
        async with TestClient(TestServer(ingress.web_app())) as client:
            await eventually(lambda: ingress.cache.find(tenant.account_sid), within=30, what="tenant known to ingress")
            await eventually(lambda: ingress.publisher.producer, within=30, what="ingress connected to Kafka")
            yield Traced(ingress, client, exporter, tenant)
    finally:
        stop_routing.set()
        await asyncio.wait_for(routing, 30)
        provider.shutdown()


def _trace_of(seen: Seen) -> int:
    return int(seen.headers["traceparent"].split("-")[1], 16)


def _chain(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    """``span`` and its ancestors among the finished spans, nearest first."""
    chain = [span]
    while chain[-1].parent is not None and chain[-1].parent.span_id in by_id:
        chain.append(by_id[chain[-1].parent.span_id])
    return chain


async def _one_trace(traced: Traced, verdicts: Verdicts, sid: str) -> tuple[ReadableSpan, ReadableSpan]:
    """The webhook's server span and routing's consumer span of its record, checked to be one trace."""
    [routed] = await eventually(lambda: verdicts.routed(sid), within=60, what=f"{sid} routed")
    trace_id = _trace_of(routed)

    def spans_of_trace() -> list[ReadableSpan]:
        spans = [s for s in traced.exporter.get_finished_spans() if s.context.trace_id == trace_id]
        return spans if any(s.kind is SpanKind.CONSUMER for s in spans) else []

    spans = await eventually(spans_of_trace, within=10, what="routing's consumer span finished")
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(servers) == 1, f"the routed event's trace holds {len(servers)} ingress spans: {spans}"
    server = servers[0]
    assert server.name == f"POST {REGION.inbound_path}"
    assert server.parent is None  # Twilio sends no trace context: the webhook starts the trace
    [consumer] = [s for s in spans if s.kind is SpanKind.CONSUMER]
    assert consumer.name == f"{topics.INBOUND_MESSAGES.name} process"
    assert consumer.resource is not None
    by_id = {s.context.span_id: s for s in traced.exporter.get_finished_spans()}
    assert _chain(consumer, by_id)[-1] is server  # routing's span descends from the webhook's
    # The routed event carries the trace on: its traceparent names routing's consumer span.
    assert routed.headers["traceparent"].split("-")[2] == format(consumer.context.span_id, "016x")
    assert routed.event.trace is not None
    assert routed.event.trace.traceparent == routed.headers["traceparent"]
    return server, consumer


async def _post(traced: Traced, sid: str) -> None:
    body, headers = _signed_sms(traced.tenant, sid, "+1415" + str(uuid.uuid4().int)[:7])
    response = await traced.client.post(REGION.inbound_path, data=body, headers=headers)
    assert response.status == 200


def _answered(traced: Traced, outcome: str) -> float:
    value = traced.ingress.metrics.registry.get_sample_value(
        "byosms_ingress_requests_total", {"endpoint": "mo", "kind": "inbound", "outcome": outcome, "reason": ""}
    )
    return value or 0.0


async def test_one_trace_from_the_webhook_to_the_routed_event(traced: Traced, verdicts: Verdicts) -> None:
    sid = "SM" + uuid.uuid4().hex
    await _post(traced, sid)
    assert _answered(traced, "accepted") == 1  # straight to Kafka
    await _one_trace(traced, verdicts, sid)


async def test_the_trace_continues_through_the_spool(traced: Traced, verdicts: Verdicts) -> None:
    """Kafka counted away when the webhook arrives: it is answered from the disk spool, and the
    drain's record still continues the webhook's trace into routing."""
    traced.ingress.connectivity.down("broker away (test)")
    sid = "SM" + uuid.uuid4().hex
    await _post(traced, sid)
    assert _answered(traced, "spooled") == 1
    server, _ = await _one_trace(traced, verdicts, sid)
    other = "SM" + uuid.uuid4().hex  # a second webhook, directly to Kafka again: a trace of its own
    await _post(traced, other)
    assert _answered(traced, "accepted") == 1
    second, _ = await _one_trace(traced, verdicts, other)
    assert second.context.trace_id != server.context.trace_id

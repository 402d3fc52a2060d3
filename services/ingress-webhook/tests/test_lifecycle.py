"""The whole ingress app while Kafka is unreachable: readiness, shutdown under live requests, the
final drain. Kafka is a closed port here (the outage itself); the broker round trips are in
test_kafka_integration and test_outage."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from byosms_common.settings import KafkaSettings
from byosms_ingress.app import Ingress
from byosms_ingress.settings import IngressSettings
from byosms_ingress.spool import Spool, SpoolRecord

pytestmark = pytest.mark.integration  # a real local HTTP server; Kafka deliberately unreachable

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NO_KAFKA = "127.0.0.1:1"


class SlowProducer:
    """Kafka that takes every record but acknowledges none within the test: sends stay pending."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Any:
        assert value is not None
        self.sent.append(value)
        return asyncio.get_running_loop().create_future()


class AckingProducer:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Any:
        assert value is not None
        self.sent.append(value)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _ingress(tmp_path: Path, kit: Any, **settings: Any) -> Ingress:
    values: dict[str, Any] = {"region": "us-east-1", "spool_dir": tmp_path / "spool", **settings}
    return Ingress(IngressSettings(**values), KafkaSettings(kafka_bootstrap=NO_KAFKA), kit.new_keyring())


@pytest.fixture
def kit(ingress_kit: Any) -> Any:
    return ingress_kit


def _loaded(ingress: Ingress, tenant: Any) -> None:
    """As if the state topic had been read before Kafka went away."""
    ingress.cache.apply(tenant.integration_id, tenant.state(ingress.cache.keyring))
    ingress.follower.loaded.set()


@pytest.fixture
async def outage(kit: Any, tmp_path: Path) -> AsyncIterator[tuple[Ingress, TestClient[Any, Any], Any]]:
    ingress = _ingress(tmp_path, kit, body_limit_bytes=64 * 1024, spool_max_bytes=1024 * 1024)
    tenant = kit.new_tenant()
    async with TestClient(TestServer(ingress.web_app())) as client:
        _loaded(ingress, tenant)
        yield ingress, client, tenant


async def test_ready_during_a_kafka_outage_while_the_spool_has_room(outage: Any, kit: Any) -> None:
    ingress, client, tenant = outage
    response = await client.get("/readyz")
    body = json.loads(await response.text())
    assert response.status == 200, body
    assert body["checks"] == {
        "not_stopping": True,
        "integrations_loaded": True,
        "kafka": False,
        "spool_accepting": True,
    }
    metrics = await (await client.get("/metrics")).text()
    assert "byosms_ingress_kafka_reachable 0.0" in metrics

    # ... and it is right: a webhook sent now is answered 200 (spooled).
    params = kit.sms_params(tenant.account_sid, kit.new_message_sid())
    headers = {**FORM, "X-Twilio-Signature": kit.sign(tenant.token, kit.MO_URL, params)}
    posted = await client.post(kit.MO_URL.removeprefix(kit.REGION.base_url), data=kit.form(params), headers=headers)
    assert posted.status == 200
    assert ingress.spool.pending_records == 1


async def test_not_ready_when_neither_kafka_nor_the_spool_can_take_events(outage: Any) -> None:
    ingress, client, _ = outage
    filler = SpoolRecord("SMfill", "t", "k", b"x" * 150_000, "sms.inbound_received")
    for n in range(4):  # about 800 KB (base64) of 1 MB: a few more of the largest webhooks would not fit
        await ingress.spool.append(SpoolRecord(f"SM{n}", filler.topic, filler.key, filler.value, filler.message_type))
    response = await client.get("/readyz")
    body = json.loads(await response.text())
    assert response.status == 503, body
    assert body["checks"] == {
        "not_stopping": True,
        "integrations_loaded": True,
        "kafka": False,
        "spool_accepting": False,
    }


async def test_not_ready_before_the_integrations_are_loaded(kit: Any, tmp_path: Path) -> None:
    ingress = _ingress(tmp_path, kit)
    async with TestClient(TestServer(ingress.web_app())) as client:
        response = await client.get("/readyz")
        assert response.status == 503
        assert json.loads(await response.text())["checks"]["integrations_loaded"] is False


async def test_stopping_waits_for_requests_in_flight(kit: Any, tmp_path: Path) -> None:
    """A webhook whose publish is still running when the server is told to stop is answered 200 and
    its event is kept: the spool and the producer are closed only after the last handler."""
    ingress = _ingress(tmp_path, kit, publish_deadline_s=0.5, shutdown_grace_s=0.5)
    tenant = kit.new_tenant()
    server = TestServer(ingress.web_app())
    await server.start_server()
    _loaded(ingress, tenant)
    ingress.publisher.producer = SlowProducer()  # Kafka connected but slower than the deadline
    sid = kit.new_message_sid()
    params = kit.sms_params(tenant.account_sid, sid)
    headers = {**FORM, "X-Twilio-Signature": kit.sign(tenant.token, kit.MO_URL, params)}
    async with aiohttp.ClientSession() as session:

        async def post() -> int:
            url = server.make_url(kit.MO_URL.removeprefix(kit.REGION.base_url))
            async with session.post(url, data=kit.form(params), headers=headers) as response:
                return response.status

        request = asyncio.create_task(post())
        await asyncio.sleep(0.2)  # the handler waits for Kafka's ack
        await asyncio.wait_for(server.close(), 20)
        status = await asyncio.wait_for(request, 20)
    assert status == 200
    spool = Spool(tmp_path / "spool", 1024 * 1024)
    await spool.open()
    assert [r.event_id for r in (await spool.peek(10)).records] == [sid]
    await spool.close()


async def test_stopping_drains_the_spool_when_kafka_is_back(kit: Any, tmp_path: Path) -> None:
    ingress = _ingress(tmp_path, kit, shutdown_grace_s=5)
    tenant = kit.new_tenant()
    path = kit.MO_URL.removeprefix(kit.REGION.base_url)
    async with TestClient(TestServer(ingress.web_app())) as client:
        _loaded(ingress, tenant)
        for _ in range(5):
            params = kit.sms_params(tenant.account_sid, kit.new_message_sid())
            headers = {**FORM, "X-Twilio-Signature": kit.sign(tenant.token, kit.MO_URL, params)}
            assert (await client.post(path, data=kit.form(params), headers=headers)).status == 200
        assert ingress.spool.pending_records == 5
        producer = AckingProducer()
        ingress._stop.set()  # the background drain is already gone when Kafka comes back
        await asyncio.sleep(0.3)
        ingress.publisher.producer = producer
    assert len(producer.sent) == 5  # drained on the way out
    spool = Spool(tmp_path / "spool", 1024 * 1024)
    await spool.open()
    assert spool.empty
    await spool.close()


def _refused_address() -> str:
    """A loopback port nobody listens on: every connection attempt is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


async def test_a_broker_that_refuses_connections_is_one_log_line_per_state_change(
    kit: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Kafka's clients would log every reconnect attempt; the operator gets one line when Kafka is
    lost and one every ``still_down_every_s``, the gauge says 0 without anyone asking /readyz, and a
    webhook goes straight to the spool instead of waiting out the publish deadline."""
    caplog.set_level(logging.DEBUG)
    settings = IngressSettings(region="us-east-1", spool_dir=tmp_path / "spool", publish_deadline_s=5.0)
    ingress = Ingress(
        settings,
        KafkaSettings(kafka_bootstrap=_refused_address()),
        kit.new_keyring(),
        probe_every_down_s=0.1,  # a reconnect attempt every 100 ms, like aiokafka's retry backoff
        still_down_every_s=1.0,
    )
    tenant = kit.new_tenant()
    gauge = "byosms_ingress_kafka_reachable"
    async with TestClient(TestServer(ingress.web_app())) as client:
        _loaded(ingress, tenant)
        await kit.wait_until(lambda: ingress.connectivity.reachable is False, 10, "the outage noticed")
        assert ingress.metrics.registry.get_sample_value(gauge) == 0

        params = kit.sms_params(tenant.account_sid, kit.new_message_sid())
        headers = {**FORM, "X-Twilio-Signature": kit.sign(tenant.token, kit.MO_URL, params)}
        started = time.monotonic()
        posted = await client.post(kit.MO_URL.removeprefix(kit.REGION.base_url), data=kit.form(params), headers=headers)
        assert posted.status == 200
        assert time.monotonic() - started < 2.0  # not after the 5 s deadline: Kafka is known to be down
        assert ingress.spool.pending_records == 1

        def still_down_lines() -> int:
            return sum("still unreachable" in r.getMessage() for r in caplog.records)

        await kit.wait_until(lambda: still_down_lines() >= 3, 20, "three 'still unreachable' lines")

    kafka_lines = [r for r in caplog.records if r.name.startswith(("aiokafka", "byosms_ingress.librdkafka"))]
    assert kafka_lines == []  # dozens of refused connections, not one line from the clients
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings[0].startswith("Kafka unreachable (")
    assert warnings[0].endswith("); webhooks go to the spool until it is back")
    assert all(line.startswith("Kafka still unreachable after ") for line in warnings[1:]), warnings
    assert 3 <= len(warnings) - 1 <= 6


class FailingProducer:
    """A producer that reaches Kafka until the test makes it fail for good (as librdkafka's fatal errors do)."""

    def __init__(self, config: dict[str, Any], signals: Any) -> None:
        self.failure: str | None = None
        self.signals = signals
        self.stopped = False

    async def start(self) -> None:
        pass

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Any:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def probe(self, timeout: float) -> str | None:  # noqa: ASYNC109
        return None

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109
        self.stopped = True


async def test_a_producer_that_failed_for_good_is_replaced(kit: Any, tmp_path: Path) -> None:
    made: list[FailingProducer] = []

    def factory(config: dict[str, Any], signals: Any) -> FailingProducer:
        made.append(FailingProducer(config, signals))
        return made[-1]

    settings = IngressSettings(region="us-east-1", spool_dir=tmp_path / "spool")
    ingress = Ingress(settings, KafkaSettings(kafka_bootstrap=NO_KAFKA), kit.new_keyring(), producer_factory=factory)
    async with TestClient(TestServer(ingress.web_app())):
        await kit.wait_until(lambda: bool(made) and ingress.publisher.producer is made[0], 10, "first producer in use")
        made[0].failure = "_FATAL"
        made[0].signals.trouble()
        await kit.wait_until(lambda: len(made) == 2 and ingress.publisher.producer is made[1], 10, "replaced")
        assert made[0].stopped
        assert ingress.connectivity.reachable is True


async def test_after_sigterm_it_reports_not_ready_but_still_answers_webhooks(outage: Any, kit: Any) -> None:
    """The pre-stop delay: not ready (load balancers take the pod out), every answer asks the client
    to close its connection, and a webhook that still arrives is answered as before."""
    ingress, client, tenant = outage
    await ingress.begin_stopping(0)
    response = await client.get("/readyz")
    body = json.loads(await response.text())
    assert response.status == 503, body
    assert body["checks"]["not_stopping"] is False
    params = kit.sms_params(tenant.account_sid, kit.new_message_sid())
    headers = {**FORM, "X-Twilio-Signature": kit.sign(tenant.token, kit.MO_URL, params)}
    posted = await client.post(kit.MO_URL.removeprefix(kit.REGION.base_url), data=kit.form(params), headers=headers)
    assert posted.status == 200
    assert posted.headers["Connection"] == "close"
    assert "byosms_ingress_stopping 1.0" in await (await client.get("/metrics")).text()


async def test_with_a_metrics_port_the_webhook_port_serves_no_metrics(kit: Any, tmp_path: Path) -> None:
    ingress = _ingress(tmp_path, kit, metrics_port=9999)
    async with (
        TestClient(TestServer(ingress.web_app())) as public,
        TestClient(TestServer(ingress.metrics_app())) as private,
    ):
        assert (await public.get("/metrics")).status == 404
        assert (await public.get("/healthz")).status == 200
        metrics = await (await private.get("/metrics")).text()
        assert 'byosms_ingress_spool_records{spool="spool"} 0.0' in metrics
        assert 'byosms_ingress_spool_limit_bytes{spool="spool"}' in metrics
        assert (await private.get("/readyz")).status == 503  # integrations not loaded yet

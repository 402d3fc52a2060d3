"""Kafka outage: stop a throwaway broker while a client sends signed webhooks, start it again, and
every webhook answered 200 is in Kafka exactly once by event id; meanwhile the reachability gauge
follows the broker by itself and the log says "lost" and "back" instead of every reconnect attempt.
Then a restart drains the spool.

The broker is our own (devstack's Kafka with its own state dir and ports); the shared dev broker is
never touched.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, TopicPartition

from byosms_common.messages import decode
from byosms_common.settings import KafkaSettings
from byosms_common.topics import INBOUND_MESSAGES
from byosms_ingress.app import Ingress
from byosms_ingress.settings import IngressSettings

pytestmark = pytest.mark.integration

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """A throwaway single-node Kafka from the devstack, stoppable and restartable."""

    def __init__(self, state_dir: Path) -> None:
        from byosms_devstack.settings import StackSettings

        self.settings = StackSettings(dir=state_dir, kafka_port=_free_port(), controller_port=_free_port())
        self.bootstrap = f"127.0.0.1:{self.settings.kafka_port}"

    async def start(self) -> None:
        from byosms_devstack import kafka_server, readiness
        from byosms_devstack.topic_plan import plan_topics

        pid, _ = await asyncio.to_thread(kafka_server.start, self.settings, lambda _: None)
        lay = kafka_server.layout(self.settings)
        deadline = time.monotonic() + 60
        await readiness.wait_kafka(
            "127.0.0.1", self.settings.kafka_port, deadline, lambda: kafka_server.is_alive(lay, pid)
        )
        await readiness.ensure_topics(self.bootstrap, plan_topics(), deadline)

    async def stop(self) -> None:
        from byosms_devstack import kafka_server

        await asyncio.to_thread(kafka_server.stop, self.settings, lambda _: None)


@pytest.fixture
async def broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Broker]:
    own = Broker(tmp_path_factory.mktemp("kafka"))
    await own.start()
    try:
        yield own
    finally:
        await own.stop()


def _ingress(bootstrap: str, spool_dir: Path, keyring: Any) -> Ingress:
    settings = IngressSettings(region="us-east-1", spool_dir=spool_dir, publish_deadline_s=0.5)
    return Ingress(settings, KafkaSettings(kafka_bootstrap=bootstrap), keyring)


async def _read_all(bootstrap: str) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(INBOUND_MESSAGES.name, p) for p in range(INBOUND_MESSAGES.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        ids: list[str] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                ids.extend(decode(r.value).id for r in records)
        return ids
    finally:
        await consumer.stop()


async def test_outage_loses_nothing_and_duplicates_nothing(
    broker: Broker, ingress_kit: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    kit = ingress_kit
    keyring = kit.new_keyring()
    tenant = kit.new_tenant()
    await kit.seed(broker.bootstrap, keyring, tenant)
    ingress = _ingress(broker.bootstrap, tmp_path / "spool", keyring)
    accepted: list[str] = []
    outcomes: dict[int, int] = {}
    stop_sending = asyncio.Event()

    async with TestClient(TestServer(ingress.web_app())) as client:
        await kit.wait_until(lambda: ingress.cache.find(tenant.account_sid) is not None, 60, "tenant cached")
        path = kit.MO_URL.removeprefix(kit.REGION.base_url)

        async def sender(worker: int) -> None:
            n = 0
            while not stop_sending.is_set() and n < 2000:  # bounded
                n += 1
                sid = kit.new_message_sid()
                params = kit.sms_params(tenant.account_sid, sid, from_=f"+1415555{worker:04d}")
                headers = {**FORM, "X-Twilio-Signature": kit.sign(tenant.token, kit.MO_URL, params)}
                response = await client.post(path, data=kit.form(params), headers=headers)
                outcomes[response.status] = outcomes.get(response.status, 0) + 1
                if response.status == 200:
                    accepted.append(sid)
                await asyncio.sleep(0.01)

        def reachable() -> float | None:
            # Read from the registry, never through /readyz: the gauge must move by itself.
            return ingress.metrics.registry.get_sample_value("byosms_ingress_kafka_reachable")

        senders = [asyncio.create_task(sender(w)) for w in range(4)]
        await kit.wait_until(lambda: len(accepted) >= 40, 30, "webhooks before the outage")
        assert reachable() == 1
        await broker.stop()
        outage_logs = len(caplog.records)
        await kit.wait_until(lambda: reachable() == 0, 20, "the gauge to show the outage")
        during = len(accepted)
        await kit.wait_until(lambda: len(accepted) >= during + 40, 30, "webhooks during the outage")
        assert ingress.spool.pending_records > 0
        await broker.start()
        await kit.wait_until(lambda: reachable() == 1, 30, "the gauge to show Kafka back")
        after = len(accepted)
        await kit.wait_until(lambda: len(accepted) >= after + 40, 60, "webhooks after the outage")
        back_logs = len(caplog.records)
        stop_sending.set()
        await asyncio.gather(*senders)
        await kit.wait_until(lambda: ingress.spool.empty, 60, "spool drained")
        metrics = await (await client.get("/metrics")).text()

    assert set(outcomes) == {200}, outcomes
    during_outage = [r for r in caplog.records[outage_logs:back_logs] if r.levelno >= logging.WARNING]
    clients = [r.getMessage() for r in during_outage if r.name.startswith(("aiokafka", "byosms_ingress.librdkafka"))]
    assert len(clients) <= 3, clients  # at most one per call site before the outage was noticed
    state = [r.getMessage() for r in caplog.records if r.name == "byosms_ingress.kafka_state"]
    lost = [m for m in state if m.startswith("Kafka unreachable")]
    back = [m for m in state if m.startswith("Kafka reachable again")]
    assert (len(lost), len(back)) == (1, 1), state
    ids = await _read_all(broker.bootstrap)
    ours = [i for i in ids if i in set(accepted)]
    assert sorted(ours) == sorted(accepted), f"{len(accepted) - len(set(ours))} missing"
    assert len(ours) == len(set(ours)), "duplicates in Kafka"
    assert 'outcome="spooled"' in metrics


async def test_restart_drains_what_the_spool_holds(broker: Broker, ingress_kit: Any, tmp_path: Path) -> None:
    kit = ingress_kit
    keyring = kit.new_keyring()
    tenant = kit.new_tenant()
    await kit.seed(broker.bootstrap, keyring, tenant)
    spool_dir = tmp_path / "spool"
    # First life: no producer ever connected, so the publisher spools every event, as the routes
    # would while Kafka is down at start. The process then ends with the spool full of events.
    from datetime import UTC, datetime

    from byosms_ingress.events import build_record
    from byosms_ingress.integrations_cache import Integration
    from byosms_ingress.twilio_form import WebhookKind, parse_form

    first = _ingress("127.0.0.1:1", spool_dir, keyring)
    await first.spool.open()
    integration = Integration(
        tenant.integration_id, tenant.organization_id, tenant.account_sid, tenant.status, 1, None, None
    )
    sids = [kit.new_message_sid() for _ in range(20)]
    for sid in sids:
        params = parse_form(kit.form(kit.sms_params(tenant.account_sid, sid)))
        record = build_record(WebhookKind.INBOUND, params, integration, "us-east-1", datetime.now(UTC)).record
        assert (await first.publisher.publish(record)).value == "spooled"
    await first.spool.close()

    second = _ingress(broker.bootstrap, spool_dir, keyring)
    async with TestClient(TestServer(second.web_app())):
        await kit.wait_until(lambda: second.spool.empty, 60, "spool drained after restart")
    ids = await _read_all(broker.bootstrap)
    assert [i for i in ids if i in set(sids)] == sids  # one conversation: in order, exactly once

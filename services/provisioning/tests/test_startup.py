"""Provisioning at start: HTTP answers at once, /readyz says not ready until PostgreSQL and Kafka are
both up, retries never pile up consumers, background jobs that die are restarted, traces are set up."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from faststream.kafka import KafkaBroker
from pydantic import SecretStr

from byosms_common import service as service_module
from byosms_common import topics
from byosms_common.kafka import start_broker
from byosms_common.settings import DatabaseSettings, KafkaSettings, KeyringSettings, TelemetrySettings
from byosms_common.testing import consumer_group_members, eventually, free_port, start_group_at_end, tcp_forwarding
from byosms_provisioning import app as prov_app
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.settings import ProvisioningSettings, SealingKeySettings

pytestmark = pytest.mark.integration


def all_settings(port: int, kafka_bootstrap: str, database_url: str, group: str) -> prov_app.AllSettings:
    key = base64.b64encode(os.urandom(32)).decode()
    return prov_app.AllSettings(
        service=ProvisioningSettings.model_validate(
            {"port": port, "jwt_jwks_url": "http://unused.invalid/jwks.json", "command_group_id": group}
        ),
        kafka=KafkaSettings(kafka_bootstrap=kafka_bootstrap),
        database=DatabaseSettings(database_url=database_url),  # type: ignore[arg-type]
        keyring=KeyringSettings(keks=SecretStr(f'{{"k1": "{key}"}}'), active_kek="k1"),
        telemetry=TelemetrySettings(),
        sealing=SealingKeySettings(),
    )


@contextlib.asynccontextmanager
async def serving(settings: prov_app.AllSettings) -> AsyncIterator[aiohttp.ClientSession]:
    stop = asyncio.Event()
    task = asyncio.create_task(prov_app.serve(settings, stop=stop))
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{settings.service.port}") as http:
            yield http
        assert not task.done(), "the service ended on its own"
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def readyz(http: aiohttp.ClientSession) -> tuple[int, dict[str, Any]] | None:
    try:
        async with http.get("/readyz") as response:
            return response.status, await response.json()
    except aiohttp.ClientConnectionError:
        return None


async def test_without_postgresql_http_answers_at_once_and_says_not_ready(caplog: pytest.LogCaptureFixture) -> None:
    dead = free_port()  # nothing listens there
    settings = all_settings(free_port(), f"127.0.0.1:{dead}", f"postgresql://nobody@127.0.0.1:{dead}/none", "g")
    async with serving(settings) as http:
        status, body = await eventually(lambda: readyz(http), within=5, what="readiness endpoint answers")
        assert status == 503
        assert body["status"] == "not ready"
        assert body["checks"]["postgres"] is False
        async with http.get("/healthz") as response:
            assert response.status == 200
        await eventually(
            lambda: sum("connect to PostgreSQL failed" in r.getMessage() for r in caplog.records) >= 2,
            within=10,
            what="two connection attempts",
        )


async def test_kafka_away_at_start_means_not_ready_then_one_consumer_per_group_and_supervised_jobs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, database_url: str, kafka_bootstrap: str
) -> None:
    caplog.set_level(logging.INFO)
    broker_starts = 0
    job_runs = 0
    traced: dict[str, object] = {}

    async def flaky_start(broker: KafkaBroker) -> None:
        nonlocal broker_starts
        broker_starts += 1
        if broker_starts <= 2:
            raise ConnectionError("broker start failed")
        await start_broker(broker)

    async def crashing_job(_ctx: ServiceContext, stop: asyncio.Event) -> None:
        nonlocal job_runs
        job_runs += 1
        if job_runs == 1:
            raise RuntimeError("job crashed")
        await stop.wait()

    real_setup_tracing, real_consumers = service_module.setup_tracing, service_module.Consumers

    def setup_tracing(*args: Any, **kwargs: Any) -> Any:
        traced["provider"] = real_setup_tracing(*args, **kwargs)
        return traced["provider"]

    def consumers(*args: Any, **kwargs: Any) -> Any:
        traced["consumer_tracer"] = kwargs.get("tracer_provider")
        return real_consumers(*args, **kwargs)

    monkeypatch.setattr(prov_app, "start_broker", flaky_start)
    monkeypatch.setattr(service_module, "setup_tracing", setup_tracing)
    monkeypatch.setattr(service_module, "Consumers", consumers)
    monkeypatch.setattr(prov_app, "BACKGROUND_TASKS", [*prov_app.BACKGROUND_TASKS, crashing_job])
    group = f"prov-start-{uuid.uuid4().hex[:8]}"
    groups = {
        group: topics.INTEGRATION_COMMANDS.name,
        f"{group}-imports": topics.NUMBER_COMMANDS.name,
        f"{group}-number-claims": topics.NUMBER_EVENTS.name,
        f"{group}-inventory-records": topics.NUMBER_STATE.name,
        f"{group}-inventory-events": topics.NUMBER_EVENTS.name,
        f"{group}-message-trace": topics.MESSAGE_EVENTS.name,
    }
    for name, topic in groups.items():  # handle nothing of earlier tests' backlog
        await start_group_at_end(kafka_bootstrap, name, [topic])
    kafka_port = free_port()  # nothing listens there yet
    settings = all_settings(free_port(), f"127.0.0.1:{kafka_port}", database_url, group)
    async with serving(settings) as http:
        await eventually(
            lambda: sum("open resources failed" in r.getMessage() for r in caplog.records) >= 2,
            within=30,
            what="two failed Kafka starts",
        )
        status, body = await eventually(lambda: readyz(http), within=5, what="readiness endpoint answers")
        assert status == 503
        assert body["checks"]["postgres"] is True
        assert body["checks"]["kafka"] is False

        async with tcp_forwarding(kafka_port, kafka_bootstrap):

            async def ready() -> bool:
                answer = await readyz(http)
                return answer is not None and answer[0] == 200

            await eventually(ready, within=40, what="ready once Kafka answers")
            assert broker_starts == 3
            for name, topic in groups.items():

                async def settled(name: str = name, topic: str = topic) -> bool:
                    return await consumer_group_members(kafka_bootstrap, name) == ("Stable", {topic: 1})

                await eventually(settled, within=30, what=f"one stable consumer in {name}")
            await asyncio.sleep(2)  # late joiners would show up as a rebalance or extra members
            for name, topic in groups.items():
                assert await consumer_group_members(kafka_bootstrap, name) == ("Stable", {topic: 1})
            await eventually(lambda: job_runs == 2, within=10, what="the crashed job restarted")
            assert any("crashing_job died" in r.getMessage() for r in caplog.records)
            async with http.get("/metrics") as response:
                assert "byosms_consumer_handling_seconds" in await response.text()
    assert traced["provider"] is not None
    assert traced["consumer_tracer"] is traced["provider"]

"""A service that cannot reach its dependencies keeps retrying and says so through /readyz."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.testing import eventually, free_port
from byosms_inventory.app import run as run_inventory
from byosms_inventory.settings import InventorySettings

pytestmark = pytest.mark.integration


async def test_service_without_reachable_database_reports_not_ready_and_keeps_trying(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    dead = free_port()  # nothing listens there
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_inventory(
            InventorySettings(port=port, consumer_group=f"g-{uuid.uuid4().hex}"),
            KafkaSettings(kafka_bootstrap=f"127.0.0.1:{dead}"),
            DatabaseSettings(database_url=f"postgresql://nobody@127.0.0.1:{dead}/none"),  # type: ignore[arg-type]
            stop=stop,
        )
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def readyz() -> tuple[int, dict[str, object]] | None:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        return response.status, await response.json()
                except aiohttp.ClientConnectionError:
                    return None

            status, body = await eventually(readyz, within=10, what="readiness endpoint answers")
            assert status == 503
            assert body["status"] == "not ready"
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
        await eventually(
            lambda: sum("connect to PostgreSQL failed" in r.getMessage() for r in caplog.records) >= 2,
            within=10,
            what="two connection attempts",
        )
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)

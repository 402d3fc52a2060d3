"""Kafka unreachable at start: inventory reports not ready, keeps retrying, and once Kafka answers it
runs exactly one consumer per topic (failed start attempts must not pile up subscribers)."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid

import aiohttp
import pytest

from byosms_common import topics
from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.testing import consumer_group_members, eventually, free_port, tcp_forwarding
from byosms_inventory.app import run as run_inventory
from byosms_inventory.settings import InventorySettings

pytestmark = pytest.mark.integration


async def test_kafka_away_at_start_means_not_ready_then_one_consumer_per_topic(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    port, kafka_port = free_port(), free_port()  # nothing listens on kafka_port yet
    group = f"g-{uuid.uuid4().hex}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_inventory(
            InventorySettings(port=port, consumer_group=group),
            KafkaSettings(kafka_bootstrap=f"127.0.0.1:{kafka_port}"),
            DatabaseSettings(),
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

            await eventually(
                lambda: sum("start the Kafka consumers failed" in r.getMessage() for r in caplog.records) >= 3,
                within=30,
                what="three failed Kafka starts",
            )
            status, body = await eventually(readyz, within=5, what="readiness endpoint answers")
            assert status == 503
            assert body["checks"] == {"started": False, "postgres": True, "kafka": False, "consumers": False}
            assert not task.done()
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert "\nbyosms_kafka_reachable 0.0\n" in await response.text()

            async with tcp_forwarding(kafka_port, os.environ["BYOSMS_KAFKA_BOOTSTRAP"]):

                async def ready() -> bool:
                    answer = await readyz()
                    return answer is not None and answer[0] == 200

                await eventually(ready, within=40, what="ready once Kafka answers")
                bootstrap = os.environ["BYOSMS_KAFKA_BOOTSTRAP"]
                expected = {
                    topics.NUMBER_EVENTS.name: 1,
                    topics.INTEGRATION_EVENTS.name: 1,
                    topics.NUMBER_COMMANDS.name: 1,
                }

                async def settled() -> bool:
                    return await consumer_group_members(bootstrap, group) == ("Stable", expected)

                await eventually(settled, within=30, what="one stable consumer per topic")
                await asyncio.sleep(2)  # late joiners would show up as a rebalance or extra members
                assert await consumer_group_members(bootstrap, group) == ("Stable", expected)
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    metrics = await response.text()
                assert "byosms_consumer_handling_seconds" in metrics
                assert "\nbyosms_kafka_reachable 1.0\n" in metrics
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)

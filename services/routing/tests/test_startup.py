"""Kafka unreachable at start: routing reports not ready and keeps retrying; once Kafka answers it
runs exactly one consumer per topic, however often starting the consumers failed."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid

import aiohttp
import pytest

from byosms_common import topics
from byosms_common.consumer import Consumers
from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.testing import consumer_group_members, eventually, free_port, tcp_forwarding
from byosms_routing import app as routing_app
from byosms_routing.settings import RoutingSettings

pytestmark = pytest.mark.integration


async def test_kafka_away_at_start_means_not_ready_then_exactly_one_consumer(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    consumer_starts = 0
    real_start = Consumers.start

    async def flaky_start(self: Consumers) -> None:
        # Kafka answers for the caches but the consumers' first two starts still fail.
        nonlocal consumer_starts
        consumer_starts += 1
        if consumer_starts <= 2:
            raise ConnectionError("consumer start failed")
        await real_start(self)

    monkeypatch.setattr(Consumers, "start", flaky_start)
    port, kafka_port = free_port(), free_port()  # nothing listens on kafka_port yet
    group = f"g-{uuid.uuid4().hex}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        routing_app.run(
            RoutingSettings(port=port, consumer_group=group),
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
                lambda: sum("caches failed" in r.getMessage() for r in caplog.records) >= 2,
                within=30,
                what="two failed attempts to load the caches from Kafka",
            )
            status, body = await eventually(readyz, within=5, what="readiness endpoint answers")
            assert status == 503
            assert body["checks"] == {
                "started": False,
                "postgres": True,
                "kafka": False,
                "caches": False,
                "consumers": False,
            }
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
            assert not task.done()

            async with tcp_forwarding(kafka_port, os.environ["BYOSMS_KAFKA_BOOTSTRAP"]):

                async def ready() -> bool:
                    answer = await readyz()
                    return answer is not None and answer[0] == 200

                await eventually(ready, within=40, what="ready once Kafka answers")
                assert consumer_starts == 3
                bootstrap = os.environ["BYOSMS_KAFKA_BOOTSTRAP"]
                expected = {
                    topics.INBOUND_MESSAGES.name: 1,
                    topics.OUTBOUND_COMMANDS.name: 1,
                    topics.DELIVERY_REPORTS.name: 1,
                }

                async def settled() -> bool:
                    return await consumer_group_members(bootstrap, group) == ("Stable", expected)

                await eventually(settled, within=30, what="one stable consumer")
                await asyncio.sleep(2)  # late joiners would show up as a rebalance or extra members
                assert await consumer_group_members(bootstrap, group) == ("Stable", expected)
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    assert "byosms_consumer_handling_seconds" in await response.text()
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)

"""A running service shows its consumers' lag on /metrics: one byosms_consumer_lag series per
partition of each topic it consumes, labelled with its group, 0 once it has caught up."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from byosms_common import topics
from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.testing import eventually, free_port, start_group_at_end
from byosms_inventory.app import run as run_inventory
from byosms_inventory.settings import InventorySettings

pytestmark = pytest.mark.integration

CONSUMED = (topics.NUMBER_EVENTS, topics.INTEGRATION_EVENTS, topics.NUMBER_COMMANDS)


async def test_inventory_exports_consumer_lag_per_partition(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BYOSMS_CONSUMER_LAG_INTERVAL_S", "0.5")
    port, group = free_port(), f"g-lag-{uuid.uuid4().hex}"
    await start_group_at_end(kafka_bootstrap, group, [t.name for t in CONSUMED])
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_inventory(
            InventorySettings(port=port, consumer_group=group),
            KafkaSettings(kafka_bootstrap=kafka_bootstrap),
            DatabaseSettings(),
            stop=stop,
        )
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def lag() -> dict[tuple[str, str], float]:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                        text = await response.text()
                except aiohttp.ClientConnectionError:
                    return {}
                return {
                    (s.labels["topic"], s.labels["partition"]): s.value
                    for family in text_string_to_metric_families(text)
                    if family.name == "byosms_consumer_lag"
                    for s in family.samples
                    if s.labels["group"] == group
                }

            wanted = {(t.name, str(p)) for t in CONSUMED for p in range(t.partitions)}

            async def every_partition() -> dict[tuple[str, str], float] | None:
                current = await lag()
                return current if set(current) == wanted else None

            seen = await eventually(every_partition, within=60, what="a lag series per partition")
            assert set(seen.values()) == {0.0}, seen
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)

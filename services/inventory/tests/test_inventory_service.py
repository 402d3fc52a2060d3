"""The inventory service end to end through real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.testing import eventually, free_port, start_group_at_end
from byosms_inventory.app import run
from byosms_inventory.settings import InventorySettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def inventory(kafka_bootstrap: str, database_url: str) -> AsyncIterator[None]:
    stop = asyncio.Event()
    settings = InventorySettings(port=free_port(), consumer_group=f"test-inventory-{uuid.uuid4().hex}")
    await start_group_at_end(
        kafka_bootstrap, settings.consumer_group, [topics.NUMBER_EVENTS.name, topics.INTEGRATION_EVENTS.name]
    )
    task = asyncio.create_task(
        run(
            settings,
            KafkaSettings(kafka_bootstrap=kafka_bootstrap),
            DatabaseSettings(database_url=database_url),  # type: ignore[arg-type]
            stop=stop,
        )
    )
    yield
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)


class Watcher:
    """Collects the records of some keys from topics, from the start."""

    def __init__(self, bootstrap: str, keys: set[str]) -> None:
        self._consumer = AIOKafkaConsumer(
            topics.NUMBER_EVENTS.name,
            topics.NUMBER_STATE.name,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
        )
        self._keys = keys
        self.records: list[tuple[str, bytes | None]] = []

    async def __aenter__(self) -> Watcher:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._consumer.stop()

    async def _run(self) -> None:
        async for record in self._consumer:
            if record.key and record.key.decode() in self._keys:
                self.records.append((record.topic, record.value))

    def states(self) -> list[str | None]:
        out: list[str | None] = []
        for topic, value in self.records:
            if topic == topics.NUMBER_STATE.name:
                out.append(m.NumberStateRecord.model_validate_json(value).payload.state.value if value else None)
        return out

    def changes(self) -> list[str]:
        return [
            m.NumberStateChanged.model_validate_json(value).payload.state.value
            for topic, value in self.records
            if topic == topics.NUMBER_EVENTS.name and value and b'"number.state_changed"' in value
        ]


def _snapshot(integration_id: str) -> m.IntegrationChangePayload:
    now = datetime.now(UTC)
    return m.IntegrationChangePayload(
        integration=m.IntegrationSnapshot(
            integration_id=integration_id,
            name="test",
            region="eu-central-1",
            status=m.IntegrationStatus.ACTIVE,
            version=1,
            created_at=now,
            updated_at=now,
        ),
        actor="test",
    )


async def test_numbers_follow_their_integration_through_deactivate_reactivate_and_delete(
    inventory: None, kafka_bootstrap: str, database_url: str
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    integration = f"int-{uuid.uuid4().hex[:8]}"
    address = "+4930" + str(uuid.uuid4().int)[:8]
    imported = m.NumberImported(
        organization_id=org,
        payload=m.NumberImportedPayload(
            import_id="imp-1",
            number=m.ImportedNumber(
                address=address,
                number_type=m.NumberType.LOCAL,
                country="DE",
                twilio_sid="PN" + "0" * 32,
                integration_id=integration,
            ),
        ),
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with Watcher(kafka_bootstrap, {address}) as watch:
            await producer.send_and_wait(topics.NUMBER_EVENTS.name, m.encode(imported), key=address.encode())
            await eventually(lambda: watch.states() == ["active"], what="number active", within=30)

            for event_type, expected in (
                (m.IntegrationDeactivated, "inactive"),
                (m.IntegrationActivated, "active"),
                (m.IntegrationDeleted, None),
            ):
                event = event_type(organization_id=org, payload=_snapshot(integration))
                await producer.send_and_wait(topics.INTEGRATION_EVENTS.name, m.encode(event), key=integration.encode())
                await eventually(lambda e=expected: watch.states()[-1:] == [e], what=f"number {expected}", within=30)  # type: ignore[misc]

            assert watch.states() == ["active", "inactive", "active", None]
            assert watch.changes() == ["active", "inactive", "active", "removed"]
    finally:
        await producer.stop()

    conn = await asyncpg.connect(database_url)
    try:
        state = await conn.fetchval("SELECT state FROM inventory.numbers WHERE address = $1", address)
    finally:
        await conn.close()
    assert state == "removed"

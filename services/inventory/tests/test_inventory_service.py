"""The inventory service end to end through real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.testing import TopicWatcher, eventually, free_port, start_group_at_end
from byosms_inventory.app import run
from byosms_inventory.settings import InventorySettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def inventory(kafka_bootstrap: str, database_url: str) -> AsyncIterator[None]:
    stop = asyncio.Event()
    settings = InventorySettings(port=free_port(), consumer_group=f"test-inventory-{uuid.uuid4().hex}")
    await start_group_at_end(
        kafka_bootstrap,
        settings.consumer_group,
        [topics.NUMBER_EVENTS.name, topics.INTEGRATION_EVENTS.name, topics.NUMBER_COMMANDS.name],
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


def _states(watch: TopicWatcher) -> list[str | None]:
    return [
        m.NumberStateRecord.model_validate_json(r.value).payload.state.value if r.value else None
        for r in watch.on(topics.NUMBER_STATE.name)
    ]


def _changes(watch: TopicWatcher) -> list[str]:
    events = [m.decode(r.value) for r in watch.on(topics.NUMBER_EVENTS.name) if r.value]
    return [e.payload.state.value for e in events if isinstance(e, m.NumberStateChanged)]


def _change_import_ids(watch: TopicWatcher) -> list[str | None]:
    events = [m.decode(r.value) for r in watch.on(topics.NUMBER_EVENTS.name) if r.value]
    return [e.payload.import_id for e in events if isinstance(e, m.NumberStateChanged)]


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
        async with TopicWatcher(
            kafka_bootstrap, [topics.NUMBER_EVENTS.name, topics.NUMBER_STATE.name], {address}
        ) as watch:
            await producer.send_and_wait(topics.NUMBER_EVENTS.name, m.encode(imported), key=address.encode())
            await eventually(lambda: _states(watch) == ["active"], what="number active", within=30)

            for event_type, expected in (
                (m.IntegrationDeactivated, "inactive"),
                (m.IntegrationActivated, "active"),
                (m.IntegrationDeleted, None),
            ):
                event = event_type(organization_id=org, payload=_snapshot(integration))
                await producer.send_and_wait(topics.INTEGRATION_EVENTS.name, m.encode(event), key=integration.encode())
                await eventually(lambda e=expected: _states(watch)[-1:] == [e], what=f"number {expected}", within=30)  # type: ignore[misc]

            assert _states(watch) == ["active", "inactive", "active", None]
            assert _changes(watch) == ["active", "inactive", "active", "removed"]
            # Every change names the import that added the number, so provisioning releases exactly
            # that import's claim on removal (no clock comparison).
            assert _change_import_ids(watch) == ["imp-1"] * 4
    finally:
        await producer.stop()

    conn = await asyncpg.connect(database_url)
    try:
        state = await conn.fetchval("SELECT state FROM inventory.numbers WHERE address = $1", address)
    finally:
        await conn.close()
    assert state == "removed"


async def test_number_imported_for_a_deleted_integration_is_removed_with_its_import_id(
    inventory: None, kafka_bootstrap: str, database_url: str
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    integration = f"int-{uuid.uuid4().hex[:8]}"
    address = "+4930" + str(uuid.uuid4().int)[:8]
    deleted = m.IntegrationDeleted(organization_id=org, payload=_snapshot(integration))
    imported = m.NumberImported(
        organization_id=org,
        payload=m.NumberImportedPayload(
            import_id="imp-late",
            number=m.ImportedNumber(
                address=address,
                number_type=m.NumberType.LOCAL,
                country="DE",
                twilio_sid="PN" + "1" * 32,
                integration_id=integration,
            ),
        ),
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with TopicWatcher(kafka_bootstrap, [topics.NUMBER_EVENTS.name], {address}, from_end=True) as watch:
            await producer.send_and_wait(topics.INTEGRATION_EVENTS.name, m.encode(deleted), key=integration.encode())
            # The two topics are consumed independently: wait until inventory knows of the deletion.
            conn = await asyncpg.connect(database_url)
            try:
                await eventually(
                    lambda: conn.fetchval(
                        "SELECT status FROM inventory.integration_status WHERE integration_id = $1", integration
                    ),
                    what="deletion recorded",
                    within=30,
                )
            finally:
                await conn.close()
            await producer.send_and_wait(topics.NUMBER_EVENTS.name, m.encode(imported), key=address.encode())
            await eventually(lambda: _changes(watch) == ["removed"], what="number removed", within=30)
            assert _change_import_ids(watch) == ["imp-late"]
    finally:
        await producer.stop()


def _results(watch: TopicWatcher) -> list[m.NumberCommandApplied | m.NumberCommandRejected]:
    events = [m.decode(r.value) for r in watch.on(topics.NUMBER_EVENTS.name) if r.value]
    return [e for e in events if isinstance(e, m.NumberCommandApplied | m.NumberCommandRejected)]


async def test_number_commands_end_in_exactly_one_result_each(
    inventory: None, kafka_bootstrap: str, database_url: str
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    integration = f"int-{uuid.uuid4().hex[:8]}"
    address = "+4930" + str(uuid.uuid4().int)[:8]
    imported = m.NumberImported(
        organization_id=org,
        payload=m.NumberImportedPayload(
            import_id=f"imp-{uuid.uuid4().hex[:6]}",
            number=m.ImportedNumber(
                address=address,
                number_type=m.NumberType.LOCAL,
                country="DE",
                twilio_sid="PN" + "3" * 32,
                integration_id=integration,
            ),
        ),
    )

    def ref(version: int | None = None) -> dict[str, object]:
        return {"address": address, "expected_version": version, "actor": "test"}

    route = m.SetNumberRouting(organization_id=org, payload=m.SetNumberRoutingPayload(**ref(1), routing_target="q-1"))
    stale = m.SetNumberRouting(organization_id=org, payload=m.SetNumberRoutingPayload(**ref(1), routing_target="q-2"))
    foreign = m.RemoveNumber(organization_id="org-other", payload=m.NumberCommandPayload(**ref()))  # type: ignore[arg-type]
    remove = m.RemoveNumber(organization_id=org, payload=m.NumberCommandPayload(**ref()))  # type: ignore[arg-type]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with TopicWatcher(
            kafka_bootstrap, [topics.NUMBER_EVENTS.name, topics.NUMBER_STATE.name], {address}, from_end=True
        ) as watch:
            await producer.send_and_wait(topics.NUMBER_EVENTS.name, m.encode(imported), key=address.encode())
            await eventually(lambda: _states(watch) == ["active"], what="number active", within=30)
            for command in (route, route, stale, foreign, remove):  # the routing command is repeated
                await producer.send_and_wait(topics.NUMBER_COMMANDS.name, m.encode(command), key=address.encode())
            await eventually(lambda: len(_results(watch)) == 4, what="four results", within=30)
            # A redelivered import event does not bring back the number removed on request.
            await producer.send_and_wait(topics.NUMBER_EVENTS.name, m.encode(imported), key=address.encode())
            done = m.RemoveNumber(organization_id=org, payload=m.NumberCommandPayload(**ref()))  # type: ignore[arg-type]
            await producer.send_and_wait(topics.NUMBER_COMMANDS.name, m.encode(done), key=address.encode())
            await eventually(lambda: len(_results(watch)) == 5, what="the last result", within=30)
            results = _results(watch)
            assert [r.payload.command_id for r in results] == [route.id, stale.id, foreign.id, remove.id, done.id]
            applied = results[0]
            assert isinstance(applied, m.NumberCommandApplied)
            assert applied.payload.changed is True
            assert applied.payload.number is not None
            assert (applied.payload.number.routing_target, applied.payload.number.version) == ("q-1", 2)
            codes = [r.payload.code for r in results[1:3] if isinstance(r, m.NumberCommandRejected)]
            assert codes == ["version_conflict", "number_not_in_inventory"]
            assert isinstance(results[3], m.NumberCommandApplied)
            assert results[3].payload.number is None  # removed
            assert isinstance(results[4], m.NumberCommandRejected)  # nothing left to remove
            assert results[4].payload.message.de.startswith("Die Nummer")
            assert _changes(watch) == ["active", "removed"]
            records = [
                m.NumberStateRecord.model_validate_json(r.value) for r in watch.on(topics.NUMBER_STATE.name) if r.value
            ]
            assert [r.payload.routing_target for r in records] == [None, "q-1"]
            assert _states(watch)[-1] is None  # the tombstone
    finally:
        await producer.stop()

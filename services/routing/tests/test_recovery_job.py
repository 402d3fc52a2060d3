"""Routing's recovery job against real PostgreSQL and Kafka and the Twilio emulator (in process): Twilio's
Messages list read page by page with the tenant's credentials, only messages routing never decided
replayed (marked recovered), a 429 honoured with its Retry-After, the counts published."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.crypto import Keyring, SecretOpener, associated_data, seal
from byosms_common.kafka import Publisher, build_broker, start_broker
from byosms_common.request_pacing import AccountPacers
from byosms_common.settings import KafkaSettings
from byosms_common.state_cache import StateTopicFollower
from byosms_common.testing import TopicWatcher, eventually
from byosms_common.twilio_client import TwilioClients
from byosms_routing import recovery
from byosms_routing.context import Collaborators
from byosms_routing.recovery import Recovery, RecoveryMetrics, RecoverySettings
from twilio_emulator.settings import EmulatorSettings
from twilio_emulator.testing import RunningEmulator, running_emulator

pytestmark = pytest.mark.integration

KEYRING = Keyring.from_config(json.dumps({"test-1": Keyring.generate_key()}), "test-1")
SETTINGS = RecoverySettings(
    window_seconds=600, grace_seconds=0, interval_seconds=300, check_seconds=1, requests_per_second=50
)


@dataclass
class World:
    job: Recovery
    emulator: RunningEmulator
    pool: asyncpg.Pool
    registry: CollectorRegistry
    bootstrap: str
    integrations: StateTopicFollower[m.IntegrationState]
    numbers: StateTopicFollower[m.NumberStateRecord]

    async def tenant_number(self) -> tuple[str, str, str]:
        """An active number of a tenant in the caches, its inbound webhooks held in the emulator:
        (organization, integration, number)."""
        org, integration = f"org-{uuid.uuid4().hex[:8]}", f"int-{uuid.uuid4().hex[:8]}"
        number = "+4930" + str(uuid.uuid4().int)[:8]
        account = await self.emulator.control.create_account()
        await self.emulator.control.add_phone_number(account.sid, number, sms_url="http://127.0.0.1:9/mo")
        await self.emulator.control.hold_webhooks("inbound", to=number)
        self.integrations.values[integration] = m.IntegrationState(
            organization_id=org,
            payload=m.IntegrationStatePayload(
                integration_id=integration,
                account_sid=account.sid,
                auth_token=seal(KEYRING, account.auth_token, associated_data(org, integration, "auth_token")),
                region="eu-central-1",
                status=m.IntegrationStatus.ACTIVE,
                version=1,
            ),
        )
        self.numbers.values[number] = m.NumberStateRecord(
            organization_id=org,
            payload=m.NumberStatePayload(
                number=m.ImportedNumber(
                    address=number,
                    number_type=m.NumberType.LOCAL,
                    country="DE",
                    twilio_sid="PN1",
                    integration_id=integration,
                ),
                state=m.NumberState.ACTIVE,
                version=1,
            ),
        )
        await self.pool.execute("DELETE FROM recovery_checks WHERE address = $1", number)
        return org, integration, number

    async def due_now(self, number: str) -> None:
        """Make the number due (new numbers are spread over an interval)."""
        await self.job.round()  # enrolls it
        await self.pool.execute("UPDATE recovery_checks SET next_at = now() WHERE address = $1", number)

    async def row(self, number: str) -> asyncpg.Record:
        found = await self.pool.fetchrow("SELECT *, now() AS db_now FROM recovery_checks WHERE address = $1", number)
        assert found is not None
        return found

    def recovered(self, kind: str) -> float:
        return self.registry.get_sample_value("byosms_routing_recovered_total", {"kind": kind}) or 0.0


@pytest.fixture
async def world(pool: asyncpg.Pool, kafka_bootstrap: str) -> AsyncIterator[World]:
    # The schedule is shared with every routing that ran on this database (numbers of other tests, due
    # long ago): this job knows only its own numbers, so it starts from an empty schedule.
    await pool.execute("DELETE FROM recovery_checks")
    kafka = KafkaSettings(kafka_bootstrap="127.0.0.1:1")  # the caches are filled by hand, never started
    integrations = StateTopicFollower(kafka, topics.INTEGRATION_STATE, m.IntegrationState, client_id="test")
    numbers = StateTopicFollower(kafka, topics.NUMBER_STATE, m.NumberStateRecord, client_id="test")
    broker = build_broker(KafkaSettings(kafka_bootstrap=kafka_bootstrap), "routing-test")
    await start_broker(broker)
    async with running_emulator(EmulatorSettings(status_step_delay_s=0.01)) as emulator:
        twilio = TwilioClients(api_base=emulator.base_url, timeout_seconds=5)
        await twilio.start()
        deps = Collaborators(
            pool=pool, integrations=integrations, numbers=numbers, twilio=twilio, tokens=SecretOpener(KEYRING)
        )
        registry = CollectorRegistry()
        pacers = AccountPacers(SETTINGS.requests_per_second, time.monotonic, asyncio.sleep)
        job = Recovery(deps, Publisher(broker), SETTINGS, RecoveryMetrics(registry), pacers)
        try:
            yield World(job, emulator, pool, registry, kafka_bootstrap, integrations, numbers)
        finally:
            await twilio.close()
            await broker.stop()


def _inbound(watch: TopicWatcher) -> list[m.InboundMessageReceived]:
    found = [m.decode(r.value or b"") for r in watch.on(topics.INBOUND_MESSAGES.name)]
    return [e for e in found if isinstance(e, m.InboundMessageReceived)]


async def test_undecided_messages_are_found_page_by_page_and_replayed_marked_recovered(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recovery, "PAGE_SIZE", 2)
    org, integration, number = await world.tenant_number()
    customer = "+49151" + str(uuid.uuid4().int)[:8]
    sids = [(await world.emulator.control.inbound(customer, number, f"Nachricht {i}")).message_sid for i in range(3)]
    # The first one did arrive: routing decided it.
    await world.pool.execute(
        "INSERT INTO inbound_decisions (message_sid, organization_id, integration_id, decision, reason) "
        "VALUES ($1, $2, $3, 'routed', '')",
        sids[0],
        org,
        integration,
    )
    await world.due_now(number)
    keys = {f"{number}|{customer}", number}
    watched = [topics.INBOUND_MESSAGES.name, topics.NUMBER_EVENTS.name]
    async with TopicWatcher(world.bootstrap, watched, keys, from_end=True) as watch:
        before = await world.emulator.control.requests(method="GET", path_contains="/Messages.json")

        assert await world.job.round() == 1

        replayed = await eventually(lambda: _inbound(watch) if len(_inbound(watch)) >= 2 else None, within=20)
        assert sorted(e.id for e in replayed) == sorted(sids[1:])
        for event in replayed:
            assert event.payload.recovered is True
            assert event.organization_id == org
            assert event.payload.integration_id == integration
            assert event.payload.to == number
            assert event.payload.from_ == customer
        bodies = {e.payload.body for e in replayed}
        assert bodies == {"Nachricht 1", "Nachricht 2"}

        def counted() -> list[m.MissedMessagesRecovered]:
            events = [m.decode(r.value or b"") for r in watch.on(topics.NUMBER_EVENTS.name)]
            return [e for e in events if isinstance(e, m.MissedMessagesRecovered)]

        (event,) = await eventually(counted, within=20)
        assert (event.payload.inbound_recovered, event.payload.reports_recovered) == (2, 0)
        assert sorted(event.payload.message_sids) == sorted(sids[1:])
    pages = await world.emulator.control.requests(method="GET", path_contains="/Messages.json")
    listed = pages[len(before) :]
    assert len(listed) == 2  # three messages, two to a page
    assert all(r.auth_username == world.integrations.values[integration].payload.account_sid for r in listed)
    assert world.recovered("inbound") == 2
    row = await world.row(number)
    assert (row["last_inbound"], row["failures"], row["claimed_until"]) == (2, 0, None)
    assert (row["next_at"] - row["db_now"]).total_seconds() > SETTINGS.interval_seconds - 30


async def test_a_429_pauses_the_job_for_its_retry_after_and_leaves_the_number_due_after_it(world: World) -> None:
    _, integration, number = await world.tenant_number()
    await world.due_now(number)
    await world.emulator.control.add_fault(status=429, retry_after_s=45, path_contains="/Messages.json", count=1)
    started = time.monotonic()

    await world.job.round()

    row = await world.row(number)
    assert row["failures"] == 1
    assert (row["next_at"] - row["db_now"]).total_seconds() > 40
    assert world.registry.get_sample_value("byosms_routing_recovery_runs_total", {"outcome": "throttled"}) == 1
    # The account's next request waits for the Retry-After; another account's does not.
    assert world.job.pacers.of(integration)._next - started > 40
    assert world.job.pacers.of("another-integration")._next - started < 1


async def test_a_number_no_longer_active_is_dropped_when_due(world: World) -> None:
    _, _, number = await world.tenant_number()
    await world.due_now(number)
    del world.numbers.values[number]

    await world.job.round()

    assert await world.pool.fetchval("SELECT count(*) FROM recovery_checks WHERE address = $1", number) == 0
    # Nothing was asked of Twilio for it.
    assert await world.emulator.control.requests(method="GET", path_contains="/Messages.json") == []

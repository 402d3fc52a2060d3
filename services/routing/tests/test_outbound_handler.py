"""The outbound lane handler against real PostgreSQL and the Twilio emulator, called as the consumer
engine calls it (a hand-built Record, a list-collecting Emit): one result per message, a redelivered
record republishes it, a repeated command publishes nothing, each sender held to its pace."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import pytest

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.consumer import Record
from byosms_common.crypto import Keyring, SecretOpener, associated_data, seal
from byosms_common.db import open_migrated_pool
from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.state_cache import StateTopicFollower
from byosms_common.topics import TopicSpec
from byosms_common.twilio_client import TwilioClients
from byosms_routing.context import Collaborators
from byosms_routing.outbound import on_send
from byosms_routing.pacing import SenderPacer
from byosms_routing.settings import RoutingSettings
from twilio_emulator.settings import EmulatorSettings
from twilio_emulator.testing import RunningEmulator, running_emulator

pytestmark = pytest.mark.integration

REGION = "eu-central-1"
KEYRING = Keyring.from_config(json.dumps({"test-1": Keyring.generate_key()}), "test-1")


@dataclass
class Emitted:
    """Stands in for the engine's Emit: keeps what the handler emitted, with when."""

    events: list[tuple[float, str, m.Envelope]] = field(default_factory=list)

    def publish(self, topic: TopicSpec, message: m.Envelope, key: str, *, cause: object = None) -> None:
        assert topic == topics.MESSAGE_EVENTS
        self.events.append((time.monotonic(), key, message))

    def tombstone(self, topic: TopicSpec, key: str) -> None:
        raise AssertionError("outbound deletes nothing")

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for _, _, e in self.events if isinstance(e, kind)]


@dataclass
class World:
    deps: Collaborators
    emulator: RunningEmulator
    numbers: StateTopicFollower[m.NumberStateRecord]
    integrations: StateTopicFollower[m.IntegrationState]
    offsets: list[int] = field(default_factory=lambda: [0])

    async def sender(self, number_type: m.NumberType = m.NumberType.LOCAL) -> tuple[str, str]:
        """A tenant with one active number in the caches; (organization, sender address)."""
        org, integration = f"org-{uuid.uuid4().hex[:8]}", f"int-{uuid.uuid4().hex[:8]}"
        sender = "+4930" + str(uuid.uuid4().int)[:8]
        account = await self.emulator.control.create_account()
        await self.emulator.control.add_phone_number(account.sid, sender)
        self.integrations.values[integration] = m.IntegrationState(
            organization_id=org,
            payload=m.IntegrationStatePayload(
                integration_id=integration,
                account_sid=account.sid,
                auth_token=seal(KEYRING, account.auth_token, associated_data(org, integration, "auth_token")),
                region=REGION,
                status=m.IntegrationStatus.ACTIVE,
                version=1,
            ),
        )
        self.numbers.values[sender] = m.NumberStateRecord(
            organization_id=org,
            payload=m.NumberStatePayload(
                number=m.ImportedNumber(
                    address=sender, number_type=number_type, country="DE", twilio_sid="PN1", integration_id=integration
                ),
                state=m.NumberState.ACTIVE,
                version=1,
            ),
        )
        return org, sender

    def record(self, command: m.SendMessage, offset: int | None = None) -> Record[m.SendMessage]:
        if offset is None:
            self.offsets[0] += 1
            offset = self.offsets[0]
        return Record(
            message=command,
            topic=topics.OUTBOUND_COMMANDS.name,
            partition=0,
            offset=offset,
            key=f"{command.payload.from_}|{command.payload.to}",
            headers={},
        )

    async def creates_to(self, to: str) -> list[int]:
        requests = await self.emulator.control.requests(method="POST", path_contains="/Messages.json")
        return [r.status for r in requests if r.field("To") == to]


def command(org: str, sender: str, to: str | None = None, body: str = "Hallo") -> m.SendMessage:
    to = to or "+49151" + str(uuid.uuid4().int)[:8]
    return m.SendMessage(
        organization_id=org, payload=m.SendMessagePayload.model_validate({"from": sender, "to": to, "body": body})
    )


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    pool = await open_migrated_pool(
        DatabaseSettings(database_url=database_url),  # type: ignore[arg-type]
        "routing",
        "byosms_routing",
    )
    kafka = KafkaSettings(kafka_bootstrap="127.0.0.1:1")  # the caches are filled by hand, never started
    integrations = StateTopicFollower(kafka, topics.INTEGRATION_STATE, m.IntegrationState, client_id="test")
    numbers = StateTopicFollower(kafka, topics.NUMBER_STATE, m.NumberStateRecord, client_id="test")
    async with running_emulator(EmulatorSettings(status_step_delay_s=0.01)) as emulator:
        twilio = TwilioClients(api_base=emulator.base_url, timeout_seconds=5)
        await twilio.start()
        settings = RoutingSettings(
            **cast(
                Any,
                {
                    "send_retry_seconds": 5,
                    "BYOSMS_REGIONS_OVERRIDES": json.dumps({REGION: {"public_base_url": "http://127.0.0.1:9"}}),
                },
            )
        )
        deps = Collaborators(
            pool=pool,
            integrations=integrations,
            numbers=numbers,
            twilio=twilio,
            tokens=SecretOpener(KEYRING),
            regions=settings.regions(),
            send_retry_seconds=settings.send_retry_seconds,
            send_lease_seconds=settings.send_lease_seconds(),
        )
        try:
            yield World(deps, emulator, numbers, integrations)
        finally:
            await twilio.close()
            await pool.close()


async def _row(world: World, org: str, message_id: str) -> asyncpg.Record:
    row = await world.deps.pool.fetchrow(
        "SELECT * FROM outbound_messages WHERE organization_id = $1 AND message_id = $2", org, message_id
    )
    assert row is not None
    return row


async def test_one_result_per_message_a_redelivery_republishes_it_and_a_repeat_publishes_nothing(
    world: World,
) -> None:
    org, sender = await world.sender()
    pacer = SenderPacer({}, clock=time.monotonic)
    send = command(org, sender)
    first = world.record(send)
    out = Emitted()
    await on_send(world.deps, first, out, pacer=pacer)
    (accepted,) = out.of(m.OutboundMessageAccepted)
    assert accepted.id == f"{send.payload.message_id}:accepted"
    assert accepted.payload.message_sid.startswith("SM")
    row = await _row(world, org, send.payload.message_id)
    assert (row["state"], row["source"], row["accepted_status"]) == ("accepted", first.source, "queued")

    # The same record again (its output may never have been committed): the recorded result, same id.
    again = Emitted()
    await on_send(world.deps, world.record(send, offset=first.offset), again, pacer=pacer)
    assert [(e.id, e.payload.message_sid, e.payload.status) for e in again.of(m.OutboundMessageAccepted)] == [
        (accepted.id, accepted.payload.message_sid, "queued")
    ]
    # The platform repeats the command (another record): nothing published, nothing sent.
    repeat = Emitted()
    await on_send(world.deps, world.record(send), repeat, pacer=pacer)
    assert repeat.events == []
    assert await world.creates_to(send.payload.to) == [201]


async def test_a_refusal_is_recorded_once_and_republished_only_by_its_own_record(world: World) -> None:
    org, sender = await world.sender()
    pacer = SenderPacer({}, clock=time.monotonic)
    invalid = command(org, sender, to="+49123")
    first = world.record(invalid)
    out = Emitted()
    await on_send(world.deps, first, out, pacer=pacer)
    (failed,) = out.of(m.OutboundMessageFailed)
    assert failed.payload.code == "recipient_invalid"
    assert "+49123" in failed.payload.message.en
    assert "+49123" in failed.payload.message.de
    again = Emitted()
    await on_send(world.deps, world.record(invalid, offset=first.offset), again, pacer=pacer)
    assert [(e.id, e.payload.code) for e in again.of(m.OutboundMessageFailed)] == [(failed.id, "recipient_invalid")]
    repeat = Emitted()
    await on_send(world.deps, world.record(invalid), repeat, pacer=pacer)
    assert repeat.events == []
    assert await world.creates_to("+49123") == []


async def test_a_21610_refusal_republished_by_its_record_brings_its_opt_out(world: World) -> None:
    org, sender = await world.sender()
    to = "+49151" + str(uuid.uuid4().int)[:8]
    await world.emulator.control.add_opt_out(sender, to)
    pacer = SenderPacer({}, clock=time.monotonic)
    send = command(org, sender, to=to)
    first = world.record(send)
    out = Emitted()
    await on_send(world.deps, first, out, pacer=pacer)
    assert [type(e) for _, _, e in out.events] == [m.OutboundMessageFailed, m.RecipientOptedOut]
    assert out.events[1][1] == f"{sender}|{to}"
    again = Emitted()
    await on_send(world.deps, world.record(send, offset=first.offset), again, pacer=pacer)
    assert [e.id for _, _, e in again.events] == [e.id for _, _, e in out.events]
    assert await world.creates_to(to) == [400]


async def test_a_sender_is_held_to_its_pace_while_another_sender_is_not_delayed(world: World) -> None:
    org, busy = await world.sender()
    other_org, quiet = await world.sender()
    pacer = SenderPacer({busy: 4.0}, clock=time.monotonic)
    out = Emitted()

    async def lane(records: list[Record[m.SendMessage]]) -> None:
        for record in records:  # one sender's records one at a time, as the engine's lane does
            await on_send(world.deps, record, out, pacer=pacer)

    campaign = [world.record(command(org, busy)) for _ in range(12)]
    started = time.monotonic()
    busy_lane = asyncio.create_task(lane(campaign))
    await asyncio.sleep(0.3)  # the campaign is under way, its bucket empty
    await lane([world.record(command(other_org, quiet))])
    quiet_done = time.monotonic() - started
    await busy_lane
    busy_times = [
        t - started
        for t, key, e in out.events
        if isinstance(e, m.OutboundMessageAccepted) and key in {r.message.payload.message_id for r in campaign}
    ]
    assert len(busy_times) == 12
    # Burst 4 at once, then one every 0.25 s: the 12th no earlier than 2 s after the start.
    assert busy_times[-1] >= 2.0 - 0.05
    for i in range(len(busy_times)):
        for j in range(i + 1, len(busy_times)):
            assert j - i + 1 <= 4 + 4.0 * (busy_times[j] - busy_times[i]) + 1
    assert quiet_done < 1.0, "the other sender waited for the campaign"


async def test_twilio_429_slows_the_sender_down(world: World) -> None:
    org, sender = await world.sender()
    await world.emulator.control.set_rate(1, sender=sender, window_s=1.0)
    pacer = SenderPacer({sender: 10.0}, clock=time.monotonic)
    out = Emitted()
    first, second = command(org, sender), command(org, sender)
    for send in (first, second):
        await on_send(world.deps, world.record(send), out, pacer=pacer)
    assert len(out.of(m.OutboundMessageAccepted)) == 2
    assert (await world.creates_to(second.payload.to))[0] == 429
    assert pacer.rate_of(sender, m.NumberType.LOCAL) <= 5.0

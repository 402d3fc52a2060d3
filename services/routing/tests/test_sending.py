"""Sending through real Kafka, PostgreSQL and the Twilio emulator: accepted and delivered, at most once,
Twilio's refusals mapped, rate limits ridden out, opt-outs by STOP and back in by START.

A small HTTP server stands in for the ingress at the region's public base URL: it turns the
emulator's status callbacks into ``DeliveryReportReceived`` on Kafka, as the ingress does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.crypto import Keyring, associated_data, seal
from byosms_common.regions import DEFAULT_REGIONS
from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.testing import TopicWatcher, eventually, free_port, start_group_at_end
from byosms_routing.app import run
from byosms_routing.settings import RoutingSettings
from twilio_emulator.settings import EmulatorSettings
from twilio_emulator.testing import RunningEmulator, running_emulator

pytestmark = pytest.mark.integration

REGION = "eu-central-1"
KEYRING = Keyring.from_config(json.dumps({"test-1": Keyring.generate_key()}), "test-1")


def _number(prefix: str) -> str:
    return prefix + str(uuid.uuid4().int)[:8]


@dataclass(frozen=True)
class Tenant:
    org: str
    integration_id: str
    sender: str


@dataclass
class Harness:
    producer: AIOKafkaProducer
    emulator: RunningEmulator
    database_url: str
    kafka_bootstrap: str
    status_url: str
    start: Callable[..., Awaitable[None]]
    """Start routing (keyword arguments: ``RoutingSettings`` overrides)."""
    accounts: dict[str, Tenant]
    """Account SID -> tenant: the ingress stand-in attributes status callbacks as the ingress does."""
    hold_creates: list[bool]
    """When ``[True]``, the Twilio proxy holds each create's 201 until a report for its SID is kept."""

    async def tenant(self) -> Tenant:
        """A Twilio account with a number, its integration and the number in the inventory (on Kafka)."""
        org = f"org-{uuid.uuid4().hex[:8]}"
        integration = f"int-{uuid.uuid4().hex[:8]}"
        sender = _number("+4930")
        account = await self.emulator.control.create_account()
        await self.emulator.control.add_phone_number(account.sid, sender)
        self.accounts[account.sid] = Tenant(org, integration, sender)
        token = seal(KEYRING, account.auth_token, associated_data(org, integration, "auth_token"))
        state = m.IntegrationState(
            organization_id=org,
            payload=m.IntegrationStatePayload(
                integration_id=integration,
                account_sid=account.sid,
                auth_token=token,
                region=REGION,
                status=m.IntegrationStatus.ACTIVE,
                version=1,
                default_routing_target="queue-support",
            ),
        )
        number = m.NumberStateRecord(
            organization_id=org,
            payload=m.NumberStatePayload(
                number=m.ImportedNumber(
                    address=sender,
                    number_type=m.NumberType.LOCAL,
                    country="DE",
                    twilio_sid="PN" + uuid.uuid4().hex,
                    integration_id=integration,
                ),
                state=m.NumberState.ACTIVE,
                version=1,
            ),
        )
        await self.producer.send_and_wait(topics.INTEGRATION_STATE.name, m.encode(state), key=integration.encode())
        await self.producer.send_and_wait(topics.NUMBER_STATE.name, m.encode(number), key=sender.encode())
        return Tenant(org, integration, sender)

    async def send(self, tenant: Tenant, to: str, body: str = "Hallo", command_id: str | None = None) -> m.SendMessage:
        command = m.SendMessage(
            organization_id=tenant.org,
            payload=m.SendMessagePayload.model_validate({"from": tenant.sender, "to": to, "body": body}),
        )
        if command_id is not None:
            command = command.model_copy(update={"id": command_id})
        await self.resend(command)
        return command

    async def resend(self, command: m.SendMessage) -> None:
        key = command.payload.from_
        await self.producer.send_and_wait(topics.OUTBOUND_COMMANDS.name, m.encode(command), key=key.encode())

    async def inbound(
        self,
        tenant: Tenant,
        customer: str,
        body: str,
        *,
        to: str | None = None,
        raw: dict[str, list[str]] | None = None,
    ) -> None:
        """An inbound message signed by ``tenant``'s integration, to its sender (or to ``to``)."""
        sid = "SM" + uuid.uuid4().hex
        to = to or tenant.sender
        event = m.InboundMessageReceived(
            id=sid,
            organization_id=tenant.org,
            payload=m.InboundMessagePayload.model_validate(
                {
                    "message_sid": sid,
                    "account_sid": "AC" + "1" * 32,
                    "from": customer,
                    "to": to,
                    "body": body,
                    "region": REGION,
                    "integration_id": tenant.integration_id,
                    "received_at": datetime.now(UTC),
                    "raw": raw or {},
                }
            ),
        )
        key = f"{to}|{customer}"
        await self.producer.send_and_wait(topics.INBOUND_MESSAGES.name, m.encode(event), key=key.encode())

    async def creates_to(self, to: str) -> list[int]:
        """HTTP status of every Messages create the emulator received for ``to``."""
        requests = await self.emulator.control.requests(method="POST", path_contains="/Messages.json")
        return [r.status for r in requests if r.field("To") == to]

    async def report(self, tenant: Tenant, sid: str, status: str, error_code: int | None = None) -> None:
        """A DeliveryReportReceived for ``sid`` as the ingress publishes it for ``tenant``'s callback."""
        report = m.DeliveryReportReceived(
            id=f"{sid}:{status}",
            organization_id=tenant.org,
            payload=m.DeliveryReportPayload.model_validate(
                {
                    "message_sid": sid,
                    "account_sid": "AC" + "1" * 32,
                    "status": status,
                    "error_code": error_code,
                    "region": REGION,
                    "integration_id": tenant.integration_id,
                    "received_at": datetime.now(UTC),
                    "raw": {},
                }
            ),
        )
        await self.producer.send_and_wait(topics.DELIVERY_REPORTS.name, m.encode(report), key=sid.encode())

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def row(self, org: str, message_id: str) -> asyncpg.Record | None:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetchrow(
                "SELECT * FROM routing.outbound_messages WHERE organization_id = $1 AND message_id = $2",
                org,
                message_id,
            )
        finally:
            await conn.close()


def _events(watch: TopicWatcher, key: str) -> list[m.AnyMessage]:
    return [m.decode(r.value or b"") for r in watch.records if r.key == key]


async def _first(watch: TopicWatcher, key: str, kind: type[Any], what: str) -> Any:
    async def found() -> Any:
        return next((e for e in _events(watch, key) if isinstance(e, kind)), None)

    return await eventually(found, within=30, what=what)


@pytest.fixture
async def harness(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Harness]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    accounts: dict[str, Tenant] = {}
    hold_creates = [False]

    async def status_callback(request: web.Request) -> web.Response:
        # Stands in for the ingress: the status callback becomes a DeliveryReportReceived, attributed
        # to the tenant whose account (token) it came from.
        form = await request.post()
        sid, status = str(form["MessageSid"]), str(form["MessageStatus"])
        tenant = accounts[str(form["AccountSid"])]
        report = m.DeliveryReportReceived(
            id=f"{sid}:{status}",
            organization_id=tenant.org,
            payload=m.DeliveryReportPayload.model_validate(
                {
                    "message_sid": sid,
                    "account_sid": str(form["AccountSid"]),
                    "status": status,
                    "error_code": int(str(form["ErrorCode"])) if form.get("ErrorCode") else None,
                    "from": str(form.get("From", "")),
                    "to": str(form.get("To", "")),
                    "region": REGION,
                    "integration_id": tenant.integration_id,
                    "received_at": datetime.now(UTC),
                    "raw": {k: [str(v)] for k, v in form.items()},
                }
            ),
        )
        await producer.send_and_wait(topics.DELIVERY_REPORTS.name, m.encode(report), key=sid.encode())
        return web.Response(text="")

    ingress = web.Application()
    ingress.router.add_post("/vendors/v1/twilio/{key}/status", status_callback)
    emulator_base: list[str] = []

    async def twilio_proxy(request: web.Request) -> web.Response:
        # Between routing and the emulator: passes every call through; with ``hold_creates`` it holds a
        # create's answer until a delivery report for the new SID is kept (the report-first race).
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.request(
                    request.method,
                    emulator_base[0] + request.path_qs.removeprefix("/twilio"),
                    data=body,
                    headers=headers,
                ) as answer,
            ):
                text = await answer.read()
                status, content_type = answer.status, answer.content_type
        except aiohttp.ServerDisconnectedError:
            # The emulator lost the answer: so does the proxy (routing's connection is dropped).
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=502)
        if hold_creates[0] and request.method == "POST" and request.path.endswith("/Messages.json") and status == 201:
            sid = json.loads(text)["sid"]

            async def kept() -> bool:
                conn = await asyncpg.connect(database_url)
                try:
                    return bool(
                        await conn.fetchval("SELECT count(*) FROM routing.delivery_reports WHERE message_sid = $1", sid)
                    )
                finally:
                    await conn.close()

            await eventually(kept, within=4, interval=0.05, what="a report before the create's answer")
        return web.Response(status=status, body=text, content_type=content_type)

    ingress.router.add_route("*", "/twilio/{tail:.*}", twilio_proxy)
    runner = web.AppRunner(ingress, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async with running_emulator(EmulatorSettings(status_step_delay_s=0.01)) as emulator:
        emulator_base.append(emulator.base_url.rstrip("/"))
        settings_input: dict[str, Any] = {
            "port": free_port(),
            "consumer_group": f"test-routing-{uuid.uuid4().hex}",
            "send_retry_seconds": 10,
            "twilio_timeout_seconds": 5,
            "BYOSMS_TWILIO_API_BASE": base + "/twilio",
            "BYOSMS_REGIONS_OVERRIDES": json.dumps({REGION: {"public_base_url": base}}),
        }
        settings = RoutingSettings(**settings_input)

        async def start(**overrides: Any) -> None:
            nonlocal settings
            settings = RoutingSettings(**{**settings_input, **overrides})
            await start_group_at_end(
                kafka_bootstrap,
                settings.consumer_group,
                [topics.INBOUND_MESSAGES.name, topics.OUTBOUND_COMMANDS.name, topics.DELIVERY_REPORTS.name],
            )
            tasks.append(
                asyncio.create_task(
                    run(
                        settings,
                        KafkaSettings(kafka_bootstrap=kafka_bootstrap),
                        DatabaseSettings(database_url=database_url),  # type: ignore[arg-type]
                        stop=stop,
                        keyring=KEYRING,
                    )
                )
            )

            async def ready() -> bool:
                try:
                    async with (
                        aiohttp.ClientSession() as http,
                        http.get(f"http://127.0.0.1:{settings.port}/readyz") as response,
                    ):
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(ready, within=60, interval=0.2, what="routing ready")

        yield Harness(
            producer=producer,
            emulator=emulator,
            database_url=database_url,
            kafka_bootstrap=kafka_bootstrap,
            status_url=base + DEFAULT_REGIONS[REGION].status_path,
            start=start,
            accounts=accounts,
            hold_creates=hold_creates,
        )
        stop.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)
    await runner.cleanup()
    await producer.stop()


async def test_send_accepted_then_delivery_reports_applied_in_order_only_forward(harness: Harness) -> None:
    tenant = await harness.tenant()
    other = await harness.tenant()
    shuffled_to = _number("+49151")
    await harness.emulator.control.set_outcome(shuffled_to, "delivered", duplicate_callbacks=True, out_of_order=True)
    await harness.start()
    to = _number("+49151")
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        command = await harness.send(tenant, to, "Ihr Termin ist morgen")
        message_id = command.payload.message_id
        accepted = await _first(watch, message_id, m.OutboundMessageAccepted, "accepted")
        sid = accepted.payload.message_sid
        assert sid is not None
        assert sid.startswith("SM")

        async def statuses() -> list[str]:
            return [e.payload.status for e in _events(watch, message_id) if isinstance(e, m.MessageStatusChanged)]

        await eventually(_contains(statuses, "delivered"), within=30, what="delivered")
        assert await statuses() == ["sent", "delivered"]
        (create,) = await harness.emulator.control.requests(method="POST", path_contains="/Messages.json")
        assert create.field("StatusCallback") == harness.status_url
        assert (create.field("From"), create.field("To"), create.field("Body")) == (
            tenant.sender,
            to,
            "Ihr Termin ist morgen",
        )
        assert create.auth_username is not None
        assert create.auth_username.startswith("AC")
        row = await harness.row(tenant.org, message_id)
        assert row is not None
        assert (row["state"], row["message_sid"], row["twilio_status"]) == ("accepted", sid, "delivered")

        # Duplicated callbacks, newest first: the status jumps to delivered and never goes back.
        shuffled = await harness.send(tenant, shuffled_to)
        shuffled_accepted = await _first(watch, shuffled.payload.message_id, m.OutboundMessageAccepted, "accepted")
        shuffled_sid = shuffled_accepted.payload.message_sid
        await harness.emulator.control.wait_for_webhooks(
            lambda calls: len(calls) >= 4 and all(c.status == 200 for c in calls),
            kind="status",
            message_sid=shuffled_sid,
        )

        async def reports_applied() -> bool:
            conn = await asyncpg.connect(harness.database_url)
            try:
                count = await conn.fetchval(
                    "SELECT count(*) FROM routing.delivery_reports WHERE message_sid = $1", shuffled_sid
                )
            finally:
                await conn.close()
            return bool(count == 2)

        await eventually(reports_applied, within=30, what="both reports recorded")
        rows_before = await harness.fetch(
            "SELECT * FROM routing.outbound_messages WHERE organization_id = $1", tenant.org
        )
        # A report for a message routing never sent is kept and changes nothing; another tenant's report
        # naming this tenant's MessageSid (delivered -> read would move it) is not applied either.
        unknown = "SM" + uuid.uuid4().hex
        await harness.report(tenant, unknown, "delivered")
        await harness.report(other, sid, "read")

        async def both_kept() -> bool:
            rows = await harness.fetch(
                "SELECT 1 FROM routing.delivery_reports WHERE (message_sid, organization_id) IN (($1, $2), ($3, $4))",
                unknown,
                tenant.org,
                sid,
                other.org,
            )
            return len(rows) == 2

        await eventually(both_kept, within=30, what="both reports kept (and handled in that transaction)")
        # Events published by then are on the topic before these later ones.
        last = await harness.send(tenant, _number("+49151"))
        last_accepted = await _first(watch, last.payload.message_id, m.OutboundMessageAccepted, "a later accepted")
        await harness.emulator.control.wait_for_webhooks(
            lambda calls: len(calls) >= 2 and all(c.status == 200 for c in calls),
            kind="status",
            message_sid=last_accepted.payload.message_sid,
        )
        await eventually(
            _contains(
                lambda: _status_list(watch, last.payload.message_id),
                "delivered",
            ),
            within=30,
            what="the later message delivered",
        )
        assert await _status_list(watch, shuffled.payload.message_id) == ["delivered"]
        assert await _status_list(watch, message_id) == ["sent", "delivered"]
        status_sids = {
            e.payload.message_sid
            for r in watch.records
            if isinstance(e := m.decode(r.value or b""), m.MessageStatusChanged)
        }
        assert unknown not in status_sids
        rows_after = await harness.fetch(
            "SELECT * FROM routing.outbound_messages WHERE organization_id = $1", tenant.org
        )
        unchanged = {r["message_id"]: dict(r) for r in rows_after if r["message_id"] != last.payload.message_id}
        assert unchanged == {r["message_id"]: dict(r) for r in rows_before}
        assert not await harness.fetch("SELECT 1 FROM routing.outbound_messages WHERE message_sid = $1", unknown)
        kept = await harness.fetch(
            "SELECT organization_id, integration_id FROM routing.delivery_reports WHERE message_sid = $1", unknown
        )
        assert [tuple(r) for r in kept] == [(tenant.org, tenant.integration_id)]


async def _status_list(watch: TopicWatcher, message_id: str) -> list[str]:
    return [e.payload.status for e in _events(watch, message_id) if isinstance(e, m.MessageStatusChanged)]


def _contains(probe: Callable[[], Awaitable[list[str]]], wanted: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return wanted in await probe()

    return check


async def test_a_repeated_command_is_sent_once_and_an_interrupted_send_is_not_repeated(harness: Harness) -> None:
    tenant = await harness.tenant()
    await harness.start()
    to = _number("+49151")
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        command = await harness.send(tenant, to)
        await _first(watch, command.payload.message_id, m.OutboundMessageAccepted, "accepted")
        # The platform sends the same command again (another Kafka record): not sent, nothing published.
        await harness.resend(command)
        marker = await harness.send(tenant, _number("+49151"))  # same sender: handled after the repeat
        await _first(watch, marker.payload.message_id, m.OutboundMessageAccepted, "a later send accepted")
        accepted = [e for e in _events(watch, command.payload.message_id) if isinstance(e, m.OutboundMessageAccepted)]
        assert [e.id for e in accepted] == [f"{command.payload.message_id}:accepted"]
        row = await harness.row(tenant.org, command.payload.message_id)
        assert row is not None
        assert row["source"] is not None
        assert row["source"].startswith(topics.OUTBOUND_COMMANDS.name + ":")
        assert await harness.creates_to(to) == [201]

        # A redelivery while the first attempt may still be waiting for Twilio (a fresh lease): it waits,
        # publishes nothing and sends nothing; once the lease has expired, it ends as outcome_unknown.
        interrupted_to = _number("+49151")
        interrupted = m.SendMessage(
            organization_id=tenant.org,
            payload=m.SendMessagePayload.model_validate({"from": tenant.sender, "to": interrupted_to, "body": "x"}),
        )
        conn = await asyncpg.connect(harness.database_url)
        try:
            await conn.execute(
                """INSERT INTO routing.outbound_messages
                       (organization_id, message_id, command_id, sender, recipient, state,
                        lease_owner, lease_started_at)
                   VALUES ($1, $2, $3, $4, $5, 'sending', 'first-attempt', now())""",
                tenant.org,
                interrupted.payload.message_id,
                interrupted.id,
                tenant.sender,
                interrupted_to,
            )
            await harness.resend(interrupted)
            await asyncio.sleep(3)  # the redelivery is tried a few times meanwhile
            assert _events(watch, interrupted.payload.message_id) == []
            row = await harness.row(tenant.org, interrupted.payload.message_id)
            assert row is not None
            assert (row["state"], row["lease_owner"]) == ("sending", "first-attempt")
            await conn.execute(
                """UPDATE routing.outbound_messages SET lease_started_at = now() - interval '1 hour'
                   WHERE organization_id = $1 AND message_id = $2""",
                tenant.org,
                interrupted.payload.message_id,
            )
        finally:
            await conn.close()
        failed = await _first(watch, interrupted.payload.message_id, m.OutboundMessageFailed, "failed")
        assert failed.payload.code == "outcome_unknown"
        assert failed.payload.message is not None
        assert "twice" in failed.payload.message.en
        assert "doppelt" in failed.payload.message.de
        assert await harness.creates_to(interrupted_to) == []
        row = await harness.row(tenant.org, interrupted.payload.message_id)
        assert row is not None
        assert (row["state"], row["code"]) == ("failed", "outcome_unknown")


async def test_twilio_refusals_21211_and_21610_are_mapped_and_21610_records_the_opt_out(harness: Harness) -> None:
    tenant = await harness.tenant()
    rejected_to, opted_out_to = _number("+49151"), _number("+49151")
    await harness.emulator.control.set_outcome(rejected_to, reject_code=21211)
    await harness.emulator.control.add_opt_out(tenant.sender, opted_out_to)
    await harness.start()
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        first = await harness.send(tenant, rejected_to)
        failed = await _first(watch, first.payload.message_id, m.OutboundMessageFailed, "21211 failed")
        assert (failed.payload.code, failed.payload.error_code) == ("recipient_invalid", 21211)
        assert failed.payload.message is not None
        assert rejected_to in failed.payload.message.de

        second = await harness.send(tenant, opted_out_to)
        failed = await _first(watch, second.payload.message_id, m.OutboundMessageFailed, "21610 failed")
        assert (failed.payload.code, failed.payload.error_code) == ("recipient_opted_out", 21610)
        opted_out = await _first(watch, f"{tenant.sender}|{opted_out_to}", m.RecipientOptedOut, "opt-out published")
        assert opted_out.payload.keyword == "TWILIO_21610"
        assert await harness.creates_to(opted_out_to) == [400]

        # Known now: the next send fails fast without asking Twilio.
        third = await harness.send(tenant, opted_out_to)
        failed = await _first(watch, third.payload.message_id, m.OutboundMessageFailed, "refused locally")
        assert (failed.payload.code, failed.payload.error_code) == ("recipient_opted_out", None)
        assert await harness.creates_to(opted_out_to) == [400]

        # Checks before Twilio: a sender of another organization, an invalid recipient.
        stranger = m.SendMessage(
            organization_id="org-someone-else",
            payload=m.SendMessagePayload.model_validate({"from": tenant.sender, "to": _number("+49151"), "body": "x"}),
        )
        await harness.resend(stranger)
        failed = await _first(watch, stranger.payload.message_id, m.OutboundMessageFailed, "stranger refused")
        assert failed.payload.code == "sender_not_in_inventory"
        invalid = await harness.send(tenant, "+49123")
        failed = await _first(watch, invalid.payload.message_id, m.OutboundMessageFailed, "invalid refused")
        assert failed.payload.code == "recipient_invalid"
        assert await harness.creates_to("+49123") == []


async def test_rate_limits_are_ridden_out_and_server_errors_are_never_sent_again(harness: Harness) -> None:
    tenant = await harness.tenant()
    # Twilio allows this sender less than our pace (a local number: 1 message/s), so the second send
    # meets a 429 and is ridden out.
    await harness.emulator.control.set_rate(1, sender=tenant.sender, window_s=3.0)
    await harness.start()
    first_to, second_to = _number("+49151"), _number("+49151")
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        first = await harness.send(tenant, first_to)
        second = await harness.send(tenant, second_to)
        await _first(watch, first.payload.message_id, m.OutboundMessageAccepted, "first accepted")
        await _first(watch, second.payload.message_id, m.OutboundMessageAccepted, "second accepted")
        statuses = await harness.creates_to(second_to)
        assert statuses[0] == 429
        assert statuses[-1] == 201
        assert statuses.count(201) == 1

        # A 5xx (Twilio's or a gateway's) does not say the create was skipped: not repeated, outcome unknown.
        for status in (503, 502, 500):
            await harness.emulator.control.clear_behaviour()
            await harness.emulator.control.add_fault(
                status=status, method="POST", path_contains="/Messages.json", count=2
            )
            to = _number("+49151")
            command = await harness.send(tenant, to)
            failed = await _first(watch, command.payload.message_id, m.OutboundMessageFailed, f"{status} failed")
            assert (failed.payload.code, failed.payload.retryable) == ("outcome_unknown", False)
            assert await harness.creates_to(to) == [status]
            row = await harness.row(tenant.org, command.payload.message_id)
            assert row is not None
            assert (row["state"], row["code"]) == ("failed", "outcome_unknown")


async def test_stop_refuses_sends_and_start_enables_them_again(harness: Harness) -> None:
    tenant = await harness.tenant()
    await harness.start()
    customer = _number("+49151")
    conversation = f"{tenant.sender}|{customer}"
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        await harness.inbound(tenant, customer, "Stop")
        opted_out = await _first(watch, conversation, m.RecipientOptedOut, "opted out")
        assert (opted_out.payload.sender, opted_out.payload.recipient, opted_out.payload.keyword) == (
            tenant.sender,
            customer,
            "STOP",
        )
        refused = await harness.send(tenant, customer)
        failed = await _first(watch, refused.payload.message_id, m.OutboundMessageFailed, "refused")
        assert failed.payload.code == "recipient_opted_out"
        assert await harness.creates_to(customer) == []

        await harness.inbound(tenant, customer, "STOP please")  # not a keyword: nothing changes
        await harness.inbound(tenant, customer, "start")
        opted_in = await _first(watch, conversation, m.RecipientOptedIn, "opted in")
        assert opted_in.payload.keyword == "START"
        assert len([e for e in _events(watch, conversation) if isinstance(e, m.RecipientOptedOut)]) == 1
        allowed = await harness.send(tenant, customer)
        await _first(watch, allowed.payload.message_id, m.OutboundMessageAccepted, "accepted after START")
        assert await harness.creates_to(customer) == [201]


async def test_a_keyword_to_another_tenants_number_changes_no_consent(harness: Harness) -> None:
    victim, attacker = await harness.tenant(), await harness.tenant()
    await harness.start()
    customer = _number("+49151")
    conversation = f"{victim.sender}|{customer}"
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        await harness.inbound(victim, customer, "STOP.")
        await _first(watch, conversation, m.RecipientOptedOut, "opted out")
        # Signed by the attacker's integration, To = the victim's number: no opt-in, whatever the words.
        await harness.inbound(attacker, customer, "START", to=victim.sender)
        await harness.inbound(attacker, customer, "hi", to=victim.sender, raw={"OptOutType": ["START"]})
        await harness.inbound(attacker, customer, "STOP", to=victim.sender)
        await harness.inbound(victim, customer, "later")
        await _first(watch, conversation, m.InboundMessageRouted, "a later message routed")

        async def decided() -> bool:
            rows = await harness.fetch(
                "SELECT 1 FROM routing.inbound_decisions WHERE organization_id = $1", attacker.org
            )
            return len(rows) == 3

        await eventually(decided, within=30, what="the attacker's messages decided")
        assert [
            type(e) for e in _events(watch, conversation) if isinstance(e, m.RecipientOptedIn | m.RecipientOptedOut)
        ] == [m.RecipientOptedOut]
        consent = await harness.fetch(
            "SELECT organization_id, opted_out FROM routing.opt_outs WHERE recipient = $1", customer
        )
        assert [tuple(r) for r in consent] == [(victim.org, True)]
        refused = await harness.send(victim, customer)
        failed = await _first(watch, refused.payload.message_id, m.OutboundMessageFailed, "still refused")
        assert failed.payload.code == "recipient_opted_out"
        assert await harness.creates_to(customer) == []

        # Twilio's Advanced Opt-Out type is honoured for the tenant's own number.
        await harness.inbound(victim, customer, "Reprendre", raw={"OptOutType": ["START"]})
        opted_in = await _first(watch, conversation, m.RecipientOptedIn, "opted in by OptOutType")
        assert opted_in.payload.keyword == "REPRENDRE"


async def test_a_report_before_the_create_answer_is_applied_when_the_answer_is_recorded(harness: Harness) -> None:
    tenant = await harness.tenant()
    await harness.start()
    harness.hold_creates[0] = True  # the create's 201 comes back only after a report for its SID was kept
    to = _number("+49151")
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        command = await harness.send(tenant, to)
        message_id = command.payload.message_id
        accepted = await _first(watch, message_id, m.OutboundMessageAccepted, "accepted")
        sid = accepted.payload.message_sid
        early = await harness.fetch(
            "SELECT status FROM routing.delivery_reports WHERE message_sid = $1 ORDER BY recorded_at", sid
        )
        assert early  # the race happened: a report was kept before the answer was recorded
        await eventually(_contains(lambda: _status_list(watch, message_id), "delivered"), within=30, what="delivered")
        assert await _status_list(watch, message_id) in (["sent", "delivered"], ["delivered"])
        row = await harness.row(tenant.org, message_id)
        assert row is not None
        assert (row["state"], row["message_sid"], row["twilio_status"]) == ("accepted", sid, "delivered")
        assert await harness.creates_to(to) == [201]


async def test_a_send_whose_answer_was_lost_is_found_at_twilio_and_one_never_created_is_proved_absent(
    harness: Harness,
) -> None:
    tenant = await harness.tenant()
    await harness.start(unknown_send_grace_seconds=3, unknown_send_check_seconds=0.3)
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        # Twilio creates the message, but its answer never comes: outcome unknown at first ...
        lost_to = _number("+49151")
        # An earlier message of the same conversation, answered as usual: not mistaken for the lost one.
        earlier = await harness.send(tenant, lost_to, body="An earlier message")
        await _first(watch, earlier.payload.message_id, m.OutboundMessageAccepted, "earlier accepted")
        await harness.emulator.control.add_fault(
            method="POST", path_contains="/Messages.json", count=1, lose_answer=True
        )
        lost = await harness.send(tenant, lost_to, body="Grüße 👋, your code is 1234")
        lost_id = lost.payload.message_id
        unknown = await _first(watch, lost_id, m.OutboundMessageFailed, "outcome unknown")
        assert (unknown.payload.code, unknown.payload.retryable) == ("outcome_unknown", False)
        # ... then found in Twilio's Messages list: accepted with the MessageSid Twilio gave it.
        accepted = await _first(watch, lost_id, m.OutboundMessageAccepted, "found at Twilio")
        at_twilio = await harness.emulator.control.messages(to=lost_to)
        assert [msg["body"] for msg in at_twilio].count("Grüße 👋, your code is 1234") == 1
        sid = next(msg["sid"] for msg in at_twilio if msg["body"] == "Grüße 👋, your code is 1234")
        assert accepted.id == f"{lost_id}:accepted"
        assert accepted.payload.message_sid == sid
        # Its delivery reports are applied as for any accepted send; never a second message at Twilio.
        delivered = await eventually(
            lambda: _status(watch, lost_id, "delivered"), within=30, what="delivered after being found"
        )
        assert delivered.payload.message_sid == sid
        assert await harness.creates_to(lost_to) == [201, 201]
        row = await harness.row(tenant.org, lost_id)
        assert row is not None
        assert (row["state"], row["message_sid"], row["twilio_status"]) == ("accepted", sid, "delivered")

        # A create refused with 503 before Twilio made anything: unknown, then proved absent after the grace.
        await harness.emulator.control.add_fault(status=503, method="POST", path_contains="/Messages.json", count=1)
        absent_to = _number("+49151")
        absent = await harness.send(tenant, absent_to, body="Never arrived")
        absent_id = absent.payload.message_id
        first = await _first(watch, absent_id, m.OutboundMessageFailed, "outcome unknown (503)")
        assert first.payload.code == "outcome_unknown"

        async def not_sent() -> m.OutboundMessageFailed | None:
            return next(
                (
                    e
                    for e in _events(watch, absent_id)
                    if isinstance(e, m.OutboundMessageFailed) and e.payload.code == "not_sent"
                ),
                None,
            )

        failed = await eventually(not_sent, within=30, what="proved absent")
        assert failed.id == f"{absent_id}:failed:not_sent"
        assert failed.payload.retryable is True
        assert failed.payload.message is not None
        assert "nicht gesendet" in failed.payload.message.de
        assert await harness.creates_to(absent_to) == [503]
        row = await harness.row(tenant.org, absent_id)
        assert row is not None
        assert (row["state"], row["code"], row["message_sid"]) == ("failed", "not_sent", None)
        assert not any(isinstance(e, m.OutboundMessageAccepted) for e in _events(watch, absent_id))


async def _status(watch: TopicWatcher, message_id: str, status: str) -> m.MessageStatusChanged | None:
    return next(
        (e for e in _events(watch, message_id) if isinstance(e, m.MessageStatusChanged) and e.payload.status == status),
        None,
    )


async def test_delivery_errors_carry_their_reason_and_an_address_that_keeps_failing_is_flagged(
    harness: Harness,
) -> None:
    tenant = await harness.tenant()
    await harness.start()
    bad, unregistered = _number("+49151"), _number("+49151")
    await harness.emulator.control.set_outcome(to=bad, status="undelivered", error_code=30005)
    await harness.emulator.control.set_outcome(to=unregistered, status="undelivered", error_code=30034)
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        # A sender not registered for 10DLC: the reason and its texts, not retryable, the address not at fault.
        command = await harness.send(tenant, unregistered)
        event = await eventually(
            lambda: _status(watch, command.payload.message_id, "undelivered"), within=30, what="30034 undelivered"
        )
        assert (event.payload.error_code, event.payload.reason, event.payload.retryable) == (
            30034,
            "unregistered_10dlc",
            False,
        )
        assert event.payload.message is not None
        assert "10DLC" in event.payload.message.de
        assert event.payload.address_flagged is False

        # An unknown number: the third failure in a row flags the conversation.
        flags = []
        for _ in range(3):
            command = await harness.send(tenant, bad)
            event = await eventually(
                lambda c=command: _status(watch, c.payload.message_id, "undelivered"), within=30, what="30005"
            )
            assert event.payload.reason == "unknown_destination"
            flags.append(event.payload.address_flagged)
        assert flags == [False, False, True]
        rows = await harness.fetch(
            "SELECT failures, last_error_code, flagged_since FROM routing.failing_addresses "
            "WHERE organization_id = $1 AND sender = $2 AND recipient = $3",
            tenant.org,
            tenant.sender,
            bad,
        )
        assert [(r["failures"], r["last_error_code"], r["flagged_since"] is not None) for r in rows] == [
            (3, 30005, True)
        ]

        # The number works again: delivered clears the flag.
        await harness.emulator.control.set_outcome(to=bad, status="delivered")
        command = await harness.send(tenant, bad)
        await eventually(
            lambda: _status(watch, command.payload.message_id, "delivered"), within=30, what="delivered again"
        )
        assert (
            await harness.fetch(
                "SELECT 1 FROM routing.failing_addresses WHERE organization_id = $1 AND recipient = $2",
                tenant.org,
                bad,
            )
            == []
        )


async def test_while_twilio_cannot_be_asked_an_unknown_send_stays_unknown_and_is_asked_again_with_backoff(
    harness: Harness,
) -> None:
    tenant = await harness.tenant()
    await harness.start(unknown_send_grace_seconds=1, unknown_send_check_seconds=0.2)
    # The create fails with 503 (outcome unknown), and so does every look at the Messages list.
    await harness.emulator.control.add_fault(status=503, method="POST", path_contains="/Messages.json", count=1)
    await harness.emulator.control.add_fault(status=503, method="GET", path_contains="/Messages.json")
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        to = _number("+49151")
        command = await harness.send(tenant, to, body="Asked while Twilio is down")
        message_id = command.payload.message_id
        await _first(watch, message_id, m.OutboundMessageFailed, "outcome unknown")

        async def looked_twice() -> asyncpg.Record | None:
            row = await harness.row(tenant.org, message_id)
            return row if row is not None and row["resolve_attempts"] >= 2 else None

        row = await eventually(looked_twice, within=30, what="two failed looks")
        # Past the grace, but never proved absent while Twilio could not be asked.
        assert (row["state"], row["code"]) == ("failed", "outcome_unknown")
        assert [e.payload.code for e in _events(watch, message_id) if isinstance(e, m.OutboundMessageFailed)] == [
            "outcome_unknown"
        ]
        # (Sends left unknown by earlier tests in this database are looked up too: only this one's count.)
        looks = [
            r
            for r in await harness.emulator.control.requests(method="GET", path_contains="/Messages.json")
            if ("To", to) in r.query
        ]
        assert looks
        assert all(r.status == 503 for r in looks)
        # Backoff: the next look is seconds away, not the next 0.2 s round.
        waits = await harness.fetch(
            "SELECT EXTRACT(EPOCH FROM resolve_next_at - now())::float8 AS wait FROM routing.outbound_messages "
            "WHERE organization_id = $1 AND message_id = $2",
            tenant.org,
            message_id,
        )
        assert waits[0]["wait"] > 1.0

        # Twilio answers again: the list is consistent and the message is not there: proved absent.
        await harness.emulator.control.clear_behaviour()
        await harness.fetch(
            "UPDATE routing.outbound_messages SET resolve_next_at = now() "
            "WHERE organization_id = $1 AND message_id = $2",
            tenant.org,
            message_id,
        )

        async def not_sent() -> bool:
            return any(
                isinstance(e, m.OutboundMessageFailed) and e.payload.code == "not_sent"
                for e in _events(watch, message_id)
            )

        await eventually(not_sent, within=30, what="proved absent once Twilio answers")
        assert await harness.creates_to(to) == [503]


async def test_a_send_with_media_reaches_twilio_as_mms_with_every_media_url(harness: Harness) -> None:
    tenant = await harness.tenant()
    await harness.start()
    to = _number("+49151")
    media = ("https://cdn.example.com/a.jpg", "https://cdn.example.com/b.png?sig=x%2By")
    command = m.SendMessage(
        organization_id=tenant.org,
        payload=m.SendMessagePayload.model_validate(
            {"from": tenant.sender, "to": to, "body": "Ihr Foto", "media_urls": media}
        ),
    )
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        await harness.resend(command)
        accepted = await _first(watch, command.payload.message_id, m.OutboundMessageAccepted, "accepted")
    sid = accepted.payload.message_sid
    assert sid is not None
    assert sid.startswith("MM")  # Twilio's prefix for a message with media
    (create,) = await harness.emulator.control.requests(method="POST", path_contains="/Messages.json")
    assert [v for n, v in create.form if n == "MediaUrl"] == list(media)
    assert create.field("Body") == "Ihr Foto"
    held = await harness.emulator.control.message(sid)
    assert held["num_media"] == "2"
    assert (held["to"], held["from"]) == (to, tenant.sender)

"""Compliance keywords through real Kafka, PostgreSQL and the Twilio emulator (docs/compliance.md).

The customer's messages start at the emulator (``/_emulator/inbound``), which posts Twilio's signed
inbound webhook, with its real fields (``ToCountry``, ``MessagingServiceSid``, Advanced Opt-Out's
``OptOutType``), to a small server standing in for the ingress: it publishes them as
``InboundMessageReceived``, as the ingress does. Replies are what the emulator's REST side recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
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
from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.testing import TopicWatcher, eventually, free_port, start_group_at_end
from byosms_routing.app import run
from byosms_routing.settings import RoutingSettings
from twilio_emulator.settings import EmulatorSettings
from twilio_emulator.testing import RunningEmulator, running_emulator

pytestmark = pytest.mark.integration

REGION = "eu-central-1"
KEYRING = Keyring.from_config(json.dumps({"test-1": Keyring.generate_key()}), "test-1")
COMPLIANCE = m.Compliance(
    help=m.ComplianceBlock(
        keywords=("HELP", "Hilfe"), message="Acme alerts: help at acme.example or 0800 123. Msg&data rates may apply."
    ),
    opt_out=m.ComplianceBlock(
        keywords=("STOP", "Abmelden"), message="Acme alerts: you are unsubscribed and get no more messages."
    ),
    re_opt_in=m.ComplianceBlock(keywords=("JOIN",), message="Acme alerts: welcome back! Reply STOP to opt out."),
)


def _customer() -> str:
    return "+49151" + str(uuid.uuid4().int)[:8]


def _long_code() -> str:
    return "+4930" + str(uuid.uuid4().int)[:8]


@dataclass
class Tenant:
    org: str
    integration_id: str
    account_sid: str
    senders: list[str] = field(default_factory=list)
    """Inventory addresses (``US:<digits>`` for short codes)."""


@dataclass
class Harness:
    producer: AIOKafkaProducer
    emulator: RunningEmulator
    kafka_bootstrap: str
    database_url: str
    mo_url: str
    accounts: dict[str, Tenant]
    published: dict[str, m.InboundMessageReceived]
    """Every inbound event the ingress stand-in published, by MessageSid."""

    async def republish(self, message_sid: str) -> None:
        """Publish an inbound message again, as the ingress does when Twilio posts its webhook again."""
        event = self.published[message_sid]
        key = f"{event.payload.to}|{event.payload.from_}"
        await self.producer.send_and_wait(topics.INBOUND_MESSAGES.name, m.encode(event), key=key.encode())

    async def tenant(self) -> Tenant:
        org, integration = f"org-{uuid.uuid4().hex[:8]}", f"int-{uuid.uuid4().hex[:8]}"
        account = await self.emulator.control.create_account()
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
        await self.producer.send_and_wait(topics.INTEGRATION_STATE.name, m.encode(state), key=integration.encode())
        tenant = Tenant(org, integration, account.sid)
        self.accounts[account.sid] = tenant
        return tenant

    async def short_code(self, tenant: Tenant, *, service: str | None = None) -> str:
        """A short code at the emulator and in the inventory with :data:`COMPLIANCE`; its address."""
        code = str(random.randint(100000, 999999))
        twilio = await self.emulator.control.add_short_code(
            tenant.account_sid, code, sms_url=self.mo_url, service_sid=service
        )
        address = f"US:{code}"
        await self._import(tenant, address, m.NumberType.SHORTCODE, "US", twilio["sid"], COMPLIANCE, service)
        return address

    async def long_code(self, tenant: Tenant, *, service: str | None = None) -> str:
        number = _long_code()
        twilio = await self.emulator.control.add_phone_number(
            tenant.account_sid, number, sms_url=self.mo_url, service_sid=service
        )
        await self._import(tenant, number, m.NumberType.LOCAL, "DE", twilio["sid"], None, service)
        return number

    async def _import(
        self,
        tenant: Tenant,
        address: str,
        number_type: m.NumberType,
        country: str,
        sid: str,
        compliance: m.Compliance | None,
        service: str | None,
    ) -> None:
        record = m.NumberStateRecord(
            organization_id=tenant.org,
            payload=m.NumberStatePayload(
                number=m.ImportedNumber(
                    address=address,
                    number_type=number_type,
                    country=country,
                    twilio_sid=sid,
                    integration_id=tenant.integration_id,
                    compliance=compliance,
                    messaging_service_sid=service,
                ),
                state=m.NumberState.ACTIVE,
                version=1,
            ),
        )
        await self.producer.send_and_wait(topics.NUMBER_STATE.name, m.encode(record), key=address.encode())
        tenant.senders.append(address)

    async def send(self, tenant: Tenant, sender: str, to: str, body: str = "Ihre Bestellung ist da") -> str:
        command = m.SendMessage(
            organization_id=tenant.org,
            payload=m.SendMessagePayload.model_validate({"from": sender, "to": to, "body": body}),
        )
        await self.publish_command(command)
        return command.payload.message_id

    async def publish_command(self, command: m.SendMessage) -> None:
        key = command.payload.from_.encode()
        await self.producer.send_and_wait(topics.OUTBOUND_COMMANDS.name, m.encode(command), key=key)

    async def texts_to(self, customer: str) -> list[tuple[str, str]]:
        """(From, Body) of every message the tenant's Twilio account was asked to send to ``customer``."""
        return [(msg["from"], msg["body"]) for msg in await self.emulator.control.messages(to=customer)]

    async def consent(self, org: str, customer: str) -> dict[str, bool]:
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                "SELECT sender, opted_out FROM routing.opt_outs WHERE organization_id = $1 AND recipient = $2",
                org,
                customer,
            )
        finally:
            await conn.close()
        return {r["sender"]: r["opted_out"] for r in rows}

    async def replies(self, org: str) -> list[str]:
        """The kinds of the compliance replies routing recorded for ``org`` (with the event that asked)."""
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                "SELECT kind FROM routing.compliance_replies WHERE organization_id = $1 ORDER BY created_at", org
            )
        finally:
            await conn.close()
        return [r["kind"] for r in rows]


def _events(watch: TopicWatcher) -> list[m.AnyMessage]:
    return [m.decode(r.value or b"") for r in watch.on(topics.MESSAGE_EVENTS.name)]


async def _first(watch: TopicWatcher, kind: type[Any], what: str, **match: Any) -> Any:
    def fits(event: Any) -> bool:
        return isinstance(event, kind) and all(getattr(event.payload, k) == v for k, v in match.items())

    async def found() -> Any:
        return next((e for e in _events(watch) if fits(e)), None)

    return await eventually(found, within=30, what=what)


async def _texted(harness: Harness, customer: str, count: int) -> list[tuple[str, str]]:
    async def enough() -> list[tuple[str, str]] | None:
        texts = await harness.texts_to(customer)
        return texts if len(texts) >= count else None

    return await eventually(enough, within=30, what=f"{count} message(s) to the customer at Twilio")


@pytest.fixture
async def harness(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Harness]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    accounts: dict[str, Tenant] = {}
    published: dict[str, m.InboundMessageReceived] = {}

    async def mo(request: web.Request) -> web.Response:
        # Stands in for the ingress: the webhook becomes an InboundMessageReceived of the tenant whose
        # account it came from, with every parameter as received.
        form = await request.post()
        raw: dict[str, list[str]] = {}
        for name, value in form.items():
            raw.setdefault(name, []).append(str(value))
        tenant = accounts[raw["AccountSid"][0]]
        sid = raw["MessageSid"][0]
        event = m.InboundMessageReceived(
            id=sid,
            organization_id=tenant.org,
            payload=m.InboundMessagePayload.model_validate(
                {
                    "message_sid": sid,
                    "account_sid": raw["AccountSid"][0],
                    "messaging_service_sid": (raw.get("MessagingServiceSid") or [None])[0],
                    "from": raw["From"][0],
                    "to": raw["To"][0],
                    "body": raw["Body"][0],
                    "region": REGION,
                    "integration_id": tenant.integration_id,
                    "received_at": datetime.now(UTC),
                    "raw": raw,
                }
            ),
        )
        published[sid] = event
        key = f"{event.payload.to}|{event.payload.from_}"
        await producer.send_and_wait(topics.INBOUND_MESSAGES.name, m.encode(event), key=key.encode())
        return web.Response(text="<Response/>", content_type="text/xml")

    async def status(_request: web.Request) -> web.Response:
        return web.Response(text="")

    ingress = web.Application()
    ingress.router.add_post("/mo", mo)
    ingress.router.add_post("/vendors/v1/twilio/{key}/status", status)
    runner = web.AppRunner(ingress, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    stop = asyncio.Event()

    async with running_emulator(EmulatorSettings(status_step_delay_s=0.01)) as emulator:
        settings_input: dict[str, Any] = {
            "port": free_port(),
            "consumer_group": f"test-routing-{uuid.uuid4().hex}",
            "send_retry_seconds": 10,
            "twilio_timeout_seconds": 5,
            "BYOSMS_TWILIO_API_BASE": emulator.base_url,
            "BYOSMS_REGIONS_OVERRIDES": json.dumps({REGION: {"public_base_url": base}}),
        }
        settings = RoutingSettings(**settings_input)
        await start_group_at_end(
            kafka_bootstrap,
            settings.consumer_group,
            [topics.INBOUND_MESSAGES.name, topics.OUTBOUND_COMMANDS.name, topics.DELIVERY_REPORTS.name],
        )
        task = asyncio.create_task(
            run(
                settings,
                KafkaSettings(kafka_bootstrap=kafka_bootstrap),
                DatabaseSettings(database_url=database_url),  # type: ignore[arg-type]
                stop=stop,
                keyring=KEYRING,
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

        try:
            await eventually(ready, within=60, interval=0.2, what="routing ready")
            yield Harness(producer, emulator, kafka_bootstrap, database_url, base + "/mo", accounts, published)
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)
    await runner.cleanup()
    await producer.stop()


async def test_a_short_code_answers_help_stop_and_re_opt_in_with_its_blocks_and_consent_follows(
    harness: Harness,
) -> None:
    tenant = await harness.tenant()
    code = await harness.short_code(tenant)
    digits = code.split(":", 1)[1]
    customer = _customer()
    emulator = harness.emulator.control
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        # HELP: answered with the help block; no consent change.
        help_in = await emulator.inbound(from_=customer, to=digits, body="help")
        routed = await _first(watch, m.InboundMessageRouted, "HELP routed", message_sid=help_in.message_sid)
        assert routed.payload.keyword is m.KeywordKind.HELP
        assert await _texted(harness, customer, 1) == [(digits, COMPLIANCE.help.message)]
        assert await harness.consent(tenant.org, customer) == {}

        # STOP (a configured word, in another case): answered with the opt-out block, even though the
        # customer has just opted out; then the platform's sends are refused without asking Twilio.
        stop_in = await emulator.inbound(from_=customer, to=digits, body="abmelden!")
        routed = await _first(watch, m.InboundMessageRouted, "STOP routed", message_sid=stop_in.message_sid)
        assert routed.payload.keyword is m.KeywordKind.OPT_OUT
        opted_out = await _first(watch, m.RecipientOptedOut, "opted out", recipient=customer)
        assert (opted_out.payload.sender, opted_out.payload.keyword) == (digits, "ABMELDEN")
        texts = await _texted(harness, customer, 2)
        assert texts[1] == (digits, COMPLIANCE.opt_out.message)
        assert await harness.consent(tenant.org, customer) == {digits: True}
        refused = await harness.send(tenant, code, customer)
        failed = await _first(watch, m.OutboundMessageFailed, "send after STOP refused", message_id=refused)
        assert failed.payload.code == "recipient_opted_out"
        assert failed.payload.message is not None
        assert "STOP" in failed.payload.message.en
        assert "abbestellt" in failed.payload.message.de

        # Twilio posts the STOP again (a retry: the same MessageSid): no second reply. The reply command
        # delivered again (as after a crash before its offset was committed): not sent twice either.
        reply = await _first(
            watch,
            m.OutboundMessageAccepted,
            "STOP reply accepted",
            message_id=f"{stop_in.message_sid}:compliance_reply",
        )
        await harness.republish(stop_in.message_sid)
        again = m.SendMessage(
            id=f"{stop_in.message_sid}:compliance_reply_command",
            organization_id=tenant.org,
            payload=m.SendMessagePayload.model_validate(
                {
                    "message_id": reply.payload.message_id,
                    "from": code,
                    "to": customer,
                    "body": COMPLIANCE.opt_out.message,
                }
            ),
        )
        await harness.publish_command(again)

        # Re-opt-in with the configured keyword: answered, and sends go out again.
        join_in = await emulator.inbound(from_=customer, to=digits, body="Join")
        routed = await _first(watch, m.InboundMessageRouted, "JOIN routed", message_sid=join_in.message_sid)
        assert routed.payload.keyword is m.KeywordKind.OPT_IN
        await _first(watch, m.RecipientOptedIn, "opted in", recipient=customer)
        assert await harness.consent(tenant.org, customer) == {digits: False}
        allowed = await harness.send(tenant, code, customer)
        await _first(watch, m.OutboundMessageAccepted, "send after re-opt-in accepted", message_id=allowed)
        # Same partition and lane as the repeats, later: when this is accepted, the repeats were handled.
        assert await harness.replies(tenant.org) == ["help", "opt_out", "opt_in"]
        assert sorted(await _texted(harness, customer, 4)) == sorted(
            [
                (digits, COMPLIANCE.help.message),
                (digits, COMPLIANCE.opt_out.message),
                (digits, COMPLIANCE.re_opt_in.message),
                (digits, "Ihre Bestellung ist da"),
            ]
        )
        ordinary = [e for e in _events(watch) if isinstance(e, m.InboundMessageRouted) and e.payload.keyword is None]
        assert ordinary == []


async def test_a_long_codes_keywords_are_recorded_and_never_answered_by_byosms(harness: Harness) -> None:
    tenant = await harness.tenant()
    number = await harness.long_code(tenant)
    customer = _customer()
    emulator = harness.emulator.control
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        help_in = await emulator.inbound(from_=customer, to=number, body="INFO")
        routed = await _first(watch, m.InboundMessageRouted, "INFO routed", message_sid=help_in.message_sid)
        assert routed.payload.keyword is m.KeywordKind.HELP
        stop_in = await emulator.inbound(from_=customer, to=number, body="Stop")
        assert stop_in.keyword == "STOP"  # Twilio's own opt-out layer took it (and answered it)
        routed = await _first(watch, m.InboundMessageRouted, "STOP routed", message_sid=stop_in.message_sid)
        assert routed.payload.keyword is m.KeywordKind.OPT_OUT
        await _first(watch, m.RecipientOptedOut, "opted out", recipient=customer)
        assert await harness.consent(tenant.org, customer) == {number: True}

        refused = await harness.send(tenant, number, customer)
        failed = await _first(watch, m.OutboundMessageFailed, "send after STOP refused", message_id=refused)
        assert failed.payload.code == "recipient_opted_out"
        hello = await emulator.inbound(from_=customer, to=number, body="hello")
        routed = await _first(watch, m.InboundMessageRouted, "hello routed", message_sid=hello.message_sid)
        assert routed.payload.keyword is None
        # byosms asked Twilio to send nothing: no reply to INFO or STOP, and the refused send never left.
        assert await harness.replies(tenant.org) == []
        assert await harness.texts_to(customer) == []


async def test_a_stop_to_one_sender_of_a_messaging_service_blocks_all_its_senders(harness: Harness) -> None:
    tenant = await harness.tenant()
    emulator = harness.emulator.control
    service = await emulator.add_service(tenant.account_sid, advanced_opt_out=True, use_inbound_webhook_on_number=True)
    first = await harness.long_code(tenant, service=service)
    second = await harness.long_code(tenant, service=service)
    code = await harness.short_code(tenant, service=service)
    standalone = await harness.long_code(tenant)
    customer = _customer()
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        stop_in = await emulator.inbound(from_=customer, to=first, body="stop")
        routed = await _first(watch, m.InboundMessageRouted, "STOP routed", message_sid=stop_in.message_sid)
        assert routed.payload.keyword is m.KeywordKind.OPT_OUT
        opted_out = await _first(watch, m.RecipientOptedOut, "opted out", recipient=customer)
        assert opted_out.payload.messaging_service_sid == service
        assert await harness.consent(tenant.org, customer) == {first: True, service: True}

        # Another sender of the service: refused, saying it is the service's opt-out (EN/DE).
        refused = await harness.send(tenant, second, customer)
        failed = await _first(watch, m.OutboundMessageFailed, "sibling refused", message_id=refused)
        assert failed.payload.code == "recipient_opted_out_of_service"
        assert failed.payload.message is not None
        assert service in failed.payload.message.en
        assert service in failed.payload.message.de
        # The service's short code, too; a STOP to it is Twilio's (Advanced Opt-Out): byosms sends no reply.
        refused_code = await harness.send(tenant, code, customer)
        failed = await _first(watch, m.OutboundMessageFailed, "short code refused", message_id=refused_code)
        assert failed.payload.code == "recipient_opted_out_of_service"
        # A number of the organization outside the service is not covered (as at Twilio).
        allowed = await harness.send(tenant, standalone, customer)
        await _first(watch, m.OutboundMessageAccepted, "standalone sender accepted", message_id=allowed)

        # START to any sender of the service lifts it for all.
        start_in = await emulator.inbound(from_=customer, to=second, body="START")
        await _first(watch, m.InboundMessageRouted, "START routed", message_sid=start_in.message_sid)
        await _first(watch, m.RecipientOptedIn, "opted in", recipient=customer)
        again = await harness.send(tenant, first, customer)
        await _first(watch, m.OutboundMessageAccepted, "first sender accepted again", message_id=again)
        assert sorted(await harness.texts_to(customer)) == sorted(
            [(standalone, "Ihre Bestellung ist da"), (first, "Ihre Bestellung ist da")]
        )

        # A short code in a service with Advanced Opt-Out: Twilio answers its STOP; byosms records it only.
        digits = code.split(":", 1)[1]
        code_stop = await emulator.inbound(from_=customer, to=digits, body="STOP")
        routed = await _first(
            watch, m.InboundMessageRouted, "short code STOP routed", message_sid=code_stop.message_sid
        )
        assert routed.payload.keyword is m.KeywordKind.OPT_OUT
        await _first(watch, m.RecipientOptedOut, "opted out at the short code", recipient=customer, sender=digits)
        assert await harness.replies(tenant.org) == []
        assert len(await harness.texts_to(customer)) == 2


async def test_a_number_put_in_a_messaging_service_after_its_import_is_covered_once_it_received_a_message(
    harness: Harness,
) -> None:
    tenant = await harness.tenant()
    emulator = harness.emulator.control
    service = await emulator.add_service(tenant.account_sid, use_inbound_webhook_on_number=True)
    known = await harness.long_code(tenant, service=service)
    later = await harness.long_code(tenant)  # imported before it joined the service
    joined = await emulator.add_phone_number(tenant.account_sid, later, sms_url=harness.mo_url, service_sid=service)
    assert joined["phone_number"] == later
    customer, other = _customer(), _customer()
    async with TopicWatcher(harness.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch:
        hello = await emulator.inbound(from_=other, to=later, body="Hallo")  # comes through the service
        await _first(watch, m.InboundMessageRouted, "hello routed", message_sid=hello.message_sid)
        stop_in = await emulator.inbound(from_=customer, to=known, body="STOP")
        await _first(watch, m.InboundMessageRouted, "STOP routed", message_sid=stop_in.message_sid)
        refused = await harness.send(tenant, later, customer)
        failed = await _first(watch, m.OutboundMessageFailed, "joined sender refused", message_id=refused)
        assert failed.payload.code == "recipient_opted_out_of_service"
        assert await harness.texts_to(customer) == []

"""Recovery of missed messages through the running system: a webhook the Twilio emulator holds back is
found in the tenant's Messages list by routing's recovery job, replayed marked recovered and routed once,
also when the held webhook is posted afterwards; a delivery report that never came is fetched."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.testing import TopicWatcher, eventually
from byosms_devstack.demo import Endpoints, Texting, api_of, connect_tenant, emulator_of, import_number, listed, traced

pytestmark = pytest.mark.e2e

QUEUE = "queue-recovery"


@pytest.fixture(scope="module")
def system_env() -> dict[str, str]:
    """A recovery job that looks five times a second (the numbers of every earlier test on the shared
    broker are active to it too), with one second of grace for late webhooks."""
    return {
        "BYOSMS_ROUTING_RECOVERY_CHECK_SECONDS": "0.2",
        "BYOSMS_ROUTING_RECOVERY_INTERVAL_SECONDS": "1",
        "BYOSMS_ROUTING_RECOVERY_GRACE_SECONDS": "1",
        "BYOSMS_ROUTING_RECOVERY_WINDOW_SECONDS": "600",
    }


def _events(watch: TopicWatcher, topic: str) -> list[m.Envelope]:
    return [m.decode(r.value or b"") for r in watch.on(topic)]


def _decisions(watch: TopicWatcher, sid: str) -> list[m.InboundMessageRouted | m.InboundMessageDiscarded]:
    return [
        e
        for e in _events(watch, topics.MESSAGE_EVENTS.name)
        if isinstance(e, m.InboundMessageRouted | m.InboundMessageDiscarded) and e.payload.message_sid == sid
    ]


async def _bound_number(http: aiohttp.ClientSession, endpoints: Endpoints, private_key: bytes) -> tuple[Any, str]:
    tenant = await connect_tenant(http, endpoints, private_key)
    number, _ = await import_number(http, endpoints, tenant)
    entry = await listed(http, endpoints, tenant, number, "active")
    patch = {"version": entry["version"], "routing_target": QUEUE}
    async with http.patch(f"{api_of(endpoints)}/sms/numbers/{entry['id']}", json=patch, headers=tenant.headers) as r:
        assert r.status == 200, await r.text()
    return tenant, number


async def test_a_held_webhook_is_recovered_and_routed_once_also_when_it_arrives_late(
    system: tuple[Endpoints, bytes],
) -> None:
    endpoints, private_key = system
    customer = "+49151" + f"{secrets.randbelow(10**8):08d}"
    emulator = emulator_of(endpoints)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        tenant, number = await _bound_number(http, endpoints, private_key)
        conversation = f"{number}|{customer}"
        watched = [topics.MESSAGE_EVENTS.name, topics.INBOUND_MESSAGES.name, topics.NUMBER_EVENTS.name]
        async with TopicWatcher(endpoints.kafka_bootstrap, watched, {conversation, number}, from_end=True) as watch:
            texting = Texting(http, endpoints, watch, number, customer)
            await texting.until(m.InboundMessageRouted, "Hallo", queue=QUEUE)  # routing knows the number now

            # Twilio stores the next message but never posts its webhook.
            async with http.post(f"{emulator}/holds", json={"kind": "inbound", "to": number, "count": 1}) as r:
                assert r.status == 204
            inbound = {"from": customer, "to": number, "body": "Wo bleibt meine Antwort?"}
            async with http.post(f"{emulator}/inbound", json=inbound) as r:
                held = await r.json()
            assert held["status"] is None  # the ingress never saw it
            sid = held["message_sid"]

            routed = await eventually(lambda: _decisions(watch, sid), within=60, what="the recovered message routed")
            (decision,) = routed
            assert isinstance(decision, m.InboundMessageRouted)
            assert decision.payload.queue == QUEUE
            assert decision.payload.recovered is True
            assert decision.payload.body == "Wo bleibt meine Antwort?"
            assert decision.organization_id == tenant.organization_id

            # The webhook arrives after all: the ingress accepts it, routing routes nothing again.
            async with http.post(f"{emulator}/holds/release", json={"message_sid": sid}) as r:
                released = (await r.json())["released"]
            assert [item["status"] for item in released] == [200]
            late = await eventually(
                lambda: [
                    e
                    for e in _events(watch, topics.INBOUND_MESSAGES.name)
                    if e.id == sid and isinstance(e, m.InboundMessageReceived) and not e.payload.recovered
                ],
                within=30,
                what="the late webhook on the inbound topic",
            )
            assert late
            # A later message of the same conversation is routed after the late copy was handled (same
            # partition, in order): by then a second decision would have been published.
            await texting.until(m.InboundMessageRouted, "Noch eine Frage", queue=QUEUE)
            assert len(_decisions(watch, sid)) == 1

            recovered = await eventually(
                lambda: [
                    e
                    for e in _events(watch, topics.NUMBER_EVENTS.name)
                    if isinstance(e, m.MissedMessagesRecovered) and sid in e.payload.message_sids
                ],
                within=30,
                what="the recovery event",
            )
            assert recovered[0].payload.address == number
            assert recovered[0].payload.inbound_recovered == 1
            assert recovered[0].payload.integration_id == tenant.integration_id

        trace = await traced(http, endpoints, tenant, sid)
        received = next(step for step in trace["steps"] if step["step"] == "received")
        assert received["recovered"] is True
        assert [step["step"] for step in trace["steps"]] == ["received", "routed"]


async def test_a_delivery_report_that_never_came_is_fetched_and_applied(system: tuple[Endpoints, bytes]) -> None:
    endpoints, private_key = system
    customer = "+49151" + f"{secrets.randbelow(10**8):08d}"
    emulator = emulator_of(endpoints)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        tenant, number = await _bound_number(http, endpoints, private_key)
        # Every status callback of messages to this customer is held: routing hears nothing after the create.
        async with http.post(f"{emulator}/holds", json={"kind": "status", "to": customer}) as r:
            assert r.status == 204
        message_id = uuid.uuid4().hex
        command = m.SendMessage(
            organization_id=tenant.organization_id,
            payload=m.SendMessagePayload(message_id=message_id, from_=number, to=customer, body="Ihre Antwort"),
        )
        async with TopicWatcher(
            endpoints.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], {message_id}, from_end=True
        ) as watch:
            producer = AIOKafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap, acks="all")
            await producer.start()
            try:
                await producer.send_and_wait(topics.OUTBOUND_COMMANDS.name, m.encode(command), key=number.encode())
            finally:
                await producer.stop()

            def delivered() -> list[m.MessageStatusChanged]:
                return [
                    e
                    for e in _events(watch, topics.MESSAGE_EVENTS.name)
                    if isinstance(e, m.MessageStatusChanged) and e.payload.status == "delivered"
                ]

            (status,) = await eventually(delivered, within=60, what="the fetched final status")
            assert status.payload.recovered is True
            sid = status.payload.message_sid
            assert sid is not None
        async with http.get(f"{emulator}/holds") as r:
            held = (await r.json())["held"]
        assert {h["message_sid"] for h in held} == {sid}  # the callbacks never reached the ingress
        trace = await traced(http, endpoints, tenant, sid, last_step="status")
        assert trace["steps"][-1]["status"] == "delivered"
        assert trace["steps"][-1]["recovered"] is True

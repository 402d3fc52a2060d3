"""The product's main job, end to end, against running services: what `make up` shows a new user.

1. A tenant's Twilio subaccount with one number whose SMS webhook points at the regional ingress
   is created in the Twilio emulator.
2. Through provisioning's admin API (a development JWT): create the integration, set its
   credentials (checked at "Twilio"), activate it, and import the number.
3. A customer texts the number: the emulator posts the signed webhook to the ingress, routing
   delivers the message to the tenant's queues (``InboundMessageRouted`` on Kafka).
4. The agent replies: a ``SendMessage`` command on Kafka; routing sends it through the tenant's
   Twilio account, and the emulator's signed status callbacks come back through the ingress until
   routing reports the reply ``delivered``.
5. The integration is deactivated: the next inbound message is discarded, with the reason.

Every step goes through the public interfaces (HTTP, Kafka); nothing is faked in process.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer

from byosms_cli.devkeys import mint_token
from byosms_common import messages as m
from byosms_common import topics
from byosms_common.testing import TopicWatcher

PERMISSIONS = (
    "integrations:integration:add",
    "integrations:integration:view",
    "integrations:integration:edit",
    "integrations:integration:delete",
    "sms:phoneNumber:all",
)


class DemoError(RuntimeError):
    """A step of the demo did not give the expected outcome."""


@dataclass(frozen=True)
class Endpoints:
    provisioning_url: str
    emulator_url: str
    kafka_bootstrap: str
    inbound_url: str
    region: str = "eu-central-1"


@dataclass(frozen=True)
class DemoResult:
    organization_id: str
    integration_id: str
    number: str
    routed: m.InboundMessageRouted
    reply: m.MessageStatusChanged
    discarded: m.InboundMessageDiscarded


Say = Callable[[str], None]


async def _json(response: aiohttp.ClientResponse, expected: int) -> Any:
    body = await response.json(content_type=None)
    if response.status != expected:
        raise DemoError(f"{response.method} {response.url.path} answered {response.status}: {body}")
    return body


async def _until(probe: Callable[[], Awaitable[Any]], what: str, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        outcome = await probe()
        if outcome:
            return outcome
        if time.monotonic() > deadline:
            raise DemoError(f"{what}: no outcome within {within:.0f}s")
        await asyncio.sleep(0.25)


async def run_demo(endpoints: Endpoints, private_key_pem: bytes, say: Say) -> DemoResult:
    org = f"demo-org-{uuid.uuid4().hex[:8]}"
    number = "+49301" + f"{secrets.randbelow(10**7):07d}"
    customer = "+49151" + f"{secrets.randbelow(10**8):08d}"
    token = mint_token(private_key_pem, organization_id=org, permissions=PERMISSIONS, subject="demo-admin")
    api = endpoints.provisioning_url.rstrip("/") + "/api/v2"
    emulator = endpoints.emulator_url.rstrip("/") + "/_emulator"
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        auth_token = secrets.token_hex(16)
        async with http.post(f"{emulator}/accounts", json={"auth_token": auth_token, "friendly_name": org}) as r:
            account_sid = (await _json(r, 201))["sid"]
        seed = {"account_sid": account_sid, "phone_number": number, "sms_url": endpoints.inbound_url}
        async with http.post(f"{emulator}/phone-numbers", json=seed) as r:
            await _json(r, 201)
        say(f"Twilio (emulator): subaccount {account_sid}, number {number} -> {endpoints.inbound_url}")

        async with http.post(
            f"{api}/integrations", json={"name": "Demo", "region": endpoints.region}, headers=auth
        ) as r:
            integration_id = (await _json(r, 201))["id"]
        credentials = {"account_sid": account_sid, "auth_token": auth_token}
        async with http.put(f"{api}/integrations/{integration_id}/credentials", json=credentials, headers=auth) as r:
            await _json(r, 200)
        async with http.post(f"{api}/integrations/{integration_id}/activate", headers=auth) as r:
            await _json(r, 200)
        say(f"Integration {integration_id} for {org}: credentials checked at Twilio, active")

        body = {"integration_id": integration_id, "type": "local", "sender_id": number}
        async with http.post(f"{api}/sms/numbers/imports", json=body, headers=auth) as r:
            import_id = (await _json(r, 202))["id"]

        async def import_done() -> dict[str, Any] | None:
            async with http.get(f"{api}/sms/numbers/imports/{import_id}", headers=auth) as response:
                view: dict[str, Any] = await _json(response, 200)
            return view if view["state"] != "in_progress" else None

        view = await _until(import_done, "number import")
        if view["state"] != "imported":
            raise DemoError(f"import rejected: {view.get('error')}")
        say(f"Number {number} imported (import {import_id})")

        conversation = f"{number}|{customer}"
        reply_id = uuid.uuid4().hex
        keys = {conversation, reply_id}
        async with TopicWatcher(endpoints.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], keys, from_end=True) as watch:

            async def decided(kind: type[m.Envelope], text: str, sent_sids: set[str]) -> Any:
                # The number reaches routing's cache through inventory; until then a message may be
                # discarded as unknown, so the customer "texts again" until the expected outcome shows.
                for record in watch.records:
                    event = m.decode(record.value or b"")
                    if isinstance(event, kind) and getattr(event.payload, "message_sid", None) in sent_sids:
                        return event
                inbound = {"from": customer, "to": number, "body": text}
                async with http.post(f"{emulator}/inbound", json=inbound) as response:
                    sent = await _json(response, 200)
                if sent["status"] != 200:
                    raise DemoError(f"ingress answered {sent['status']} to the inbound webhook: {sent}")
                sent_sids.add(sent["message_sid"])
                await asyncio.sleep(1.0)
                return None

            first: set[str] = set()
            routed = await _until(
                lambda: decided(m.InboundMessageRouted, "Hallo, ich habe eine Frage", first), "routing"
            )
            say(f"Inbound {routed.payload.message_sid} from {customer}: routed to the tenant's queues")

            reply = await _reply(endpoints, watch, org, reply_id, number, customer, say)

            async with http.post(f"{api}/integrations/{integration_id}/deactivate", headers=auth) as r:
                await _json(r, 200)
            say(f"Integration {integration_id} deactivated")
            second: set[str] = set()
            discarded = await _until(
                lambda: decided(m.InboundMessageDiscarded, "Noch jemand da?", second), "discarding"
            )
            say(f"Inbound {discarded.payload.message_sid}: discarded ({discarded.payload.reason})")
    return DemoResult(org, integration_id, number, routed, reply, discarded)


async def _reply(
    endpoints: Endpoints, watch: TopicWatcher, org: str, reply_id: str, number: str, customer: str, say: Say
) -> m.MessageStatusChanged:
    """The agent answers: a SendMessage on Kafka, sent by routing, delivered per Twilio's callbacks."""
    command = m.SendMessage(
        organization_id=org,
        payload=m.SendMessagePayload(
            message_id=reply_id, from_=number, to=customer, body="Danke! Wir melden uns gleich."
        ),
    )
    producer = AIOKafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        key = number.encode()  # commands are keyed by sender: one routing process paces it
        await producer.send_and_wait(topics.OUTBOUND_COMMANDS.name, m.encode(command), key=key)
    finally:
        await producer.stop()

    def events() -> list[m.Envelope]:
        return [m.decode(r.value or b"") for r in watch.records if r.key == reply_id]

    async def sent() -> m.Envelope | None:
        found = [e for e in events() if isinstance(e, m.OutboundMessageAccepted | m.OutboundMessageFailed)]
        return found[0] if found else None

    outcome = await _until(sent, "sending the reply")
    if isinstance(outcome, m.OutboundMessageFailed):
        raise DemoError(f"the reply was not sent: {outcome.payload.code}")
    assert isinstance(outcome, m.OutboundMessageAccepted)
    say(f"Reply {outcome.payload.message_sid} sent through the tenant's Twilio account")

    async def delivered() -> m.MessageStatusChanged | None:
        for event in events():
            if isinstance(event, m.MessageStatusChanged) and event.payload.status == "delivered":
                return event
        return None

    status: m.MessageStatusChanged = await _until(delivered, "the reply's delivery report")
    say(f"Reply {status.payload.message_sid}: delivered (Twilio's signed status callbacks, through the ingress)")
    return status

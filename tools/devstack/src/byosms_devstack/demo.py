"""The product's main job, end to end, against running services: what `make up` shows a new user.

1. A tenant's Twilio subaccount with one number whose SMS webhook points at the regional ingress
   is created in the Twilio emulator.
2. Through provisioning's admin API (a development JWT): create the integration, set its
   credentials (checked at "Twilio"), activate it, and import the number; the inventory lists it,
   and the number is bound to a queue (its routing target).
3. A customer texts the number: the emulator posts the signed webhook to the ingress, routing
   delivers the message to that queue (``InboundMessageRouted`` on Kafka, ``queue`` set).
4. The agent replies: a ``SendMessage`` command on Kafka; routing sends it through the tenant's
   Twilio account, and the emulator's signed status callbacks come back through the ingress until
   routing reports the reply ``delivered``.
5. The integration is deactivated: the next inbound message is discarded, with the reason, and the
   inventory lists the number inactive.
6. The trace of each message (``GET /api/v2/sms/messages/{MessageSid}``): accepted where and when,
   routed to which queue or discarded why; the reply's checks, Twilio's answer and its statuses.

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


@dataclass(frozen=True)
class Tenant:
    """An organization with an active integration on its own Twilio (emulator) subaccount."""

    organization_id: str
    integration_id: str
    account_sid: str
    headers: dict[str, str]


def bearer(private_key_pem: bytes, org: str, permissions: tuple[str, ...] = PERMISSIONS) -> dict[str, str]:
    token = mint_token(private_key_pem, organization_id=org, permissions=permissions, subject="demo-admin")
    return {"Authorization": f"Bearer {token}"}


def api_of(endpoints: Endpoints) -> str:
    return endpoints.provisioning_url.rstrip("/") + "/api/v2"


def emulator_of(endpoints: Endpoints) -> str:
    return endpoints.emulator_url.rstrip("/") + "/_emulator"


async def connect_tenant(
    http: aiohttp.ClientSession, endpoints: Endpoints, private_key_pem: bytes, org: str | None = None
) -> Tenant:
    """A Twilio subaccount in the emulator, and an integration for it created, checked and activated."""
    org = org or f"demo-org-{uuid.uuid4().hex[:8]}"
    auth = bearer(private_key_pem, org)
    api, emulator = api_of(endpoints), emulator_of(endpoints)
    auth_token = secrets.token_hex(16)
    async with http.post(f"{emulator}/accounts", json={"auth_token": auth_token, "friendly_name": org}) as r:
        account_sid = (await _json(r, 201))["sid"]
    async with http.post(f"{api}/integrations", json={"name": "Demo", "region": endpoints.region}, headers=auth) as r:
        integration_id = (await _json(r, 201))["id"]
    credentials = {"account_sid": account_sid, "auth_token": auth_token}
    async with http.put(f"{api}/integrations/{integration_id}/credentials", json=credentials, headers=auth) as r:
        await _json(r, 200)
    async with http.post(f"{api}/integrations/{integration_id}/activate", headers=auth) as r:
        await _json(r, 200)
    return Tenant(org, integration_id, account_sid, auth)


async def import_number(
    http: aiohttp.ClientSession, endpoints: Endpoints, tenant: Tenant, number: str | None = None
) -> tuple[str, str]:
    """A number in the tenant's subaccount (its webhook at the ingress), imported; (number, import id)."""
    number = number or "+49301" + f"{secrets.randbelow(10**7):07d}"
    api, emulator = api_of(endpoints), emulator_of(endpoints)
    seed = {"account_sid": tenant.account_sid, "phone_number": number, "sms_url": endpoints.inbound_url}
    async with http.post(f"{emulator}/phone-numbers", json=seed) as r:
        await _json(r, 201)
    body = {"integration_id": tenant.integration_id, "type": "local", "sender_id": number}
    async with http.post(f"{api}/sms/numbers/imports", json=body, headers=tenant.headers) as r:
        import_id: str = (await _json(r, 202))["id"]

    async def import_done() -> dict[str, Any] | None:
        async with http.get(f"{api}/sms/numbers/imports/{import_id}", headers=tenant.headers) as response:
            view: dict[str, Any] = await _json(response, 200)
        return view if view["state"] != "in_progress" else None

    view = await _until(import_done, "number import")
    if view["state"] != "imported":
        raise DemoError(f"import rejected: {view.get('error')}")
    return number, import_id


async def listed(
    http: aiohttp.ClientSession, endpoints: Endpoints, tenant: Tenant, number: str, state: str | None = None
) -> dict[str, Any]:
    """The number as the inventory lists it, once it is listed (in ``state``, when given)."""

    async def probe() -> dict[str, Any] | None:
        async with http.get(f"{api_of(endpoints)}/sms/numbers", headers=tenant.headers) as response:
            items = (await _json(response, 200))["items"]
        found = [n for n in items if n["address"] == number and (state is None or n["state"] == state)]
        return found[0] if found else None

    found: dict[str, Any] = await _until(probe, f"{number} listed {state or ''}".strip())
    return found


class Texting:
    """A customer texting a number: messages go through the emulator (signed webhooks) and the ingress;
    what routing decides is watched on the message events."""

    def __init__(
        self, http: aiohttp.ClientSession, endpoints: Endpoints, watch: TopicWatcher, number: str, customer: str
    ):
        self._http, self._endpoints, self._watch = http, endpoints, watch
        self.number, self.customer = number, customer

    async def until(self, kind: type[m.Envelope], text: str, within: float = 60.0, **expected: Any) -> Any:
        """Text the number until routing publishes ``kind`` (with the ``expected`` payload fields) for one of
        the messages sent: state changes reach routing's caches on their own paths, so an earlier message
        may still meet the old state."""
        sent_sids: set[str] = set()

        async def probe() -> Any:
            for record in self._watch.records:
                event = m.decode(record.value or b"")
                ours = isinstance(event, kind) and getattr(event.payload, "message_sid", None) in sent_sids
                if ours and all(getattr(event.payload, k) == v for k, v in expected.items()):
                    return event
            inbound = {"from": self.customer, "to": self.number, "body": text}
            async with self._http.post(f"{emulator_of(self._endpoints)}/inbound", json=inbound) as response:
                sent = await _json(response, 200)
            if sent["status"] != 200:
                raise DemoError(f"ingress answered {sent['status']} to the inbound webhook: {sent}")
            sent_sids.add(sent["message_sid"])
            await asyncio.sleep(1.0)
            return None

        return await _until(probe, f"inbound {kind.__name__}", within)


DEMO_QUEUE = "queue-support-de"


async def run_demo(endpoints: Endpoints, private_key_pem: bytes, say: Say) -> DemoResult:
    customer = "+49151" + f"{secrets.randbelow(10**8):08d}"
    api = api_of(endpoints)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        tenant = await connect_tenant(http, endpoints, private_key_pem)
        org, integration_id, auth = tenant.organization_id, tenant.integration_id, tenant.headers
        say(f"Integration {integration_id} for {org}: Twilio subaccount {tenant.account_sid}, checked, active")
        number, import_id = await import_number(http, endpoints, tenant)
        say(f"Number {number} imported (import {import_id}), its SMS webhook -> {endpoints.inbound_url}")
        entry = await listed(http, endpoints, tenant, number, "active")
        say(
            f"Inventory: {entry['address']}  {entry['type']}  {entry['country']}  {entry['state']}  v{entry['version']}"
        )
        patch = {"version": entry["version"], "routing_target": DEMO_QUEUE}
        async with http.patch(f"{api}/sms/numbers/{entry['id']}", json=patch, headers=auth) as r:
            bound = await _json(r, 200)
        say(f"Number {number} bound to queue {bound['routing_target']} (version {bound['version']})")

        conversation = f"{number}|{customer}"
        reply_id = uuid.uuid4().hex
        keys = {conversation, reply_id}
        async with TopicWatcher(endpoints.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], keys, from_end=True) as watch:
            texting = Texting(http, endpoints, watch, number, customer)
            routed = await texting.until(m.InboundMessageRouted, "Hallo, ich habe eine Frage", queue=DEMO_QUEUE)
            say(f"Inbound {routed.payload.message_sid} from {customer}: routed to queue {routed.payload.queue}")

            reply = await _reply(endpoints, watch, org, reply_id, number, customer, say)

            async with http.post(f"{api}/integrations/{integration_id}/deactivate", headers=auth) as r:
                await _json(r, 200)
            say(f"Integration {integration_id} deactivated")
            discarded = await texting.until(m.InboundMessageDiscarded, "Noch jemand da?")
            say(f"Inbound {discarded.payload.message_sid}: discarded ({discarded.payload.reason})")
            entry = await listed(http, endpoints, tenant, number, "inactive")
            say(f"Inventory: {entry['address']}  {entry['state']}")
        for sid in (routed.payload.message_sid, reply.payload.message_sid or "", discarded.payload.message_sid):
            steps = (await traced(http, endpoints, tenant, sid))["steps"]
            say(f"Trace {sid}: " + " -> ".join(describe(step) for step in steps))
    return DemoResult(org, integration_id, number, routed, reply, discarded)


def describe(step: dict[str, Any]) -> str:
    """One step of a message's trace, in a few words."""
    name = str(step["step"])
    extra = {
        "received": f" in {step.get('region')}" + (" (through the spool)" if step.get("spooled") else ""),
        "routed": f" to {step.get('target')}",
        "discarded": f" ({step.get('reason')})",
        "checks": f" {step.get('outcome')}" + (f" ({step.get('code')})" if step.get("code") else ""),
        "accepted": "",
        "failed": f" ({step.get('code')}, Twilio {step.get('error_code')})",
        "status": f" {step.get('status')}" + (f" (Twilio {step['error_code']})" if step.get("error_code") else ""),
    }
    return name + extra.get(name, "")


async def traced(
    http: aiohttp.ClientSession, endpoints: Endpoints, tenant: Tenant, sid: str, last_step: str | None = None
) -> dict[str, Any]:
    """The message's trace once it has its decision (and, when given, ``last_step`` as its last step)."""

    async def probe() -> dict[str, Any] | None:
        async with http.get(f"{api_of(endpoints)}/sms/messages/{sid}", headers=tenant.headers) as response:
            if response.status == 404:
                return None
            found: dict[str, Any] = await _json(response, 200)
        steps = found["steps"]
        if not steps or (last_step is not None and steps[-1]["step"] != last_step):
            return None
        return found

    found: dict[str, Any] = await _until(probe, f"trace of {sid}", within=30)
    return found


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

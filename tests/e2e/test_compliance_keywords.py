"""Compliance keywords through the running system (docs/compliance.md): numbers imported through the
admin API (a short code with its compliance blocks; two long codes of a Messaging Service, which
provisioning finds at Twilio), the customer's messages posted by the Twilio emulator as signed
webhooks to the ingress, the platform's sends on the outbound command topic; what was sent is what
the emulator's REST side recorded."""

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
from byosms_devstack.demo import Endpoints, Tenant, Texting, api_of, connect_tenant, emulator_of

pytestmark = pytest.mark.e2e

BLOCKS = {
    "help": {"keywords": ["HELP", "INFO"], "message": "Acme: help at acme.example. Msg&data rates may apply."},
    "opt_out": {"keywords": ["STOP", "END"], "message": "Acme: you are unsubscribed, no more messages."},
    "re_opt_in": {"keywords": ["START", "JOIN"], "message": "Acme: you are subscribed again."},
}
ORDER = "Ihre Bestellung ist unterwegs"


async def _ok(response: aiohttp.ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def _import(http: aiohttp.ClientSession, endpoints: Endpoints, tenant: Tenant, body: dict[str, Any]) -> None:
    api = api_of(endpoints)
    body = {"integration_id": tenant.integration_id, **body}
    async with http.post(f"{api}/sms/numbers/imports", json=body, headers=tenant.headers) as r:
        import_id = (await _ok(r, 202))["id"]

    async def done() -> dict[str, Any] | None:
        async with http.get(f"{api}/sms/numbers/imports/{import_id}", headers=tenant.headers) as r:
            view: dict[str, Any] = await _ok(r, 200)
        return None if view["state"] == "in_progress" else view

    view = await eventually(done, within=60, interval=0.2, what="import finished")
    assert view["state"] == "imported", view


async def _texts_to(http: aiohttp.ClientSession, endpoints: Endpoints, customer: str) -> list[tuple[str, str]]:
    async with http.get(f"{emulator_of(endpoints)}/messages", params={"to": customer}) as r:
        return [(msg["from"], msg["body"]) for msg in (await _ok(r, 200))["messages"]]


async def _event(watch: TopicWatcher, kind: type[Any], what: str, **expected: Any) -> Any:
    async def found() -> Any:
        for record in watch.records:
            event = m.decode(record.value or b"")
            if isinstance(event, kind) and all(getattr(event.payload, k) == v for k, v in expected.items()):
                return event
        return None

    return await eventually(found, within=30, what=what)


async def _text(http: aiohttp.ClientSession, endpoints: Endpoints, customer: str, to: str, body: str) -> str:
    """One customer message through the emulator (signed webhook to the ingress); its MessageSid."""
    inbound = {"from": customer, "to": to, "body": body}
    async with http.post(f"{emulator_of(endpoints)}/inbound", json=inbound) as r:
        sent = await _ok(r, 200)
    assert sent["status"] == 200, sent
    return str(sent["message_sid"])


async def _send(producer: AIOKafkaProducer, tenant: Tenant, sender: str, to: str) -> str:
    command = m.SendMessage(
        organization_id=tenant.organization_id,
        payload=m.SendMessagePayload.model_validate({"from": sender, "to": to, "body": ORDER}),
    )
    await producer.send_and_wait(topics.OUTBOUND_COMMANDS.name, m.encode(command), key=sender.encode())
    return command.payload.message_id


async def test_a_short_code_answers_help_stop_and_start_and_a_service_shares_its_opt_outs(
    system: tuple[Endpoints, bytes],
) -> None:
    endpoints, private_key = system
    customer = "+49151" + f"{secrets.randbelow(10**8):08d}"
    emulator = emulator_of(endpoints)
    producer = AIOKafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            TopicWatcher(endpoints.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch,
        ):
            tenant = await connect_tenant(http, endpoints, private_key, f"e2e-org-{uuid.uuid4().hex[:8]}")
            defaults = {"default_routing_target": "queue-compliance"}
            async with http.put(
                f"{api_of(endpoints)}/sms/routing-defaults", json=defaults, headers=tenant.headers
            ) as r:
                await _ok(r, 200)

            async def keyword(to: str, sender: str, body: str, kind: m.KeywordKind) -> None:
                sid = await _text(http, endpoints, sender, to, body)
                routed = await _event(watch, m.InboundMessageRouted, f"{body} routed", message_sid=sid)
                assert routed.payload.keyword is kind

            async def send(sender: str, to: str, kind: type[Any]) -> Any:
                message_id = await _send(producer, tenant, sender, to)
                return await _event(watch, kind, f"send from {sender}: {kind.__name__}", message_id=message_id)

            # A standalone short code: Twilio does nothing with its keywords, byosms answers them.
            code = f"{secrets.randbelow(9 * 10**5) + 10**5}"
            seed = {"account_sid": tenant.account_sid, "short_code": code, "sms_url": endpoints.inbound_url}
            async with http.post(f"{emulator}/short-codes", json=seed) as r:
                await _ok(r, 201)
            await _import(
                http, endpoints, tenant, {"type": "shortcode", "sender_id": code, "country": "US", "compliance": BLOCKS}
            )
            # Routing learns of the number on its own path: text until it routes a message to it.
            await Texting(http, endpoints, watch, code, customer).until(m.InboundMessageRouted, "Hallo")
            await keyword(code, customer, "help", m.KeywordKind.HELP)
            await keyword(code, customer, "Stop", m.KeywordKind.OPT_OUT)
            refused = await send(f"US:{code}", customer, m.OutboundMessageFailed)
            assert refused.payload.code == "recipient_opted_out"
            await keyword(code, customer, "JOIN", m.KeywordKind.OPT_IN)
            await send(f"US:{code}", customer, m.OutboundMessageAccepted)

            async def four_texts() -> list[tuple[str, str]] | None:
                texts = await _texts_to(http, endpoints, customer)
                return texts if len(texts) >= 4 else None

            texts = await eventually(four_texts, within=30, what="the replies and the send at Twilio")
            assert sorted(texts) == sorted(
                [
                    (code, BLOCKS["help"]["message"]),
                    (code, BLOCKS["opt_out"]["message"]),
                    (code, BLOCKS["re_opt_in"]["message"]),
                    (code, ORDER),
                ]
            )

            # Two long codes of a Messaging Service: provisioning finds the service at import; a STOP to
            # one of them (Twilio answers it) refuses sends from the other.
            async with http.post(
                f"{emulator}/services",
                json={"account_sid": tenant.account_sid, "use_inbound_webhook_on_number": True},
            ) as r:
                service = (await _ok(r, 201))["sid"]
            numbers = ["+49301" + f"{secrets.randbelow(10**7):07d}" for _ in range(2)]
            for number in numbers:
                seed = {
                    "account_sid": tenant.account_sid,
                    "phone_number": number,
                    "sms_url": endpoints.inbound_url,
                    "service_sid": service,
                }
                async with http.post(f"{emulator}/phone-numbers", json=seed) as r:
                    await _ok(r, 201)
                await _import(http, endpoints, tenant, {"type": "local", "sender_id": number})
            other = "+49152" + f"{secrets.randbelow(10**8):08d}"
            for number in numbers:
                await Texting(http, endpoints, watch, number, other).until(m.InboundMessageRouted, "Hallo")
            await keyword(numbers[0], other, "STOP", m.KeywordKind.OPT_OUT)
            opted_out = await _event(watch, m.RecipientOptedOut, "opted out", recipient=other)
            assert opted_out.payload.messaging_service_sid == service
            refused = await send(numbers[1], other, m.OutboundMessageFailed)
            assert refused.payload.code == "recipient_opted_out_of_service"
            assert refused.payload.message is not None
            assert service in refused.payload.message.en
            assert service in refused.payload.message.de
            assert await _texts_to(http, endpoints, other) == []
    finally:
        await producer.stop()

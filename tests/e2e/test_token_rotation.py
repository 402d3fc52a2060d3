"""Auth Token rotation without loss and the signature mode, through the running system: during a rotation
window webhooks signed with either token are accepted (and say which matched), after confirmation only the
new one; in observe mode a bad signature is counted and the message accepted."""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from twilio.request_validator import RequestValidator

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.testing import TopicWatcher, eventually
from byosms_devstack.demo import Endpoints, Tenant, api_of, connect_tenant, emulator_of, import_number, listed

pytestmark = pytest.mark.e2e

QUEUE = "queue-rotation"


class Webhooks:
    """Inbound webhooks for one number: posted by the emulator (signed as Twilio signs) or by the test itself
    with a token of its choice; what the ingress published is watched on the inbound topic."""

    def __init__(self, http: aiohttp.ClientSession, endpoints: Endpoints, tenant: Tenant, number: str) -> None:
        self.http, self.endpoints, self.tenant, self.number = http, endpoints, tenant, number
        self.customer = "+49151" + f"{secrets.randbelow(10**8):08d}"

    async def via_twilio(self, body: str) -> tuple[str, int | None]:
        """Twilio (the emulator) receives an SMS and posts its webhook: (MessageSid, the ingress's answer)."""
        inbound = {"from": self.customer, "to": self.number, "body": body}
        async with self.http.post(f"{emulator_of(self.endpoints)}/inbound", json=inbound) as r:
            sent = await r.json()
        return sent["message_sid"], sent["status"]

    async def signed_with(self, token: str, body: str = "direkt") -> tuple[str, int]:
        """A webhook signed with ``token``, posted to the ingress directly: (MessageSid, status)."""
        sid = "SM" + secrets.token_hex(16)
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": self.tenant.account_sid,
            "From": self.customer,
            "To": self.number,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        url = self.endpoints.inbound_url
        signature = RequestValidator(token).compute_signature(url, params)
        async with self.http.post(url, data=params, headers={"X-Twilio-Signature": signature}) as r:
            return sid, r.status

    async def metrics(self) -> str:
        parts = urlsplit(self.endpoints.inbound_url)
        async with self.http.get(f"{parts.scheme}://{parts.netloc}/metrics") as r:
            return await r.text()


def _published(watch: TopicWatcher, sid: str) -> m.InboundMessageReceived | None:
    for record in watch.on(topics.INBOUND_MESSAGES.name):
        event = m.decode(record.value or b"")
        if isinstance(event, m.InboundMessageReceived) and event.id == sid:
            return event
    return None


def _routed(watch: TopicWatcher, sid: str) -> m.InboundMessageRouted | None:
    for record in watch.on(topics.MESSAGE_EVENTS.name):
        event = m.decode(record.value or b"")
        if isinstance(event, m.InboundMessageRouted) and event.payload.message_sid == sid:
            return event
    return None


async def _tenant_with_number(
    http: aiohttp.ClientSession, endpoints: Endpoints, private_key: bytes
) -> tuple[Tenant, str, str]:
    """A tenant (and its current Auth Token) with a number bound to a queue."""
    tenant = await connect_tenant(http, endpoints, private_key)
    async with http.get(f"{emulator_of(endpoints)}/accounts/{tenant.account_sid}") as r:
        token = (await r.json())["auth_token"]
    number, _ = await import_number(http, endpoints, tenant)
    entry = await listed(http, endpoints, tenant, number, "active")
    patch = {"version": entry["version"], "routing_target": QUEUE}
    async with http.patch(f"{api_of(endpoints)}/sms/numbers/{entry['id']}", json=patch, headers=tenant.headers) as r:
        assert r.status == 200, await r.text()
    return tenant, token, number


REPLY_ID = secrets.token_hex(16)


async def _send_reply(
    endpoints: Endpoints, watch: TopicWatcher, tenant: Tenant, number: str, customer: str
) -> m.OutboundMessageAccepted | m.OutboundMessageFailed:
    command = m.SendMessage(
        organization_id=tenant.organization_id,
        payload=m.SendMessagePayload(message_id=REPLY_ID, from_=number, to=customer, body="Antwort"),
    )
    producer = AIOKafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.OUTBOUND_COMMANDS.name, m.encode(command), key=number.encode())
    finally:
        await producer.stop()

    def outcome() -> m.OutboundMessageAccepted | m.OutboundMessageFailed | None:
        for record in watch.on(topics.MESSAGE_EVENTS.name):
            event = m.decode(record.value or b"")
            if isinstance(event, m.OutboundMessageAccepted | m.OutboundMessageFailed) and (
                event.payload.message_id == REPLY_ID
            ):
                return event
        return None

    return await eventually(outcome, within=60, what="the reply sent")


async def _call(http: aiohttp.ClientSession, method: str, url: str, tenant: Tenant, **kwargs: Any) -> dict[str, Any]:
    async with http.request(method, url, headers=tenant.headers, **kwargs) as r:
        body: dict[str, Any] = await r.json()
        assert r.status == 200, body
        return body


async def test_during_a_rotation_window_both_tokens_validate_and_after_confirmation_only_the_new_one(
    system: tuple[Endpoints, bytes],
) -> None:
    endpoints, private_key = system
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        tenant, old, number = await _tenant_with_number(http, endpoints, private_key)
        hooks = Webhooks(http, endpoints, tenant, number)
        rotation = f"{api_of(endpoints)}/integrations/{tenant.integration_id}/auth-token-rotation"
        watched = [topics.INBOUND_MESSAGES.name, topics.MESSAGE_EVENTS.name]
        keys = {f"{number}|{hooks.customer}", REPLY_ID}
        async with TopicWatcher(endpoints.kafka_bootstrap, watched, keys, from_end=True) as watch:
            # The tenant creates a secondary token in Twilio and gives it to byosms first.
            basic = {"Authorization": "Basic " + base64.b64encode(f"{tenant.account_sid}:{old}".encode()).decode()}
            async with http.post(f"{endpoints.emulator_url}/v1/AuthTokens/Secondary", headers=basic) as r:
                new = (await r.json())["secondary_auth_token"]
            view = await _call(http, "POST", rotation, tenant, json={"auth_token": new})
            assert view["auth_token_rotation"]["expires_at"] > view["auth_token_rotation"]["started_at"]

            # Once the ingress knows the window, a webhook signed with the new token is accepted ...
            async def new_accepted() -> str | None:
                sid, status = await hooks.signed_with(new)
                return sid if status == 200 else None

            early = await eventually(new_accepted, within=30, interval=0.3, what="the next token accepted")
            # ... and so is one with the old token (Twilio still signs with it until the promotion).
            sid_old, status_old = await hooks.signed_with(old)
            assert status_old == 200

            # The tenant promotes the token in Twilio: the old primary is gone, webhooks are signed anew.
            async with http.post(f"{endpoints.emulator_url}/v1/AuthTokens/Promote", headers=basic) as r:
                assert (await r.json())["auth_token"] == new
            sid_promoted, status = await hooks.via_twilio("nach dem Wechsel")
            assert status == 200  # nothing lost at the promotion
            in_flight, status_in_flight = await hooks.signed_with(old)  # a retry signed before the promotion
            assert status_in_flight == 200

            expected = (
                (early, "auth_token_next"),
                (sid_old, "auth_token"),
                (sid_promoted, "auth_token_next"),
                (in_flight, "auth_token"),
            )
            # Replies go on too: routing sends with the next token while the window is open.
            reply = await _send_reply(endpoints, watch, tenant, number, hooks.customer)
            assert isinstance(reply, m.OutboundMessageAccepted)
            for sid, secret in expected:
                event = await eventually(lambda s=sid: _published(watch, s), within=30, what=f"{sid} published")
                assert event.payload.signed_with == secret
            assert await eventually(lambda: _routed(watch, sid_promoted), within=30, what="routed")

            # The tenant confirms: the new token is the token, the old one is refused from now on.
            view = await _call(http, "POST", rotation + "/confirm", tenant)
            assert view["auth_token_rotation"] is None

            async def old_refused() -> bool:
                _, status = await hooks.signed_with(old)
                return status == 403

            assert await eventually(old_refused, within=30, interval=0.3, what="the old token refused")
            sid_after, status_after = await hooks.via_twilio("bestätigt")
            assert status_after == 200
            after = await eventually(lambda: _published(watch, sid_after), within=30, what="published")
            assert after.payload.signed_with == "auth_token"
        metrics = await hooks.metrics()
        assert 'byosms_ingress_signature_matches_total{secret="auth_token_next"}' in metrics
        rejected = f'integration_id="{tenant.integration_id}",mode="enforce",reason="signature_wrong"'
        assert rejected in metrics


async def test_in_observe_mode_a_bad_signature_is_counted_and_the_message_accepted(
    system: tuple[Endpoints, bytes],
) -> None:
    endpoints, private_key = system
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        tenant, _, number = await _tenant_with_number(http, endpoints, private_key)
        hooks = Webhooks(http, endpoints, tenant, number)
        mode = f"{api_of(endpoints)}/integrations/{tenant.integration_id}/signature-mode"
        keys = {f"{number}|{hooks.customer}"}
        watched = [topics.INBOUND_MESSAGES.name, topics.MESSAGE_EVENTS.name]
        async with TopicWatcher(endpoints.kafka_bootstrap, watched, keys, from_end=True) as watch:
            _, status = await hooks.signed_with(secrets.token_hex(16))
            assert status == 403  # enforce, the default

            view = await _call(http, "PUT", mode, tenant, json={"mode": "observe"})
            assert view["signature_mode"] == "observe"

            async def bad_accepted() -> str | None:
                sid, status = await hooks.signed_with(secrets.token_hex(16), "hinter dem neuen Proxy")
                return sid if status == 200 else None

            sid = await eventually(bad_accepted, within=30, interval=0.3, what="a bad signature accepted")
            event = await eventually(lambda: _published(watch, sid), within=30, what="published")
            assert event.payload.signature_failure == "signature_wrong"
            assert event.payload.signed_with is None
            routed = await eventually(lambda: _routed(watch, sid), within=30, what="routed")
            assert routed.payload.queue == QUEUE

            metrics = await hooks.metrics()
            observed = f'integration_id="{tenant.integration_id}",mode="observe",reason="signature_wrong"'
            assert observed in metrics

            await _call(http, "PUT", mode, tenant, json={"mode": "enforce"})

            async def bad_refused() -> bool:
                _, status = await hooks.signed_with(secrets.token_hex(16))
                return status == 403

            assert await eventually(bad_refused, within=30, interval=0.3, what="a bad signature refused again")

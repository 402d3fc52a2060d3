"""The live path check through the running system (docs/webhook-health.md): a number imported through
the admin API, ``webhook:probe`` asked to send a one-time code to a test phone; the emulator plays the
phone and texts the code back, as a signed webhook to the ingress, which routing routes and provisioning
sees in the message trace. Every step of the path is real: nothing here publishes on its behalf."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from typing import Any

import aiohttp
import pytest

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.testing import TopicWatcher
from byosms_devstack.demo import Endpoints, Tenant, Texting, api_of, connect_tenant, emulator_of

pytestmark = pytest.mark.e2e

TEST_PHONE = "+49151" + f"{secrets.randbelow(10**8):08d}"


async def _ok(response: aiohttp.ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def _import(
    http: aiohttp.ClientSession, endpoints: Endpoints, headers: dict[str, str], body: dict[str, Any]
) -> str:
    api = api_of(endpoints)
    async with http.post(f"{api}/sms/numbers/imports", json=body, headers=headers) as r:
        import_id = (await _ok(r, 202))["id"]
    for _ in range(300):
        async with http.get(f"{api}/sms/numbers/imports/{import_id}", headers=headers) as r:
            view: dict[str, Any] = await _ok(r, 200)
        if view["state"] != "in_progress":
            assert view["state"] == "imported", view
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"import {import_id} still in progress")
    # The inventory's record reaches the number list a moment after the import ended (through Kafka).
    for _ in range(300):
        async with http.get(f"{api}/sms/numbers", params={"address_prefix": body["sender_id"]}, headers=headers) as r:
            items = (await _ok(r, 200))["items"]
        if items:
            (number,) = items
            return str(number["id"])
        await asyncio.sleep(0.2)
    raise AssertionError(f"{body['sender_id']} imported but not in the number list")


async def _play_test_phone(http: aiohttp.ClientSession, endpoints: Endpoints, number: str) -> None:
    """Wait for the probe's text at the test phone, then text its code back to the number."""
    emulator = emulator_of(endpoints)
    for _ in range(600):
        async with http.get(f"{emulator}/messages", params={"to": TEST_PHONE}) as r:
            sent = [msg for msg in (await _ok(r, 200))["messages"] if msg["from"] == number]
        if sent:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the probe sent no text to the test phone")
    code = re.search(r"\b(\d{6})\b", sent[0]["body"])
    assert code is not None, sent[0]["body"]
    inbound = {"from": TEST_PHONE, "to": number, "body": code.group(1)}
    async with http.post(f"{emulator}/inbound", json=inbound) as r:
        assert (await _ok(r, 200))["status"] == 200


async def _tenant_with_numbers(
    http: aiohttp.ClientSession, endpoints: Endpoints, private_key: bytes, watch: TopicWatcher, addresses: list[str]
) -> tuple[Tenant, dict[str, str]]:
    """A connected tenant with ``addresses`` seeded at Twilio (webhook: the ingress) and imported; routing
    has routed a message to the first one (it learns of numbers on its own path). The number ids."""
    tenant = await connect_tenant(http, endpoints, private_key, f"e2e-org-{uuid.uuid4().hex[:8]}")
    async with http.put(
        f"{api_of(endpoints)}/sms/routing-defaults",
        json={"default_routing_target": "queue-probe"},
        headers=tenant.headers,
    ) as r:
        await _ok(r, 200)
    ids: dict[str, str] = {}
    for address in addresses:
        seed = {"account_sid": tenant.account_sid, "phone_number": address, "sms_url": endpoints.inbound_url}
        async with http.post(f"{emulator_of(endpoints)}/phone-numbers", json=seed) as r:
            await _ok(r, 201)
        ids[address] = await _import(
            http,
            endpoints,
            tenant.headers,
            {"integration_id": tenant.integration_id, "type": "local", "sender_id": address},
        )
    await Texting(http, endpoints, watch, addresses[0], "+49152" + f"{secrets.randbelow(10**8):08d}").until(
        m.InboundMessageRouted, "Hallo"
    )
    return tenant, ids


async def test_the_probe_proves_the_whole_inbound_path_of_a_number(system: tuple[Endpoints, bytes]) -> None:
    endpoints, private_key = system
    number = "+49301" + f"{secrets.randbelow(10**7):07d}"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as http,
        TopicWatcher(endpoints.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch,
    ):
        tenant, ids = await _tenant_with_numbers(http, endpoints, private_key, watch, [number])
        number_id = ids[number]

        player = asyncio.create_task(_play_test_phone(http, endpoints, number))
        probe = {"number_id": number_id, "send_test_message": True, "test_phone": TEST_PHONE, "wait_seconds": 60}
        async with http.post(
            f"{api_of(endpoints)}/integrations/{tenant.integration_id}/webhook:probe",
            json=probe,
            headers=tenant.headers,
        ) as r:
            result = await _ok(r, 200)
        await player
    assert result["outcome"] == "passed", result
    assert [(s["step"], s["outcome"]) for s in result["steps"]] == [
        ("credentials", "passed"),
        ("configuration", "passed"),
        ("sent", "passed"),
        ("returned_to_twilio", "passed"),
        ("arrived", "passed"),
    ]


async def test_the_probe_with_another_number_of_the_integration_needs_nobody_to_answer(
    system: tuple[Endpoints, bytes],
) -> None:
    """The integration's other number texts the code to the number: Twilio (the emulator) delivers it to
    the number's webhook, the ingress, and routing routes it, with no test phone and no person."""
    endpoints, private_key = system
    number = "+49301" + f"{secrets.randbelow(10**7):07d}"
    other = "+49302" + f"{secrets.randbelow(10**7):07d}"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as http,
        TopicWatcher(endpoints.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], from_end=True) as watch,
    ):
        tenant, ids = await _tenant_with_numbers(http, endpoints, private_key, watch, [number, other])
        probe = {"number_id": ids[number], "send_test_message": True, "from_number_id": ids[other], "wait_seconds": 60}
        async with http.post(
            f"{api_of(endpoints)}/integrations/{tenant.integration_id}/webhook:probe",
            json=probe,
            headers=tenant.headers,
        ) as r:
            result = await _ok(r, 200)
    assert result["outcome"] == "passed", result
    steps = {s["step"]: s for s in result["steps"]}
    assert [(s["step"], s["outcome"]) for s in result["steps"]] == [
        ("credentials", "passed"),
        ("configuration", "passed"),
        ("sent", "passed"),
        ("returned_to_twilio", "passed"),
        ("arrived", "passed"),
    ]
    assert (steps["sent"]["from"], steps["sent"]["to"]) == (other, number)
    assert steps["arrived"]["routing"] == "routed"

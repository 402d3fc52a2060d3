"""Number import through the admin API and Kafka, with the real service wiring (issue 6).

POST answers 202; the command goes through the outbox to the number command topic, the service's
own consumer runs the checks against the Twilio emulator, and the outcome shows in GET and on
the number event topic. Needs the local stack (PostgreSQL and Kafka).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from byosms_common import topics
from byosms_common.messages import NumberImported, NumberState, NumberStateChanged, NumberStateChangedPayload, decode

pytestmark = pytest.mark.integration

IMPORTS = "/api/v2/sms/numbers/imports"
INTEGRATIONS = "/api/v2/integrations"
EU_URL = "https://byosms.mypurecloud.de/vendors/v1/twilio/3d904439dc3f4eceb2e574b43c8f5ac5/mo"


@pytest.fixture
async def service(
    prov_service: Callable[..., Any], prov_pool: Any, prov_emulator: Any, prov_signing_key: Any
) -> AsyncIterator[Any]:
    async with prov_service(prov_pool, prov_emulator, prov_signing_key, with_commands=True) as harness:
        yield harness


def _number() -> str:
    # A valid German mobile number, unique per test run (the Kafka topics are shared).
    return f"+49151{uuid.uuid4().int % 10**8:08d}"


async def _active_integration(prov: Any, org: str | None = None) -> tuple[str, str]:
    """An active integration connected to a fresh emulator account; returns (integration id, account sid)."""
    headers = prov.headers(org=org)
    response = await prov.client.post(INTEGRATIONS, json={"name": "Twilio", "region": "eu-central-1"}, headers=headers)
    assert response.status == 201, await response.text()
    integration_id = (await response.json())["id"]
    account = await prov.emulator.control.create_account()
    response = await prov.client.put(
        f"{INTEGRATIONS}/{integration_id}/credentials",
        json={"account_sid": account.sid, "auth_token": account.auth_token},
        headers=headers,
    )
    assert response.status == 200, await response.text()
    response = await prov.client.post(f"{INTEGRATIONS}/{integration_id}/activate", headers=headers)
    assert response.status == 200, await response.text()
    return integration_id, account.sid


async def _finished(prov: Any, import_id: str, *, org: str | None = None, language: str | None = None) -> Any:
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        response = await prov.client.get(f"{IMPORTS}/{import_id}", headers=prov.headers(org=org, language=language))
        assert response.status == 200, await response.text()
        body = await response.json()
        if body["state"] != "in_progress":
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)


async def test_import_via_api_publishes_the_number(service: Any, prov_records: Callable[..., Any]) -> None:
    integration_id, account_sid = await _active_integration(service)
    number = _number()
    added = await service.emulator.control.add_phone_number(account_sid, number, sms_url=EU_URL)

    response = await service.client.post(
        IMPORTS,
        json={"integration_id": integration_id, "type": "mobile", "sender_id": number, "country": "DE"},
        headers=service.headers(),
    )
    assert response.status == 202, await response.text()
    accepted = await response.json()
    assert accepted["state"] == "in_progress"
    assert response.headers["Location"] == f"{IMPORTS}/{accepted['id']}"

    body = await _finished(service, accepted["id"])
    assert body["state"] == "imported", body
    assert body["number"]["address"] == number
    assert body["number"]["twilio_sid"] == added["sid"]

    records = await prov_records(topics.NUMBER_EVENTS, key=number, until=lambda found: len(found) >= 1)
    event = decode(records[0].value)
    assert isinstance(event, NumberImported)
    assert event.payload.import_id == accepted["id"]
    assert event.organization_id == service.org

    # Another organization sees nothing of it.
    response = await service.client.get(f"{IMPORTS}/{accepted['id']}", headers=service.headers(org="org-other"))
    assert response.status == 404


async def test_rejection_is_shown_in_the_callers_language(service: Any) -> None:
    integration_id, _ = await _active_integration(service)
    response = await service.client.post(
        IMPORTS,
        json={
            "integration_id": integration_id,
            "type": "shortcode",
            "sender_id": "12345",
            "country": "US",
            "compliance": {"help": {"keywords": ["HELP"], "message": "Acme help"}},
        },
        headers=service.headers(),
    )
    assert response.status == 202, await response.text()
    body = await _finished(service, (await response.json())["id"], language="de")
    assert body["state"] == "rejected"
    assert body["error"]["code"] == "compliance_missing"
    assert body["error"]["message"] == (
        "Bitte geben Sie die erforderlichen Compliance-Schlüsselwörter und Nachrichten für Ihre Sender-ID an."
    )


async def test_removed_number_can_be_imported_by_another_organization(service: Any) -> None:
    number = _number()
    first_integration, first_account = await _active_integration(service)
    await service.emulator.control.add_phone_number(first_account, number, sms_url=EU_URL)
    response = await service.client.post(
        IMPORTS,
        json={"integration_id": first_integration, "type": "mobile", "sender_id": number},
        headers=service.headers(),
    )
    first_import = (await response.json())["id"]
    assert (await _finished(service, first_import))["state"] == "imported"

    other = f"org-{uuid.uuid4().hex[:8]}"
    second_integration, second_account = await _active_integration(service, org=other)
    await service.emulator.control.add_phone_number(second_account, number, sms_url=EU_URL)
    attempt = {"integration_id": second_integration, "type": "mobile", "sender_id": number}
    response = await service.client.post(IMPORTS, json=attempt, headers=service.headers(org=other))
    refused = await _finished(service, (await response.json())["id"], org=other)
    assert refused["error"]["code"] == "number_not_available"

    # Inventory removes the number from the first organization: the claim is released.
    removed = NumberStateChanged(
        organization_id=service.org,
        payload=NumberStateChangedPayload(
            address=number,
            integration_id=first_integration,
            state=NumberState.REMOVED,
            previous_state=NumberState.ACTIVE,
            reason="deleted by admin",
            import_id=first_import,
        ),
    )
    await service.ctx.publisher.publish(topics.NUMBER_EVENTS, removed, number)
    deadline = asyncio.get_running_loop().time() + 20
    while await service.ctx.pool.fetchval("SELECT count(*) FROM number_claims WHERE address = $1", number):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)

    response = await service.client.post(IMPORTS, json=attempt, headers=service.headers(org=other))
    assert (await _finished(service, (await response.json())["id"], org=other))["state"] == "imported"


async def test_long_code_with_some_compliance_blocks_is_refused_not_stripped(service: Any) -> None:
    number = _number()
    integration_id, account = await _active_integration(service)
    await service.emulator.control.add_phone_number(account, number, sms_url=EU_URL)
    body = {
        "integration_id": integration_id,
        "type": "mobile",
        "sender_id": number,
        "compliance": {"help": {"keywords": ["HELP"], "message": "Acme help"}},
    }
    response = await service.client.post(IMPORTS, json=body, headers=service.headers())
    assert response.status == 202, await response.text()
    refused = await _finished(service, (await response.json())["id"])
    assert (refused["state"], refused["error"]["code"]) == ("rejected", "compliance_missing")

    complete = {
        "help": {"keywords": ["HELP"], "message": "Acme help"},
        "opt_out": {"keywords": ["STOP"], "message": "Acme: unsubscribed"},
        "re_opt_in": {"keywords": ["START"], "message": "Acme: subscribed again"},
    }
    response = await service.client.post(IMPORTS, json={**body, "compliance": complete}, headers=service.headers())
    imported = await _finished(service, (await response.json())["id"])
    assert imported["state"] == "imported"
    assert imported["number"]["compliance"]["opt_out"] == {"keywords": ["STOP"], "message": "Acme: unsubscribed"}


@pytest.mark.parametrize(
    ("permissions", "status"),
    [
        pytest.param(("integrations:integration:view",), 403, id="missing sms:phoneNumber:all"),
        pytest.param(None, 401, id="no token"),
    ],
)
async def test_import_requires_the_permission(service: Any, permissions: tuple[str, ...] | None, status: int) -> None:
    headers = service.headers(*permissions) if permissions else {}
    body = {"integration_id": "x", "type": "mobile", "sender_id": "+4915112345678"}
    response = await service.client.post(IMPORTS, json=body, headers=headers)
    assert response.status == status
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"type": "mobile", "sender_id": "+4915112345678"}, id="no integration"),
        pytest.param({"integration_id": "x", "type": "landline", "sender_id": "+4915112345678"}, id="unknown type"),
        pytest.param({"integration_id": "x", "type": "mobile", "sender_id": 4915112345678}, id="number as integer"),
        pytest.param({"integration_id": "x", "type": "mobile", "sender_id": "+49", "extra": 1}, id="unknown field"),
    ],
)
async def test_malformed_requests_are_refused(service: Any, body: dict[str, Any]) -> None:
    response = await service.client.post(IMPORTS, json=body, headers=service.headers())
    assert response.status == 400
    problem = await response.json()
    assert problem["code"] == "invalid_request"


async def test_invalid_command_on_the_topic_ends_in_a_rejection(service: Any) -> None:
    # Sent by a platform service straight to the command topic, with a sender id over 32 characters.
    import_id = uuid.uuid4().hex
    raw = {
        "id": uuid.uuid4().hex,
        "type": "number.import",
        "schema_version": 1,
        "occurred_at": "2026-01-01T00:00:00Z",
        "organization_id": service.org,
        "payload": {
            "import_id": import_id,
            "integration_id": "int-x",
            "number_type": "mobile",
            "sender_id": "+49" + "1" * 40,
            "actor": "platform",
        },
    }
    producer = AIOKafkaProducer(bootstrap_servers=os.environ["BYOSMS_KAFKA_BOOTSTRAP"])
    await producer.start()
    try:
        await producer.send_and_wait(topics.NUMBER_COMMANDS.name, json.dumps(raw).encode(), key=b"+49")
    finally:
        await producer.stop()
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        response = await service.client.get(f"{IMPORTS}/{import_id}", headers=service.headers())
        if response.status == 200:
            body = await response.json()
            if body["state"] != "in_progress":
                break
        assert asyncio.get_running_loop().time() < deadline, response.status
        await asyncio.sleep(0.1)
    assert body["state"] == "rejected"
    assert body["error"]["code"] == "invalid_request"
    assert "payload.sender_id" in body["error"]["message"]

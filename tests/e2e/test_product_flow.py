"""The product's main job through the running system: connect a Twilio account, import a number,
receive a customer's SMS in the tenant's queues, stop receiving after deactivation."""

from __future__ import annotations

import re
import secrets
import uuid

import aiohttp
import pytest

from byosms_cli.devkeys import mint_token
from byosms_common import messages as m
from byosms_common import topics
from byosms_common.testing import TopicWatcher, eventually
from byosms_devstack.demo import PERMISSIONS, Endpoints, run_demo

pytestmark = pytest.mark.e2e


async def test_inbound_sms_reaches_the_queues_until_the_integration_is_deactivated(
    system: tuple[Endpoints, bytes],
) -> None:
    endpoints, private_key = system
    lines: list[str] = []
    result = await run_demo(endpoints, private_key, lines.append)
    assert result.routed.payload.to == result.number
    assert result.routed.payload.integration_id == result.integration_id
    assert result.routed.organization_id == result.organization_id
    assert result.routed.payload.body == "Hallo, ich habe eine Frage"
    assert result.routed.payload.queue == "queue-support-de"  # the number's routing target
    # The agent's reply went out through the tenant's Twilio account and came back delivered.
    assert result.reply.payload.status == "delivered"
    assert result.reply.organization_id == result.organization_id
    assert (result.reply.payload.message_sid or "").startswith("SM")
    # Deactivation reaches routing on two paths (the integration's state and, through inventory, the
    # number's state); whichever arrives first names the reason.
    assert result.discarded.payload.reason in {"integration_inactive", "number_inactive"}
    assert any(re.search(r"imported \(import \w+\)", line) for line in lines)
    assert any(line.startswith("Inventory: ") and line.endswith("inactive") for line in lines)
    traces = [line for line in lines if line.startswith("Trace ")]
    assert len(traces) == 3
    assert traces[0].endswith(f"received in {endpoints.region} -> routed to queue-support-de")
    assert "checks passed -> accepted" in traces[1]
    assert traces[1].endswith("status delivered")
    assert re.search(rf"received in {endpoints.region} -> discarded \((integration|number)_inactive\)$", traces[2])


async def test_a_deleted_integrations_number_can_be_imported_and_used_by_another_organization(
    system: tuple[Endpoints, bytes],
) -> None:
    endpoints, private_key = system
    first = await run_demo(endpoints, private_key, lambda _: None)
    api = endpoints.provisioning_url + "/api/v2"
    emulator = endpoints.emulator_url + "/_emulator"

    def auth(org: str) -> dict[str, str]:
        token = mint_token(private_key, organization_id=org, permissions=PERMISSIONS, subject="e2e")
        return {"Authorization": f"Bearer {token}"}

    other = f"e2e-org-{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.delete(f"{api}/integrations/{first.integration_id}", headers=auth(first.organization_id)) as r:
            assert r.status == 204

        # The tenant moves the number to another Twilio account, connected by another organization.
        token = secrets.token_hex(16)
        async with http.post(f"{emulator}/accounts", json={"auth_token": token}) as r:
            assert r.status == 201, await r.text()
            account_sid = (await r.json())["sid"]
        seed = {"account_sid": account_sid, "phone_number": first.number, "sms_url": endpoints.inbound_url}
        async with http.post(f"{emulator}/phone-numbers", json=seed) as r:
            assert r.status == 201
        body = {"name": "Second tenant", "region": endpoints.region}
        async with http.post(f"{api}/integrations", json=body, headers=auth(other)) as r:
            assert r.status == 201, await r.text()
            integration_id = (await r.json())["id"]
        credentials = {"account_sid": account_sid, "auth_token": token}
        path = f"{api}/integrations/{integration_id}/credentials"
        async with http.put(path, json=credentials, headers=auth(other)) as r:
            assert r.status == 200, await r.text()  # checked at "Twilio"; a refusal must not pass unnoticed
        async with http.post(f"{api}/integrations/{integration_id}/activate", headers=auth(other)) as r:
            assert r.status == 200, await r.text()
        # The new owner routes everything to one queue (its organization's default routing target).
        defaults = {"default_routing_target": "queue-second-tenant"}
        async with http.put(f"{api}/sms/routing-defaults", json=defaults, headers=auth(other)) as r:
            assert r.status == 200, await r.text()

        async def imported() -> dict[str, object] | None:
            # Inventory removes the first organization's number and provisioning then releases its claim;
            # until that has happened the address is "not available".
            request = {"integration_id": integration_id, "type": "local", "sender_id": first.number}
            async with http.post(f"{api}/sms/numbers/imports", json=request, headers=auth(other)) as r:
                import_id = (await r.json())["id"]

            async def finished() -> dict[str, object] | None:
                async with http.get(f"{api}/sms/numbers/imports/{import_id}", headers=auth(other)) as r:
                    current: dict[str, object] = await r.json()
                return None if current["state"] == "in_progress" else current

            view = await eventually(finished, within=30, interval=0.2, what="import finished")
            if view["state"] == "imported":
                return view
            assert view["error"]["code"] == "number_not_available", view  # type: ignore[index]
            return None

        view = await eventually(imported, within=60, interval=0.5, what="number imported by the other organization")
        assert view["number"]["integration_id"] == integration_id  # type: ignore[index]

        customer = "+49151" + f"{secrets.randbelow(10**8):08d}"
        conversation = f"{first.number}|{customer}"
        async with TopicWatcher(
            endpoints.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], {conversation}, from_end=True
        ) as watch:

            async def routed_to_the_new_owner() -> m.InboundMessageRouted | None:
                for record in watch.records:
                    event = m.decode(record.value or b"")
                    if isinstance(event, m.InboundMessageRouted):
                        return event
                inbound = {"from": customer, "to": first.number, "body": "Neuer Anbieter?"}
                async with http.post(f"{emulator}/inbound", json=inbound) as r:
                    assert (await r.json())["status"] == 200
                return None

            routed = await eventually(routed_to_the_new_owner, within=60, interval=1.0, what="routed to new owner")
    assert routed.organization_id == other
    assert routed.payload.integration_id == integration_id
    assert routed.payload.queue == "queue-second-tenant"

"""The SMS number inventory through the running system, over its HTTP API only: numbers listed with
their state, bound to queues (number, integration default, organization default), removed and
imported again, and a message without any routing target discarded as ``no_route`` with a warning on
the number; every route is refused without its permission and hides other organizations' numbers."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.testing import TopicWatcher, eventually
from byosms_devstack.demo import (
    Endpoints,
    Tenant,
    Texting,
    api_of,
    bearer,
    connect_tenant,
    import_number,
    listed,
    traced,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def _customer() -> str:
    return "+49151" + f"{secrets.randbelow(10**8):08d}"


async def _get(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with http.get(url, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def _numbers(
    http: aiohttp.ClientSession, endpoints: Endpoints, tenant: Tenant, **query: str
) -> list[dict[str, Any]]:
    async with http.get(f"{api_of(endpoints)}/sms/numbers", params=query, headers=tenant.headers) as r:
        assert r.status == 200, await r.text()
        items: list[dict[str, Any]] = (await r.json())["items"]
    return items


async def test_a_number_is_routed_by_its_target_warned_without_one_and_removed_for_a_new_import(
    system: tuple[Endpoints, bytes], http: aiohttp.ClientSession
) -> None:
    endpoints, key = system
    api = api_of(endpoints)
    tenant = await connect_tenant(http, endpoints, key)
    number, import_id = await import_number(http, endpoints, tenant)
    entry = await listed(http, endpoints, tenant, number, "active")
    assert entry["id"] == import_id
    assert entry["integration"]["id"] == tenant.integration_id
    assert (entry["type"], entry["country"]) == ("local", "DE")
    assert entry["twilio_sid"].startswith("PN")
    assert entry["latest_action"]["kind"] == "import"
    assert entry["latest_action"]["state"] == "completed"
    assert entry["routing_target"] is None
    assert entry["warnings"] == []
    item = f"{api}/sms/numbers/{entry['id']}"

    customer = _customer()
    conversation = f"{number}|{customer}"
    async with TopicWatcher(
        endpoints.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], {conversation}, from_end=True
    ) as w:
        texting = Texting(http, endpoints, w, number, customer)
        # No target anywhere: discarded as no_route, and the number shows the warning.
        lost = await texting.until(m.InboundMessageDiscarded, "Hallo?", reason="no_route")
        # Its trace says why; only the owning organization, with the permission, sees it.
        trace = await traced(http, endpoints, tenant, lost.payload.message_sid)
        assert [s["step"] for s in trace["steps"]] == ["received", "discarded"]
        assert trace["steps"][0]["region"] == endpoints.region
        assert trace["steps"][0]["spooled"] is False
        assert trace["steps"][1]["reason"] == "no_route"
        trace_url = f"{api}/sms/messages/{lost.payload.message_sid}"
        status, _ = await _get(http, trace_url, bearer(key, f"org-{uuid.uuid4().hex[:8]}"))
        assert status == 404
        status, problem = await _get(
            http, trace_url, bearer(key, tenant.organization_id, ("integrations:integration:view",))
        )
        assert (status, problem["code"]) == (403, "forbidden")

        async def warned() -> dict[str, Any] | None:
            status, body = await _get(http, item, {**tenant.headers, "Accept-Language": "de"})
            assert status == 200
            return body if body["warnings"] else None

        shown = await eventually(warned, within=30, interval=0.3, what="no_route warning")
        assert shown["warnings"][0]["code"] == "no_route"
        assert "Routing-Ziel" in shown["warnings"][0]["message"]

        # An integration default: the number (without a target of its own) is routed there, the warning goes.
        default = {"default_routing_target": "queue-integration"}
        async with http.patch(f"{api}/integrations/{tenant.integration_id}", json=default, headers=tenant.headers) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["default_routing_target"] == "queue-integration"
        await texting.until(m.InboundMessageRouted, "Und jetzt?", queue="queue-integration")
        status, body = await _get(http, item, tenant.headers)
        assert body["warnings"] == []
        assert body["effective_routing_target"] == {"target": "queue-integration", "from": "integration"}

        # The number's own target wins; a stale version is refused.
        patch = {"version": body["version"], "routing_target": "queue-number"}
        async with http.patch(item, json=patch, headers=tenant.headers) as r:
            assert r.status == 200, await r.text()
            bound = await r.json()
        assert bound["routing_target"] == "queue-number"
        assert bound["version"] > body["version"]
        assert bound["latest_action"]["kind"] == "set_routing_target"
        assert bound["latest_action"]["state"] == "completed"
        async with http.patch(item, json={**patch, "routing_target": "queue-late"}, headers=tenant.headers) as r:
            assert r.status == 409
            assert (await r.json())["code"] == "version_conflict"
        assert [n["address"] for n in await _numbers(http, endpoints, tenant, routing_target="queue-number")] == [
            number
        ]
        routed = await texting.until(m.InboundMessageRouted, "Hallo Team", queue="queue-number")
        trace = await traced(http, endpoints, tenant, routed.payload.message_sid)
        assert [(s["step"], s.get("target")) for s in trace["steps"]] == [
            ("received", None),
            ("routed", "queue-number"),
        ]

        # Deactivated: listed inactive, messages discarded; reactivated: active again.
        async with http.post(f"{api}/integrations/{tenant.integration_id}/deactivate", headers=tenant.headers) as r:
            assert r.status == 200
        await listed(http, endpoints, tenant, number, "inactive")
        discarded = await texting.until(m.InboundMessageDiscarded, "Niemand da?")
        assert discarded.payload.reason in {"integration_inactive", "number_inactive"}
        assert [n["address"] for n in await _numbers(http, endpoints, tenant, state="inactive")] == [number]
        async with http.post(f"{api}/integrations/{tenant.integration_id}/activate", headers=tenant.headers) as r:
            assert r.status == 200
        await listed(http, endpoints, tenant, number, "active")

    # Removed: 202 with the running removal, then gone from the list and importable again, by another org.
    async with http.delete(item, headers=tenant.headers) as r:
        assert r.status == 202, await r.text()
        removal = await r.json()
    assert removal["latest_action"]["kind"] == "remove"

    async def gone() -> bool:
        return number not in [n["address"] for n in await _numbers(http, endpoints, tenant)]

    await eventually(gone, within=30, interval=0.3, what="number gone from the list")
    status, body = await _get(http, item, tenant.headers)
    assert (status, body["state"], body["latest_action"]["state"]) == (200, "removed", "completed")
    assert [n["address"] for n in await _numbers(http, endpoints, tenant, state="removed-recently")] == [number]
    async with http.delete(item, headers=tenant.headers) as r:
        assert r.status == 404

    other = await connect_tenant(http, endpoints, key)
    # The number moves to the other organization's Twilio subaccount and is imported there.
    again, _ = await import_number(http, endpoints, other, number)
    assert again == number
    await listed(http, endpoints, other, number, "active")


async def test_an_organization_default_routes_numbers_and_a_deleted_integrations_numbers_leave_the_list(
    system: tuple[Endpoints, bytes], http: aiohttp.ClientSession
) -> None:
    endpoints, key = system
    api = api_of(endpoints)
    tenant = await connect_tenant(http, endpoints, key)
    number, _ = await import_number(http, endpoints, tenant)
    entry = await listed(http, endpoints, tenant, number, "active")
    defaults = {"default_routing_target": "flow-organization"}
    async with http.put(f"{api}/sms/routing-defaults", json=defaults, headers=tenant.headers) as r:
        assert r.status == 200, await r.text()
    status, body = await _get(http, f"{api}/sms/routing-defaults", tenant.headers)
    assert (status, body) == (200, defaults)
    # A target on the number too, so the deletion below removes a number a target still points at.
    patch = {"version": entry["version"], "routing_target": "queue-doomed"}
    async with http.patch(f"{api}/sms/numbers/{entry['id']}", json=patch, headers=tenant.headers) as r:
        assert r.status == 200, await r.text()
        clear = {"version": (await r.json())["version"], "routing_target": None}
    async with http.patch(f"{api}/sms/numbers/{entry['id']}", json=clear, headers=tenant.headers) as r:
        assert r.status == 200, await r.text()
        cleared = await r.json()
    assert cleared["effective_routing_target"] == {"target": "flow-organization", "from": "organization"}

    customer = _customer()
    conversation = f"{number}|{customer}"
    async with TopicWatcher(
        endpoints.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], {conversation}, from_end=True
    ) as w:
        routed = await Texting(http, endpoints, w, number, customer).until(
            m.InboundMessageRouted, "Hallo", queue="flow-organization"
        )
    assert routed.organization_id == tenant.organization_id

    patch = {"version": cleared["version"], "routing_target": "queue-still-bound"}
    async with http.patch(f"{api}/sms/numbers/{entry['id']}", json=patch, headers=tenant.headers) as r:
        assert r.status == 200, await r.text()
    async with http.delete(f"{api}/integrations/{tenant.integration_id}", headers=tenant.headers) as r:
        assert r.status == 204

    async def gone() -> bool:
        return not await _numbers(http, endpoints, tenant)

    await eventually(gone, within=30, interval=0.3, what="the deleted integration's numbers gone from the list")


async def test_every_route_needs_its_permission_and_hides_other_organizations_numbers(
    system: tuple[Endpoints, bytes], http: aiohttp.ClientSession
) -> None:
    endpoints, key = system
    api = api_of(endpoints)
    tenant = await connect_tenant(http, endpoints, key)
    number, _ = await import_number(http, endpoints, tenant)
    entry = await listed(http, endpoints, tenant, number)
    item = f"{api}/sms/numbers/{entry['id']}"
    patch = {"version": entry["version"], "routing_target": "queue-x"}
    integrations_only = bearer(key, tenant.organization_id, ("integrations:integration:view",))
    routes: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("GET", f"{api}/sms/numbers", None, "sms:phoneNumber:view"),
        ("GET", item, None, "sms:phoneNumber:view"),
        ("PATCH", item, patch, "sms:phoneNumber:edit"),
        ("DELETE", item, None, "sms:phoneNumber:delete"),
        ("GET", f"{api}/sms/routing-defaults", None, "sms:phoneNumber:view"),
        ("PUT", f"{api}/sms/routing-defaults", {"default_routing_target": "q"}, "sms:phoneNumber:edit"),
    ]
    for method, url, body, permission in routes:
        async with http.request(method, url, json=body, headers=integrations_only) as r:
            assert r.status == 403, (method, url)
            problem = await r.json()
            assert problem["code"] == "forbidden"
            assert permission in problem["detail"]
        # The permission alone (or sms:phoneNumber:all, which every other call here uses) opens it.
        if method != "DELETE":
            own = bearer(key, tenant.organization_id, (permission,))
            async with http.request(method, url, json=body, headers=own) as r:
                assert r.status in (200, 202), (method, url, await r.text())
    # Another organization: the number does not exist for it.
    stranger = bearer(key, f"org-{uuid.uuid4().hex[:8]}")
    status, body = await _get(http, f"{api}/sms/numbers", stranger)
    assert (status, body["items"]) == (200, [])
    for method in ("GET", "PATCH", "DELETE"):
        current = await listed(http, endpoints, tenant, number)
        async with http.request(
            method, item, json={"version": current["version"], "routing_target": "q"}, headers=stranger
        ) as r:
            assert r.status == 404, method
            assert (await r.json())["code"] == "not_found"
    assert (await listed(http, endpoints, tenant, number))["state"] == "active"  # untouched


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANG", "LC_"))}
    return subprocess.run(
        [str(Path(sys.executable).parent / "byosms"), *args], capture_output=True, text=True, timeout=60, env=env
    )


async def test_the_cli_lists_shows_routes_and_traces_through_the_api(
    system: tuple[Endpoints, bytes], http: aiohttp.ClientSession
) -> None:
    endpoints, key = system
    tenant = await connect_tenant(http, endpoints, key)
    number, import_id = await import_number(http, endpoints, tenant)
    await listed(http, endpoints, tenant, number)
    token = tenant.headers["Authorization"].removeprefix("Bearer ")
    common = ("--api", endpoints.provisioning_url, "--token", token)
    listing = await asyncio.to_thread(_cli, "numbers", "list", *common)
    assert listing.returncode == 0, listing.stderr
    rows = [line.split() for line in listing.stdout.splitlines() if number in line]
    assert [row[:5] for row in rows] == [[import_id, number, "local", "DE", "active"]]
    routed = await asyncio.to_thread(_cli, "numbers", "route", import_id, "--target", "queue-cli", *common)
    assert routed.returncode == 0, routed.stderr
    assert f"{number}: routed to queue-cli (from number" in routed.stdout
    shown = await asyncio.to_thread(_cli, "numbers", "show", import_id, "--json", *common)
    assert json.loads(shown.stdout)["routing_target"] == "queue-cli"
    stranger = bearer(key, f"org-{uuid.uuid4().hex[:8]}")["Authorization"].removeprefix("Bearer ")
    hidden = await asyncio.to_thread(
        _cli, "numbers", "show", import_id, "--api", endpoints.provisioning_url, "--token", stranger, "--lang", "de"
    )
    assert hidden.returncode == 1
    assert hidden.stderr.strip() == "byosms: Nicht gefunden. [not_found, HTTP 404]"

    customer = _customer()
    events = [topics.MESSAGE_EVENTS.name]
    async with TopicWatcher(endpoints.kafka_bootstrap, events, {f"{number}|{customer}"}, from_end=True) as w:
        message = await Texting(http, endpoints, w, number, customer).until(
            m.InboundMessageRouted, "Hallo", queue="queue-cli"
        )
    await traced(http, endpoints, tenant, message.payload.message_sid)
    trace = await asyncio.to_thread(_cli, "messages", "trace", message.payload.message_sid, *common)
    assert trace.returncode == 0, trace.stderr
    assert f"inbound message {message.payload.message_sid}" in trace.stdout
    assert "target=queue-cli" in trace.stdout

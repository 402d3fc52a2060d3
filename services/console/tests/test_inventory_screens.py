"""The screens built on issue 11's inventory and trace API, against a stand-in that answers in the
shape issue 11 documents (the real API is not in this deployment yet; the browser tests check
that the console then says so). The console runs for real; only the API behind it is a stand-in."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from byosms_console.app import build_app
from byosms_console.session import TOKEN_COOKIE
from byosms_console.settings import ConsoleSettings

pytestmark = pytest.mark.integration

NUMBER = {
    "id": "n1",
    "integration_id": "i1",
    "type": "local",
    "country": "DE",
    "address": "+4930123456",
    "twilio_sid": "PN" + "0" * 32,
    "compliance": None,
    "routing_target": None,
    "warnings": ["no_route"],
    "state": "active",
    "version": 3,
    "created_at": "2026-12-01T10:00:00+00:00",
    "updated_at": "2026-12-01T10:00:00+00:00",
    "latest_action": {"kind": "import", "state": "completed", "error": None},
}


class StandIn:
    def __init__(self, *, inventory: bool) -> None:
        self.inventory = inventory
        self.calls: list[tuple[str, str, Any, str]] = []

    def app(self) -> web.Application:
        app = web.Application()

        async def record(request: web.Request) -> Any:
            body = await request.json() if request.can_read_body else None
            self.calls.append((request.method, request.path_qs, body, request.headers.get("Accept-Language", "")))
            return body

        async def openapi(_request: web.Request) -> web.Response:
            paths = {"/api/v2/integrations": {}}
            if self.inventory:
                paths |= {"/api/v2/sms/numbers": {}, "/api/v2/sms/messages/{MessageSid}": {}}
            return web.json_response({"paths": paths})

        async def integrations(request: web.Request) -> web.Response:
            await record(request)
            return web.json_response(
                {"items": [{"id": "i1", "name": "Acme EU", "status": "active"}], "next_cursor": None}
            )

        async def numbers(request: web.Request) -> web.Response:
            await record(request)
            return web.json_response({"items": [NUMBER], "next_cursor": "c2"})

        async def number(request: web.Request) -> web.Response:
            body = await record(request)
            if request.method == "DELETE":
                return web.json_response({}, status=202)
            if request.method == "PATCH" and body["version"] != NUMBER["version"]:
                problem = {"code": "version_conflict", "detail": "The resource was changed by someone else."}
                return web.json_response(problem, status=409)
            return web.json_response(NUMBER)

        async def trace(request: web.Request) -> web.Response:
            await record(request)
            return web.json_response(
                {
                    "message_sid": request.match_info["sid"],
                    "direction": "inbound",
                    "region": "eu-central-1",
                    "steps": [
                        {"at": "2026-12-01T10:00:01Z", "step": "accepted", "spooled": False},
                        {"at": "2026-12-01T10:00:02Z", "step": "discarded", "reason": "no_route"},
                    ],
                }
            )

        app.router.add_get("/api/v2/openapi.json", openapi)
        app.router.add_get("/api/v2/integrations", integrations)
        app.router.add_get("/api/v2/sms/numbers", numbers)
        app.router.add_route("*", "/api/v2/sms/numbers/{id}", number)
        app.router.add_get("/api/v2/sms/messages/{sid}", trace)
        return app


def _token(*permissions: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"sub": "ann", "org": "acme", "exp": int(time.time()) + 600, "permissions": list(permissions)}
    return jwt.encode(claims, key, algorithm="RS256")


async def _console(stand_in: StandIn, *permissions: str) -> AsyncIterator[tuple[TestClient[Any, Any], StandIn]]:
    api = TestServer(stand_in.app())
    await api.start_server()
    settings = ConsoleSettings(api_url=str(api.make_url("")))
    client = TestClient(TestServer(build_app(settings)))
    await client.start_server()
    client.session.cookie_jar.update_cookies({TOKEN_COOKIE: _token(*permissions)})
    try:
        yield client, stand_in
    finally:
        await client.close()
        await api.close()


@pytest.fixture
async def console() -> AsyncIterator[tuple[TestClient[Any, Any], StandIn]]:
    async for pair in _console(StandIn(inventory=True), "integrations:integration:view", "sms:phoneNumber:all"):
        yield pair


def _origin(client: TestClient[Any, Any]) -> dict[str, str]:
    return {"Origin": str(client.make_url("")).rstrip("/")}


async def test_the_inventory_lists_numbers_with_state_filters_and_paging(console: Any) -> None:
    client, api = console
    response = await client.get(
        "/numbers?state=active&type=local&address_prefix=%2B4930&cursor=c1", headers={"Accept-Language": "de"}
    )
    page = await response.text()
    assert response.status == 200
    assert "+4930123456" in page
    assert "Acme EU" in page  # the integration's name, not its id
    assert "Aktiv" in page
    assert "Keine Warteschlange: eingehende Nachrichten werden verworfen" in page
    assert "Import: abgeschlossen" in page
    assert "cursor=c2" in page  # the next page
    method, path, _, language = next(c for c in api.calls if c[1].startswith("/api/v2/sms/numbers"))
    assert (method, language) == ("GET", "de")
    assert "state=active" in path
    assert "type=local" in path
    assert "address_prefix=%2B4930" in path
    assert "cursor=c1" in path


async def test_removing_a_number_asks_first_then_calls_delete(console: Any) -> None:
    client, api = console
    dialog = await (await client.get("/numbers/n1/remove")).text()
    assert "Remove number?" in dialog
    assert "+4930123456 is removed from the SMS number inventory" in dialog
    response = await client.post("/numbers/n1/remove", headers=_origin(client), allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/numbers?done=removal"
    assert ("DELETE", "/api/v2/sms/numbers/n1") in [(c[0], c[1]) for c in api.calls]


async def test_setting_a_queue_sends_the_numbers_version_and_shows_a_conflict(console: Any) -> None:
    client, api = console
    response = await client.post(
        "/numbers/n1/queue",
        data={"routing_target": "queue-support", "version": "3"},
        headers=_origin(client),
        allow_redirects=False,
    )
    assert response.status == 303
    patch = next(c for c in api.calls if c[0] == "PATCH")
    assert patch[2] == {"version": 3, "routing_target": "queue-support"}
    stale = await client.post(
        "/numbers/n1/queue", data={"routing_target": "q", "version": "2"}, headers=_origin(client)
    )
    assert stale.status == 409
    assert "The resource was changed by someone else." in await stale.text()


async def test_a_message_trace_shows_each_step(console: Any) -> None:
    client, _ = console
    page = await (await client.get("/messages?sid=SM" + "1" * 32)).text()
    assert "SM" + "1" * 32 in page
    assert "discarded" in page
    assert "no_route" in page


async def test_without_issue_11s_api_the_screens_say_so() -> None:
    async for client, _ in _console(StandIn(inventory=False), "sms:phoneNumber:all"):
        numbers = await (await client.get("/numbers")).text()
        assert "offers no number inventory list yet" in numbers
        trace = await (await client.get("/messages?sid=SM1")).text()
        assert "offers no message trace yet" in trace


async def test_a_form_posted_from_another_site_is_refused(console: Any) -> None:
    client, api = console
    response = await client.post("/numbers/n1/remove", headers={"Origin": "https://evil.example"})
    assert response.status == 403
    assert not [c for c in api.calls if c[0] == "DELETE"]

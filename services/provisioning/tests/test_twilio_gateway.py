"""Twilio error mapping (every table row) and the redirect to a fake base URL."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.response import Response

from byosms_provisioning import twilio_gateway as gw
from twilio_emulator.app import create_app
from twilio_emulator.settings import EmulatorSettings

T = TypeVar("T")

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("twilio_code", "rule"), sorted(gw.TWILIO_CODE_RULES.items()))
def test_every_twilio_code_row_is_applied(twilio_code: int, rule: gw.ErrorRule) -> None:
    error = gw.map_exception(TwilioRestException(400, "https://api.twilio.com/x", "msg", code=twilio_code))
    assert (error.code, error.retryable) == (rule.code, rule.retryable)


@pytest.mark.parametrize(("status", "rule"), sorted(gw.HTTP_STATUS_RULES.items()))
def test_every_http_status_row_is_applied(status: int, rule: gw.ErrorRule) -> None:
    error = gw.map_exception(TwilioRestException(status, "https://api.twilio.com/x", "msg", code=None))
    assert (error.code, error.retryable) == (rule.code, rule.retryable)


@pytest.mark.parametrize(
    ("exc", "code", "retryable"),
    [
        (TwilioRestException(502, "u", "m", code=None), "vendor_unavailable", True),
        (TwilioRestException(400, "u", "m", code=21211), "vendor_rejected", False),
        (TimeoutError(), "vendor_unavailable", True),
        (aiohttp.ClientConnectionError("refused"), "vendor_unavailable", True),
        (ConnectionRefusedError(), "vendor_unavailable", True),
        # list()/page() failures: a plain TwilioException carrying the response (twilio-facts 5.8).
        (
            TwilioException("Unable to fetch page", Response(401, json.dumps({"code": 20003}))),
            "credentials_rejected",
            False,
        ),
        (TwilioException("Unable to fetch page", Response(503, "oops")), "vendor_unavailable", True),
        (RuntimeError("anything else"), "vendor_rejected", False),
    ],
)
def test_other_failures(exc: BaseException, code: str, retryable: bool) -> None:
    error = gw.map_exception(exc)
    assert (error.code, error.retryable) == (code, retryable)


def test_vendor_rejected_names_the_twilio_code_only() -> None:
    error = gw.map_exception(TwilioRestException(400, "u", "token abc leaked?", code=21211))
    assert "21211" in error.message("en")
    assert "abc" not in error.message("en")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://api.twilio.com/2010-04-01/Accounts/AC1.json?x=1",
            "http://127.0.0.1:9/2010-04-01/Accounts/AC1.json?x=1",
        ),
        ("https://messaging.twilio.com/v1/Services", "http://127.0.0.1:9/v1/Services"),
        ("https://example.com/v1/Services", "https://example.com/v1/Services"),
        ("https://twilio.com.evil.example/x", "https://twilio.com.evil.example/x"),
    ],
)
def test_redirect_url(url: str, expected: str) -> None:
    assert gw.redirect_url(url, "http://127.0.0.1:9") == expected


async def test_calls_have_a_deadline() -> None:
    gateway = gw.TwilioGateway(api_base="http://127.0.0.1:9", timeout_seconds=0.05)

    async def stall() -> None:
        await asyncio.sleep(5)

    with pytest.raises(gw.VendorError) as caught:
        await gateway.call("stall", stall)
    assert caught.value.code == "vendor_unavailable"
    assert caught.value.retryable


async def test_client_requires_start() -> None:
    gateway = gw.TwilioGateway(api_base=None, timeout_seconds=1)
    with pytest.raises(RuntimeError):
        gateway.client("AC" + "0" * 32, "t" * 32)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: no wait
        ("soon", None),
        ("-3", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert gw.parse_retry_after(header, now) == seconds


@contextlib.asynccontextmanager
async def _fake_twilio(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


ACCOUNT = "AC" + "a" * 32


async def test_429_carries_twilios_retry_after() -> None:
    async def too_many(_: web.Request) -> web.Response:
        body = {"code": 20429, "message": "Too Many Requests", "status": 429}
        return web.json_response(body, status=429, headers={"Retry-After": "7"})

    async with _fake_twilio(too_many) as base:
        gateway = gw.TwilioGateway(api_base=base, timeout_seconds=2)
        await gateway.start()
        try:
            with pytest.raises(gw.VendorError) as caught:
                await gw.list_incoming_numbers(gateway, ACCOUNT, "t" * 32, "+4915112345678")
        finally:
            await gateway.close()
    assert (caught.value.code, caught.value.retryable) == ("vendor_unavailable", True)
    assert gw.retry_after_of(caught.value) == 7.0


async def test_503_carries_no_retry_after() -> None:
    async def unavailable(_: web.Request) -> web.Response:
        return web.json_response({"code": 20503}, status=503, headers={"Retry-After": "7"})

    async with _fake_twilio(unavailable) as base:
        gateway = gw.TwilioGateway(api_base=base, timeout_seconds=2)
        await gateway.start()
        try:
            with pytest.raises(gw.VendorError) as caught:
                await gw.list_incoming_numbers(gateway, ACCOUNT, "t" * 32, "+4915112345678")
        finally:
            await gateway.close()
    assert gw.retry_after_of(caught.value) is None


class _CountingGateway(gw.TwilioGateway):
    """Counts how many member lookups are in flight at once."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_flight = 0
        self.most = 0
        self.member_calls = 0

    async def call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        if what != "fetch messaging service member":
            return await super().call(what, operation)
        self.in_flight += 1
        self.member_calls += 1
        self.most = max(self.most, self.in_flight)
        try:
            return await super().call(what, operation)
        finally:
            self.in_flight -= 1


async def test_messaging_service_lookup_runs_in_parallel_with_a_cap() -> None:
    services = [f"MG{n:032d}" for n in range(12)]
    server = TestServer(create_app(EmulatorSettings()))
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    gateway = _CountingGateway(api_base=base, timeout_seconds=2, max_concurrency=4)
    await gateway.start()
    try:
        seed = {
            "accounts": [{"sid": ACCOUNT, "auth_token": "t" * 32}],
            "services": [
                {"account_sid": ACCOUNT, "sid": sid, "use_inbound_webhook_on_number": True} for sid in services
            ],
            "phone_numbers": [
                {
                    "account_sid": ACCOUNT,
                    "phone_number": "+4915112345678",
                    "sid": "PN" + "1" * 32,
                    "service_sid": services[9],
                }
            ],
            # Every member lookup takes 200 ms: one after the other, 12 services would take 2.4 s.
            "faults": [{"path_contains": "/PhoneNumbers/", "latency_ms": 200}],
        }
        async with aiohttp.ClientSession() as http, http.post(base + "/_emulator/seed", json=seed) as resp:
            assert resp.status == 200, await resp.text()
        started = asyncio.get_running_loop().time()
        found = await gw.messaging_service_of(gateway, ACCOUNT, "t" * 32, "PN" + "1" * 32, short_code=False)
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        await gateway.close()
        await server.close()
    assert found is not None
    assert found.sid == services[9]
    assert found.use_inbound_webhook_on_number
    assert gateway.most == 4  # parallel, never more than the cap
    assert elapsed < 1.5, elapsed

"""Twilio error mapping (every table row) and the redirect to a fake base URL."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.response import Response

from byosms_provisioning import twilio_gateway as gw

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

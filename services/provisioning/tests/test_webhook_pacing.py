"""The scheduled checks' pacing: one Twilio account's requests keep to the rate, and a 429's Retry-After
holds back the request that got it and every other request of that account."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from byosms_common.request_pacing import Pacer
from byosms_provisioning.twilio_gateway import TwilioCallError
from byosms_provisioning.webhook_checks.twilio_config import ConfigReader

pytestmark = pytest.mark.unit

T = TypeVar("T")


class FakeGateway:
    """Answers like Twilio would: 429 with Retry-After for the first ``throttled`` calls."""

    def __init__(self, throttled: int, retry_after: float) -> None:
        self.throttled = throttled
        self.retry_after = retry_after
        self.calls: list[float] = []

    def client(self, account_sid: str, auth_token: str) -> Any:
        return object()

    async def call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        self.calls.append(asyncio.get_running_loop().time())
        if self.throttled:
            self.throttled -= 1
            raise TwilioCallError("vendor_unavailable", retryable=True, retry_after=self.retry_after)
        return await operation()


async def answer() -> str:
    return "answer"


async def test_a_429_is_retried_after_retry_after_and_holds_the_account_back() -> None:
    gateway = FakeGateway(throttled=1, retry_after=0.3)
    pacer = Pacer(rate=100)
    reader = ConfigReader(gateway, "AC1", "token", pacer=pacer)  # type: ignore[arg-type]
    other = ConfigReader(gateway, "AC1", "token", pacer=pacer)  # type: ignore[arg-type]

    assert await reader.call("fetch", answer) == "answer"
    first, retried = gateway.calls
    assert retried - first >= 0.3
    # The account's other reader also waits: its slot comes after the hold.
    await other.call("fetch", answer)
    assert gateway.calls[2] >= first + 0.3


async def test_requests_of_one_account_keep_to_the_rate() -> None:
    gateway = FakeGateway(throttled=0, retry_after=0)
    pacer = Pacer(rate=20)
    reader = ConfigReader(gateway, "AC1", "token", pacer=pacer)  # type: ignore[arg-type]
    await asyncio.gather(*(reader.call("fetch", answer) for _ in range(6)))
    gaps = [b - a for a, b in zip(gateway.calls, gateway.calls[1:], strict=False)]
    assert all(gap >= 0.05 - 0.005 for gap in gaps), gaps


async def test_a_429_without_retry_after_is_retried_with_backoff_and_then_reported() -> None:
    gateway = FakeGateway(throttled=10, retry_after=0)
    reader = ConfigReader(gateway, "AC1", "token", pacer=Pacer(rate=100), attempts=2)  # type: ignore[arg-type]
    with pytest.raises(TwilioCallError) as info:
        await reader.call("fetch", answer)
    assert info.value.code == "vendor_unavailable"
    assert len(gateway.calls) == 2

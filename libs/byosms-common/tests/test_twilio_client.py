"""The shared Twilio client part: failures classified, deadline, retries with backoff within a bound."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException

from byosms_common.twilio_client import (
    Backoff,
    FailureKind,
    TwilioClients,
    TwilioFailure,
    classify,
    retry_with_backoff,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("exc", "kind", "status", "code"),
    [
        (TwilioRestException(400, "u", "m", code=21211), FailureKind.ANSWERED, 400, 21211),
        (TwilioRestException(429, "u", "m", code=20429), FailureKind.ANSWERED, 429, 20429),
        (ConnectionRefusedError(), FailureKind.UNREACHABLE, None, None),
        (TimeoutError(), FailureKind.NO_ANSWER, None, None),
        (aiohttp.ServerDisconnectedError(), FailureKind.NO_ANSWER, None, None),
    ],
)
def test_failures_are_classified(exc: BaseException, kind: FailureKind, status: int | None, code: int | None) -> None:
    failure = classify(exc)
    assert (failure.kind, failure.status, failure.code) == (kind, status, code)


def test_retry_after_is_kept_only_for_429() -> None:
    assert classify(TwilioRestException(429, "u", "m", code=20429), retry_after=3).retry_after == 3
    assert classify(TwilioRestException(503, "u", "m", code=20503), retry_after=3).retry_after is None


async def test_a_call_past_its_deadline_has_no_answer() -> None:
    clients = TwilioClients(api_base="http://127.0.0.1:9", timeout_seconds=0.05)

    async def stall() -> None:
        await asyncio.sleep(5)

    with pytest.raises(TwilioFailure) as caught:
        await clients.run("stall", stall)
    assert caught.value.kind is FailureKind.NO_ANSWER


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


async def test_retries_back_off_with_jitter_until_success() -> None:
    clock = _Clock()
    outcomes: list[Exception | str] = [TwilioFailure(FailureKind.ANSWERED, status=429, code=20429)] * 3 + ["ok"]

    async def call() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = await retry_with_backoff(
        call,
        retryable=lambda e: isinstance(e, TwilioFailure),
        within_seconds=10,
        backoff=Backoff(first=0.2, cap=5.0),
        sleep=clock.sleep,
        clock=clock.time,
    )
    assert result == "ok"
    assert len(clock.waits) == 3
    for attempt, wait in enumerate(clock.waits, start=2):
        ceiling = min(5.0, 0.2 * 2 ** (attempt - 2))
        assert ceiling / 2 <= wait <= ceiling


async def test_retries_stop_within_the_bound_and_honour_retry_after() -> None:
    clock = _Clock()
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        raise TwilioFailure(FailureKind.ANSWERED, status=429, code=20429, retry_after=2.0)

    with pytest.raises(TwilioFailure):
        await retry_with_backoff(call, retryable=lambda e: True, within_seconds=5, sleep=clock.sleep, clock=clock.time)
    assert all(wait >= 2.0 for wait in clock.waits)
    assert clock.now < 5
    assert calls == len(clock.waits) + 1


async def test_a_failure_that_may_not_pass_is_raised_at_once() -> None:
    clock = _Clock()

    async def call() -> str:
        raise TwilioFailure(FailureKind.ANSWERED, status=400, code=21211)

    with pytest.raises(TwilioFailure):
        await retry_with_backoff(call, retryable=lambda e: False, within_seconds=5, sleep=clock.sleep, clock=clock.time)
    assert clock.waits == []


async def test_an_unreadable_answer_to_a_create_is_no_answer_not_a_refusal() -> None:
    """A create that raised something that is not Twilio's answer (e.g. a 201 whose body did not
    parse) may have created the message: NO_ANSWER, never ANSWERED."""
    clients = TwilioClients(api_base=None, timeout_seconds=1.0)

    async def unreadable() -> None:
        raise ValueError("Expecting value: line 1 column 1 (char 0)")

    with pytest.raises(TwilioFailure) as created:
        await clients.run("create message", unreadable, creates=True)
    assert (created.value.kind, created.value.status, created.value.code) == (FailureKind.NO_ANSWER, None, None)
    assert classify(KeyError("sid"), creates=True).kind is FailureKind.NO_ANSWER
    # An answer stays an answer; reads keep the old classification.
    assert classify(TwilioRestException(400, "u", "m", code=21211), creates=True).kind is FailureKind.ANSWERED
    assert classify(ValueError("x")).kind is FailureKind.ANSWERED

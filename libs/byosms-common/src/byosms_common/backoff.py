"""Trying again: exponential backoff with jitter, and one retry loop, for every place that waits for
a dependency (Kafka, PostgreSQL, Twilio) — instead of each writing its own."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Before try ``n`` (2, 3, ...) wait between half and all of ``first * 2**(n-2)``, at most ``cap``
    seconds: the waits double, and jitter keeps many clients from retrying in step."""

    first: float = 0.2
    cap: float = 5.0

    def ceiling(self, attempt: int) -> float:
        return float(min(self.cap, self.first * 2 ** min(max(attempt - 2, 0), 32)))

    def delay(self, attempt: int) -> float:
        ceiling = self.ceiling(attempt)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security


class GaveUp(Exception):
    """Raised by :func:`retry` when ``attempts`` or ``deadline`` ran out; the last error is its cause."""


async def retry(
    operation: Callable[[], Awaitable[T]],
    *,
    retryable: Callable[[Exception], bool],
    backoff: Backoff | None = None,
    attempts: int | None = None,
    deadline: float | None = None,
    wait_at_least: Callable[[Exception], float | None] | None = None,
    what: str = "operation",
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] | None = None,
) -> T:
    """Run ``operation``; while it fails with an error ``retryable`` accepts, wait and try again.

    Stops after ``attempts`` tries in all, or when the next wait would pass ``deadline`` (a time of
    ``clock``, the event loop's by default): then the last error is raised as it is — the caller sees
    what went wrong, not a wrapper. ``wait_at_least`` may ask for a longer wait (a 429's
    ``Retry-After``). An error ``retryable`` refuses is raised at once.
    """
    pacing = backoff or Backoff()
    now = clock or asyncio.get_running_loop().time
    attempt = 1
    while True:
        try:
            return await operation()
        except Exception as exc:
            if not retryable(exc):
                raise
            if attempts is not None and attempt >= attempts:
                log.warning("%s: giving up after %d attempt(s)", what, attempt)
                raise
            attempt += 1
            wait = pacing.delay(attempt)
            asked = wait_at_least(exc) if wait_at_least is not None else None
            if asked is not None:
                wait = max(wait, asked)
            if deadline is not None and now() + wait >= deadline:
                log.warning(
                    "%s: giving up after %d attempt(s); the next wait would pass the deadline", what, attempt - 1
                )
                raise
            await sleep(wait)

"""Helpers for byosms tests: wait for an outcome by polling to a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], T | Awaitable[T]],
    *,
    within: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call ``probe`` until it returns a truthy value and return that; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while True:
        outcome = probe()
        last = await outcome if isinstance(outcome, Awaitable) else outcome
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {within}s (last: {last!r})")
        await asyncio.sleep(interval)

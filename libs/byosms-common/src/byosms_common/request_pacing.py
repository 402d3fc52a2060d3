"""Pacing of requests to Twilio per account: at most ``rate`` a second, and a 429's ``Retry-After``
holding the account's next request back. Twilio limits each account on its own, so background jobs
that ask Twilio for many tenants (provisioning's webhook checks, routing's recovery of missed
messages) keep one :class:`Pacer` per account in :class:`AccountPacers`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class Pacer:
    """Spaces requests ``1 / rate`` seconds apart; :meth:`pause` honours a Retry-After."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._gap = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def turn(self) -> None:
        """Wait for this request's turn."""
        async with self._lock:
            wait = self._next - self._now()
            if wait > 0:
                await self._sleep(wait)
            self._next = max(self._now(), self._next) + self._gap

    def pause(self, seconds: float) -> None:
        """No request before ``seconds`` from now."""
        self._next = max(self._next, self._now() + seconds)


class AccountPacers:
    """One :class:`Pacer` per Twilio account (or integration), made on first use."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate, self._clock, self._sleep = rate, clock, sleep
        self._pacers: dict[str, Pacer] = {}

    def of(self, account: str) -> Pacer:
        pacer = self._pacers.get(account)
        if pacer is None:
            pacer = self._pacers[account] = Pacer(self._rate, self._clock, self._sleep)
        return pacer

    def forget(self, keep: set[str]) -> None:
        """Drop the pacers of accounts not in ``keep`` (no longer active)."""
        for account in [a for a in self._pacers if a not in keep]:
            del self._pacers[account]

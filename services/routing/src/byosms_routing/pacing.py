"""Outbound pacing: one token bucket per sender, so one tenant's campaign neither trips Twilio's
20429/21611 nor delays another tenant's sends. Pure (the clock is passed in).

A sender's rate comes from its number type (Twilio's per-number throughput: a long code, local or
mobile, 1 message/s; toll-free 3/s; a short code 100/s) unless ``BYOSMS_ROUTING_SENDER_RATES`` names
the sender. A bucket holds at most ``burst`` tokens (one second's worth, at least one) and refills at
the rate; each send takes one. :meth:`TokenBucket.take` *reserves* the token and says how long to wait
for it, so whoever waits that long before asking Twilio never sends more than ``burst + rate * t``
messages in any window of ``t`` seconds.

When Twilio still answers 429/20429 (the account's limits are lower, or other software sends from the
same number), :meth:`TokenBucket.slow_down` halves the sender's rate for a while (60 s from the last
429, at most down to a sixteenth) and empties the bucket; then the configured rate applies again.

The buckets live in one routing process. Outbound commands are keyed by sender, so all of a sender's
commands are on one partition and reach the one process that owns it, which handles them one at a
time: the pace holds whatever the number of replicas. (Commands a platform keyed otherwise are still
sent, but their sender may then get the rate of each process its commands reach.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from byosms_common.messages import NumberType

DEFAULT_RATES: Mapping[NumberType, float] = {
    NumberType.LOCAL: 1.0,
    NumberType.MOBILE: 1.0,
    NumberType.TOLLFREE: 3.0,
    NumberType.SHORTCODE: 100.0,
}
"""Messages per second per sender by number type (Twilio's default throughput per number)."""

UNKNOWN_TYPE_RATE = 1.0
"""A sender not in the inventory is refused before pacing; should one get here, it gets the slowest rate."""

SLOW_FACTOR = 0.5
SLOW_SECONDS = 60.0
SLOWEST_FRACTION = 1 / 16
_MAX_IDLE_BUCKETS = 10_000


def sender_rate(sender: str, number_type: NumberType | None, overrides: Mapping[str, float]) -> float:
    """Messages per second for ``sender``: the operator's override, else its number type's default."""
    if sender in overrides:
        return overrides[sender]
    if number_type is None:
        return UNKNOWN_TYPE_RATE
    return DEFAULT_RATES.get(number_type, UNKNOWN_TYPE_RATE)


def burst_for(rate: float) -> float:
    """Tokens a bucket may hold: one second's worth, at least one message."""
    return max(1.0, rate)


@dataclass(slots=True)
class TokenBucket:
    """A token bucket whose tokens may go negative: a negative count is tokens already promised to
    senders who are waiting for them."""

    rate: float
    burst: float
    tokens: float
    at: float
    """When ``tokens`` was last brought up to date (clock seconds)."""
    slow_rate: float = 0.0
    slow_until: float = -math.inf

    @classmethod
    def full(cls, rate: float, now: float) -> TokenBucket:
        if not rate > 0:
            raise ValueError("a sender's rate must be positive")
        burst = burst_for(rate)
        return cls(rate=rate, burst=burst, tokens=burst, at=now, slow_rate=rate)

    def current_rate(self, now: float) -> float:
        return self.slow_rate if now < self.slow_until else self.rate

    def _refill(self, now: float) -> None:
        if now <= self.at:
            return
        slowed = max(0.0, min(now, self.slow_until) - self.at)
        gained = slowed * self.slow_rate + (now - self.at - slowed) * self.rate
        self.tokens = min(self.burst, self.tokens + gained)
        self.at = now

    def take(self, now: float) -> float:
        """Reserve one token; the seconds to wait from ``now`` until it may be used (0: send now)."""
        self._refill(now)
        self.tokens -= 1.0
        if self.tokens >= 0:
            return 0.0
        # Owed tokens come at the current rate; should a slow period end meanwhile, they come sooner,
        # so this wait is never too short.
        return -self.tokens / self.current_rate(now)

    def slow_down(self, now: float) -> None:
        """Twilio said 429/20429: halve the current rate (not below a sixteenth of the configured one)
        for :data:`SLOW_SECONDS` from now, and spend what the bucket holds."""
        self._refill(now)
        self.slow_rate = max(self.rate * SLOWEST_FRACTION, self.current_rate(now) * SLOW_FACTOR)
        self.slow_until = now + SLOW_SECONDS
        self.tokens = min(self.tokens, 0.0)

    def idle(self, now: float) -> bool:
        """Full and not slowed: forgetting it changes nothing."""
        self._refill(now)
        return self.tokens >= self.burst and now >= self.slow_until


class SenderPacer:
    """The buckets of every sender this process sends for."""

    def __init__(self, overrides: Mapping[str, float], *, clock: Callable[[], float]) -> None:
        self._overrides = dict(overrides)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def _bucket(self, sender: str, number_type: NumberType | None, now: float) -> TokenBucket:
        rate = sender_rate(sender, number_type, self._overrides)
        bucket = self._buckets.get(sender)
        if bucket is None or bucket.rate != rate:  # new, or its number type changed
            if len(self._buckets) >= _MAX_IDLE_BUCKETS:
                self._forget_idle(now)
            bucket = TokenBucket.full(rate, now)
            self._buckets[sender] = bucket
        return bucket

    def reserve(self, sender: str, number_type: NumberType | None) -> float:
        """Reserve the next send of ``sender``: seconds to wait before asking Twilio."""
        now = self._clock()
        return self._bucket(sender, number_type, now).take(now)

    def throttled(self, sender: str) -> None:
        """Twilio refused a send of ``sender`` with 429/20429."""
        bucket = self._buckets.get(sender)
        if bucket is not None:
            bucket.slow_down(self._clock())

    def rate_of(self, sender: str, number_type: NumberType | None) -> float:
        """The rate ``sender`` is held to now (lower while slowed down after a 429)."""
        now = self._clock()
        bucket = self._buckets.get(sender)
        if bucket is None:
            return sender_rate(sender, number_type, self._overrides)
        return bucket.current_rate(now)

    def _forget_idle(self, now: float) -> None:
        for sender in [s for s, b in self._buckets.items() if b.idle(now)]:
            del self._buckets[sender]

"""Per-sender token buckets: a sender is held to its pace whatever the order and timing of its sends,
a 429 slows it down for a while, and one sender's campaign never delays another sender."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from byosms_common.messages import NumberType
from byosms_routing.pacing import SLOW_SECONDS, SenderPacer, TokenBucket, sender_rate

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("number_type", "rate"),
    [
        (NumberType.LOCAL, 1.0),
        (NumberType.MOBILE, 1.0),
        (NumberType.TOLLFREE, 3.0),
        (NumberType.SHORTCODE, 100.0),
        (None, 1.0),
    ],
)
def test_default_rate_by_number_type(number_type: NumberType | None, rate: float) -> None:
    assert sender_rate("+4930123", number_type, {}) == rate


def test_an_override_wins_over_the_number_type() -> None:
    assert sender_rate("+4930123", NumberType.LOCAL, {"+4930123": 25.0}) == 25.0
    assert sender_rate("+4930999", NumberType.LOCAL, {"+4930123": 25.0}) == 1.0


def test_a_long_code_sends_one_at_once_then_one_per_second() -> None:
    clock = Clock()
    pacer = SenderPacer({}, clock=clock)
    waits = [pacer.reserve("+4930123", NumberType.LOCAL) for _ in range(4)]
    assert waits == [0.0, 1.0, 2.0, 3.0]


def test_another_sender_is_not_delayed_by_a_busy_one() -> None:
    clock = Clock()
    pacer = SenderPacer({}, clock=clock)
    for _ in range(100):
        pacer.reserve("+4930111", NumberType.LOCAL)  # a campaign: 100 messages queued on one number
    assert pacer.reserve("+4930222", NumberType.LOCAL) == 0.0
    assert pacer.reserve("US:12345", NumberType.SHORTCODE) == 0.0


def test_a_short_code_sends_a_burst_of_one_second_then_at_its_rate() -> None:
    clock = Clock()
    pacer = SenderPacer({}, clock=clock)
    waits = [pacer.reserve("US:12345", NumberType.SHORTCODE) for _ in range(101)]
    assert waits[:100] == [0.0] * 100
    assert waits[100] == pytest.approx(0.01)


def test_a_429_halves_the_rate_for_a_while_then_it_recovers() -> None:
    clock = Clock()
    pacer = SenderPacer({"+4930123": 4.0}, clock=clock)
    assert pacer.reserve("+4930123", NumberType.LOCAL) == 0.0
    pacer.throttled("+4930123")
    assert pacer.rate_of("+4930123", NumberType.LOCAL) == 2.0
    assert pacer.reserve("+4930123", NumberType.LOCAL) == pytest.approx(0.5)  # the bucket was emptied
    pacer.throttled("+4930123")
    pacer.throttled("+4930123")
    pacer.throttled("+4930123")
    pacer.throttled("+4930123")
    assert pacer.rate_of("+4930123", NumberType.LOCAL) == 0.25  # never below a sixteenth
    clock.now += SLOW_SECONDS + 1
    assert pacer.rate_of("+4930123", NumberType.LOCAL) == 4.0
    assert pacer.reserve("+4930123", NumberType.LOCAL) == 0.0


def test_an_unknown_sender_throttled_changes_nothing() -> None:
    pacer = SenderPacer({}, clock=Clock())
    pacer.throttled("+4930123")
    assert pacer.reserve("+4930123", NumberType.LOCAL) == 0.0


def test_a_rate_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket.full(0.0, 0.0)


def _max_in_window(send_times: list[float], window: float) -> int:
    times = sorted(send_times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


@given(
    rate=st.sampled_from([0.5, 1.0, 3.0, 7.5, 100.0]),
    gaps=st.lists(st.floats(min_value=0.0, max_value=3.0, allow_nan=False), min_size=1, max_size=60),
    throttle_at=st.sets(st.integers(min_value=0, max_value=59), max_size=5),
    window=st.floats(min_value=0.0, max_value=20.0, allow_nan=False),
)
def test_never_more_than_burst_plus_rate_times_t_in_any_window(
    rate: float, gaps: list[float], throttle_at: set[int], window: float
) -> None:
    """Whoever waits as told before sending: at most burst + rate * t sends in any window of t seconds,
    whenever the sends were asked for and whatever 429s came in between."""
    now = 0.0
    bucket = TokenBucket.full(rate, now)
    sends: list[float] = []
    for i, gap in enumerate(gaps):
        now += gap
        if i in throttle_at:
            bucket.slow_down(now)
        sends.append(now + bucket.take(now))
    assert sends == sorted(sends)  # reservations are served in order
    assert _max_in_window(sends, window) <= bucket.burst + rate * window + 1e-6


@given(
    rate=st.sampled_from([1.0, 3.0, 100.0]),
    count=st.integers(min_value=1, max_value=300),
)
def test_a_sender_asking_all_at_once_is_served_at_exactly_its_rate(rate: float, count: int) -> None:
    bucket = TokenBucket.full(rate, 0.0)
    waits = [bucket.take(0.0) for _ in range(count)]
    burst = int(bucket.burst)
    assert waits[:burst] == [0.0] * min(burst, count)
    for n, wait in enumerate(waits[burst:], start=1):
        assert wait == pytest.approx(n / rate)

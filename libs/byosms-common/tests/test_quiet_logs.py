"""A broker outage is told in a few lines, not thousands: client-library repeats are held back, and
a consumer says once when a dependency goes, every so often while it stays away, and once when back."""

from __future__ import annotations

import logging

import pytest

from byosms_common.consumer import OutageLog
from byosms_common.logs import RepeatFilter

pytestmark = pytest.mark.unit


def _record(msg: str, name: str = "aiokafka.conn") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("127.0.0.1:9092",), None)


def test_repeats_of_one_kind_pass_once_per_window_with_a_count() -> None:
    now = [0.0]
    quiet = RepeatFilter(every_s=30, clock=lambda: now[0])
    passed = []
    for second in range(95):  # a refused connection every 10 ms for 95 s
        for _ in range(100):
            now[0] = second + _ / 100
            record = _record('Unable connect to "%s"')
            if quiet.filter(record):
                passed.append(record.getMessage())
    assert len(passed) == 4  # at 0 s, 30 s, 60 s, 90 s instead of 9,500 lines
    assert passed[0] == 'Unable connect to "127.0.0.1:9092"'
    assert "and 2999 more like it" in passed[1]


def test_different_messages_are_not_held_back_by_each_other() -> None:
    quiet = RepeatFilter(every_s=30, clock=lambda: 0.0)
    assert quiet.filter(_record("connection refused %s"))
    assert quiet.filter(_record("heartbeat failed %s"))
    assert quiet.filter(_record("connection refused %s", name="aiokafka.client"))
    assert not quiet.filter(_record("connection refused %s"))


def test_an_outage_is_said_when_it_starts_while_it_lasts_and_when_it_ends(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    monkeypatch.setattr("byosms_common.consumer.time.monotonic", lambda: now[0])
    outage = OutageLog("routing:inbound", every_s=30)
    caplog.set_level(logging.WARNING)
    for step in range(700):  # a fault every 0.1 s for 70 s
        now[0] = 100 + step / 10
        outage.fault(ConnectionRefusedError())
    assert outage.waiting
    now[0] = 171.0
    outage.ok()
    outage.ok()  # nothing more to say
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4, lines
    assert "waits for a dependency (ConnectionRefusedError)" in lines[0]
    assert "still waiting" in lines[1]
    assert "still waiting" in lines[2]
    assert "back after 71.0s (700 faults)" in lines[3]
    assert not outage.waiting

"""Signature failure reports: rate-limited per integration, with counts, and one recovery report."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from byosms_common.messages import WebhookSignatureFailing, WebhookSignatureRecovered, decode
from byosms_common.topics import WEBHOOK_SIGNATURE_REPORTS
from byosms_ingress.signature_failures import FailureTracker, SignatureFailureReporter, Subject

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
A = Subject("int-a", "org-a")
B = Subject("int-b", "org-b")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


WRONG = "signature_wrong"  # what signature.Verdict.WRONG reports


def fail(tracker: FailureTracker, subject: Subject, *seconds: float) -> list[WebhookSignatureFailing | None]:
    return [tracker.failure(subject, WRONG, at(s)) for s in seconds]


def test_wrong_signatures_in_a_row_are_reported_then_at_most_once_a_minute_with_the_count() -> None:
    tracker = FailureTracker("us-east-1", first_report_after=3)
    assert fail(tracker, A, 0, 1) == [None, None]  # one or two stray requests say little
    first = tracker.failure(A, WRONG, at(2))
    assert isinstance(first, WebhookSignatureFailing)
    assert (first.organization_id, first.payload.integration_id, first.payload.failures) == ("org-a", "int-a", 3)
    assert (first.payload.region, first.payload.reason) == ("us-east-1", WRONG)
    assert fail(tracker, A, 10, 30, 61) == [None, None, None]
    second = tracker.failure(A, WRONG, at(63))
    assert isinstance(second, WebhookSignatureFailing)
    assert second.payload.failures == 4
    assert (second.payload.first_at, second.payload.last_at) == (at(10), at(63))


@pytest.mark.parametrize(
    "reason", ["signature_missing", "unsupported_algorithm", "no_shared_key", "body_hash_mismatch", "unknown_account"]
)
def test_refusals_the_sender_chooses_are_never_shown_on_the_integration(reason: str) -> None:
    # Anyone who knows an AccountSid can send these; they must not mark the tenant's integration failing.
    tracker = FailureTracker("r", first_report_after=1)
    assert [tracker.failure(A, reason, at(s)) for s in range(0, 600, 30)] == [None] * 20
    assert tracker.due(at(10_000)) == []
    assert len(tracker) == 0


def test_an_accepted_webhook_breaks_the_streak() -> None:
    tracker = FailureTracker("r", first_report_after=3)
    assert fail(tracker, A, 0, 1) == [None, None]
    assert tracker.accepted(A, at(2)) is None  # nothing was reported, so no recovery either
    assert fail(tracker, A, 3, 4) == [None, None]
    assert tracker.failure(A, WRONG, at(5)) is not None


def test_integrations_are_limited_separately() -> None:
    tracker = FailureTracker("r", first_report_after=1)
    assert tracker.failure(A, WRONG, at(0)) is not None
    assert tracker.failure(B, WRONG, at(1)) is not None
    assert tracker.failure(A, WRONG, at(2)) is None


def test_counted_failures_are_flushed_once_the_interval_passed() -> None:
    tracker = FailureTracker("r", first_report_after=1)
    fail(tracker, A, 0, 5, 6)
    assert tracker.due(at(30)) == []
    [report] = tracker.due(at(60))
    assert report.payload.failures == 2
    assert tracker.due(at(200)) == []  # nothing new to report


def test_an_accepted_webhook_after_a_reported_failure_is_reported_once() -> None:
    tracker = FailureTracker("r", first_report_after=1)
    assert tracker.accepted(A, at(0)) is None  # never failed
    tracker.failure(A, WRONG, at(1))
    recovered = tracker.accepted(A, at(2))
    assert isinstance(recovered, WebhookSignatureRecovered)
    assert (recovered.organization_id, recovered.payload.accepted_at) == ("org-a", at(2))
    assert tracker.accepted(A, at(3)) is None
    assert len(tracker) == 0
    # Failing again later is reported once the threshold is met again.
    assert tracker.failure(A, WRONG, at(4)) is not None


def test_memory_is_bounded() -> None:
    tracker = FailureTracker("r", max_tracked=3)
    for n in range(10):
        tracker.failure(Subject(f"i{n}", "o"), WRONG, at(n))
    assert len(tracker) == 3


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Any]] = []
        self.fail = fail

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> asyncio.Future[None]:
        if self.fail:
            raise ConnectionError("kafka down")
        self.sent.append((topic, value, key, headers))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_reporter_publishes_keyed_by_integration_and_never_raises() -> None:
    producer = FakeProducer()
    now = [at(0)]
    reporter = SignatureFailureReporter(FailureTracker("r", first_report_after=1), lambda: producer, lambda: now[0])
    reporter.failure(A, WRONG)
    reporter.failure(A, WRONG)  # counted, not published
    reporter.accepted(A)
    await reporter.close()
    assert [(t, k) for t, _, k, _ in producer.sent] == [(WEBHOOK_SIGNATURE_REPORTS.name, b"int-a")] * 2
    types = [decode(v or b"").type for _, v, _, _ in producer.sent]
    assert types == ["integration.webhook_signature_failing", "integration.webhook_signature_recovered"]

    broken = SignatureFailureReporter(
        FailureTracker("r", first_report_after=1), lambda: FakeProducer(fail=True), lambda: now[0]
    )
    broken.failure(B, WRONG)
    await broken.close()  # dropped with a log line, no exception
    none_yet = SignatureFailureReporter(FailureTracker("r", first_report_after=1), lambda: None, lambda: now[0])
    none_yet.failure(B, WRONG)
    await none_yet.close()


async def test_periodic_flush_publishes_due_counts() -> None:
    producer = FakeProducer()
    now = [at(0)]
    reporter = SignatureFailureReporter(FailureTracker("r", first_report_after=1), lambda: producer, lambda: now[0])
    reporter.failure(A, WRONG)
    reporter.failure(A, WRONG)
    now[0] = at(61)
    stop = asyncio.Event()
    runner = asyncio.create_task(reporter.run(stop, every_s=0.01))
    await asyncio.sleep(0.05)
    stop.set()
    await runner
    await reporter.close()
    failures = [decode(v or b"") for _, v, _, _ in producer.sent]
    assert [f.payload.failures for f in failures if isinstance(f, WebhookSignatureFailing)] == [1, 1]

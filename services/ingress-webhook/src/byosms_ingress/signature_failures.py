"""Reports of failing webhook signatures per integration, so the tenant sees why its webhooks are refused.

When an integration's webhooks keep failing signature validation (typically: the tenant promoted
a new Auth Token in Twilio without a rotation window, or set a secondary token as its credentials),
provisioning shows it on the integration. Failures accepted in signature mode ``observe`` are
reported too. The ingress reports on ``byosms.integrations.webhook-signatures.v1``,
keyed by integration id:

- ``WebhookSignatureFailing``: only for signatures that are present and wrong (see
  :data:`COUNTED_REASONS`), first after :data:`FIRST_REPORT_AFTER` of them with no accepted
  webhook between, then at most one per integration per :data:`REPORT_INTERVAL_S`, with the number
  of failures since the previous report (sent on the next failure or by
  :meth:`SignatureFailureReporter.run`'s periodic flush).
- ``WebhookSignatureRecovered``: once, on the first accepted webhook after a *reported* failure
  (so recoveries are rate-limited by the failure reports). Unreported failures are forgotten then.

:class:`FailureTracker` is the pure core (no clock, no I/O); :class:`SignatureFailureReporter`
publishes its reports in the background. Reporting never delays or fails a webhook: a report
that cannot be published is dropped with a log line. Memory is bounded (least recently seen
integrations are forgotten beyond :data:`MAX_TRACKED`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from byosms_common.kafka import HEADER_TYPE, current_trace
from byosms_common.messages import (
    WebhookSignatureFailing,
    WebhookSignatureFailingPayload,
    WebhookSignatureRecovered,
    WebhookSignatureRecoveredPayload,
    encode,
    utc_now,
)
from byosms_common.topics import WEBHOOK_SIGNATURE_REPORTS

log = logging.getLogger(__name__)

REPORT_INTERVAL_S = 60.0
MAX_TRACKED = 10_000
# Only a signature that is present, in the default scheme, and wrong says "the stored credentials
# do not match what signs these webhooks". A missing signature or a chosen scheme (SharedKey,
# algorithm) is the sender's choice: anyone knowing an AccountSid could send those, so they are
# refused but never shown on the tenant's integration.
COUNTED_REASONS = frozenset({"signature_wrong"})
# Wrong signatures in a row (no accepted webhook between them) before the first report.
FIRST_REPORT_AFTER = 3

Report = WebhookSignatureFailing | WebhookSignatureRecovered


class HasIntegration(Protocol):
    """The integration a webhook was for (``integrations_cache.Integration`` fits)."""

    @property
    def integration_id(self) -> str: ...

    @property
    def organization_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Subject:
    """The integration a webhook was for."""

    integration_id: str
    organization_id: str


@dataclass(slots=True)
class _State:
    organization_id: str
    pending: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    reason: str = ""
    last_report: datetime | None = None
    reported: bool = False  # a failure was reported and no recovery since
    streak: int = 0  # counted failures since the last accepted webhook


class FailureTracker:
    """Decides which reports to publish; ``now`` is passed in."""

    def __init__(
        self,
        region: str,
        *,
        interval_s: float = REPORT_INTERVAL_S,
        max_tracked: int = MAX_TRACKED,
        first_report_after: int = FIRST_REPORT_AFTER,
    ) -> None:
        self.region = region
        self.interval_s = interval_s
        self.max_tracked = max_tracked
        self.first_report_after = first_report_after
        self._states: OrderedDict[str, _State] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def failure(self, subject: HasIntegration, reason: str, now: datetime) -> WebhookSignatureFailing | None:
        if reason not in COUNTED_REASONS:
            return None
        state = self._states.get(subject.integration_id)
        if state is None:
            state = _State(subject.organization_id)
            self._states[subject.integration_id] = state
            while len(self._states) > self.max_tracked:
                self._states.popitem(last=False)
        self._states.move_to_end(subject.integration_id)
        state.organization_id = subject.organization_id
        state.pending += 1
        state.streak += 1
        state.first_at = state.first_at or now
        state.last_at = now
        state.reason = reason
        return self._report_if_due(subject.integration_id, state, now)

    def tracks(self, subject: HasIntegration) -> bool:
        """Whether failures of ``subject``'s integration are being counted."""
        return subject.integration_id in self._states

    def accepted(self, subject: HasIntegration, now: datetime) -> WebhookSignatureRecovered | None:
        state = self._states.pop(subject.integration_id, None)
        if state is None or not state.reported:
            return None
        return WebhookSignatureRecovered(
            organization_id=state.organization_id,
            trace=current_trace(),
            payload=WebhookSignatureRecoveredPayload(
                integration_id=subject.integration_id, region=self.region, accepted_at=now
            ),
        )

    def due(self, now: datetime) -> list[WebhookSignatureFailing]:
        """Reports of counted failures whose interval has passed (the periodic flush)."""
        reports = []
        for integration_id, state in list(self._states.items()):
            report = self._report_if_due(integration_id, state, now)
            if report is not None:
                reports.append(report)
        return reports

    def _report_if_due(self, integration_id: str, state: _State, now: datetime) -> WebhookSignatureFailing | None:
        if state.pending == 0 or state.first_at is None or state.last_at is None:
            return None
        if not state.reported and state.streak < self.first_report_after:
            return None
        if state.last_report is not None and (now - state.last_report).total_seconds() < self.interval_s:
            return None
        report = WebhookSignatureFailing(
            organization_id=state.organization_id,
            trace=current_trace(),
            payload=WebhookSignatureFailingPayload(
                integration_id=integration_id,
                region=self.region,
                failures=state.pending,
                first_at=state.first_at,
                last_at=state.last_at,
                reason=state.reason[:64],
            ),
        )
        state.pending, state.first_at, state.last_at = 0, None, None
        state.last_report, state.reported = now, True
        return report


class Producer(Protocol):
    """What the reporter needs of a producer (``kafka_producer.RdKafkaProducer`` fits)."""

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Awaitable[Any]: ...


class SignatureFailureReporter:
    """Feeds the tracker from the webhook handler and publishes its reports without blocking it."""

    def __init__(
        self,
        tracker: FailureTracker,
        producer: Callable[[], Producer | None],
        clock: Callable[[], datetime] = utc_now,
        *,
        counted: Callable[[str, str], None] | None = None,
    ) -> None:
        self.tracker = tracker
        self._counted = counted
        self._producer = producer
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def failure(self, subject: HasIntegration, reason: str) -> None:
        if self._counted is not None:
            self._counted(subject.integration_id, reason)
        self._spawn(self.tracker.failure(subject, reason, self._clock()))

    def accepted(self, subject: HasIntegration) -> None:
        if self.tracker.tracks(subject):  # almost always not: no clock read, nothing to do
            self._spawn(self.tracker.accepted(subject, self._clock()))

    async def run(self, stop: asyncio.Event, *, every_s: float = 5.0) -> None:
        """Publish counted failures whose interval has passed, until ``stop`` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
            for report in self.tracker.due(self._clock()):
                self._spawn(report)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, report: Report | None) -> None:
        if report is None:
            return
        task = asyncio.get_running_loop().create_task(self.publish(report))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def publish(self, report: Report) -> None:
        producer = self._producer()
        if producer is None:
            log.warning("no Kafka producer yet: webhook signature report for %s dropped", report.payload.integration_id)
            return
        try:
            delivery = await producer.send(
                WEBHOOK_SIGNATURE_REPORTS.name,
                encode(report),
                report.payload.integration_id.encode(),
                headers=[("content-type", b"application/json"), (HEADER_TYPE, report.type.encode())],
            )
            await delivery
        except Exception as exc:  # noqa: BLE001 - a lost report must never affect webhooks
            log.warning(
                "webhook signature report for %s not published (%s)", report.payload.integration_id, type(exc).__name__
            )

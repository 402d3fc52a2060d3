"""Background job (supervised): messages Twilio has for a number that never came as webhooks are
recovered (decisions in ``recovery_plan``, SQL in ``repo_recovery``).

Every ``check_seconds`` the active numbers of the inventory are enrolled (``recovery_checks``: one row
per number, a new one due at a random moment within ``interval_seconds``) and the due ones claimed (a
claim holds a number for a while, so two routing processes never check it at once). For each, with the
tenant's own credentials:

1. Twilio's Messages list ``To=<number>``, ``DateSent>`` the window's start, page by page: each
   inbound message routing never decided is published to ``byosms.sms.inbound.v1`` as the event its
   webhook would have made, marked ``recovered``; routing's consumer routes it like any other, exactly
   once even if the webhook arrives late too (the decision row is keyed by MessageSid).
2. Routing's accepted messages from the number still at a non-final status, quiet for the grace: each is
   fetched by MessageSid, and a final status is published to ``byosms.sms.delivery-reports.v1`` as its
   callback would have been, marked ``recovered``.
3. Counted in ``byosms_routing_recovered_total{kind}`` and, when anything was recovered,
   ``MissedMessagesRecovered`` on ``byosms.numbers.events.v1`` (keyed by the number).

Every request to Twilio waits its turn at ``requests_per_second`` (all numbers of this process share it);
a 429 pauses the job for its ``Retry-After`` and leaves the number due again after it. A number whose
run fails is tried again with backoff. Publishing twice is harmless (see 1 and 2), so nothing is held
back for a transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from prometheus_client import Counter

from byosms_common import topics
from byosms_common.conversation import conversation_key
from byosms_common.crypto import CryptoError
from byosms_common.kafka import Publisher
from byosms_common.messages import (
    Media,
    MissedMessagesRecovered,
    MissedMessagesRecoveredPayload,
    NumberState,
)
from byosms_common.request_pacing import AccountPacers, Pacer
from byosms_common.twilio_client import FailureKind, TwilioFailure
from byosms_routing import recovery_plan, repo_recovery
from byosms_routing.api_token import rest_token
from byosms_routing.context import Collaborators
from byosms_routing.recovery_plan import Tenant, TwilioMessage, Window
from byosms_routing.repo_recovery import ActiveNumber, DueCheck
from byosms_routing.send_checks import twilio_sender

log = logging.getLogger(__name__)

T = TypeVar("T")

CLAIM_LIMIT = 50
CONCURRENT_ACCOUNTS = 16
"""Accounts checked at once by one process (each within its own request rate)."""
CLAIM_HOLD_SECONDS = 300.0
PAGE_SIZE = 200
MAX_PAGES = 25
"""At most this many pages (5,000 messages) of one number per run."""
MAX_REPORTS = 200
"""At most this many unreported sends of one number are fetched per run."""
MAX_BACKOFF_SECONDS = 3600.0


@dataclass(frozen=True)
class RecoverySettings:
    window_seconds: float
    grace_seconds: float
    interval_seconds: float
    check_seconds: float
    requests_per_second: float


class RecoveryMetrics:
    def __init__(self, registry: Any) -> None:
        self.recovered = Counter(
            "byosms_routing_recovered_total",
            "Messages recovered from Twilio because their webhook never came: kind inbound (replayed, marked "
            "recovered) or report (a final status fetched and applied).",
            ["kind"],
            registry=registry,
        )
        self.runs = Counter(
            "byosms_routing_recovery_runs_total",
            "Recovery runs of one number, by outcome (checked, failed, throttled).",
            ["outcome"],
            registry=registry,
        )


class _NotChecked(Exception):
    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


@dataclass
class Recovery:
    deps: Collaborators
    publisher: Publisher
    settings: RecoverySettings
    metrics: RecoveryMetrics
    pacers: AccountPacers

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: every ``check_seconds`` enroll the active numbers and check the due ones (at
        most ``CLAIM_LIMIT`` a round: the job's share of the process stays small, so routing's own
        latency does not suffer; more numbers take more replicas or a shorter ``check_seconds``)."""
        while not stop.is_set():
            try:
                await self.round()
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                log.warning("recovery round failed (%s); trying again", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.check_seconds)

    async def round(self) -> int:
        """One round; returns how many numbers were checked."""
        active = {n.address: n for n in self.active_numbers()}
        async with self.deps.pool.acquire() as conn:
            await repo_recovery.enroll(conn, list(active.values()), spread_seconds=self.settings.interval_seconds)
            due = await repo_recovery.claim_due(conn, limit=CLAIM_LIMIT, hold_seconds=CLAIM_HOLD_SECONDS)
            for gone in [c for c in due if c.address not in active]:
                await repo_recovery.forget(conn, gone.address)
        checked = [c for c in due if c.address in active]
        # Accounts side by side (each paced on its own), one account's numbers one after another.
        by_account: dict[str, list[DueCheck]] = {}
        for check in checked:
            by_account.setdefault(check.integration_id, []).append(check)
        gate = asyncio.Semaphore(CONCURRENT_ACCOUNTS)

        async def account(checks: list[DueCheck]) -> None:
            async with gate:
                for check in checks:
                    await self.check(check)

        await asyncio.gather(*(account(checks) for checks in by_account.values()))
        self.pacers.forget({n.integration_id for n in active.values()})
        return len(checked)

    def active_numbers(self) -> list[ActiveNumber]:
        numbers = []
        for address, record in list(self.deps.numbers.values.items()):
            payload = record.payload
            if payload.state is NumberState.ACTIVE:
                numbers.append(ActiveNumber(address, record.organization_id, payload.number.integration_id))
        return numbers

    async def check(self, check: DueCheck) -> tuple[int, int]:
        """Recover what one number missed; (inbound, reports) recovered."""
        try:
            inbound, reports, within = await self._recover(check)
        except _NotChecked as exc:
            wait = min(MAX_BACKOFF_SECONDS, max(exc.retry_after or 0.0, 30.0 * 2 ** min(check.failures, 7)))
            if exc.retry_after is not None:
                self.pacers.of(check.integration_id).pause(exc.retry_after)
            self.metrics.runs.labels("throttled" if exc.retry_after is not None else "failed").inc()
            log.warning("recovery of %s not done: %s; again in %.0fs", check.address, exc, wait)
            async with self.deps.pool.acquire() as conn:
                await repo_recovery.checked(
                    conn, check.address, next_in_seconds=wait, inbound=0, reports=0, failed=True
                )
            return 0, 0
        self.metrics.runs.labels("checked").inc()
        if inbound:
            self.metrics.recovered.labels("inbound").inc(len(inbound))
        if reports:
            self.metrics.recovered.labels("report").inc(len(reports))
        if inbound or reports:
            await self.publisher.publish(
                topics.NUMBER_EVENTS,
                MissedMessagesRecovered(
                    organization_id=check.organization_id,
                    payload=MissedMessagesRecoveredPayload(
                        address=check.address,
                        integration_id=check.integration_id,
                        window_start=within.start,
                        window_end=within.end,
                        inbound_recovered=len(inbound),
                        reports_recovered=len(reports),
                        message_sids=tuple([*inbound, *reports][:1000]),
                    ),
                ),
                check.address,
            )
            log.info(
                "recovered for %s: %d inbound message(s), %d delivery report(s)",
                check.address,
                len(inbound),
                len(reports),
            )
        async with self.deps.pool.acquire() as conn:
            await repo_recovery.checked(
                conn,
                check.address,
                next_in_seconds=self.settings.interval_seconds,
                inbound=len(inbound),
                reports=len(reports),
                failed=False,
            )
        return len(inbound), len(reports)

    async def _recover(self, check: DueCheck) -> tuple[list[str], list[str], Window]:
        client, tenant = self._client(check)
        within = recovery_plan.window(
            check.now, window_seconds=self.settings.window_seconds, grace_seconds=self.settings.grace_seconds
        )
        sender = twilio_sender(check.address)
        pacer = self.pacers.of(check.integration_id)
        listed = await self._list_inbound(client, sender, within, pacer)
        async with self.deps.pool.acquire() as conn:
            decided = await repo_recovery.decided_sids(conn, [m.sid for m in listed])
            unreported = await repo_recovery.unreported_sends(
                conn,
                check.organization_id,
                check.integration_id,
                check.address,
                since=within.start,
                quiet_seconds=self.settings.grace_seconds,
                limit=MAX_REPORTS,
            )
        inbound: list[str] = []
        for message in recovery_plan.missing_inbound(listed, decided, within):
            media = await self._media(client, message, pacer) if message.num_media else []
            event = recovery_plan.recovered_inbound(message, media, tenant, check.now)
            await self.publisher.publish(
                topics.INBOUND_MESSAGES, event, conversation_key(event.payload.to, event.payload.from_)
            )
            inbound.append(message.sid)
        reports: list[str] = []
        for send in unreported:
            fetched: Any = await self._twilio("fetch message", client.messages(send.message_sid).fetch_async, pacer)
            message = _as_message(fetched)
            status = recovery_plan.missed_final_status(send.twilio_status, message)
            if status is None:
                continue
            report = recovery_plan.recovered_report(message, status, tenant, check.now)
            await self.publisher.publish(topics.DELIVERY_REPORTS, report, message.sid)
            reports.append(message.sid)
        return inbound, reports, within

    def _client(self, check: DueCheck) -> tuple[Any, Tenant]:
        integration = self.deps.integrations.get(check.integration_id)
        if integration is None or integration.organization_id != check.organization_id:
            raise _NotChecked("its integration is not known")
        state = integration.payload
        sealed = rest_token(state, check.now)
        if state.account_sid is None or sealed is None:
            raise _NotChecked("its integration has no credentials")
        try:
            token = self.deps.tokens.open(check.organization_id, check.integration_id, *sealed)
        except CryptoError:
            raise _NotChecked("its integration's credentials cannot be read") from None
        tenant = Tenant(check.organization_id, check.integration_id, state.region)
        return self.deps.twilio.client(state.account_sid, token), tenant

    async def _twilio(self, what: str, operation: Callable[[], Awaitable[T]], pacer: Pacer) -> T:
        await pacer.turn()
        try:
            return await self.deps.twilio.run(what, operation)
        except TwilioFailure as failure:
            raise _NotChecked(str(failure), failure.retry_after) from None

    async def _list_inbound(self, client: Any, to: str, within: Window, pacer: Pacer) -> list[TwilioMessage]:
        page = await self._twilio(
            "list messages",
            # Twilio documents DateSent filters by day (twilio-python sends seconds): the window's end is
            # applied to what is listed (``missing_inbound``), the start narrows the list.
            lambda: client.messages.page_async(to=to, date_sent_after=within.start, page_size=PAGE_SIZE),
            pacer,
        )
        listed: list[TwilioMessage] = []
        for _ in range(MAX_PAGES):
            listed.extend(_as_message(m) for m in page)
            if page.next_page_url is None:
                break
            page = await self._twilio("list messages", page.next_page_async, pacer)
            if page is None:
                break
        return listed

    async def _media(self, client: Any, message: TwilioMessage, pacer: Pacer) -> list[Media]:
        """The message's media URLs; none when Twilio refuses to list them (the message is replayed without)."""
        await pacer.turn()
        try:
            items = await self.deps.twilio.run(
                "list media", lambda: client.messages(message.sid).media.list_async(limit=10)
            )
        except TwilioFailure as failure:
            if failure.kind is FailureKind.ANSWERED and failure.status != 429:
                log.warning("media of recovered %s not listed (%s); replayed without", message.sid, failure)
                return []
            raise _NotChecked(str(failure), failure.retry_after) from None
        media = []
        for item in items:
            uri = str(getattr(item, "uri", "") or "").removesuffix(".json")
            url = "https://api.twilio.com" + uri if uri.startswith("/") else uri
            media.append(Media(url=url, content_type=getattr(item, "content_type", None)))
        return media


def _value(value: Any) -> str | None:
    value = getattr(value, "value", value)
    return str(value) if value is not None else None


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _as_message(message: Any) -> TwilioMessage:
    sent = getattr(message, "date_sent", None)
    error_code = getattr(message, "error_code", None)
    return TwilioMessage(
        sid=str(message.sid),
        account_sid=str(getattr(message, "account_sid", "") or ""),
        from_=str(getattr(message, "from_", "") or ""),
        to=str(getattr(message, "to", "") or ""),
        body=str(getattr(message, "body", "") or ""),
        direction=_value(getattr(message, "direction", None)),
        status=_value(getattr(message, "status", None)),
        date_sent=sent if isinstance(sent, datetime) else None,
        num_segments=_int(getattr(message, "num_segments", None), 1),
        num_media=_int(getattr(message, "num_media", None), 0),
        messaging_service_sid=getattr(message, "messaging_service_sid", None) or None,
        error_code=error_code if isinstance(error_code, int) else None,
    )

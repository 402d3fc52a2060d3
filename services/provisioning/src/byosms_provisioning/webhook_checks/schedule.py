"""The scheduled webhook checks: every number in the read model is checked once per
``webhook_check_interval_seconds`` (default hourly), at a point of the interval its address decides, so a
tenant's thousands of numbers are spread over the hour instead of checked at once.

A round takes the due numbers (at most ``webhook_check_batch_size``, a lease keeping other replicas off
them), groups them by integration and checks each group with one :class:`ConfigReader`: one request per
number plus the account-wide lists once. Each Twilio account has one :class:`Pacer` for all rounds, at
``webhook_check_requests_per_second``; a 429 holds that account back for its ``Retry-After``. Accounts are
checked side by side, the numbers of one account one after another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from byosms_common.errors import ByosmsError
from byosms_common.request_pacing import AccountPacers, Pacer
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.webhook_checks import repo, service
from byosms_provisioning.webhook_checks.repo import DueNumber
from byosms_provisioning.webhook_checks.twilio_config import ConfigReader

log = logging.getLogger(__name__)


class Schedule:
    """The scheduled checks of one provisioning process (its pacers live as long as it does)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.pacers = AccountPacers(ctx.settings.webhook_check_requests_per_second)

    @property
    def tick_seconds(self) -> float:
        """How often due numbers are looked for."""
        return min(30.0, self.ctx.settings.webhook_check_interval_seconds / 10)

    def lease_seconds(self, count: int) -> float:
        """Long enough for a round of ``count`` numbers at the paced rate (about four requests each)."""
        return 120.0 + count * 4 / self.ctx.settings.webhook_check_requests_per_second

    def pacer(self, account_sid: str) -> Pacer:
        return self.pacers.of(account_sid)

    async def round(self) -> int:
        """One round: how many numbers it checked (or tried to)."""
        settings = self.ctx.settings
        async with self.ctx.pool.acquire() as conn:
            await repo.seed_unchecked(conn, settings.webhook_check_interval_seconds)
            await repo.forget_orphans(conn)
            due = await repo.claim_due(
                conn,
                batch=settings.webhook_check_batch_size,
                lease_seconds=self.lease_seconds(settings.webhook_check_batch_size),
            )
        groups: dict[tuple[str, str], list[DueNumber]] = defaultdict(list)
        for number in due:
            groups[(number.organization_id, number.integration_id)].append(number)
        await asyncio.gather(*(self._check_group(numbers) for numbers in groups.values()))
        return len(due)

    async def _check_group(self, numbers: list[DueNumber]) -> None:
        first = numbers[0]
        try:
            account = await service.open_account(self.ctx, first.organization_id, first.integration_id)
        except ByosmsError as exc:
            async with self.ctx.pool.acquire() as conn:
                for number in numbers:
                    await repo.record_error(
                        conn, number.address, exc.code, self.ctx.settings.webhook_check_interval_seconds
                    )
            return
        reader = ConfigReader(
            self.ctx.twilio, account.account_sid, account.auth_token, pacer=self.pacer(account.account_sid)
        )
        for number in numbers:
            try:
                await service.check(self.ctx, number, reader, account.expected_url, "schedule")
            except ByosmsError as exc:
                log.warning("scheduled webhook check of number %s failed: %s", number.number_id, exc.code)
                if exc.code == "credentials_rejected":
                    # Every other number of the account would fail the same way; they are tried next interval.
                    async with self.ctx.pool.acquire() as conn:
                        for rest in numbers[numbers.index(number) + 1 :]:
                            await repo.record_error(conn, rest.address, exc.code, service.ERROR_RETRY_SECONDS)
                    return

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until ``stop``; a full round is followed at once by the next, else by a pause of a tick."""
        while not stop.is_set():
            checked = 0
            try:
                checked = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database away: try again next tick
                log.warning("webhook check round failed (%s); will retry", type(exc).__name__)
            if checked >= self.ctx.settings.webhook_check_batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tick_seconds)


async def run_scheduled_checks(ctx: ServiceContext, stop: asyncio.Event) -> None:
    """Background job of ``app.py``: the scheduled checks, unless ``webhook_checks_enabled`` is false."""
    if not ctx.settings.webhook_checks_enabled:
        await stop.wait()
        return
    await Schedule(ctx).run(stop)

"""Webhook health of imported numbers: a check (on demand, on the schedule, by a repair or a probe) asks
Twilio with the tenant's credentials where the number's inbound SMS go (:mod:`resolver`), keeps the result
on the number, and publishes ``number.webhook_changed`` when the status or the finding in effect changed.
A repair sets the values the check named, only when the tenant asks, and audits each of them.

Twilio failures never change the state: the check records the error code (shown with the state) and
tries again later. A number gone from the Twilio account shows ``number_not_found_at_vendor`` that way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

from byosms_common.crypto import CryptoError, associated_data, open_sealed
from byosms_common.errors import ByosmsError, Conflict, InvalidInput, NotFound
from byosms_common.messages import (
    NumberType,
    NumberWebhookChanged,
    NumberWebhookChangedPayload,
    NumberWebhookRepaired,
    NumberWebhookRepairedPayload,
    WebhookFix,
    utc_now,
)
from byosms_common.topics import NUMBER_EVENTS
from byosms_provisioning import outbox
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.imports import repo as imports_repo
from byosms_provisioning.imports.checks import integration_problem
from byosms_provisioning.integrations.model import AUTH_TOKEN_FIELD
from byosms_provisioning.numbers import repo as numbers_repo
from byosms_provisioning.numbers.repo import NumberView
from byosms_provisioning.webhook_checks import repo
from byosms_provisioning.webhook_checks.repo import DueNumber
from byosms_provisioning.webhook_checks.resolver import DriftKind, Fix, Resolution, resolve
from byosms_provisioning.webhook_checks.twilio_config import ConfigReader

log = logging.getLogger(__name__)

ERROR_RETRY_SECONDS = 300.0

Trigger = Literal["import", "schedule", "on_demand", "repair", "probe"]
PreviousStatus = Literal["ok", "drifted", "unchecked"] | None


@dataclass(frozen=True, slots=True)
class Account:
    """An integration's Twilio account, opened for a check (the token never leaves this process)."""

    account_sid: str
    auth_token: str
    expected_url: str
    region: str


async def open_account(ctx: ServiceContext, organization_id: str, integration_id: str) -> Account:
    """The integration's account and its region's ingress URL; a coded error when it cannot be used."""
    async with ctx.pool.acquire() as conn:
        integration = await imports_repo.get_integration(conn, integration_id)
    problem = integration_problem(integration.facts if integration else None, organization_id)
    if problem or integration is None or integration.auth_token is None or not integration.facts.account_sid:
        raise InvalidInput(problem or "integration_sender_id_invalid")
    region = ctx.regions.get(integration.facts.region)
    if region is None:
        raise InvalidInput("unknown_region", region=integration.facts.region)
    try:
        token = open_sealed(
            ctx.keyring, integration.auth_token, associated_data(organization_id, integration_id, AUTH_TOKEN_FIELD)
        )
    except CryptoError:
        raise InvalidInput("credentials_unreadable") from None
    return Account(integration.facts.account_sid, token, region.inbound_url, region.key)


def due_of(number: NumberView) -> DueNumber:
    return DueNumber(
        address=number.address,
        organization_id=number.organization_id,
        number_id=number.id,
        integration_id=number.integration_id,
        twilio_sid=number.twilio_sid,
        number_type=number.number_type,
    )


def is_short_code(number: DueNumber) -> bool:
    return number.number_type == NumberType.SHORTCODE.value


def _fix(fix: Fix) -> WebhookFix:
    return WebhookFix(target=fix.target, sid=fix.sid, parameter=fix.parameter, value=fix.value, current=fix.current)


async def store(ctx: ServiceContext, number: DueNumber, resolution: Resolution, trigger: Trigger) -> bool:
    """Keep the check's result; publish ``number.webhook_changed`` when status or finding changed. Returns
    whether it changed. A number never checked before counts as ``ok`` (the import checked it)."""
    kind = resolution.kind.value if resolution.kind else None
    async with ctx.pool.acquire() as conn, conn.transaction():
        previous = await repo.lock_state(conn, number.address)
        before_status = previous.status if previous is not None else None
        before_kind = previous.kind if previous is not None else None
        known = before_status in ("ok", "drifted")
        changed = (before_status, before_kind) != (resolution.status, kind)
        publish = changed if known else not resolution.ok
        await repo.record_check(
            conn,
            number,
            resolution,
            trigger=trigger,
            changed=changed,
            interval_seconds=ctx.settings.webhook_check_interval_seconds,
        )
        if publish:
            event = NumberWebhookChanged(
                organization_id=number.organization_id,
                payload=NumberWebhookChangedPayload(
                    address=number.address,
                    number_id=number.number_id,
                    integration_id=number.integration_id,
                    status=resolution.status,
                    kind=kind,
                    kinds=[k.value for k in resolution.kinds],
                    previous_status=cast(PreviousStatus, before_status),
                    previous_kind=before_kind,
                    via=resolution.via,
                    delivers_to=resolution.delivers_to,
                    expected_url=resolution.expected_url,
                    fixes=[_fix(f) for f in resolution.fixes],
                    trigger=trigger,
                    checked_at=utc_now(),
                ),
            )
            await outbox.enqueue(conn, NUMBER_EVENTS, event, number.address)
    if publish:
        ctx.outbox_wakeup.set()
        log.info(
            "number %s webhook %s -> %s (%s, %s)", number.number_id, before_status, resolution.status, kind, trigger
        )
    return changed


async def check(
    ctx: ServiceContext, number: DueNumber, reader: ConfigReader, expected_url: str, trigger: Trigger
) -> Resolution:
    """Ask Twilio, resolve, keep the result. Twilio's failures are recorded on the number and raised."""
    try:
        configuration = await reader.configuration(number.twilio_sid, short_code=is_short_code(number))
    except ByosmsError as exc:
        code = "number_not_found_at_vendor" if exc.code == "vendor_resource_not_found" else exc.code
        async with ctx.pool.acquire() as conn:
            await repo.record_error(conn, number.address, code, min(ERROR_RETRY_SECONDS, _interval(ctx)))
        if code != exc.code:
            raise InvalidInput(code) from None
        raise
    resolution = resolve(configuration, expected_url)
    await store(ctx, number, resolution, trigger)
    return resolution


def _interval(ctx: ServiceContext) -> float:
    return ctx.settings.webhook_check_interval_seconds


async def _number(ctx: ServiceContext, organization_id: str, number_id: str) -> NumberView:
    found = await numbers_repo.get(ctx.pool, organization_id, number_id[:200])
    if found is None or found.state == "removed":
        raise NotFound("not_found")
    return found


async def check_now(ctx: ServiceContext, organization_id: str, number_id: str) -> NumberView:
    """``POST /api/v2/sms/numbers/{id}/webhook:check``: check at once; the number with its new state."""
    number = await _number(ctx, organization_id, number_id)
    due = due_of(number)
    account = await _open_for(ctx, due)
    reader = ConfigReader(ctx.twilio, account.account_sid, account.auth_token)
    await check(ctx, due, reader, account.expected_url, "on_demand")
    return await _number(ctx, organization_id, number_id)


async def _open_for(ctx: ServiceContext, number: DueNumber) -> Account:
    try:
        return await open_account(ctx, number.organization_id, number.integration_id)
    except ByosmsError as exc:
        async with ctx.pool.acquire() as conn:
            await repo.record_error(conn, number.address, exc.code, _interval(ctx))
        raise


async def repair(
    ctx: ServiceContext, organization_id: str, actor: str, number_id: str, *, messaging_service_defer: bool
) -> NumberView:
    """``POST …/webhook:repair``: set what the check names at Twilio (the service's defer setting only when
    asked), audit every value (who, when, old, new), check again and answer with the number."""
    number = await _number(ctx, organization_id, number_id)
    due = due_of(number)
    account = await _open_for(ctx, due)
    reader = ConfigReader(ctx.twilio, account.account_sid, account.auth_token)
    resolution = await check(ctx, due, reader, account.expected_url, "repair")
    if resolution.ok:
        return await _number(ctx, organization_id, number_id)
    if DriftKind.CONVERSATIONS_AUTOCREATE in resolution.kinds:
        raise Conflict("webhook_repair_not_supported")
    service_fixes = [f for f in resolution.fixes if f.target == "messaging_service"]
    number_fixes = [f for f in resolution.fixes if f.target == "number"]
    if service_fixes and not messaging_service_defer:
        raise Conflict("webhook_repair_needs_service_defer")
    applied: list[Fix] = []
    failure: ByosmsError | None = None
    try:
        for fix in service_fixes:
            await reader.set_service_deferring(fix.sid)
            applied.append(fix)
        await reader.apply_number_fixes(due.twilio_sid, number_fixes, short_code=is_short_code(due))
        applied.extend(number_fixes)
    except ByosmsError as exc:
        failure = exc
    failed = [f for f in (*service_fixes, *number_fixes) if f not in applied]
    await _audit(ctx, due, actor, applied, failed, failure.code if failure else None)
    log.info(
        "number %s webhook repaired by request: %d value(s) set, %d failed", due.number_id, len(applied), len(failed)
    )
    reader.forget()
    try:
        await check(ctx, due, reader, account.expected_url, "repair")
    except ByosmsError:
        if failure is None:
            raise
    if failure is not None:
        raise failure
    return await _number(ctx, organization_id, number_id)


async def _audit(
    ctx: ServiceContext, number: DueNumber, actor: str, applied: Sequence[Fix], failed: Sequence[Fix], code: str | None
) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        for fix in applied:
            await repo.insert_repair(
                conn,
                organization_id=number.organization_id,
                number_id=number.number_id,
                address=number.address,
                actor=actor,
                fix=fix,
                applied=True,
                error_code=None,
            )
        for fix in failed:
            await repo.insert_repair(
                conn,
                organization_id=number.organization_id,
                number_id=number.number_id,
                address=number.address,
                actor=actor,
                fix=fix,
                applied=False,
                error_code=code,
            )
        event = NumberWebhookRepaired(
            organization_id=number.organization_id,
            payload=NumberWebhookRepairedPayload(
                address=number.address,
                number_id=number.number_id,
                integration_id=number.integration_id,
                actor=actor,
                applied=[_fix(f) for f in applied],
                failed=[_fix(f) for f in failed],
                error_code=code,
            ),
        )
        await outbox.enqueue(conn, NUMBER_EVENTS, event, number.address)
    ctx.outbox_wakeup.set()


__all__ = ["Account", "check", "check_now", "open_account", "repair", "store"]

"""Auth Token rotation and the signature mode: the operations behind the admin API (``token_rotation_routes``)
and the job that closes rotation windows whose time is up. Transitions in ``token_rotation``."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from datetime import datetime, timedelta

from byosms_common.crypto import CryptoError, associated_data, open_sealed, seal
from byosms_common.errors import Conflict
from byosms_common.messages import SealedSecret
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.integrations import model as integrations
from byosms_provisioning.integrations import repo, token_rotation
from byosms_provisioning.integrations.model import AUTH_TOKEN_FIELD, NEXT_AUTH_TOKEN_FIELD, Change
from byosms_provisioning.integrations.service import Actor, change, get

log = logging.getLogger(__name__)

EXPIRY_BATCH = 100


async def start(
    ctx: ServiceContext, actor: Actor, integration_id: str, auth_token: str, *, expected_version: int | None = None
) -> Change:
    """Open a rotation window with the next token, after Twilio accepted it for the integration's account
    (a secondary token authenticates like the primary one). Nothing is stored when Twilio refuses it."""
    integrations.check_auth_token(auth_token)
    current = await get(ctx, actor.organization_id, integration_id)
    integrations.check_version(current, expected_version)
    if current.account_sid is None or current.auth_token is None:
        raise Conflict("integration_no_credentials")
    org = actor.organization_id
    if _same(ctx, current.auth_token, org, integration_id, auth_token):
        raise Conflict("auth_token_rotation_same_token")
    await ctx.twilio.check_credentials(current.account_sid, auth_token)
    sealed = seal(ctx.keyring, auth_token, associated_data(org, integration_id, NEXT_AUTH_TOKEN_FIELD))
    window = timedelta(hours=ctx.settings.auth_token_rotation_hours)
    return await change(
        ctx,
        actor,
        integration_id,
        lambda cur, now: token_rotation.start(cur, sealed, window=window, now=now),
        expected_version=expected_version,
    )


def _same(ctx: ServiceContext, sealed: SealedSecret, org: str, integration_id: str, token: str) -> bool:
    """Whether ``token`` is the integration's current token (compared in constant time)."""
    try:
        clear = open_sealed(ctx.keyring, sealed, associated_data(org, integration_id, AUTH_TOKEN_FIELD))
    except CryptoError:
        return False
    return hmac.compare_digest(clear.encode(), token.encode())


async def confirm(
    ctx: ServiceContext, actor: Actor, integration_id: str, *, expected_version: int | None = None
) -> Change:
    """The tenant promoted the next token in Twilio: it becomes the current token, the window closes."""
    org = actor.organization_id

    def transition(cur: integrations.Integration, now: datetime) -> Change:
        if cur.next_auth_token is None:
            raise Conflict("auth_token_rotation_not_started")
        clear = open_sealed(
            ctx.keyring, cur.next_auth_token, associated_data(org, integration_id, NEXT_AUTH_TOKEN_FIELD)
        )
        resealed = seal(ctx.keyring, clear, associated_data(org, integration_id, AUTH_TOKEN_FIELD))
        return token_rotation.confirm(cur, resealed, now=now)

    return await change(ctx, actor, integration_id, transition, expected_version=expected_version)


async def cancel(
    ctx: ServiceContext, actor: Actor, integration_id: str, *, expected_version: int | None = None
) -> Change:
    """Close the window without the new token: only the current token validates again."""
    return await change(
        ctx, actor, integration_id, lambda cur, now: token_rotation.end(cur, now=now), expected_version=expected_version
    )


async def set_signature_mode(
    ctx: ServiceContext,
    actor: Actor,
    integration_id: str,
    mode: str,
    *,
    observe_for: timedelta | None = None,
    expected_version: int | None = None,
) -> Change:
    return await change(
        ctx,
        actor,
        integration_id,
        lambda cur, now: token_rotation.set_signature_mode(cur, mode, now=now, observe_for=observe_for),
        expected_version=expected_version,
    )


async def end_expired(ctx: ServiceContext) -> int:
    """Close every rotation window whose time is up; how many were closed."""
    closed = 0
    for organization_id, integration_id in await repo.expired_rotations(ctx.pool, EXPIRY_BATCH):
        actor = Actor(organization_id=organization_id, name="byosms-provisioning")
        result = await change(
            ctx, actor, integration_id, lambda cur, now: token_rotation.end(cur, now=now, only_if_expired=True)
        )
        if result.changed:
            closed += 1
            log.info("integration %s: Auth Token rotation window expired; the next token was dropped", integration_id)
    return closed


async def end_expired_observe_modes(ctx: ServiceContext) -> int:
    """Set every integration whose observe mode's time is up back to enforce (published like any change);
    how many were set back."""
    ended = 0
    for organization_id, integration_id in await repo.expired_observe_modes(ctx.pool, EXPIRY_BATCH):
        actor = Actor(organization_id=organization_id, name="byosms-provisioning")
        result = await change(ctx, actor, integration_id, lambda cur, now: token_rotation.end_observe(cur, now=now))
        if result.changed:
            ended += 1
            log.info("integration %s: signature mode observe expired; back to enforce", integration_id)
    return ended


async def end_expired_periodically(ctx: ServiceContext, stop: asyncio.Event, *, every_seconds: float = 60.0) -> None:
    """Background job: rotation windows past their time are closed and expired observe modes set back to
    enforce (the ingress stops accepting the next token, and stops observing, at their expiry by itself;
    this makes the stored state, the state topic and the API say so too)."""
    while not stop.is_set():
        try:
            await end_expired(ctx)
            await end_expired_observe_modes(ctx)
        except Exception as exc:  # noqa: BLE001 - retried next round
            log.warning(
                "closing expired Auth Token rotation windows or observe modes failed (%s); will retry",
                type(exc).__name__,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_seconds)

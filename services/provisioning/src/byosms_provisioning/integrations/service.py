"""Integration operations shared by the admin API and the command topic.

Each change runs in one transaction: lock the row, apply the pure transition, write it with its
version check, add the audit row, and enqueue the event and the state record (or tombstone) in
the outbox. Twilio is asked before the transaction starts, so a slow vendor never holds a lock.

Integration ids are always generated here; ``request_id`` (unique per organization) makes a create
safe to repeat: a repeat answers the integration the first one created, and nothing else is
revealed about ids of other organizations. Changes made by a Kafka command carry its
``command_id`` on their events.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg

from byosms_common.crypto import CryptoError, associated_data, open_sealed, seal
from byosms_common.errors import Conflict, InvalidField, InvalidInput, NotFound
from byosms_common.messages import (
    Envelope,
    IntegrationActivated,
    IntegrationChangePayload,
    IntegrationCreated,
    IntegrationDeactivated,
    IntegrationDeleted,
    IntegrationState,
    IntegrationUpdated,
    SealedSecret,
)
from byosms_common.topics import INTEGRATION_EVENTS, INTEGRATION_STATE
from byosms_provisioning import outbox
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.integrations import model as integrations
from byosms_provisioning.integrations import repo, webhook_health
from byosms_provisioning.integrations.model import (
    AUTH_TOKEN_FIELD,
    PREVIOUS_SHARED_KEY_FIELD,
    SHARED_KEY_FIELD,
    Action,
    Change,
    Integration,
)

Clock = Callable[[], datetime]

ChangeEvent = (
    IntegrationCreated | IntegrationUpdated | IntegrationActivated | IntegrationDeactivated | IntegrationDeleted
)
_EVENTS: dict[Action, type[ChangeEvent]] = {
    Action.CREATED: IntegrationCreated,
    Action.EDITED: IntegrationUpdated,
    Action.CREDENTIALS_SET: IntegrationUpdated,
    Action.SHARED_KEY_RETIRED: IntegrationUpdated,
    Action.AUTH_TOKEN_ROTATION_STARTED: IntegrationUpdated,
    Action.AUTH_TOKEN_ROTATION_CONFIRMED: IntegrationUpdated,
    Action.AUTH_TOKEN_ROTATION_ENDED: IntegrationUpdated,
    Action.SIGNATURE_MODE_SET: IntegrationUpdated,
    Action.SIGNATURE_MODE_EXPIRED: IntegrationUpdated,
    Action.ACTIVATED: IntegrationActivated,
    Action.DEACTIVATED: IntegrationDeactivated,
    Action.DELETED: IntegrationDeleted,
}


def utc_now() -> datetime:
    return datetime.now(UTC)


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    """On whose behalf a change is made."""

    organization_id: str
    name: str
    command_id: str | None = None


async def record(conn: asyncpg.Connection, change: Change, actor: Actor, now: datetime) -> None:
    """Audit row, event and state record of one change, inside the caller's transaction."""
    current = change.current
    await repo.insert_audit(
        conn,
        organization_id=current.organization_id,
        integration_id=current.id,
        action=change.action.value,
        actor=actor.name,
        at=now,
        before=integrations.audit_view(change.before),
        after=integrations.audit_view(change.after),
    )
    event_type = _EVENTS[change.action]
    event: Envelope = event_type(
        organization_id=current.organization_id,
        payload=IntegrationChangePayload(
            integration=integrations.snapshot(current), actor=actor.name, command_id=actor.command_id
        ),
    )
    await outbox.enqueue(conn, INTEGRATION_EVENTS, event, current.id)
    if change.after is None:
        await outbox.enqueue_tombstone(conn, INTEGRATION_STATE, current.id)
    else:
        await outbox.enqueue(conn, INTEGRATION_STATE, state_record(change.after), current.id)


def state_record(integration: Integration) -> IntegrationState:
    return IntegrationState(
        organization_id=integration.organization_id,
        payload=integrations.state_payload(integration),
    )


@dataclass(frozen=True, slots=True)
class Created:
    integration: Integration
    created: bool  # False: a repeat of an earlier create with the same request id


async def create(
    ctx: ServiceContext,
    actor: Actor,
    *,
    name: str,
    notes: str,
    region: str,
    request_id: str | None = None,
    conn: asyncpg.Connection | None = None,
    clock: Clock = utc_now,
) -> Created:
    """Create an integration with a fresh id, or answer the one an earlier create with ``request_id`` made."""
    if region not in ctx.regions:
        raise InvalidInput("unknown_region", region=region)
    now = clock()
    change = integrations.create(
        integration_id=uuid.uuid4().hex,
        organization_id=actor.organization_id,
        name=name,
        notes=notes,
        region=region,
        now=now,
        request_id=request_id,
    )
    assert change.after is not None
    async with _transaction(ctx, conn) as tx:
        if not await repo.insert(tx, change.after):
            # A fresh random id does not collide: the organization's request id is taken.
            earlier = await repo.get_by_request_id(tx, actor.organization_id, request_id) if request_id else None
            if earlier is None:
                raise Conflict("version_conflict", retryable=True)
            return Created(earlier, created=False)
        organization_target = await repo.organization_routing_target(tx, actor.organization_id)
        change = replace(change, after=replace(change.after, organization_routing_target=organization_target))
        await record(tx, change, actor, now)
    ctx.outbox_wakeup.set()
    assert change.after is not None
    return Created(change.after, created=True)


async def set_organization_routing_target(ctx: ServiceContext, actor: Actor, target: str | None) -> str | None:
    """Set (None: clear) the organization's default routing target and republish the state record of each of
    its integrations, which carries it to routing."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        await repo.set_organization_routing_target(conn, actor.organization_id, target)
        for integration in await repo.of_organization(conn, actor.organization_id):
            await outbox.enqueue(conn, INTEGRATION_STATE, state_record(integration), integration.id)
    ctx.outbox_wakeup.set()
    log.info("organization %s: default routing target %s", actor.organization_id, "set" if target else "cleared")
    return target


async def get(ctx: ServiceContext, organization_id: str, integration_id: str) -> Integration:
    found = await repo.get(ctx.pool, organization_id, integration_id)
    if found is None:
        raise NotFound("integration_not_found")
    return found


Transition = Callable[[Integration, datetime], Change]


async def change(
    ctx: ServiceContext,
    actor: Actor,
    integration_id: str,
    transition: Transition,
    *,
    expected_version: int | None = None,
    conn: asyncpg.Connection | None = None,
    clock: Clock = utc_now,
) -> Change:
    """Apply ``transition`` to one integration of the actor's organization."""
    async with _transaction(ctx, conn) as tx:
        current = await repo.get_for_update(tx, actor.organization_id, integration_id)
        if current is None:
            raise NotFound("integration_not_found")
        integrations.check_version(current, expected_version)
        now = clock()
        result = transition(current, now)
        if not result.changed:
            return result
        if result.after is None:
            stored = await repo.delete(tx, current.organization_id, current.id, current.version)
        else:
            stored = await repo.update(tx, result.after, current.version)
        if not stored:
            raise Conflict("version_conflict")
        await record(tx, result, actor, now)
    ctx.outbox_wakeup.set()
    return result


async def edit(
    ctx: ServiceContext,
    actor: Actor,
    integration_id: str,
    *,
    name: str | None,
    notes: str | None,
    default_routing_target: str | None = integrations.UNCHANGED,
    expected_version: int | None = None,
    conn: asyncpg.Connection | None = None,
) -> Change:
    return await change(
        ctx,
        actor,
        integration_id,
        lambda cur, now: integrations.edit(
            cur, name=name, notes=notes, now=now, default_routing_target=default_routing_target
        ),
        expected_version=expected_version,
        conn=conn,
    )


async def set_credentials(
    ctx: ServiceContext,
    actor: Actor,
    integration_id: str,
    *,
    account_sid: str,
    auth_token: str,
    shared_key: str | None,
    shared_key_id: str | None = None,
    keep_previous_shared_key: bool = True,
    expected_version: int | None = None,
    conn: asyncpg.Connection | None = None,
    checked_with_twilio: bool = False,
) -> Change:
    """Validate the credentials with Twilio, then store them sealed. Nothing is stored on failure.

    ``checked_with_twilio``: the caller already did (outside its transaction). Earlier webhook
    signature failures are cleared: they say nothing about the new credentials.

    A shared key with a different ``shared_key_id`` than the current key's keeps the current key
    valid as the previous one (rotation window) unless ``keep_previous_shared_key`` is false; see
    :func:`integrations.set_credentials`."""
    integrations.check_account_sid(account_sid)
    integrations.check_auth_token(auth_token)
    if shared_key is not None:
        integrations.check_shared_key(shared_key)
    if shared_key_id is not None:
        integrations.check_shared_key_id(shared_key_id)
        if shared_key is None:
            raise InvalidField("shared_key_id", "needs shared_key", "braucht shared_key")
    # Fail fast (404, 409) before calling Twilio.
    current = await get(ctx, actor.organization_id, integration_id)
    integrations.check_version(current, expected_version)
    if not checked_with_twilio:
        await ctx.twilio.check_credentials(account_sid, auth_token)
    org = actor.organization_id
    sealed_token = seal(ctx.keyring, auth_token, associated_data(org, integration_id, AUTH_TOKEN_FIELD))
    sealed_key = (
        seal(ctx.keyring, shared_key, associated_data(org, integration_id, SHARED_KEY_FIELD))
        if shared_key is not None
        else None
    )
    async with _transaction(ctx, conn) as tx:
        result = await change(
            ctx,
            actor,
            integration_id,
            lambda cur, now: integrations.set_credentials(
                cur,
                account_sid=account_sid,
                auth_token=sealed_token,
                shared_key=sealed_key,
                shared_key_id=shared_key_id,
                keep_previous_shared_key=keep_previous_shared_key,
                demote=lambda sealed: demote_shared_key(ctx, org, integration_id, sealed),
                now=now,
            ),
            expected_version=expected_version,
            conn=tx,
        )
        await webhook_health.clear(tx, org, integration_id)
    return result


def demote_shared_key(
    ctx: ServiceContext, organization_id: str, integration_id: str, sealed: SealedSecret
) -> SealedSecret | None:
    """The current shared key re-sealed for the previous-key slot (fresh data key, its own associated data);
    None when it can no longer be opened (its KEK was retired): the rotation then has no window.

    The clear key exists only in memory while this runs."""
    try:
        clear = open_sealed(ctx.keyring, sealed, associated_data(organization_id, integration_id, SHARED_KEY_FIELD))
    except CryptoError:
        log.warning(
            "integration %s: the current shared key cannot be opened; rotating without a window", integration_id
        )
        return None
    return seal(ctx.keyring, clear, associated_data(organization_id, integration_id, PREVIOUS_SHARED_KEY_FIELD))


async def retire_shared_key(
    ctx: ServiceContext,
    actor: Actor,
    integration_id: str,
    key_id: str,
    *,
    expected_version: int | None = None,
    conn: asyncpg.Connection | None = None,
) -> Change:
    """End a rotation window: webhooks signed with the previous SharedKey ``key_id`` are refused from now on."""
    integrations.check_shared_key_id(key_id)
    return await change(
        ctx,
        actor,
        integration_id,
        lambda cur, now: integrations.retire_shared_key(cur, key_id, now=now),
        expected_version=expected_version,
        conn=conn,
    )


async def activate(
    ctx: ServiceContext,
    actor: Actor,
    integration_id: str,
    *,
    expected_version: int | None = None,
    conn: asyncpg.Connection | None = None,
) -> Change:
    return await change(
        ctx,
        actor,
        integration_id,
        lambda cur, now: integrations.activate(cur, now=now),
        expected_version=expected_version,
        conn=conn,
    )


async def deactivate(
    ctx: ServiceContext,
    actor: Actor,
    integration_id: str,
    *,
    expected_version: int | None = None,
    conn: asyncpg.Connection | None = None,
) -> Change:
    return await change(
        ctx,
        actor,
        integration_id,
        lambda cur, now: integrations.deactivate(cur, now=now),
        expected_version=expected_version,
        conn=conn,
    )


async def delete(
    ctx: ServiceContext,
    actor: Actor,
    integration_id: str,
    *,
    expected_version: int | None = None,
    conn: asyncpg.Connection | None = None,
) -> Change:
    return await change(
        ctx,
        actor,
        integration_id,
        lambda cur, _now: integrations.delete(cur),
        expected_version=expected_version,
        conn=conn,
    )


@contextlib.asynccontextmanager
async def _transaction(ctx: ServiceContext, conn: asyncpg.Connection | None) -> AsyncIterator[asyncpg.Connection]:
    """A transaction on the caller's connection (a savepoint if it is in one) or on a pool connection."""
    if conn is not None:
        async with conn.transaction():
            yield conn
        return
    async with ctx.pool.acquire() as fresh, fresh.transaction():
        yield fresh

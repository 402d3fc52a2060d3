"""The SMS number inventory as the public API offers it: list and show (from the read model), remove and
change (commands to inventory, which owns the numbers), the organization's default routing target.

A removal is asynchronous: the command is queued (outbox) with a ``running`` action the number shows,
and the caller gets 202. A change (routing target, compliance blocks) names the version the caller
saw: a stale one is refused at once (409) when the read model already knows better, and otherwise by
inventory, whose result the request waits for up to ``number_command_wait_seconds`` (then 202, the
action still running).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from byosms_common.errors import CATALOG, ByosmsError, Conflict, Language, NotFound
from byosms_common.messages import (
    Compliance,
    Envelope,
    LocalizedText,
    NumberCommandPayload,
    RemoveNumber,
    SetNumberCompliance,
    SetNumberCompliancePayload,
    SetNumberRouting,
    SetNumberRoutingPayload,
    message_type,
)
from byosms_common.topics import NUMBER_COMMANDS
from byosms_provisioning import outbox
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.integrations import repo as integrations_repo
from byosms_provisioning.integrations import service as integrations_service
from byosms_provisioning.numbers import repo
from byosms_provisioning.numbers.repo import ListFilter, NumberView

log = logging.getLogger(__name__)

KINDS = {
    message_type(RemoveNumber): "remove",
    message_type(SetNumberRouting): "set_routing_target",
    message_type(SetNumberCompliance): "set_compliance",
}
_POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Actor:
    organization_id: str
    name: str


class CommandRefused(ByosmsError):
    """Inventory refused a change; its message (both languages) is the one inventory gave."""

    def __init__(self, code: str, text: LocalizedText | None) -> None:
        super().__init__(code if code in CATALOG else "internal_error")
        self.text = text

    def message(self, language: Language = "en") -> str:
        if self.text is None:
            return super().message(language)
        return self.text.de if language == "de" else self.text.en


async def get(ctx: ServiceContext, organization_id: str, number_id: str) -> NumberView:
    """A number of the organization (removed ones too, while they are remembered); 404 otherwise."""
    found = await repo.get(ctx.pool, organization_id, number_id[:200])
    if found is None:
        raise NotFound("not_found")
    return found


async def page(
    ctx: ServiceContext, organization_id: str, filters: ListFilter, *, limit: int, after: str | None
) -> tuple[list[NumberView], bool]:
    rows = await repo.list_page(ctx.pool, organization_id, filters, limit=limit + 1, after=after)
    return rows[:limit], len(rows) > limit


async def _send(ctx: ServiceContext, actor: Actor, number: NumberView, commands: Sequence[Envelope]) -> list[str]:
    """Record each command as a running action on the number and queue it, in one transaction."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        for command in commands:
            await repo.insert_action(
                conn,
                command_id=command.id,
                organization_id=actor.organization_id,
                number_id=number.id,
                address=number.address,
                kind=KINDS[str(getattr(command, "type", ""))],
                actor=actor.name,
            )
            await outbox.enqueue(conn, NUMBER_COMMANDS, command, number.address)
    ctx.outbox_wakeup.set()
    return [c.id for c in commands]


async def remove(ctx: ServiceContext, actor: Actor, number_id: str) -> NumberView:
    """Ask inventory to remove the number; answers at once with the number and its running removal."""
    number = await get(ctx, actor.organization_id, number_id)
    if number.state == "removed":
        raise NotFound("not_found")
    running = number.action is not None and number.action.kind == "remove" and number.action.state == "running"
    if not running:
        command = RemoveNumber(
            organization_id=actor.organization_id,
            payload=NumberCommandPayload(address=number.address, actor=actor.name),
        )
        await _send(ctx, actor, number, [command])
        log.info("number %s: removal asked (command %s)", number.id, command.id)
    return await get(ctx, actor.organization_id, number_id)


_UNSET: Any = object()


async def change(
    ctx: ServiceContext,
    actor: Actor,
    number_id: str,
    *,
    version: int,
    routing_target: str | None = _UNSET,
    compliance: Compliance | None = None,
) -> tuple[NumberView, bool]:
    """Change the routing target and/or the compliance blocks of the version the caller saw. Returns the
    number and whether inventory's results arrived in time (False: still running)."""
    number = await get(ctx, actor.organization_id, number_id)
    if number.state == "removed":
        raise NotFound("not_found")
    if version != number.version:
        raise Conflict("version_conflict")
    commands: list[Envelope] = []
    if routing_target is not _UNSET:
        commands.append(
            SetNumberRouting(
                organization_id=actor.organization_id,
                payload=SetNumberRoutingPayload(
                    address=number.address, expected_version=version, actor=actor.name, routing_target=routing_target
                ),
            )
        )
    if compliance is not None:
        commands.append(
            SetNumberCompliance(
                organization_id=actor.organization_id,
                payload=SetNumberCompliancePayload(
                    address=number.address,
                    # The first command moves the version on; the second is checked against the first.
                    expected_version=None if commands else version,
                    actor=actor.name,
                    compliance=compliance,
                ),
            )
        )
    if not commands:
        return number, True
    ids = await _send(ctx, actor, number, commands)
    done = await _wait(ctx, ids)
    return await get(ctx, actor.organization_id, number_id), done


async def _wait(ctx: ServiceContext, command_ids: list[str]) -> bool:
    """Wait for inventory's results of ``command_ids``; raise the first refusal. False: not all in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.settings.number_command_wait_seconds
    while True:
        actions = await repo.actions(ctx.pool, command_ids)
        for command_id in command_ids:
            action = actions.get(command_id)
            if action is not None and action.state == "failed":
                raise CommandRefused(action.code or "internal_error", action.message)
        if all(a.state != "running" for a in actions.values()):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(_POLL_SECONDS)


async def organization_routing_target(ctx: ServiceContext, organization_id: str) -> str | None:
    return await integrations_repo.organization_routing_target(ctx.pool, organization_id)


async def set_organization_routing_target(ctx: ServiceContext, actor: Actor, target: str | None) -> str | None:
    return await integrations_service.set_organization_routing_target(
        ctx, integrations_service.Actor(organization_id=actor.organization_id, name=actor.name), target
    )


async def forget_removed_periodically(ctx: ServiceContext, stop: asyncio.Event) -> None:
    """Background job: removed numbers leave the read model after ``removed_number_days``."""
    while not stop.is_set():
        try:
            forgotten = await repo.forget_removed(ctx.pool, ctx.settings.removed_number_days)
            if forgotten:
                log.info("forgot %d removed numbers", forgotten)
        except Exception as exc:  # noqa: BLE001 - retried next round
            log.warning("forgetting removed numbers failed (%s); will retry", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 3600)

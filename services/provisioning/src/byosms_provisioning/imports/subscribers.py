"""Kafka consumers of number imports, and the deadline sweeper (registered by ``app.py``).

- ``NUMBER_COMMANDS``: each import command ends in exactly one outcome event (inventory's commands on
  the topic, removal, routing target and compliance blocks, are skipped here). Commands are decoded
  here, leniently: one that fails validation (unknown type, a sender id over 32 characters, a
  missing field) but names its import and organization is rejected with ``invalid_request`` and the
  field at fault; only a message that names neither goes to the dead-letter topic. The first
  database write is retried until the import's deadline; if the database never takes it, the
  rejection is published straight to Kafka.
- ``NUMBER_EVENTS``: when inventory removes a number (``NumberStateChanged`` with state
  ``removed``) the claim of the import it names is released, so this or another organization can
  import it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from pydantic import TypeAdapter, ValidationError

from byosms_common import topics
from byosms_common.consumer import EmitPublisher, Record, Subscription, one_by_one
from byosms_common.kafka import Delivery, PermanentError, is_transient
from byosms_common.messages import (
    ANY_MESSAGE,
    AnyMessage,
    ImportNumber,
    NumberState,
    NumberStateChanged,
    RemoveNumber,
    SetNumberCompliance,
    SetNumberRouting,
    message_type,
)
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.imports import repo as repo_imports
from byosms_provisioning.imports import service as import_service
from byosms_provisioning.imports.service import ImportDeps, InvalidCommand, Rejected

log = logging.getLogger(__name__)

# Import commands are taken as any JSON object and validated by :func:`read_command`, so that a
# command failing validation still gets its rejection instead of going to the dead-letter topic.
RAW_COMMAND: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])

# Commands on the same topic that inventory carries out (removal, routing target, compliance blocks).
INVENTORY_COMMANDS = frozenset(message_type(m) for m in (RemoveNumber, SetNumberRouting, SetNumberCompliance))

_MAX_ID = 200
_MAX_ORGANIZATION = 100
_MAX_TEXT = 100


def _identifier(value: object, limit: int) -> str | None:
    """``value`` if it can identify an import or organization (a non-empty, storable string)."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit or "\x00" in value:
        return None
    return value


def _text(value: object) -> str:
    """A string field of a broken command, cleaned for storage and for the rejection event."""
    return value.replace("\x00", "")[:_MAX_TEXT] if isinstance(value, str) else ""


def _where(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "(command)"
    return f"{where}: {first['msg']}".replace("\x00", "")[:300]


def read_command(raw: dict[str, Any]) -> ImportNumber | InvalidCommand:
    """Validate an import command; a broken one that names its import and organization is returned as
    :class:`InvalidCommand`. Raises ``PermanentError`` (dead letter) when there is nobody to answer.

    A command without ``payload.import_id`` gets its envelope ``id``, so a redelivered copy is the
    same import (the model's default would draw a new random id each time).
    """
    payload = raw.get("payload")
    if isinstance(payload, dict) and "import_id" not in payload and _identifier(raw.get("id"), _MAX_ID):
        raw = {**raw, "payload": {**payload, "import_id": raw["id"]}}
        payload = raw["payload"]
    try:
        return ImportNumber.model_validate_json(json.dumps(raw))
    except ValidationError as exc:
        detail = _where(exc)
        fields: dict[str, Any] = payload if isinstance(payload, dict) else {}
        organization_id = _identifier(raw.get("organization_id"), _MAX_ORGANIZATION)
        import_id = _identifier(fields.get("import_id"), _MAX_ID) or _identifier(raw.get("id"), _MAX_ID)
        if organization_id is None or import_id is None:
            raise PermanentError(f"invalid import command without import and organization: {detail}") from None
        return InvalidCommand(
            import_id=import_id,
            organization_id=organization_id,
            integration_id=_text(fields.get("integration_id")),
            number_type=_text(fields.get("number_type")),
            sender_id=_text(fields.get("sender_id")),
            detail=detail,
        )


async def _first_write(deps: ImportDeps, write: Callable[[], Awaitable[None]]) -> Rejected | None:
    """Run a command's first database write, retrying transient failures until the import's deadline.

    Returns None once written, or the rejection to publish when the database never took it (still
    away at the deadline, or refusing the command's data).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deps.deadline_seconds
    attempt = 1
    while True:
        try:
            await write()
            return None
        except asyncpg.DataError as exc:
            # E.g. NUL characters, which PostgreSQL cannot store in text: the command's data is at fault.
            log.warning("import command refused by the database: %s", exc.sqlstate)
            return Rejected("invalid_request", detail="payload: contains characters that cannot be stored")
        except Exception as exc:
            if not is_transient(exc) or deps.publisher is None:
                raise
            attempt += 1
            wait = deps.retry.delay(attempt)
            if loop.time() + wait >= deadline:
                log.error("import command not recorded by its deadline (%s); rejecting it", type(exc).__name__)
                return Rejected("import_timed_out", reason="database unavailable")
            log.warning("recording an import command failed (%s); retry %d", type(exc).__name__, attempt)
            await asyncio.sleep(wait)


async def on_import_command(deps: ImportDeps, raw: dict[str, Any], _delivery: Delivery) -> None:
    """Carry out one import command (any JSON object on the topic) to exactly one outcome event; inventory's
    commands on the topic are left to inventory."""
    if raw.get("type") in INVENTORY_COMMANDS:
        return
    command = read_command(raw)
    if isinstance(command, InvalidCommand):
        invalid = command
        log.info("import %s rejected: invalid command (%s)", invalid.import_id, invalid.detail)
        rejected = await _first_write(deps, lambda: import_service.reject_invalid(deps, invalid))
        if rejected is not None:
            await import_service.publish_unrecorded_rejection(
                deps,
                organization_id=invalid.organization_id,
                import_id=invalid.import_id,
                integration_id=invalid.integration_id,
                sender_id=invalid.sender_id,
                key=invalid.sender_id or invalid.import_id,
                # Known to be invalid whatever kept the database from recording it.
                rejected=Rejected("invalid_request", detail=invalid.detail),
            )
        return
    valid = command
    rejected = await _first_write(deps, lambda: import_service.record_command(deps, valid))
    if rejected is not None:
        payload = valid.payload
        await import_service.publish_unrecorded_rejection(
            deps,
            organization_id=valid.organization_id,
            import_id=payload.import_id,
            integration_id=payload.integration_id,
            sender_id=payload.sender_id,
            key=import_service.command_key(payload),
            rejected=rejected,
        )
        return
    # Recorded: from here on the deadline sweeper guarantees an outcome, so transient failures are
    # left to the consumer's retries.
    await import_service.handle_import(deps, valid)


async def on_number_event(deps: ImportDeps, event: AnyMessage, _delivery: Delivery) -> None:
    """Release the claim of a number inventory removed; every other event on the topic is ignored."""
    if not isinstance(event, NumberStateChanged) or event.payload.state is not NumberState.REMOVED:
        return
    async with deps.pool.acquire() as conn:
        released = await repo_imports.release_removed_number(
            conn, event.payload.address, event.organization_id, event.payload.import_id, event.occurred_at
        )
    if released:
        log.info("released the claim of a removed number (integration %s)", event.payload.integration_id)


def subscriptions(ctx: ServiceContext) -> list[Subscription[Any]]:
    """Import commands and number events."""
    deps = import_service.deps_from_context(ctx)

    async def import_command(record: Record[dict[str, Any]], _: EmitPublisher) -> None:
        await on_import_command(deps, record.message, record.delivery())

    async def number_event(record: Record[AnyMessage], _: EmitPublisher) -> None:
        await on_number_event(deps, record.message, record.delivery())

    # Group ids follow the service's command group (tests give each service instance its own).
    group = ctx.settings.command_group_id
    return [
        Subscription(topics.NUMBER_COMMANDS, RAW_COMMAND, one_by_one(import_command), group_id=f"{group}-imports"),
        Subscription(topics.NUMBER_EVENTS, ANY_MESSAGE, one_by_one(number_event), group_id=f"{group}-number-claims"),
    ]


async def run_import_sweeper(ctx: ServiceContext, stop: asyncio.Event) -> None:
    """Background task: reject imports past their deadline and free their claims."""
    await import_service.run_sweeper(
        import_service.deps_from_context(ctx), stop, interval_seconds=ctx.settings.import_sweep_seconds
    )

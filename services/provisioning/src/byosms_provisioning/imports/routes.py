"""Admin API of number imports (``/api/v2/sms/numbers/imports``): thin handlers over ``import_service``.

``POST`` records the import and queues its command in one transaction (the outbox publishes it to
the number command topic), then answers 202 with the import id; the checks run in the command
consumer, exactly as for commands sent by platform services. ``GET .../{id}`` shows the state
and, once finished, the imported number or the rejection in the caller's language.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from byosms_common import topics
from byosms_common.errors import NotFound, localized
from byosms_common.messages import (
    Compliance,
    ComplianceBlock,
    ImportNumber,
    ImportNumberPayload,
    NumberType,
)
from byosms_provisioning import auth, outbox
from byosms_provisioning.context import ServiceContext, context_of
from byosms_provisioning.imports import repo as repo_imports
from byosms_provisioning.imports import service as import_service
from byosms_provisioning.problems import language_of, read_json

BASE = "/api/v2/sms/numbers/imports"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComplianceBlockBody(_Body):
    keywords: list[Annotated[str, Field(max_length=50)]] = Field(default_factory=list, max_length=50)
    message: str = Field(default="", max_length=1600)


class ComplianceBody(_Body):
    # Each block is optional here so that a missing one is answered with the seed's compliance
    # message (check 4), not a generic schema error.
    help: ComplianceBlockBody | None = None
    opt_out: ComplianceBlockBody | None = None
    re_opt_in: ComplianceBlockBody | None = None


class ImportBody(_Body):
    integration_id: str = Field(min_length=1, max_length=100)
    type: NumberType
    sender_id: str = Field(min_length=1, max_length=32)
    country: str | None = Field(default=None, max_length=8)
    compliance: ComplianceBody | None = None


_NOT_GIVEN = ComplianceBlock(keywords=(), message="")


def _block(body: ComplianceBlockBody | None) -> ComplianceBlock:
    if body is None:
        return _NOT_GIVEN
    keywords = tuple(k.strip() for k in body.keywords if k.strip())
    return ComplianceBlock(keywords=keywords, message=body.message)


def compliance_of(body: ComplianceBody | None) -> Compliance | None:
    """The command's compliance blocks, None when no block is given.

    A block left out travels as an empty block, so that check 4 (``sender_ids.validate_compliance``)
    sees what was given and decides the same way for every number type: a short code needs all
    three, and a long code given some blocks needs all three too. Nothing is dropped here.
    """
    if body is None or (body.help is None and body.opt_out is None and body.re_opt_in is None):
        return None
    return Compliance(help=_block(body.help), opt_out=_block(body.opt_out), re_opt_in=_block(body.re_opt_in))


def import_view(record: repo_imports.ImportRecord, language: str) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": record.import_id,
        "state": record.state,
        "integration_id": record.integration_id,
        "type": record.number_type,
        "sender_id": record.sender_id,
        "country": record.command.get("country"),
        "address": record.address,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "deadline_at": record.deadline_at.isoformat(),
    }
    result = record.result or {}
    if record.state == "imported":
        view["number"] = result.get("number")
    elif record.state == "rejected" and record.code is not None:
        message = result.get("message") or localized(record.code).model_dump()
        view["error"] = {
            "code": record.code,
            "message": message.get("de" if language == "de" else "en"),
            "details": result.get("details", {}),
        }
    return view


async def create_import(request: web.Request) -> web.Response:
    ctx = context_of(request)
    principal = await auth.authenticate(request, ctx.verifier, auth.PHONE_NUMBER_IMPORT)
    body = await read_json(request, ImportBody)
    command = ImportNumber(
        organization_id=principal.organization_id,
        payload=ImportNumberPayload(
            integration_id=body.integration_id,
            number_type=body.type,
            sender_id=body.sender_id,
            country=body.country,
            compliance=compliance_of(body.compliance),
            actor=principal.subject,
        ),
    )
    deps = import_service.deps_from_context(ctx)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await import_service.record_import(conn, command, deps.deadline_seconds)
        await outbox.enqueue(conn, topics.NUMBER_COMMANDS, command, import_service.command_key(command.payload))
        record = await repo_imports.get_import(conn, command.payload.import_id)
    ctx.outbox_wakeup.set()
    assert record is not None
    location = f"{BASE}/{record.import_id}"
    return web.json_response(import_view(record, language_of(request)), status=202, headers={"Location": location})


async def get_import(request: web.Request) -> web.Response:
    ctx = context_of(request)
    principal = await auth.authenticate(request, ctx.verifier, auth.PHONE_NUMBER_IMPORT)
    async with ctx.pool.acquire() as conn:
        record = await repo_imports.get_import_of_organization(
            conn, principal.organization_id, request.match_info["id"][:200]
        )
    if record is None:
        raise NotFound("not_found")
    return web.json_response(import_view(record, language_of(request)))


def register(app: web.Application, ctx: ServiceContext) -> None:
    """Mount the import routes (called by ``app.py``)."""
    del ctx
    app.router.add_post(BASE, create_import)
    app.router.add_get(BASE + "/{id}", get_import)

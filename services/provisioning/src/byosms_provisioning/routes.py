"""Admin API for integrations (``/api/v2/integrations``): thin handlers over ``service``."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from byosms_common.errors import InvalidField
from byosms_common.messages import IntegrationStatus
from byosms_common.regions import Region
from byosms_provisioning import auth, repo, service
from byosms_provisioning.context import ServiceContext, context_of
from byosms_provisioning.integrations import ACCOUNT_SID, AUTH_TOKEN, INTEGRATION_ID, Integration
from byosms_provisioning.problems import InvalidFields, parse_query, read_json

BASE = "/api/v2/integrations"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CreateIntegrationBody(_Body):
    id: str | None = Field(
        default=None, min_length=1, max_length=100, json_schema_extra={"pattern": INTEGRATION_ID.pattern}
    )
    name: str = Field(min_length=1, max_length=200)
    notes: str = Field(default="", max_length=2000)
    region: str = Field(min_length=1, max_length=64)


class UpdateIntegrationBody(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    notes: str | None = Field(default=None, max_length=2000)


class CredentialsBody(_Body):
    # The patterns document what integrations.check_* enforce (with field-named messages).
    account_sid: str = Field(min_length=1, max_length=64, json_schema_extra={"pattern": ACCOUNT_SID.pattern})
    auth_token: SecretStr = Field(min_length=1, max_length=128, json_schema_extra={"pattern": AUTH_TOKEN.pattern})
    shared_key: SecretStr | None = Field(default=None, max_length=256, json_schema_extra={"pattern": "^[ -~]{16,256}$"})


class ListQuery(_Body):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=500)
    status: IntegrationStatus | None = None
    region: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    account_sid: str | None = Field(default=None, max_length=64)


def integration_view(integration: Integration, regions: Mapping[str, Region]) -> dict[str, Any]:
    """The API representation: never a secret, only whether one is set."""
    region = regions.get(integration.region)
    return {
        "id": integration.id,
        "organization_id": integration.organization_id,
        "name": integration.name,
        "notes": integration.notes,
        "region": integration.region,
        "inbound_webhook_url": region.inbound_url if region else None,
        "status": integration.status.value,
        "account_sid": integration.account_sid,
        "credentials": {
            "auth_token_set": integration.auth_token is not None,
            "shared_key_set": integration.shared_key is not None,
        },
        "version": integration.version,
        "created_at": integration.created_at.isoformat(),
        "updated_at": integration.updated_at.isoformat(),
    }


def _respond(ctx: ServiceContext, integration: Integration, status: int = 200) -> web.Response:
    headers = {"ETag": f'"{integration.version}"'}
    if status == 201:
        headers["Location"] = f"{BASE}/{integration.id}"
    return web.json_response(integration_view(integration, ctx.regions), status=status, headers=headers)


# An entity tag as this API issues them ("3"), weak (W/"3") or bare (3); ASCII digits only.
IF_MATCH_PATTERN = re.compile(r'(?:W/)?"(?P<version>[0-9]{1,18})"|(?P<bare>[0-9]{1,18})')


def expected_version(request: web.Request) -> int | None:
    """The version named by ``If-Match`` (``"3"``, ``W/"3"`` or ``3``), if any."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    match = IF_MATCH_PATTERN.fullmatch(raw.strip())
    if match is None:
        raise InvalidFields([("If-Match", "int_parsing")])
    return int(match.group("version") or match.group("bare"))


def encode_cursor(integration: Integration) -> str:
    raw = json.dumps([integration.created_at.isoformat(), integration.id]).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, integration_id = json.loads(raw)
        return datetime.fromisoformat(created), str(integration_id)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidFields([("query.cursor", "value_error")]) from None


async def _actor(request: web.Request, permission: str) -> service.Actor:
    principal = await auth.authenticate(request, context_of(request).verifier, permission)
    return service.Actor(organization_id=principal.organization_id, name=principal.subject)


async def create_integration(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.INTEGRATION_ADD)
    body = await read_json(request, CreateIntegrationBody)
    created = await service.create(
        ctx, actor, name=body.name, notes=body.notes, region=body.region, integration_id=body.id
    )
    return _respond(ctx, created, 201)


async def list_integrations(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.INTEGRATION_VIEW)
    query = parse_query(request, ListQuery)
    after = decode_cursor(query.cursor) if query.cursor else None
    filters = repo.ListFilter(
        status=query.status, region=query.region, name_contains=query.name, account_sid=query.account_sid
    )
    page = await repo.list_page(ctx.pool, actor.organization_id, filters, limit=query.limit + 1, after=after)
    items, more = page[: query.limit], len(page) > query.limit
    return web.json_response(
        {
            "items": [integration_view(i, ctx.regions) for i in items],
            "next_cursor": encode_cursor(items[-1]) if more else None,
        }
    )


async def get_integration(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.INTEGRATION_VIEW)
    found = await service.get(ctx, actor.organization_id, request.match_info["id"])
    return _respond(ctx, found)


async def update_integration(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.INTEGRATION_EDIT)
    body = await read_json(request, UpdateIntegrationBody)
    updated = await service.edit(
        ctx,
        actor,
        request.match_info["id"],
        name=body.name,
        notes=body.notes,
        expected_version=expected_version(request),
    )
    return _respond(ctx, updated)


async def put_credentials(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.INTEGRATION_EDIT)
    body = await read_json(request, CredentialsBody)
    updated = await service.set_credentials(
        ctx,
        actor,
        request.match_info["id"],
        account_sid=body.account_sid,
        auth_token=body.auth_token.get_secret_value(),
        shared_key=body.shared_key.get_secret_value() if body.shared_key is not None else None,
        expected_version=expected_version(request),
    )
    return _respond(ctx, updated)


async def activate_integration(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.INTEGRATION_EDIT)
    await _no_body(request)
    updated = await service.activate(ctx, actor, request.match_info["id"], expected_version=expected_version(request))
    return _respond(ctx, updated)


async def deactivate_integration(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.INTEGRATION_EDIT)
    await _no_body(request)
    updated = await service.deactivate(ctx, actor, request.match_info["id"], expected_version=expected_version(request))
    return _respond(ctx, updated)


async def delete_integration(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.INTEGRATION_DELETE)
    await service.delete(ctx, actor, request.match_info["id"], expected_version=expected_version(request))
    return web.Response(status=204)


async def _no_body(request: web.Request) -> None:
    # Activate/deactivate take no body; an empty JSON object is tolerated for clients that always send one.
    raw = await request.read()
    if raw.strip() not in (b"", b"{}"):
        raise InvalidField("(body)", "this operation takes no request body", "dieser Vorgang nimmt keinen Inhalt an")


def register(app: web.Application, ctx: ServiceContext) -> None:
    """Mount the integration endpoints."""
    del ctx  # handlers read it from the app
    app.router.add_post(BASE, create_integration)
    app.router.add_get(BASE, list_integrations)
    app.router.add_get(BASE + "/{id}", get_integration)
    app.router.add_patch(BASE + "/{id}", update_integration)
    app.router.add_delete(BASE + "/{id}", delete_integration)
    app.router.add_put(BASE + "/{id}/credentials", put_credentials)
    app.router.add_post(BASE + "/{id}/activate", activate_integration)
    app.router.add_post(BASE + "/{id}/deactivate", deactivate_integration)

"""Public API of the SMS number inventory (``/api/v2/sms/numbers``) and of the organization's default
routing target (``/api/v2/sms/routing-defaults``): thin handlers over ``numbers.service``."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from byosms_common.errors import Language, localized
from byosms_common.messages import ROUTING_TARGET_PATTERN, NumberType
from byosms_provisioning import auth
from byosms_provisioning.context import context_of
from byosms_provisioning.imports.routes import ComplianceBody, compliance_of
from byosms_provisioning.numbers import service
from byosms_provisioning.numbers.repo import ListFilter, NumberView
from byosms_provisioning.problems import InvalidFields, language_of, parse_query, read_json
from byosms_provisioning.webhook_checks.view import webhook_view

BASE = "/api/v2/sms/numbers"
ROUTING_DEFAULTS = "/api/v2/sms/routing-defaults"

# The API's state filter: removed numbers are listed for BYOSMS_PROVISIONING_REMOVED_NUMBER_DAYS.
STATE_FILTERS: dict[str, tuple[str, ...]] = {
    "active": ("active",),
    "inactive": ("inactive",),
    "removed-recently": ("removed",),
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListQuery(_Body):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=500)
    integration_id: str | None = Field(default=None, max_length=100)
    state: Literal["active", "inactive", "removed-recently"] | None = Field(
        default=None, description="default: active and inactive"
    )
    type: NumberType | None = None
    address_prefix: str | None = Field(default=None, max_length=40, description="e.g. +4930 or US:")
    routing_target: str | None = Field(default=None, max_length=200, description="numbers bound to this target")


class NumberPatchBody(_Body):
    version: int = Field(ge=1, description="the number's version as last read; another one answers 409")
    routing_target: str | None = Field(
        default=None,
        pattern=ROUTING_TARGET_PATTERN,
        description="queue (or inbound flow) id; `null` clears it (the integration's default applies)",
    )
    compliance: ComplianceBody | None = Field(
        default=None, description="short codes: the help, opt-out and re-opt-in blocks, all three"
    )


class RoutingDefaultsBody(_Body):
    default_routing_target: str | None = Field(
        pattern=ROUTING_TARGET_PATTERN,
        description="where messages go when neither the number nor its integration names a target; `null` clears",
    )


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def number_view(number: NumberView, language: Language) -> dict[str, Any]:
    target, source = number.effective_target
    warnings: list[dict[str, Any]] = []
    if number.no_route_at is not None and number.state == "active" and target is None:
        text = localized("no_route")
        warnings.append(
            {
                "code": "no_route",
                "message": text.de if language == "de" else text.en,
                "since": _time(number.no_route_at),
            }
        )
    action = number.action
    action_view: dict[str, Any] | None = None
    if action is not None:
        action_view = {"kind": action.kind, "id": action.id, "state": action.state, "at": _time(action.at)}
        if action.state == "failed":
            reason = action.message
            action_view["error"] = {
                "code": action.code,
                "message": (reason.de if language == "de" else reason.en) if reason else None,
            }
    return {
        "id": number.id,
        "address": number.address,
        "integration": {"id": number.integration_id, "name": number.integration_name},
        "type": number.number_type,
        "country": number.country,
        "twilio_sid": number.twilio_sid,
        "compliance": number.compliance,
        "routing_target": number.routing_target,
        "effective_routing_target": {"target": target, "from": source},
        "state": number.state,
        "version": number.version,
        "imported_at": _time(number.imported_at),
        "updated_at": _time(number.updated_at),
        "removed_at": _time(number.removed_at),
        "warnings": warnings,
        "latest_action": action_view,
        "webhook": webhook_view(number.webhook, language),
    }


def _cursor(address: str) -> str:
    return base64.urlsafe_b64encode(address.encode()).decode("ascii").rstrip("=")


def _after(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidFields([("query.cursor", "value_error")]) from None


async def _actor(request: web.Request, permission: str) -> service.Actor:
    principal = await auth.authenticate(request, context_of(request).verifier, permission)
    return service.Actor(organization_id=principal.organization_id, name=principal.subject)


def _respond(request: web.Request, number: NumberView, status: int = 200) -> web.Response:
    return web.json_response(
        number_view(number, language_of(request)), status=status, headers={"ETag": f'"{number.version}"'}
    )


async def list_numbers(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.PHONE_NUMBER_VIEW)
    query = parse_query(request, ListQuery)
    filters = ListFilter(
        integration_id=query.integration_id,
        states=STATE_FILTERS[query.state] if query.state else ("active", "inactive"),
        number_type=query.type.value if query.type else None,
        address_prefix=query.address_prefix,
        routing_target=query.routing_target,
    )
    after = _after(query.cursor) if query.cursor else None
    items, more = await service.page(ctx, actor.organization_id, filters, limit=query.limit, after=after)
    language = language_of(request)
    return web.json_response(
        {
            "items": [number_view(n, language) for n in items],
            "next_cursor": _cursor(items[-1].address) if more and items else None,
        }
    )


async def get_number(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.PHONE_NUMBER_VIEW)
    return _respond(request, await service.get(ctx, actor.organization_id, request.match_info["id"]))


async def remove_number(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.PHONE_NUMBER_DELETE)
    number = await service.remove(ctx, actor, request.match_info["id"])
    return _respond(request, number, 202)


async def patch_number(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.PHONE_NUMBER_EDIT)
    body = await read_json(request, NumberPatchBody)
    changes: dict[str, Any] = {}
    if "routing_target" in body.model_fields_set:
        changes["routing_target"] = body.routing_target
    if body.compliance is not None:
        changes["compliance"] = compliance_of(body.compliance)
    number, done = await service.change(ctx, actor, request.match_info["id"], version=body.version, **changes)
    return _respond(request, number, 200 if done else 202)


async def get_routing_defaults(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.PHONE_NUMBER_VIEW)
    target = await service.organization_routing_target(ctx, actor.organization_id)
    return web.json_response({"default_routing_target": target})


async def put_routing_defaults(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.PHONE_NUMBER_EDIT)
    body = await read_json(request, RoutingDefaultsBody)
    target = await service.set_organization_routing_target(ctx, actor, body.default_routing_target)
    return web.json_response({"default_routing_target": target})


def register(app: web.Application, ctx: object) -> None:
    """Mount the inventory routes (called by ``app.py``)."""
    del ctx
    app.router.add_get(BASE, list_numbers)
    app.router.add_get(BASE + "/{id}", get_number)
    app.router.add_delete(BASE + "/{id}", remove_number)
    app.router.add_patch(BASE + "/{id}", patch_number)
    app.router.add_get(ROUTING_DEFAULTS, get_routing_defaults)
    app.router.add_put(ROUTING_DEFAULTS, put_routing_defaults)

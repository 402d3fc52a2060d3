"""Control API of held webhooks (``/_emulator/holds``, see :mod:`twilio_emulator.held_webhooks`).

- ``POST /_emulator/holds`` ``{"kind": "inbound"|"status", "to": "+49...", "message_sid": "SM...", "count": 1}``
  adds a hold rule (``to``, ``message_sid`` and ``count`` optional);
- ``GET /_emulator/holds`` lists the rules and the held webhooks;
- ``POST /_emulator/holds/release`` ``{"message_sid": "SM...", "kind": "status"}`` (both optional) posts the
  held webhooks now and answers what the target answered;
- ``DELETE /_emulator/holds`` removes every rule and forgets the held webhooks.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from twilio_emulator.context import ctx_of
from twilio_emulator.control import ControlError
from twilio_emulator.held_webhooks import HoldingPoster, HoldRule

PREFIX = "/_emulator/holds"
routes = web.RouteTableDef()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HoldRequest(_Model):
    kind: Literal["inbound", "status"]
    to: str | None = None
    message_sid: str | None = None
    count: int | None = Field(default=None, ge=1)


class ReleaseRequest(_Model):
    message_sid: str | None = None
    kind: Literal["inbound", "status"] | None = None


def _poster(request: web.Request) -> HoldingPoster:
    poster = ctx_of(request).poster
    if not isinstance(poster, HoldingPoster):
        raise ControlError(501, "this emulator does not hold webhooks")
    return poster


M = TypeVar("M", bound=_Model)


async def _parse(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.read() or b"{}")
    except ValidationError as exc:
        raise ControlError(400, exc.json(include_url=False)) from None


@routes.post(PREFIX)
async def add_hold(request: web.Request) -> web.Response:
    req = await _parse(request, HoldRequest)
    _poster(request).holds.rules.append(
        HoldRule(kind=req.kind, to=req.to, message_sid=req.message_sid, remaining=req.count)
    )
    return web.Response(status=204)


@routes.get(PREFIX)
async def list_holds(request: web.Request) -> web.Response:
    holds = _poster(request).holds
    rules = [{"kind": r.kind, "to": r.to, "message_sid": r.message_sid, "remaining": r.remaining} for r in holds.rules]
    return web.json_response({"rules": rules, "held": [h.as_json() for h in holds.held]})


@routes.post(PREFIX + "/release")
async def release(request: web.Request) -> web.Response:
    req = await _parse(request, ReleaseRequest)
    deliveries = await _poster(request).release(req.message_sid, req.kind)
    return web.json_response({"released": [{"url": d.url, "status": d.status, "error": d.error} for d in deliveries]})


@routes.delete(PREFIX)
async def clear_holds(request: web.Request) -> web.Response:
    _poster(request).holds.clear()
    return web.Response(status=204)

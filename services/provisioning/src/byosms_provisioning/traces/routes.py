"""``GET /api/v2/sms/messages/{id}``: a message's trace, by its MessageSid (or an outbound message's id)."""

from __future__ import annotations

from aiohttp import web

from byosms_provisioning import auth
from byosms_provisioning.context import context_of
from byosms_provisioning.problems import language_of
from byosms_provisioning.traces import service

BASE = "/api/v2/sms/messages"


async def get_trace(request: web.Request) -> web.Response:
    ctx = context_of(request)
    principal = await auth.authenticate(request, ctx.verifier, auth.PHONE_NUMBER_VIEW)
    view = await service.trace(ctx, principal.organization_id, request.match_info["id"], language_of(request))
    return web.json_response(view)


def register(app: web.Application, ctx: object) -> None:
    del ctx
    app.router.add_get(BASE + "/{id}", get_trace)

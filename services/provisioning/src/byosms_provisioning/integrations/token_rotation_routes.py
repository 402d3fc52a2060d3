"""Admin API of Auth Token rotation and the signature mode (``token_rotation_service``):

- ``POST /api/v2/integrations/{id}/auth-token-rotation`` ``{"auth_token": "<next token>"}``: open a rotation
  window (checked with Twilio first); webhooks signed with either token are accepted;
- ``POST /api/v2/integrations/{id}/auth-token-rotation/confirm``: the next token is the token now, the window
  closes (call it after promoting the token in Twilio);
- ``DELETE /api/v2/integrations/{id}/auth-token-rotation``: close the window without the new token;
- ``PUT /api/v2/integrations/{id}/signature-mode`` ``{"mode": "enforce" | "observe", "observe_hours": 24}``
  (observe ends by itself after ``observe_hours``, default 24, at most 168).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from aiohttp import web
from pydantic import Field, SecretStr

from byosms_provisioning import auth
from byosms_provisioning.context import ServiceContext, context_of
from byosms_provisioning.integrations import token_rotation_service
from byosms_provisioning.integrations.model import AUTH_TOKEN
from byosms_provisioning.integrations.routes import BASE, _actor, _Body, _no_body, _respond, expected_version
from byosms_provisioning.problems import read_json

ROTATION = BASE + "/{id}/auth-token-rotation"
SIGNATURE_MODE = BASE + "/{id}/signature-mode"


class AuthTokenRotationBody(_Body):
    auth_token: SecretStr = Field(
        min_length=1,
        max_length=128,
        description="the account's next Auth Token: Twilio's secondary token, before you promote it",
        json_schema_extra={"pattern": AUTH_TOKEN.pattern},
    )


class SignatureModeBody(_Body):
    mode: Literal["enforce", "observe"] = Field(
        description="enforce: webhooks with a bad signature are refused; observe: counted, reported and accepted"
    )
    observe_hours: float | None = Field(
        default=None,
        gt=0,
        le=168,
        description="observe mode only: how long it holds before the integration is back in enforce "
        "(default 24 hours, at least 1 minute, at most 168 hours = 7 days)",
    )


async def start_rotation(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.INTEGRATION_EDIT)
    body = await read_json(request, AuthTokenRotationBody)
    updated = await token_rotation_service.start(
        ctx,
        actor,
        request.match_info["id"],
        body.auth_token.get_secret_value(),
        expected_version=expected_version(request),
    )
    return await _respond(request, ctx, updated.current)


async def confirm_rotation(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.INTEGRATION_EDIT)
    await _no_body(request)
    updated = await token_rotation_service.confirm(
        ctx, actor, request.match_info["id"], expected_version=expected_version(request)
    )
    return await _respond(request, ctx, updated.current)


async def cancel_rotation(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.INTEGRATION_EDIT)
    updated = await token_rotation_service.cancel(
        ctx, actor, request.match_info["id"], expected_version=expected_version(request)
    )
    return await _respond(request, ctx, updated.current)


async def put_signature_mode(request: web.Request) -> web.Response:
    ctx = context_of(request)
    actor = await _actor(request, auth.INTEGRATION_EDIT)
    body = await read_json(request, SignatureModeBody)
    updated = await token_rotation_service.set_signature_mode(
        ctx,
        actor,
        request.match_info["id"],
        body.mode,
        observe_for=timedelta(hours=body.observe_hours) if body.observe_hours is not None else None,
        expected_version=expected_version(request),
    )
    return await _respond(request, ctx, updated.current)


def register(app: web.Application, ctx: ServiceContext) -> None:
    del ctx
    app.router.add_post(ROTATION, start_rotation)
    app.router.add_post(ROTATION + "/confirm", confirm_rotation)
    app.router.add_delete(ROTATION, cancel_rotation)
    app.router.add_put(SIGNATURE_MODE, put_signature_mode)

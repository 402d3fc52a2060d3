"""Twilio's Auth Token rotation (``accounts.twilio.com/v1/AuthTokens``): a secondary token, and promoting it.

- ``POST /v1/AuthTokens/Secondary`` creates the secondary token (valid for the REST API at once; webhooks
  go on being signed with the primary token);
- ``POST /v1/AuthTokens/Promote`` makes the secondary token the primary one and deletes the old primary
  at once: from then on webhooks are signed with the new token, and the old one authenticates nothing;
- ``DELETE /v1/AuthTokens/Secondary`` deletes the secondary token.

Called with the account's own credentials, like Twilio.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from twilio_emulator.context import caller_of
from twilio_emulator.errors import TwilioApiError
from twilio_emulator.ids import new_token
from twilio_emulator.render import iso8601
from twilio_emulator.state import Account, utcnow

routes = web.RouteTableDef()

_BASE = "/v1/AuthTokens"


def _view(account: Account, token_field: str, token: str | None, path: str) -> dict[str, Any]:
    return {
        "account_sid": account.sid,
        token_field: token,
        "date_created": iso8601(account.date_created),
        "date_updated": iso8601(account.date_updated),
        "url": "https://accounts.twilio.com" + path,
    }


@routes.post(_BASE + "/Secondary")
async def create_secondary(request: web.Request) -> web.Response:
    account = caller_of(request)
    account.secondary_auth_token = new_token()
    account.date_updated = utcnow()
    return web.json_response(
        _view(account, "secondary_auth_token", account.secondary_auth_token, request.path), status=201
    )


@routes.delete(_BASE + "/Secondary")
async def delete_secondary(request: web.Request) -> web.Response:
    account = caller_of(request)
    if account.secondary_auth_token is None:
        raise TwilioApiError(20404, path=request.path)
    account.secondary_auth_token = None
    account.date_updated = utcnow()
    return web.Response(status=204)


@routes.post(_BASE + "/Promote")
async def promote(request: web.Request) -> web.Response:
    account = caller_of(request)
    if account.secondary_auth_token is None:
        raise TwilioApiError(20404, path=request.path)
    account.auth_token, account.secondary_auth_token = account.secondary_auth_token, None
    account.date_updated = utcnow()
    return web.json_response(_view(account, "auth_token", account.auth_token, request.path))

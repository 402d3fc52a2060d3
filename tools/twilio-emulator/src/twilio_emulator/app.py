"""Application factory: builds the aiohttp app from settings. Nothing is opened until the app starts."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from twilio_emulator import (
    auth_tokens,
    console,
    control,
    control_media,
    routes_api,
    routes_holds,
    routes_media,
    routes_messaging,
    routes_overrides,
)
from twilio_emulator.context import CALLER, CTX, FORM, Context
from twilio_emulator.errors import TwilioApiError, error_body
from twilio_emulator.held_webhooks import HoldingPoster
from twilio_emulator.lifecycle import StatusWalker
from twilio_emulator.settings import EmulatorSettings
from twilio_emulator.state import ApiRequestRecord, Store, utcnow

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_PREFIXES = ("/2010-04-01/", "/v1/")


def _twilio_error(code: int, message: str, status: int, **extra: str) -> web.Response:
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return web.json_response({**error_body(code, message, status), **extra}, status=status, headers=headers)


async def _read_form(request: web.Request) -> list[tuple[str, str]]:
    if request.method not in {"POST", "PUT"} or request.content_type != "application/x-www-form-urlencoded":
        return []
    posted = await request.post()
    return [(name, str(value)) for name, value in posted.items()]


def _credentials(request: web.Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


@web.middleware
async def twilio_api(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For Twilio API paths: log the request, inject faults, authenticate, render Twilio errors."""
    if not request.path.startswith(API_PREFIXES):
        return await handler(request)
    ctx = request.app[CTX]
    creds = _credentials(request)
    form = await _read_form(request)
    record = ApiRequestRecord(
        id=ctx.store.next_id(),
        at=utcnow(),
        method=request.method,
        path=request.path,
        query=list(request.query.items()),
        form=form,
        auth_username=creds[0] if creds else None,
    )
    ctx.store.requests.append(record)
    response = await _handle_api(ctx, request, handler, creds, form, record)
    record.status = response.status
    response.headers["Twilio-Request-Id"] = "RQ" + secrets.token_hex(16)
    return response


async def _handle_api(
    ctx: Context,
    request: web.Request,
    handler: Handler,
    creds: tuple[str, str] | None,
    form: list[tuple[str, str]],
    record: ApiRequestRecord,
) -> web.StreamResponse:
    fault = ctx.store.take_fault(request.method, request.path)
    if fault is not None:
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.status == 429:
            record.error_code = 20429
            throttled = _twilio_error(20429, "Too Many Requests", 429)
            if fault.retry_after_s is not None:
                throttled.headers["Retry-After"] = str(fault.retry_after_s)
            return throttled
        if fault.status is not None:
            code = 20503 if fault.status == 503 else 20500
            record.error_code = code
            message = "Service Unavailable" if fault.status == 503 else "Internal Server Error"
            return _twilio_error(code, message, fault.status)
    account = ctx.store.authenticate(*creds) if creds else None
    if account is None or account.status != "active":
        record.error_code = 20003
        return _twilio_error(20003, "Authenticate", 401, detail="Your AccountSid or AuthToken was incorrect.")
    request[CALLER] = account
    request[FORM] = form
    try:
        response = await handler(request)
    except TwilioApiError as exc:
        record.error_code = exc.code
        return web.json_response(exc.body(), status=exc.status)
    except web.HTTPMethodNotAllowed:
        return _twilio_error(20004, "Method not allowed", 405)
    except web.HTTPNotFound:
        return _twilio_error(20404, f"The requested resource {request.path} was not found", 404)
    except web.HTTPException:
        raise  # other deliberate HTTP answers (413, redirects) keep their status
    except Exception:
        # A bug in the emulator still answers like Twilio does (JSON, code 20500), never aiohttp's plain
        # text; the traceback goes to the log (method and path only, no form values or credentials).
        log.exception("unhandled error in %s %s", request.method, request.path)
        record.error_code = 20500
        return _twilio_error(20500, "Internal Server Error", 500)
    if fault is not None and fault.lose_answer and request.transport is not None:
        # Done, but the answer is lost: the connection closes before a byte of the response is sent.
        request.transport.abort()
    return response


def create_app(settings: EmulatorSettings | None = None) -> web.Application:
    """Build the emulator app. The webhook ClientSession is created on startup and closed on cleanup."""
    settings = settings or EmulatorSettings()
    store = Store(log_limit=settings.log_limit)
    poster = HoldingPoster(store, max_timeout_s=settings.webhook_timeout_s)
    walker = StatusWalker(store, poster, settings.status_step_delay_s)
    app = web.Application(middlewares=[twilio_api, control.control_errors])
    app[CTX] = Context(settings=settings, store=store, poster=poster, walker=walker)
    app.add_routes(routes_api.routes)
    app.add_routes(routes_messaging.routes)
    app.add_routes(routes_media.routes)
    app.add_routes(control.routes)
    app.add_routes(routes_overrides.routes)
    app.add_routes(console.routes)
    app.add_routes(control_media.routes)
    app.add_routes(routes_holds.routes)
    app.add_routes(auth_tokens.routes)
    app.cleanup_ctx.append(_lifetime)
    return app


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    ctx = app[CTX]
    await ctx.poster.start()
    yield
    await ctx.walker.cancel_all()
    await ctx.poster.close()

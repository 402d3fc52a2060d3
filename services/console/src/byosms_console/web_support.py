"""What every console page shares: the request's language and viewer, rendering, redirects, and the
middlewares that sign users in, refuse cross-site form posts and turn API outages into a page."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web

from byosms_console.api_client import AdminApi, ApiProblem, ApiUnreachable, Caller
from byosms_console.inventory_api import InventoryApi
from byosms_console.provisioning_api import ProvisioningApi
from byosms_console.session import LANGUAGE_COOKIE, TOKEN_COOKIE, NotAToken, TokenExpired, Viewer, viewer_of
from byosms_console.settings import ConsoleSettings
from byosms_console.texts import TEXTS, Language, pick_language, text

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", ConsoleSettings)
ADMIN_API = web.AppKey("admin_api", AdminApi)
DEV_KEY = web.AppKey("dev_key", bytes)  # empty: no development login
LANGUAGE = web.RequestKey("language", str)
VIEWER = web.RequestKey("viewer", Viewer)

PUBLIC_PREFIXES = ("/login", "/lang/", "/static/", "/healthz", "/readyz")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def language_of(request: web.Request) -> Language:
    return "de" if request[LANGUAGE] == "de" else "en"


def viewer_from(request: web.Request) -> Viewer:
    return request[VIEWER]


def caller_of(request: web.Request) -> Caller:
    return Caller(viewer_from(request).token, language_of(request))


def provisioning(request: web.Request) -> ProvisioningApi:
    return ProvisioningApi(request.app[ADMIN_API])


def inventory(request: web.Request) -> InventoryApi:
    return InventoryApi(request.app[ADMIN_API])


def t(request: web.Request, key: str, **params: str) -> str:
    return text(key, language_of(request), **params)


def render(request: web.Request, template: str, context: Mapping[str, Any], status: int = 200) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, {**base_context(request), **context}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def local_path(candidate: str | None, default: str = "/integrations") -> str:
    """``candidate`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not candidate or not candidate.startswith("/") or candidate.startswith("//"):
        return default
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or "\\" in candidate:
        return default
    return candidate


def redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location=location)


def base_context(request: web.Request) -> dict[str, Any]:
    """What every template gets: language, texts, the viewer, where the page is."""
    language = language_of(request)
    return {
        "lang": language,
        "t": lambda key, **params: text(key, language, **params),
        "has_text": lambda key: key in TEXTS,
        "viewer": request.get(VIEWER),
        "here": request.path_qs,
        "here_path": request.path,
    }


@web.middleware
async def language_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[LANGUAGE] = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("Accept-Language"))
    response = await handler(request)
    response.headers.setdefault("Content-Language", request[LANGUAGE])
    return response


def _same_origin(request: web.Request) -> bool:
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return False
    parts = urlsplit(source)
    return parts.netloc == request.host


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "POST" and not _same_origin(request):
        return render(request, "message.html", {"message": t(request, "request_refused")}, status=403)
    if request.path.startswith(PUBLIC_PREFIXES):
        token = request.cookies.get(TOKEN_COOKIE)
        if token:
            with contextlib.suppress(NotAToken):
                request[VIEWER] = viewer_of(token)
        return await handler(request)
    token = request.cookies.get(TOKEN_COOKIE)
    try:
        if not token:
            raise NotAToken()
        request[VIEWER] = viewer_of(token)
    except TokenExpired:
        raise redirect("/login?expired=1&next=" + _quoted(request.path_qs)) from None
    except NotAToken:
        raise redirect("/login?next=" + _quoted(request.path_qs)) from None
    try:
        return await handler(request)
    except ApiUnreachable as exc:
        log.warning("admin API unreachable on %s %s: %s", request.method, request.path, exc)
        return render(request, "message.html", {"message": t(request, "api_unreachable")}, status=503)
    except ApiProblem as problem:
        if problem.status == 401:
            raise redirect("/login?expired=1&next=" + _quoted(request.path_qs)) from None
        # A problem no screen expected (e.g. 403 on a page it gates, 404 of a foreign id): its own words.
        return render(request, "message.html", {"message": problem.detail}, status=problem.status)


def _quoted(path: str) -> str:
    return quote(path, safe="")


@web.middleware
async def not_found_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return render(request, "message.html", {"message": t(request, "page_not_found")}, status=404)
    except web.HTTPException:
        raise
    except Exception:
        # A bug of the console: logged here, never shown to the user as a stack trace.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render(request, "message.html", {"message": t(request, "internal_error")}, status=500)

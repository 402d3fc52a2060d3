"""Signing in and out, and the language switch.

Two ways in: the development login (when ``BYOSMS_CONSOLE_DEV_LOGIN_KEY_FILE`` is set) mints a
token for an organization and the permissions ticked, signed with the development key that
provisioning trusts locally; anywhere, a token issued by the platform can be pasted. The token
goes into an HttpOnly, SameSite=Strict cookie that lives as long as the token.
"""

from __future__ import annotations

import time

from aiohttp import web

from byosms_cli.devkeys import mint_token
from byosms_console.session import (
    FINER_PERMISSIONS,
    LANGUAGE_COOKIE,
    SEED_PERMISSIONS,
    TOKEN_COOKIE,
    NotAToken,
    viewer_of,
)
from byosms_console.texts import LANGUAGES
from byosms_console.web_support import ADMIN_API, DEV_KEY, SETTINGS, local_path, redirect, render, t

DEV_TOKEN_SECONDS = 8 * 3600


def _page(request: web.Request, *, error: str | None = None, status: int = 200) -> web.Response:
    return render(
        request,
        "login.html",
        {
            "dev_login": bool(request.app[DEV_KEY]),
            "seed_permissions": SEED_PERMISSIONS,
            "finer_permissions": FINER_PERMISSIONS,
            "next": local_path(request.query.get("next") or None),
            "expired": request.query.get("expired") == "1",
            "error": error,
        },
        status=status,
    )


async def login_page(request: web.Request) -> web.Response:
    return _page(request)


def _signed_in(request: web.Request, token: str, next_path: str) -> web.HTTPSeeOther:
    viewer = viewer_of(token)
    response = redirect(local_path(next_path))
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=max(60, viewer.expires_at - int(time.time())),
        httponly=True,
        samesite="Strict",
        secure=request.app[SETTINGS].cookie_secure,
        path="/",
    )
    return response


async def dev_login(request: web.Request) -> web.StreamResponse:
    key = request.app[DEV_KEY]
    if not key:
        raise web.HTTPNotFound()
    form = await request.post()
    organization = str(form.get("organization", "")).strip()[:100]
    subject = str(form.get("subject", "")).strip()[:200] or "admin@localhost"
    if not organization:
        return _page(request, error=t(request, "login.organization_required"), status=400)
    allowed = set(SEED_PERMISSIONS) | set(FINER_PERMISSIONS)
    permissions = [str(p) for p in form.getall("permission", []) if str(p) in allowed]
    settings = request.app[SETTINGS]
    token = mint_token(
        key,
        organization_id=organization,
        permissions=permissions,
        subject=subject,
        ttl_seconds=DEV_TOKEN_SECONDS,
        issuer=settings.dev_login_issuer,
        audience=settings.dev_login_audience,
    )
    raise _signed_in(request, token, str(form.get("next", "")))


async def token_login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    token = str(form.get("token", "")).strip()
    try:
        viewer_of(token)
    except NotAToken:
        return _page(request, error=t(request, "login.token_invalid"), status=400)
    raise _signed_in(request, token, str(form.get("next", "")))


async def logout(request: web.Request) -> web.StreamResponse:
    response = redirect("/login")
    response.del_cookie(TOKEN_COOKIE, path="/")
    raise response


async def switch_language(request: web.Request) -> web.StreamResponse:
    language = request.match_info["lang"]
    if language not in LANGUAGES:
        raise web.HTTPNotFound()
    response = redirect(local_path(request.query.get("next")))
    response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, samesite="Lax", path="/")
    raise response


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the admin API answers: without it the console has nothing to show."""
    if await request.app[ADMIN_API].reachable():
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "not ready", "missing": ["admin API"]}, status=503)


def register(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login/dev", dev_login)
    app.router.add_post("/login/token", token_login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/lang/{lang}", switch_language)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)

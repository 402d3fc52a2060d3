"""``byosms-console``: the admin console's web server (aiohttp, Jinja2 templates, no build step)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from byosms_console import views_auth, views_integrations, views_numbers, views_trace
from byosms_console.api_client import AdminApi
from byosms_console.settings import ConsoleSettings
from byosms_console.web_support import (
    ADMIN_API,
    DEV_KEY,
    SETTINGS,
    Handler,
    language_middleware,
    not_found_middleware,
    redirect,
    session_middleware,
)

HERE = Path(__file__).parent
log = logging.getLogger("byosms_console")


async def home(_request: web.Request) -> web.StreamResponse:
    raise redirect("/integrations")


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def build_app(settings: ConsoleSettings) -> web.Application:
    app = web.Application(
        middlewares=[security_headers, language_middleware, not_found_middleware, session_middleware],
        client_max_size=64 * 1024,
    )
    app[SETTINGS] = settings
    app[ADMIN_API] = AdminApi(settings.api_url, settings.api_timeout_seconds)
    app[DEV_KEY] = settings.dev_login_key_file.read_bytes() if settings.dev_login_key_file else b""
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    app[aiohttp_jinja2.static_root_key] = "/static"
    environment.trim_blocks = True
    environment.lstrip_blocks = True
    app.router.add_get("/", home)
    app.router.add_static("/static/", HERE / "static")
    for module in (views_auth, views_integrations, views_numbers, views_trace):
        module.register(app)

    async def api_session(app: web.Application) -> AsyncIterator[None]:
        await app[ADMIN_API].start()
        yield
        await app[ADMIN_API].close()

    app.cleanup_ctx.append(api_session)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = ConsoleSettings()
    log.info("console on http://%s:%d, admin API %s", settings.host, settings.port, settings.api_url)
    web.run_app(build_app(settings), host=settings.host, port=settings.port, print=None, access_log=None)

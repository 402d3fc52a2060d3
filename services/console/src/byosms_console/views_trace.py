"""The message trace lookup by MessageSid (issue 11's ``GET /api/v2/sms/messages/{MessageSid}``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from byosms_console import session
from byosms_console.api_client import ApiProblem
from byosms_console.web_support import caller_of, inventory, render, viewer_from


async def trace_page(request: web.Request) -> web.Response:
    viewer = viewer_from(request)
    sid = (request.query.get("sid") or "").strip()[:64]
    offered = await inventory(request).trace_offered()
    trace: dict[str, Any] | None = None
    error = None
    if sid and offered and viewer.may(session.PHONE_NUMBER_VIEW):
        try:
            trace = await inventory(request).trace(caller_of(request), sid)
        except ApiProblem as problem:
            error = problem
    return render(
        request,
        "trace.html",
        {
            "sid": sid,
            "offered": offered,
            "trace": trace,
            "error": error,
            "no_view": viewer.lacking(session.PHONE_NUMBER_VIEW),
        },
    )


def register(app: web.Application) -> None:
    app.router.add_get("/messages", trace_page)

"""The message trace lookup by MessageSid (``GET /api/v2/sms/messages/{MessageSid}``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from byosms_console import number_rows, session
from byosms_console.api_client import ApiProblem
from byosms_console.web_support import caller_of, inventory, language_of, render, viewer_from


async def trace_page(request: web.Request) -> web.Response:
    viewer = viewer_from(request)
    language = language_of(request)
    sid = (request.query.get("sid") or "").strip()[:64]
    trace: dict[str, Any] | None = None
    error = None
    if sid and viewer.may(session.PHONE_NUMBER_VIEW):
        try:
            trace = await inventory(request).trace(caller_of(request), sid)
        except ApiProblem as problem:
            error = problem
    return render(
        request,
        "trace.html",
        {
            "sid": sid,
            "trace": trace,
            "error": error,
            "moment": number_rows.moment,
            "step_label": lambda step: number_rows.step_label(str(step), language),
            "step_details": lambda step: number_rows.step_details(step, language),
            "no_view": viewer.lacking(session.PHONE_NUMBER_VIEW),
        },
        status=error.status if error is not None and error.status in (404, 403) else 200,
    )


def register(app: web.Application) -> None:
    app.router.add_get("/messages", trace_page)

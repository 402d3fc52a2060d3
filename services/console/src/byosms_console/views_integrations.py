"""The integrations screens: the tile and list, Install (Details), an integration's Details /
Configuration / Credentials tabs, the credentials dialog, activate, and the deactivate and delete
dialogs with the seed's warnings. Each dialog is a page of its own drawn over its tab, so it works
with a plain link and a form post; the script only makes it modal."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from byosms_console import session
from byosms_console.api_client import ApiProblem
from byosms_console.integration_health import DEFAULT_OBSERVE_HOURS, OBSERVE_HOURS, health_tab, observe_hours
from byosms_console.web_support import caller_of, provisioning, redirect, render, viewer_from

TABS = ("details", "configuration", "credentials", "webhooks")
SIGNATURE_MODES = ("enforce", "observe")
DIALOGS = ("credentials", "deactivate", "delete")


def _version(form: Any) -> int | None:
    raw = str(form.get("version", ""))
    return int(raw) if raw.isdigit() else None


async def list_page(request: web.Request) -> web.Response:
    viewer = viewer_from(request)
    status = request.query.get("status") if request.query.get("status") in ("active", "inactive") else None
    cursor = request.query.get("cursor") or None
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    error = None
    if viewer.may(session.INTEGRATION_VIEW):
        try:
            page = await provisioning(request).list_integrations(caller_of(request), status=status, cursor=cursor)
        except ApiProblem as problem:
            error = problem
    return render(
        request,
        "integrations.html",
        {
            "page": page,
            "status": status or "",
            "cursor": cursor,
            "error": error,
            "done": request.query.get("done"),
            "no_view": viewer.lacking(session.INTEGRATION_VIEW),
            "no_add": viewer.lacking(session.INTEGRATION_ADD),
        },
    )


async def _regions(request: web.Request) -> list[dict[str, Any]]:
    try:
        return await provisioning(request).regions(caller_of(request))
    except ApiProblem:
        return []


async def install_page(request: web.Request) -> web.Response:
    return await _install(request, {"name": "", "notes": "", "region": ""}, None)


async def _install(request: web.Request, values: dict[str, str], error: ApiProblem | None) -> web.Response:
    viewer = viewer_from(request)
    return render(
        request,
        "install.html",
        {
            "values": values,
            "regions": await _regions(request),
            "error": error,
            "no_add": viewer.lacking(session.INTEGRATION_ADD),
        },
        status=error.status if error else 200,
    )


async def install(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values = {name: str(form.get(name, "")).strip() for name in ("name", "notes", "region")}
    try:
        created = await provisioning(request).create_integration(caller_of(request), **values)
    except ApiProblem as problem:
        return await _install(request, values, problem)
    raise redirect(f"/integrations/{created['id']}?tab=details&done=created")


async def detail_page(
    request: web.Request,
    *,
    dialog: str | None = None,
    error: ApiProblem | None = None,
    values: dict[str, str] | None = None,
    tab: str | None = None,
) -> web.Response:
    viewer = viewer_from(request)
    integration_id = request.match_info["id"]
    integration = await provisioning(request).get_integration(caller_of(request), integration_id)
    tab = tab or request.query.get("tab")
    if dialog == "credentials":
        tab = "credentials"
    elif dialog in ("deactivate", "delete"):
        tab = "details"
    if tab not in TABS:
        tab = "details"
    health = None
    if tab == "webhooks":
        try:
            summary = await provisioning(request).number_webhooks(caller_of(request), integration_id)
            health = health_tab(integration, summary, None)
        except ApiProblem as problem:
            health = health_tab(integration, None, problem.detail)
    return render(
        request,
        "integration.html",
        {
            "integration": integration,
            "tab": tab,
            "health": health,
            "observe_choices": OBSERVE_HOURS,
            "default_observe_hours": DEFAULT_OBSERVE_HOURS,
            "dialog": dialog,
            "error": error,
            "values": values or {},
            "done": request.query.get("done"),
            "no_edit": viewer.lacking(session.INTEGRATION_EDIT),
            "no_delete": viewer.lacking(session.INTEGRATION_DELETE),
        },
        status=error.status if error else 200,
    )


async def detail(request: web.Request) -> web.Response:
    return await detail_page(request)


async def dialog_page(request: web.Request) -> web.Response:
    dialog = request.match_info["dialog"]
    if dialog not in DIALOGS:
        raise web.HTTPNotFound()
    return await detail_page(request, dialog=dialog)


def _back(integration_id: str, tab: str, done: str) -> web.HTTPSeeOther:
    return redirect(f"/integrations/{integration_id}?tab={tab}&done={done}")


async def save_details(request: web.Request) -> web.StreamResponse:
    integration_id = request.match_info["id"]
    form = await request.post()
    values = {
        "name": str(form.get("name", "")).strip(),
        "notes": str(form.get("notes", "")).strip(),
        "default_routing_target": str(form.get("default_routing_target", "")).strip(),
    }
    try:
        await provisioning(request).update_integration(
            caller_of(request), integration_id, **values, version=_version(form)
        )
    except ApiProblem as problem:
        return await detail_page(request, error=problem, values=values)
    raise _back(integration_id, "details", "saved")


async def save_credentials(request: web.Request) -> web.StreamResponse:
    integration_id = request.match_info["id"]
    form = await request.post()
    account_sid = str(form.get("account_sid", "")).strip()
    try:
        await provisioning(request).set_credentials(
            caller_of(request),
            integration_id,
            account_sid=account_sid,
            auth_token=str(form.get("auth_token", "")).strip(),
            version=_version(form),
        )
    except ApiProblem as problem:
        # The token is never sent back to the browser, not even to refill the field.
        return await detail_page(request, dialog="credentials", error=problem, values={"account_sid": account_sid})
    raise _back(integration_id, "credentials", "credentials")


async def activate(request: web.Request) -> web.StreamResponse:
    integration_id = request.match_info["id"]
    form = await request.post()
    try:
        await provisioning(request).set_status(caller_of(request), integration_id, active=True, version=_version(form))
    except ApiProblem as problem:
        return await detail_page(request, error=problem)
    raise _back(integration_id, "details", "activated")


async def deactivate(request: web.Request) -> web.StreamResponse:
    integration_id = request.match_info["id"]
    form = await request.post()
    try:
        await provisioning(request).set_status(caller_of(request), integration_id, active=False, version=_version(form))
    except ApiProblem as problem:
        return await detail_page(request, dialog="deactivate", error=problem)
    raise _back(integration_id, "details", "deactivated")


async def delete(request: web.Request) -> web.StreamResponse:
    integration_id = request.match_info["id"]
    form = await request.post()
    try:
        await provisioning(request).delete_integration(caller_of(request), integration_id, version=_version(form))
    except ApiProblem as problem:
        return await detail_page(request, dialog="delete", error=problem)
    raise redirect("/integrations?done=deleted")


async def set_signature_mode(request: web.Request) -> web.StreamResponse:
    integration_id = request.match_info["id"]
    form = await request.post()
    mode = str(form.get("mode", ""))
    if mode not in SIGNATURE_MODES:
        raise web.HTTPNotFound()
    try:
        await provisioning(request).set_signature_mode(
            caller_of(request),
            integration_id,
            mode=mode,
            observe_hours=observe_hours(form) if mode == "observe" else None,
            version=_version(form),
        )
    except ApiProblem as problem:
        return await detail_page(request, error=problem, tab="webhooks")
    raise _back(integration_id, "webhooks", "mode_" + mode)


def register(app: web.Application) -> None:
    app.router.add_get("/integrations", list_page)
    app.router.add_get("/integrations/new", install_page)
    app.router.add_post("/integrations/new", install)
    app.router.add_get("/integrations/{id}", detail)
    app.router.add_post("/integrations/{id}/details", save_details)
    app.router.add_post("/integrations/{id}/credentials", save_credentials)
    app.router.add_post("/integrations/{id}/activate", activate)
    app.router.add_post("/integrations/{id}/deactivate", deactivate)
    app.router.add_post("/integrations/{id}/delete", delete)
    app.router.add_post("/integrations/{id}/signature-mode", set_signature_mode)
    app.router.add_get("/integrations/{id}/{dialog}", dialog_page)

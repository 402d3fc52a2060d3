"""The SMS Number Inventory screens: the list (state, filters, paging, each number's queue and
latest action), "Add numbers → Import" with the seed's dialog, progress while the import runs, the
toast, each number's remove and set-queue dialogs, and the organization's default queue."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from byosms_console import countries, import_form, number_rows, session
from byosms_console.api_client import ApiProblem
from byosms_console.inventory_api import NUMBER_STATES, PAGE_SIZE
from byosms_console.web_support import (
    SETTINGS,
    caller_of,
    inventory,
    language_of,
    provisioning,
    redirect,
    render,
    viewer_from,
)

FILTERS = ("integration_id", "state", "type", "address_prefix", "routing_target")
MAX_PAGE_SIZE = 200


async def _integrations(request: web.Request) -> list[dict[str, Any]]:
    if not viewer_from(request).may(session.INTEGRATION_VIEW):
        return []
    try:
        return await provisioning(request).all_integrations(caller_of(request))
    except ApiProblem:
        return []


async def _page(request: web.Request, extra: dict[str, Any], status: int = 200) -> web.Response:
    """The inventory page, with whatever dialog ``extra`` names drawn over it."""
    viewer = viewer_from(request)
    inv = inventory(request)
    language = language_of(request)
    filters = {name: request.query.get(name) or None for name in FILTERS}
    if filters["state"] not in NUMBER_STATES:
        filters["state"] = None
    if filters["type"] not in import_form.TYPES:
        filters["type"] = None
    cursor = request.query.get("cursor") or None
    size = request.query.get("limit", "")
    limit = int(size) if size.isdigit() and 1 <= int(size) <= MAX_PAGE_SIZE else PAGE_SIZE
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    list_error = None
    default_target: str | None = None
    if viewer.may(session.PHONE_NUMBER_VIEW):
        try:
            page = await inv.list_numbers(caller_of(request), filters, cursor=cursor, limit=limit)
            default_target = await inv.routing_defaults(caller_of(request))
        except ApiProblem as problem:
            list_error = problem
    integrations = await _integrations(request)
    toast = None
    imported = request.query.get("imported")
    if imported and not extra.get("dialog"):
        try:
            record = await provisioning(request).get_import(caller_of(request), imported)
        except ApiProblem:
            record = {}
        if record.get("state") == "imported":
            toast = record.get("address") or record.get("sender_id")
    context = {
        "page": page,
        "queue_of": lambda number: number_rows.queue_of(number, language),
        "action_of": lambda number: number_rows.action_of(number, language),
        "default_target": default_target,
        "filters": {k: v or "" for k, v in filters.items()},
        "cursor": cursor,
        "limit": limit,
        "page_size": PAGE_SIZE,
        "list_error": list_error,
        "integrations": integrations,
        "integration_names": {i["id"]: i["name"] for i in integrations},
        "states": NUMBER_STATES,
        "types": import_form.TYPES,
        "toast": toast,
        "done": request.query.get("done"),
        "no_view": viewer.lacking(session.PHONE_NUMBER_VIEW),
        "no_import": viewer.lacking(session.PHONE_NUMBER_IMPORT),
        "no_edit": viewer.lacking(session.PHONE_NUMBER_EDIT),
        "no_delete": viewer.lacking(session.PHONE_NUMBER_DELETE),
        "dialog": None,
        "entered": None,
        "defaults_error": None,
        "entered_default": None,
        **extra,
    }
    return render(request, "numbers.html", context, status=status)


async def list_page(request: web.Request) -> web.Response:
    return await _page(request, {})


def _import_context(
    request: web.Request, step: str, form: import_form.ImportForm, error: ApiProblem | None = None
) -> dict[str, Any]:
    return {
        "dialog": "import",
        "step": step,
        "form": form.values,
        "is_short_code": form.is_short_code,
        "countries": countries.choices(language_of(request)),
        "error": error,
    }


async def import_dialog(request: web.Request) -> web.Response:
    return await _page(request, _import_context(request, "details", import_form.ImportForm.of({})))


async def import_step(request: web.Request) -> web.StreamResponse:
    data = await request.post()
    form = import_form.ImportForm.of({k: str(v) for k, v in data.items()})
    current, action = str(data.get("step", "details")), str(data.get("action", "next"))
    failed_import = str(data.get("failed_import", ""))
    if failed_import:
        # Back from the progress screen: the import was rejected; show the dialog with the API's words.
        record = await provisioning(request).get_import(caller_of(request), failed_import)
        error = record.get("error") if record.get("state") == "rejected" else None
        if not error:
            raise redirect(f"/numbers/imports/{failed_import}")
        problem = ApiProblem(422, str(error.get("code", "")), str(error.get("message", "")))
        return await _page(request, _import_context(request, "details", form, problem), status=422)
    step = import_form.next_step(current, action, form)
    if step != "submit":
        return await _page(request, _import_context(request, step, form.without_compliance_when_long_code()))
    try:
        started = await provisioning(request).start_import(caller_of(request), form.body())
    except ApiProblem as problem:
        return await _page(request, _import_context(request, "details", form, problem), status=problem.status)
    progress = {
        "dialog": "progress",
        "started": started,
        "form": form.values,
        "poll_ms": request.app[SETTINGS].import_poll_interval_ms,
    }
    return await _page(request, progress, status=202)


async def import_state(request: web.Request) -> web.Response:
    """The import's state for the progress screen's script: in_progress, imported or rejected."""
    record = await provisioning(request).get_import(caller_of(request), request.match_info["id"])
    return web.json_response({"state": record.get("state")}, headers={"Cache-Control": "no-store"})


async def import_progress(request: web.Request) -> web.StreamResponse:
    """Without the script: the progress screen reloads itself until the import ends."""
    import_id = request.match_info["id"]
    record = await provisioning(request).get_import(caller_of(request), import_id)
    if record.get("state") == "imported":
        raise redirect(f"/numbers?imported={import_id}")
    values = {
        "integration_id": record.get("integration_id") or "",
        "type": record.get("type") or "",
        "sender_id": record.get("sender_id") or "",
        "country": record.get("country") or "",
    }
    form = import_form.ImportForm.of(values)
    if record.get("state") == "rejected":
        error = record.get("error") or {}
        problem = ApiProblem(422, str(error.get("code", "")), str(error.get("message", "")))
        return await _page(request, _import_context(request, "details", form, problem), status=422)
    progress = {
        "dialog": "progress",
        "started": record,
        "form": form.values,
        "poll_ms": request.app[SETTINGS].import_poll_interval_ms,
    }
    return await _page(request, progress)


async def _number(request: web.Request) -> dict[str, Any]:
    return await inventory(request).get_number(caller_of(request), request.match_info["id"])


async def number_dialog(request: web.Request) -> web.Response:
    dialog = request.match_info["dialog"]
    if dialog not in ("remove", "queue"):
        raise web.HTTPNotFound()
    return await _page(request, {"dialog": dialog, "number": await _number(request), "error": None})


async def remove(request: web.Request) -> web.StreamResponse:
    try:
        await inventory(request).remove_number(caller_of(request), request.match_info["id"])
    except ApiProblem as problem:
        extra = {"dialog": "remove", "number": await _number(request), "error": problem}
        return await _page(request, extra, status=problem.status)
    raise redirect("/numbers?done=removal")


async def set_queue(request: web.Request) -> web.StreamResponse:
    """The number's queue, with the version the dialog showed: a stale one (409) shows the API's
    words over the dialog drawn afresh, so saving again applies to what is there now."""
    data = await request.post()
    target = str(data.get("routing_target", "")).strip() or None
    version = str(data.get("version", ""))
    try:
        changed = await inventory(request).set_routing_target(
            caller_of(request),
            request.match_info["id"],
            version=int(version) if version.isdigit() else 0,
            routing_target=target,
        )
    except ApiProblem as problem:
        extra = {"dialog": "queue", "number": await _number(request), "error": problem, "entered": target}
        return await _page(request, extra, status=problem.status)
    raise redirect("/numbers?done=" + ("queue" if changed.done else "queue_running"))


async def set_defaults(request: web.Request) -> web.StreamResponse:
    data = await request.post()
    target = str(data.get("default_routing_target", "")).strip() or None
    try:
        await inventory(request).set_routing_defaults(caller_of(request), target)
    except ApiProblem as problem:
        return await _page(request, {"defaults_error": problem, "entered_default": target}, status=problem.status)
    raise redirect("/numbers?done=defaults")


def register(app: web.Application) -> None:
    app.router.add_get("/numbers", list_page)
    app.router.add_get("/numbers/import", import_dialog)
    app.router.add_post("/numbers/import", import_step)
    app.router.add_get("/numbers/imports/{id}/state", import_state)
    app.router.add_get("/numbers/imports/{id}", import_progress)
    app.router.add_post("/numbers/routing-defaults", set_defaults)
    app.router.add_post("/numbers/{id}/remove", remove)
    app.router.add_post("/numbers/{id}/queue", set_queue)
    app.router.add_get("/numbers/{id}/{dialog}", number_dialog)

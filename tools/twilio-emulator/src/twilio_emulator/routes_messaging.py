"""Twilio Messaging v1 routes: Services and the phone numbers / short codes inside a service."""

from __future__ import annotations

from aiohttp import web

from twilio_emulator.context import caller_of, ctx_of, first, form_of
from twilio_emulator.errors import TwilioApiError
from twilio_emulator.ids import new_sid
from twilio_emulator.render import (
    page_params,
    service_json,
    service_number_json,
    service_short_code_json,
    v1_page,
)
from twilio_emulator.state import Service, utcnow

routes = web.RouteTableDef()

_SERVICE = "/v1/Services/{service_sid}"
_TRUE = {"true", "True", "1"}


def _service_of(request: web.Request) -> Service:
    service = ctx_of(request).store.services.get(request.match_info["service_sid"])
    if service is None or service.account_sid != caller_of(request).sid:
        raise TwilioApiError(20404, path=request.path)
    return service


def _apply_service_form(service: Service, form: list[tuple[str, str]]) -> None:
    def text(name: str, current: str | None) -> str | None:
        value = first(form, name)
        return current if value is None else (value or None)

    def method(name: str, current: str) -> str:
        value = first(form, name)
        if value is None:
            return current
        if value.upper() not in {"GET", "POST"}:
            raise TwilioApiError(20001, value=name)
        return value.upper()

    def flag(name: str, current: bool) -> bool:
        value = first(form, name)
        return current if value is None else value in _TRUE

    service.friendly_name = first(form, "FriendlyName") or service.friendly_name
    service.inbound_request_url = text("InboundRequestUrl", service.inbound_request_url)
    service.inbound_method = method("InboundMethod", service.inbound_method)
    service.fallback_url = text("FallbackUrl", service.fallback_url)
    service.fallback_method = method("FallbackMethod", service.fallback_method)
    service.status_callback = text("StatusCallback", service.status_callback)
    service.use_inbound_webhook_on_number = flag("UseInboundWebhookOnNumber", service.use_inbound_webhook_on_number)
    service.sticky_sender = flag("StickySender", service.sticky_sender)
    service.smart_encoding = flag("SmartEncoding", service.smart_encoding)
    service.usecase = first(form, "Usecase") or service.usecase
    validity = first(form, "ValidityPeriod")
    if validity is not None:
        try:
            service.validity_period = min(max(int(validity), 1), 36000)
        except ValueError as exc:
            raise TwilioApiError(20001, value="ValidityPeriod") from exc
    service.date_updated = utcnow()


@routes.get("/v1/Services")
async def list_services(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    caller = caller_of(request)
    items = [service_json(s, ctx.origin(request)) for s in ctx.store.services.values() if s.account_sid == caller.sid]
    page, size = page_params(dict(request.query))
    return web.json_response(v1_page("services", items, ctx.origin(request) + request.path, page, size))


@routes.post("/v1/Services")
async def create_service(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    form = form_of(request)
    if not first(form, "FriendlyName"):
        raise TwilioApiError(20001, message="Missing required parameter FriendlyName in the post body")
    service = Service(sid=new_sid("MG"), account_sid=caller_of(request).sid, friendly_name="")
    _apply_service_form(service, form)
    ctx.store.services[service.sid] = service
    return web.json_response(service_json(service, ctx.origin(request)), status=201)


@routes.get(_SERVICE)
async def fetch_service(request: web.Request) -> web.Response:
    return web.json_response(service_json(_service_of(request), ctx_of(request).origin(request)))


@routes.post(_SERVICE)
async def update_service(request: web.Request) -> web.Response:
    service = _service_of(request)
    _apply_service_form(service, form_of(request))
    return web.json_response(service_json(service, ctx_of(request).origin(request)))


@routes.delete(_SERVICE)
async def delete_service(request: web.Request) -> web.Response:
    service = _service_of(request)
    del ctx_of(request).store.services[service.sid]
    return web.Response(status=204)


# --- senders in a service ---------------------------------------------------------------------------


@routes.get(_SERVICE + "/PhoneNumbers")
async def list_service_numbers(request: web.Request) -> web.Response:
    service = _service_of(request)
    ctx = ctx_of(request)
    origin = ctx.origin(request)
    items = [
        service_number_json(service, ctx.store.numbers[sid], origin)
        for sid in service.members
        if sid in ctx.store.numbers
    ]
    page, size = page_params(dict(request.query))
    return web.json_response(v1_page("phone_numbers", items, origin + request.path, page, size))


@routes.post(_SERVICE + "/PhoneNumbers")
async def add_service_number(request: web.Request) -> web.Response:
    service = _service_of(request)
    ctx = ctx_of(request)
    sid = first(form_of(request), "PhoneNumberSid") or ""
    number = ctx.store.numbers.get(sid)
    if number is None or number.account_sid != service.account_sid:
        raise TwilioApiError(21712, status=400, message=f"Phone Number {sid} not found on the account")
    owner = ctx.store.service_of(sid)
    if owner is not None and owner.sid != service.sid:
        raise TwilioApiError(21710, status=409, message="Phone Number or Short Code is already in a Messaging Service")
    service.members.setdefault(sid, utcnow())
    return web.json_response(service_number_json(service, number, ctx.origin(request)), status=201)


@routes.get(_SERVICE + "/PhoneNumbers/{sid}")
async def fetch_service_number(request: web.Request) -> web.Response:
    service = _service_of(request)
    ctx = ctx_of(request)
    number = ctx.store.numbers.get(request.match_info["sid"])
    if number is None or number.sid not in service.members:
        raise TwilioApiError(20404, path=request.path)
    return web.json_response(service_number_json(service, number, ctx.origin(request)))


@routes.delete(_SERVICE + "/PhoneNumbers/{sid}")
async def remove_service_number(request: web.Request) -> web.Response:
    service = _service_of(request)
    if request.match_info["sid"] not in service.members or not request.match_info["sid"].startswith("PN"):
        raise TwilioApiError(20404, path=request.path)
    del service.members[request.match_info["sid"]]
    return web.Response(status=204)


@routes.get(_SERVICE + "/ShortCodes")
async def list_service_short_codes(request: web.Request) -> web.Response:
    service = _service_of(request)
    ctx = ctx_of(request)
    origin = ctx.origin(request)
    items = [
        service_short_code_json(service, ctx.store.short_codes[sid], origin)
        for sid in service.members
        if sid in ctx.store.short_codes
    ]
    page, size = page_params(dict(request.query))
    return web.json_response(v1_page("short_codes", items, origin + request.path, page, size))


@routes.post(_SERVICE + "/ShortCodes")
async def add_service_short_code(request: web.Request) -> web.Response:
    service = _service_of(request)
    ctx = ctx_of(request)
    sid = first(form_of(request), "ShortCodeSid") or ""
    code = ctx.store.short_codes.get(sid)
    if code is None or code.account_sid != service.account_sid:
        raise TwilioApiError(21712, status=400, message=f"Short Code {sid} not found on the account")
    owner = ctx.store.service_of(sid)
    if owner is not None and owner.sid != service.sid:
        raise TwilioApiError(21710, status=409, message="Phone Number or Short Code is already in a Messaging Service")
    service.members.setdefault(sid, utcnow())
    return web.json_response(service_short_code_json(service, code, ctx.origin(request)), status=201)


@routes.get(_SERVICE + "/ShortCodes/{sid}")
async def fetch_service_short_code(request: web.Request) -> web.Response:
    service = _service_of(request)
    ctx = ctx_of(request)
    code = ctx.store.short_codes.get(request.match_info["sid"])
    if code is None or code.sid not in service.members:
        raise TwilioApiError(20404, path=request.path)
    return web.json_response(service_short_code_json(service, code, ctx.origin(request)))


@routes.delete(_SERVICE + "/ShortCodes/{sid}")
async def remove_service_short_code(request: web.Request) -> web.Response:
    service = _service_of(request)
    if request.match_info["sid"] not in service.members or not request.match_info["sid"].startswith("SC"):
        raise TwilioApiError(20404, path=request.path)
    del service.members[request.match_info["sid"]]
    return web.Response(status=204)

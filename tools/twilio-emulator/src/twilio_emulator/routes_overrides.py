"""Twilio REST routes of the resources that can override a number's SMS webhook (see :mod:`overrides`):

- ``/2010-04-01/Accounts/{AC}/Applications[.json|/{AP}.json]``: TwiML Apps (list, create, fetch, update,
  delete), fields as in the v2010 OpenAPI ``api.v2010.account.application`` (messaging part and the
  voice fields Twilio always lists);
- ``/v1/Configuration/Addresses[/{IG}]``: Conversations address configurations (list with ``Type``,
  create, fetch, update, delete), parameters ``Type``, ``Address``, ``FriendlyName``,
  ``AutoCreation.Enabled``, ``AutoCreation.Type``, ``AutoCreation.ConversationServiceSid``,
  ``AutoCreation.WebhookUrl``, ``AutoCreation.WebhookMethod``, ``AutoCreation.WebhookFilters``,
  ``AutoCreation.StudioFlowSid``, ``AutoCreation.StudioRetryCount``, ``AddressCountry`` as the
  twilio-python SDK sends them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from twilio_emulator.context import caller_of, ctx_of, first, form_of
from twilio_emulator.errors import TwilioApiError
from twilio_emulator.ids import new_sid
from twilio_emulator.overrides import AddressConfiguration, Application
from twilio_emulator.render import API_VERSION, V2010, iso8601, page_params, rfc2822, v1_page, v2010_page
from twilio_emulator.state import Account, utcnow

routes = web.RouteTableDef()

_APPS = V2010 + "/Accounts/{account_sid}/Applications"
_ADDRESSES = "/v1/Configuration/Addresses"
_METHODS = {"GET", "POST"}
_TRUE = {"true", "True", "1"}


def _account(request: web.Request) -> Account:
    target = ctx_of(request).store.may_access(caller_of(request), request.match_info["account_sid"])
    if target is None:
        raise TwilioApiError(20003)
    return target


def application_json(app: Application) -> dict[str, Any]:
    return {
        "account_sid": app.account_sid,
        "api_version": API_VERSION,
        "date_created": rfc2822(app.date_created),
        "date_updated": rfc2822(app.date_updated),
        "friendly_name": app.friendly_name,
        "message_status_callback": None,
        "sid": app.sid,
        "sms_fallback_method": app.sms_fallback_method,
        "sms_fallback_url": app.sms_fallback_url or "",
        "sms_method": app.sms_method,
        "sms_status_callback": app.sms_status_callback,
        "sms_url": app.sms_url or "",
        "status_callback": None,
        "status_callback_method": "POST",
        "uri": f"{V2010}/Accounts/{app.account_sid}/Applications/{app.sid}.json",
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": None,
        "voice_method": "POST",
        "voice_url": None,
        "public_application_connect_enabled": False,
    }


def _apply_application_form(app: Application, form: list[tuple[str, str]]) -> None:
    def method(name: str, current: str) -> str:
        value = first(form, name)
        if value is None:
            return current
        if value.upper() not in _METHODS:
            raise TwilioApiError(20001, value=name)
        return value.upper()

    def text(name: str, current: str | None) -> str | None:
        value = first(form, name)
        return current if value is None else (value or None)

    sms_method = method("SmsMethod", app.sms_method)
    sms_fallback_method = method("SmsFallbackMethod", app.sms_fallback_method)
    app.friendly_name = first(form, "FriendlyName") or app.friendly_name
    app.sms_url = text("SmsUrl", app.sms_url)
    app.sms_method = sms_method
    app.sms_fallback_url = text("SmsFallbackUrl", app.sms_fallback_url)
    app.sms_fallback_method = sms_fallback_method
    app.sms_status_callback = text("SmsStatusCallback", app.sms_status_callback)
    app.date_updated = utcnow()


def _application_of(request: web.Request) -> Application:
    account = _account(request)
    app = ctx_of(request).store.applications.get(request.match_info["sid"])
    if app is None or app.account_sid != account.sid:
        raise TwilioApiError(20404, path=request.path)
    return app


@routes.get(_APPS + ".json")
async def list_applications(request: web.Request) -> web.Response:
    account = _account(request)
    q = dict(request.query)
    apps = [a for a in ctx_of(request).store.applications.values() if a.account_sid == account.sid]
    if q.get("FriendlyName"):
        apps = [a for a in apps if a.friendly_name == q["FriendlyName"]]
    page, size = page_params(q)
    filters = {"FriendlyName": q["FriendlyName"]} if q.get("FriendlyName") else {}
    items = [application_json(a) for a in apps]
    return web.json_response(v2010_page("applications", items, request.path, filters, page, size))


@routes.post(_APPS + ".json")
async def create_application(request: web.Request) -> web.Response:
    account = _account(request)
    app = Application(sid=new_sid("AP"), account_sid=account.sid, friendly_name="")
    _apply_application_form(app, form_of(request))
    app.friendly_name = app.friendly_name or app.sid
    ctx_of(request).store.applications[app.sid] = app
    return web.json_response(application_json(app), status=201)


@routes.get(_APPS + "/{sid}.json")
async def fetch_application(request: web.Request) -> web.Response:
    return web.json_response(application_json(_application_of(request)))


@routes.post(_APPS + "/{sid}.json")
async def update_application(request: web.Request) -> web.Response:
    app = _application_of(request)
    _apply_application_form(app, form_of(request))
    return web.json_response(application_json(app))


@routes.delete(_APPS + "/{sid}.json")
async def delete_application(request: web.Request) -> web.Response:
    app = _application_of(request)
    store = ctx_of(request).store
    del store.applications[app.sid]
    for number in store.numbers.values():
        if number.sms_application_sid == app.sid:
            number.sms_application_sid = None
    return web.Response(status=204)


# --- Conversations address configurations ------------------------------------------------------------


def address_configuration_json(config: AddressConfiguration, origin: str) -> dict[str, Any]:
    return {
        "sid": config.sid,
        "account_sid": config.account_sid,
        "type": config.type,
        "address": config.address,
        "friendly_name": config.friendly_name,
        "auto_creation": dict(config.auto_creation),
        "date_created": iso8601(config.date_created),
        "date_updated": iso8601(config.date_updated),
        "url": f"{origin}{_ADDRESSES}/{config.sid}",
        "address_country": config.address_country,
    }


_AUTO_FIELDS = {
    "AutoCreation.Type": "type",
    "AutoCreation.ConversationServiceSid": "conversation_service_sid",
    "AutoCreation.WebhookUrl": "webhook_url",
    "AutoCreation.WebhookMethod": "webhook_method",
    "AutoCreation.StudioFlowSid": "studio_flow_sid",
    "AutoCreation.StudioRetryCount": "studio_retry_count",
}


def _apply_address_form(config: AddressConfiguration, form: list[tuple[str, str]]) -> None:
    auto = dict(config.auto_creation)
    enabled = first(form, "AutoCreation.Enabled")
    if enabled is not None:
        auto["enabled"] = enabled in _TRUE
    for name, key in _AUTO_FIELDS.items():
        value = first(form, name)
        if value is not None:
            auto[key] = int(value) if key == "studio_retry_count" and value.isdigit() else value
    filters = [v for n, v in form if n == "AutoCreation.WebhookFilters"]
    if filters:
        auto["webhook_filters"] = filters
    config.auto_creation = auto
    config.friendly_name = first(form, "FriendlyName") or config.friendly_name
    config.address_country = first(form, "AddressCountry") or config.address_country
    config.date_updated = utcnow()


def _address_of(request: web.Request) -> AddressConfiguration:
    config = ctx_of(request).store.address_configs.get(request.match_info["sid"])
    if config is None or config.account_sid != caller_of(request).sid:
        raise TwilioApiError(20404, path=request.path)
    return config


@routes.get(_ADDRESSES)
async def list_address_configurations(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    caller = caller_of(request)
    kind = request.query.get("Type")
    configs = [
        c for c in ctx.store.address_configs.values() if c.account_sid == caller.sid and (not kind or c.type == kind)
    ]
    origin = ctx.origin(request)
    page, size = page_params(dict(request.query))
    items = [address_configuration_json(c, origin) for c in configs]
    return web.json_response(v1_page("address_configurations", items, origin + request.path, page, size))


@routes.post(_ADDRESSES)
async def create_address_configuration(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    form = form_of(request)
    kind, address = first(form, "Type"), first(form, "Address")
    if not kind or not address:
        raise TwilioApiError(20001, value="Type" if not kind else "Address")
    caller = caller_of(request)
    if any(c.address == address and c.account_sid == caller.sid for c in ctx.store.address_configs.values()):
        raise TwilioApiError(20001, value="Address")
    config = AddressConfiguration(sid=new_sid("IG"), account_sid=caller.sid, type=kind, address=address)
    _apply_address_form(config, form)
    ctx.store.address_configs[config.sid] = config
    return web.json_response(address_configuration_json(config, ctx.origin(request)), status=201)


@routes.get(_ADDRESSES + "/{sid}")
async def fetch_address_configuration(request: web.Request) -> web.Response:
    return web.json_response(address_configuration_json(_address_of(request), ctx_of(request).origin(request)))


@routes.post(_ADDRESSES + "/{sid}")
async def update_address_configuration(request: web.Request) -> web.Response:
    config = _address_of(request)
    _apply_address_form(config, form_of(request))
    return web.json_response(address_configuration_json(config, ctx_of(request).origin(request)))


@routes.delete(_ADDRESSES + "/{sid}")
async def delete_address_configuration(request: web.Request) -> web.Response:
    config = _address_of(request)
    del ctx_of(request).store.address_configs[config.sid]
    return web.Response(status=204)

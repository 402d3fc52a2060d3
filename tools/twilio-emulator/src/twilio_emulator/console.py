"""Control API: changes a tenant makes in the Twilio Console (not through the REST API), under
``/_emulator/console``. Each answers with the changed resource in Twilio's REST shape.

- ``PATCH /console/phone-numbers/{PN sid or E.164}``: ``sms_url``, ``sms_method``,
  ``sms_application_sid`` (``null`` clears it), ``sms_fallback_url``;
- ``PATCH /console/services/{MG}``: ``use_inbound_webhook_on_number`` ("Defer to sender's webhook"),
  ``inbound_request_url``, ``inbound_method``;
- ``POST /console/applications``: a TwiML App ``{account_sid, friendly_name, sms_url, sms_method}``;
- ``POST /console/address-configurations``: a Conversations address configuration
  ``{account_sid, address, type, auto_creation_enabled, auto_creation_type}``; ``PATCH …/{IG}`` changes
  ``auto_creation_enabled``; ``DELETE …/{IG}`` removes it.

Only the fields named in a PATCH change (an explicit ``null`` clears a URL or the app).
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from twilio_emulator.context import ctx_of
from twilio_emulator.control import PREFIX, ControlError
from twilio_emulator.ids import new_sid
from twilio_emulator.overrides import AddressConfiguration, Application
from twilio_emulator.render import number_json, service_json
from twilio_emulator.routes_overrides import address_configuration_json, application_json
from twilio_emulator.state import PhoneNumber, utcnow

routes = web.RouteTableDef()
CONSOLE = PREFIX + "/console"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NumberChange(_Model):
    sms_url: str | None = None
    sms_method: Literal["GET", "POST"] = "POST"
    sms_application_sid: str | None = None
    sms_fallback_url: str | None = None


class ServiceChange(_Model):
    use_inbound_webhook_on_number: bool = False
    inbound_request_url: str | None = None
    inbound_method: Literal["GET", "POST"] = "POST"


class ApplicationSeed(_Model):
    account_sid: str
    friendly_name: str = "console app"
    sms_url: str | None = None
    sms_method: Literal["GET", "POST"] = "POST"


class AddressSeed(_Model):
    account_sid: str
    address: str
    type: Literal["sms", "whatsapp"] = "sms"
    auto_creation_enabled: bool = True
    auto_creation_type: Literal["webhook", "studio", "default"] = "default"
    friendly_name: str | None = None


class AddressChange(_Model):
    auto_creation_enabled: bool


async def _read(request: web.Request, model: type[_Model]) -> tuple[Any, set[str]]:
    try:
        body = model.model_validate_json(await request.read() or b"{}")
    except ValidationError as exc:
        raise ControlError(400, exc.json(include_url=False)) from exc
    return body, set(body.model_fields_set)


def _number(request: web.Request) -> PhoneNumber:
    store = ctx_of(request).store
    key = request.match_info["number"]
    number = store.numbers.get(key) or store.number_by_phone(key)
    if number is None:
        raise ControlError(404, f"no phone number {key} in the emulator")
    return number


@routes.patch(CONSOLE + "/phone-numbers/{number}")
async def change_number(request: web.Request) -> web.Response:
    number = _number(request)
    change, named = await _read(request, NumberChange)
    if "sms_application_sid" in named and change.sms_application_sid is not None:
        app = ctx_of(request).store.applications.get(change.sms_application_sid)
        if app is None or app.account_sid != number.account_sid:
            raise ControlError(404, f"no TwiML App {change.sms_application_sid} in the number's account")
    for name in named:
        setattr(number, name, getattr(change, name))
    number.date_updated = utcnow()
    return web.json_response(number_json(number))


@routes.patch(CONSOLE + "/services/{sid}")
async def change_service(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    service = ctx.store.services.get(request.match_info["sid"])
    if service is None:
        raise ControlError(404, f"no Messaging Service {request.match_info['sid']} in the emulator")
    change, named = await _read(request, ServiceChange)
    for name in named:
        setattr(service, name, getattr(change, name))
    service.date_updated = utcnow()
    return web.json_response(service_json(service, ctx.origin(request)))


@routes.post(CONSOLE + "/applications")
async def add_application(request: web.Request) -> web.Response:
    store = ctx_of(request).store
    seed, _ = await _read(request, ApplicationSeed)
    if seed.account_sid not in store.accounts:
        raise ControlError(404, f"no account {seed.account_sid}")
    app = Application(
        sid=new_sid("AP"),
        account_sid=seed.account_sid,
        friendly_name=seed.friendly_name,
        sms_url=seed.sms_url,
        sms_method=seed.sms_method,
    )
    store.applications[app.sid] = app
    return web.json_response(application_json(app), status=201)


@routes.post(CONSOLE + "/address-configurations")
async def add_address_configuration(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    seed, _ = await _read(request, AddressSeed)
    if seed.account_sid not in ctx.store.accounts:
        raise ControlError(404, f"no account {seed.account_sid}")
    config = AddressConfiguration(
        sid=new_sid("IG"),
        account_sid=seed.account_sid,
        type=seed.type,
        address=seed.address,
        friendly_name=seed.friendly_name,
        auto_creation={"enabled": seed.auto_creation_enabled, "type": seed.auto_creation_type},
    )
    ctx.store.address_configs[config.sid] = config
    return web.json_response(address_configuration_json(config, ctx.origin(request)), status=201)


def _address(request: web.Request) -> AddressConfiguration:
    config = ctx_of(request).store.address_configs.get(request.match_info["sid"])
    if config is None:
        raise ControlError(404, f"no address configuration {request.match_info['sid']}")
    return config


@routes.patch(CONSOLE + "/address-configurations/{sid}")
async def change_address_configuration(request: web.Request) -> web.Response:
    config = _address(request)
    change, _ = await _read(request, AddressChange)
    config.auto_creation = {**config.auto_creation, "enabled": change.auto_creation_enabled}
    config.date_updated = utcnow()
    return web.json_response(address_configuration_json(config, ctx_of(request).origin(request)))


@routes.delete(CONSOLE + "/address-configurations/{sid}")
async def remove_address_configuration(request: web.Request) -> web.Response:
    config = _address(request)
    del ctx_of(request).store.address_configs[config.sid]
    return web.Response(status=204)

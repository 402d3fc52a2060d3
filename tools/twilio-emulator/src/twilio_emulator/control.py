"""Control API under /_emulator (not part of Twilio): seed state, set behaviour, trigger inbound, inspect logs.

Request and response bodies are JSON. Seed models are shared with :mod:`twilio_emulator.testing` and the CLI.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from twilio_emulator.context import Context, ctx_of
from twilio_emulator.ids import SID_RE, new_sid, new_token
from twilio_emulator.inbound import UnknownReceiver, plan_inbound
from twilio_emulator.inbound_delivery import deliver_inbound
from twilio_emulator.render import account_json, message_json, number_json, short_code_json
from twilio_emulator.signing import Algorithm
from twilio_emulator.state import (
    Account,
    AccountStatus,
    FaultRule,
    FinalStatus,
    OutcomeRule,
    PhoneNumber,
    RateRule,
    Service,
    SharedKey,
    ShortCode,
)
from twilio_emulator.text import is_e164, is_short_code

PREFIX = "/_emulator"
routes = web.RouteTableDef()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_sid(value: str | None, prefix: str) -> str | None:
    if value is not None and not (value.startswith(prefix) and SID_RE.match(value)):
        raise ValueError(f"must be {prefix} + 32 lowercase hex characters")
    return value


class SharedKeySeed(_Model):
    id: str
    secret: str
    algorithm: Algorithm = "HMAC_SHA1"


class AccountSeed(_Model):
    sid: str | None = None
    auth_token: str | None = None
    friendly_name: str | None = None
    status: AccountStatus = "active"
    parent_sid: str | None = None
    type: Literal["Trial", "Full"] = "Full"
    shared_key: SharedKeySeed | None = None

    @field_validator("sid", "parent_sid")
    @classmethod
    def _sid(cls, value: str | None) -> str | None:
        return _check_sid(value, "AC")


class ServiceSeed(_Model):
    account_sid: str
    sid: str | None = None
    friendly_name: str = "byosms emulator service"
    inbound_request_url: str | None = None
    inbound_method: Literal["GET", "POST"] = "POST"
    fallback_url: str | None = None
    fallback_method: Literal["GET", "POST"] = "POST"
    status_callback: str | None = None
    use_inbound_webhook_on_number: bool = False
    advanced_opt_out: bool = False
    usecase: str = "undeclared"
    us_app_to_person_registered: bool = False

    @field_validator("sid")
    @classmethod
    def _sid(cls, value: str | None) -> str | None:
        return _check_sid(value, "MG")


class PhoneNumberSeed(_Model):
    account_sid: str
    phone_number: str
    sid: str | None = None
    friendly_name: str | None = None
    sms_url: str | None = None
    sms_method: Literal["GET", "POST"] = "POST"
    sms_fallback_url: str | None = None
    sms_fallback_method: Literal["GET", "POST"] = "POST"
    sms_application_sid: str | None = None
    capabilities: dict[str, bool] | None = None
    service_sid: str | None = None
    origin: Literal["twilio", "hosted"] = "twilio"
    type: str = "local"

    @field_validator("phone_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not is_e164(value):
            raise ValueError("must be E.164, e.g. +15005550006")
        return value

    @field_validator("sid")
    @classmethod
    def _sid(cls, value: str | None) -> str | None:
        return _check_sid(value, "PN")


class ShortCodeSeed(_Model):
    account_sid: str
    short_code: str
    sid: str | None = None
    friendly_name: str | None = None
    sms_url: str | None = None
    sms_method: Literal["GET", "POST"] = "POST"
    sms_fallback_url: str | None = None
    sms_fallback_method: Literal["GET", "POST"] = "POST"
    service_sid: str | None = None

    @field_validator("short_code")
    @classmethod
    def _digits(cls, value: str) -> str:
        if not is_short_code(value):
            raise ValueError("must be 3-8 digits")
        return value

    @field_validator("sid")
    @classmethod
    def _sid(cls, value: str | None) -> str | None:
        return _check_sid(value, "SC")


class OptOutSeed(_Model):
    """``sender`` is the number/short code, or the MG SID when the sender is in a Messaging Service."""

    sender: str
    recipient: str


class OutcomeSeed(_Model):
    to: str = "*"
    status: FinalStatus = "delivered"
    error_code: int | None = None
    reject_code: int | None = None
    duplicate_callbacks: bool = False
    out_of_order: bool = False


class FaultSeed(_Model):
    method: str | None = None
    path_contains: str | None = None
    latency_ms: int = Field(default=0, ge=0, le=120_000)
    status: int | None = Field(default=None, ge=429, le=599, description="429 (Too Many Requests) or a 5xx")
    retry_after_s: int | None = Field(default=None, ge=0, le=3600, description="Retry-After of a 429")
    count: int | None = Field(default=None, ge=1)
    lose_answer: bool = False
    """Handle the request (a create creates its message), then drop the connection without an answer."""

    @field_validator("status")
    @classmethod
    def _status(cls, value: int | None) -> int | None:
        if value is not None and value != 429 and not 500 <= value <= 599:
            raise ValueError("must be 429 or a 5xx")
        return value


class RateSeed(_Model):
    sender: str = "*"
    limit: int = Field(ge=0)
    window_s: float = Field(default=1.0, gt=0)


class SeedDocument(_Model):
    accounts: list[AccountSeed] = []
    services: list[ServiceSeed] = []
    phone_numbers: list[PhoneNumberSeed] = []
    short_codes: list[ShortCodeSeed] = []
    opt_outs: list[OptOutSeed] = []
    outcomes: list[OutcomeSeed] = []
    faults: list[FaultSeed] = []
    rates: list[RateSeed] = []


class MediaItem(_Model):
    # Without a URL the webhook names Twilio's own media URL of the message (api.twilio.com/…/Media/ME…).
    url: str | None = None
    content_type: str = "image/jpeg"


class InboundRequest(_Model):
    # ``whatsapp:+1…`` / ``rcs:+1…`` addresses are posted with their prefix (the number after it receives).
    from_: str = Field(alias="from")
    to: str
    body: str = ""
    # Leave the Body field out of the webhook (an MMS as some senders' webhooks come), not just blank.
    omit_body: bool = False
    media: list[MediaItem] = Field(default=[], max_length=10)
    # Added to (or overriding) the webhook fields, e.g. {"FromCity": "BERLIN"}.
    extra_params: dict[str, str] = {}


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- applying seeds (also used by the seed document endpoint) ----------------------------------------


def apply_account(ctx: Context, seed: AccountSeed) -> Account:
    store = ctx.store
    if seed.parent_sid is not None and seed.parent_sid not in store.accounts:
        raise ControlError(400, f"parent account {seed.parent_sid} does not exist")
    existing = store.accounts.get(seed.sid) if seed.sid else None
    shared_key = SharedKey(**seed.shared_key.model_dump()) if seed.shared_key else None
    if existing is not None:
        existing.auth_token = seed.auth_token or existing.auth_token
        existing.friendly_name = seed.friendly_name or existing.friendly_name
        existing.status = seed.status
        existing.parent_sid = seed.parent_sid
        existing.type = seed.type
        existing.shared_key = shared_key
        return existing
    sid = seed.sid or new_sid("AC")
    account = Account(
        sid=sid,
        auth_token=seed.auth_token or new_token(),
        friendly_name=seed.friendly_name or f"Emulated account {sid[-6:]}",
        status=seed.status,
        parent_sid=seed.parent_sid,
        type=seed.type,
        shared_key=shared_key,
    )
    store.accounts[sid] = account
    return account


def _require_account(ctx: Context, sid: str) -> None:
    if sid not in ctx.store.accounts:
        raise ControlError(400, f"account {sid} does not exist")


def _join_service(ctx: Context, service_sid: str | None, member_sid: str, account_sid: str) -> None:
    for other in ctx.store.services.values():
        other.members.pop(member_sid, None)
    if service_sid is None:
        return
    service = ctx.store.services.get(service_sid)
    if service is None or service.account_sid != account_sid:
        raise ControlError(400, f"service {service_sid} does not exist in account {account_sid}")
    service.members[member_sid] = service.date_updated


def apply_service(ctx: Context, seed: ServiceSeed) -> Service:
    _require_account(ctx, seed.account_sid)
    sid = seed.sid or new_sid("MG")
    members = ctx.store.services[sid].members if sid in ctx.store.services else {}
    fields = seed.model_dump(exclude={"sid"})
    service = Service(sid=sid, members=members, **fields)
    ctx.store.services[sid] = service
    return service


def apply_number(ctx: Context, seed: PhoneNumberSeed) -> PhoneNumber:
    _require_account(ctx, seed.account_sid)
    store = ctx.store
    same = store.number_by_phone(seed.phone_number)
    sid = seed.sid or (same.sid if same else new_sid("PN"))
    if same is not None and same.sid != sid:
        del store.numbers[same.sid]
    fields = seed.model_dump(exclude={"sid", "service_sid", "capabilities", "friendly_name"})
    number = PhoneNumber(sid=sid, friendly_name=seed.friendly_name or seed.phone_number, **fields)
    if seed.capabilities is not None:
        number.capabilities = {**number.capabilities, **seed.capabilities}
    store.numbers[sid] = number
    _join_service(ctx, seed.service_sid, sid, seed.account_sid)
    return number


def apply_short_code(ctx: Context, seed: ShortCodeSeed) -> ShortCode:
    _require_account(ctx, seed.account_sid)
    store = ctx.store
    same = store.short_code_by_code(seed.short_code)
    sid = seed.sid or (same.sid if same else new_sid("SC"))
    if same is not None and same.sid != sid:
        del store.short_codes[same.sid]
    fields = seed.model_dump(exclude={"sid", "service_sid", "friendly_name"})
    code = ShortCode(sid=sid, friendly_name=seed.friendly_name or seed.short_code, **fields)
    store.short_codes[sid] = code
    _join_service(ctx, seed.service_sid, sid, seed.account_sid)
    return code


def apply_behaviour(ctx: Context, doc: SeedDocument) -> None:
    store = ctx.store
    store.opt_outs.update((o.sender, o.recipient) for o in doc.opt_outs)
    store.outcomes.extend(OutcomeRule(**o.model_dump()) for o in doc.outcomes)
    for f in doc.faults:
        store.faults.append(
            FaultRule(
                id=store.next_id(),
                method=f.method,
                path_contains=f.path_contains,
                latency_ms=f.latency_ms,
                status=f.status,
                remaining=f.count,
                lose_answer=f.lose_answer,
                retry_after_s=f.retry_after_s,
            )
        )
    store.rates.extend(RateRule(**r.model_dump()) for r in doc.rates)


def apply_seed(ctx: Context, doc: SeedDocument) -> dict[str, Any]:
    accounts = [apply_account(ctx, a) for a in doc.accounts]
    services = [apply_service(ctx, s) for s in doc.services]
    numbers = [apply_number(ctx, n) for n in doc.phone_numbers]
    codes = [apply_short_code(ctx, c) for c in doc.short_codes]
    apply_behaviour(ctx, doc)
    return {
        "accounts": [_account_view(a) for a in accounts],
        "services": [{"sid": s.sid, "account_sid": s.account_sid} for s in services],
        "phone_numbers": [{"sid": n.sid, "phone_number": n.phone_number} for n in numbers],
        "short_codes": [{"sid": c.sid, "short_code": c.short_code} for c in codes],
    }


def _account_view(account: Account) -> dict[str, Any]:
    return {**account_json(account), "parent_sid": account.parent_sid}


# --- handlers ---------------------------------------------------------------------------------------


M = TypeVar("M", bound=BaseModel)


def _int_query(request: web.Request, name: str) -> int:
    try:
        return int(request.query.get(name, "0") or 0)
    except ValueError as exc:
        raise ControlError(400, f"{name} must be an integer") from exc


async def _body(request: web.Request, model: type[M]) -> M:
    try:
        raw = await request.read()
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise ControlError(400, exc.json(include_url=False)) from exc


@web.middleware
async def control_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Control API failures become JSON ``{"error": ...}`` with a 4xx, never a 500 for bad input."""
    if not request.path.startswith(PREFIX):
        return await handler(request)  # type: ignore[no-any-return]
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except ControlError as exc:
        return web.json_response({"error": exc.message}, status=exc.status)


@routes.get(PREFIX + "/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.post(PREFIX + "/reset")
async def reset(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    await ctx.walker.cancel_all()
    ctx.store.reset()
    return web.json_response({"status": "reset"})


@routes.post(PREFIX + "/seed")
async def seed(request: web.Request) -> web.Response:
    doc = await _body(request, SeedDocument)
    return web.json_response(apply_seed(ctx_of(request), doc))


@routes.post(PREFIX + "/accounts")
async def seed_account(request: web.Request) -> web.Response:
    account = apply_account(ctx_of(request), await _body(request, AccountSeed))
    return web.json_response(_account_view(account), status=201)


@routes.get(PREFIX + "/accounts/{sid}")
async def get_account(request: web.Request) -> web.Response:
    account = ctx_of(request).store.accounts.get(request.match_info["sid"])
    if account is None:
        raise ControlError(404, "no such account")
    return web.json_response(_account_view(account))


@routes.post(PREFIX + "/services")
async def seed_service(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    service = apply_service(ctx, await _body(request, ServiceSeed))
    return web.json_response({"sid": service.sid, "account_sid": service.account_sid}, status=201)


@routes.post(PREFIX + "/phone-numbers")
async def seed_number(request: web.Request) -> web.Response:
    number = apply_number(ctx_of(request), await _body(request, PhoneNumberSeed))
    return web.json_response(number_json(number), status=201)


@routes.post(PREFIX + "/short-codes")
async def seed_short_code(request: web.Request) -> web.Response:
    code = apply_short_code(ctx_of(request), await _body(request, ShortCodeSeed))
    return web.json_response(short_code_json(code), status=201)


@routes.get(PREFIX + "/opt-outs")
async def list_opt_outs(request: web.Request) -> web.Response:
    items = [{"sender": s, "recipient": r} for s, r in sorted(ctx_of(request).store.opt_outs)]
    return web.json_response({"opt_outs": items})


@routes.post(PREFIX + "/opt-outs")
async def add_opt_out(request: web.Request) -> web.Response:
    seed = await _body(request, OptOutSeed)
    ctx_of(request).store.opt_outs.add((seed.sender, seed.recipient))
    return web.json_response(seed.model_dump(), status=201)


@routes.delete(PREFIX + "/opt-outs")
async def remove_opt_out(request: web.Request) -> web.Response:
    seed = await _body(request, OptOutSeed)
    ctx_of(request).store.opt_outs.discard((seed.sender, seed.recipient))
    return web.Response(status=204)


async def _add_behaviour(request: web.Request, doc: SeedDocument) -> web.Response:
    apply_behaviour(ctx_of(request), doc)
    return web.json_response({"status": "ok"}, status=201)


@routes.post(PREFIX + "/outcomes")
async def add_outcome(request: web.Request) -> web.Response:
    return await _add_behaviour(request, SeedDocument(outcomes=[await _body(request, OutcomeSeed)]))


@routes.post(PREFIX + "/faults")
async def add_fault(request: web.Request) -> web.Response:
    return await _add_behaviour(request, SeedDocument(faults=[await _body(request, FaultSeed)]))


@routes.post(PREFIX + "/rates")
async def add_rate(request: web.Request) -> web.Response:
    return await _add_behaviour(request, SeedDocument(rates=[await _body(request, RateSeed)]))


@routes.delete(PREFIX + "/outcomes")
async def clear_outcomes(request: web.Request) -> web.Response:
    ctx_of(request).store.outcomes.clear()
    return web.Response(status=204)


@routes.delete(PREFIX + "/faults")
async def clear_faults(request: web.Request) -> web.Response:
    ctx_of(request).store.faults.clear()
    return web.Response(status=204)


@routes.delete(PREFIX + "/rates")
async def clear_rates(request: web.Request) -> web.Response:
    ctx_of(request).store.rates.clear()
    return web.Response(status=204)


@routes.post(PREFIX + "/inbound")
async def inbound(request: web.Request) -> web.Response:
    """Simulate a customer's SMS/MMS; posts the signed webhook and reports what the target answered."""
    ctx = ctx_of(request)
    req = await _body(request, InboundRequest)
    try:
        plan = plan_inbound(
            ctx.store,
            req.from_,
            req.to,
            req.body,
            [(m.url, m.content_type) for m in req.media],
            list(req.extra_params.items()),
            omit_body=req.omit_body,
        )
    except UnknownReceiver as exc:
        raise ControlError(404, f"no phone number or short code {exc.args[0]} in the emulator") from exc
    result: dict[str, Any] = {
        "message_sid": plan.message.sid,
        "account_sid": plan.account.sid,
        "url": None,
        "method": plan.method,
        "status": None,
        "error": None,
        "dropped": plan.dropped_reason,
        "keyword": plan.keyword,
        "fallback_status": None,
    }
    delivery = await deliver_inbound(ctx.poster, plan)
    if delivery is not None:
        result.update(
            url=delivery.url, status=delivery.status, error=delivery.error, fallback_status=delivery.fallback_status
        )
    return web.json_response(result)


@routes.get(PREFIX + "/requests")
async def list_requests(request: web.Request) -> web.Response:
    q = request.query
    since = _int_query(request, "since_id")
    items = [
        r.as_json()
        for r in ctx_of(request).store.requests
        if r.id > since
        and (not q.get("method") or r.method == q["method"].upper())
        and (not q.get("path_contains") or q["path_contains"] in r.path)
        and (not q.get("account_sid") or q["account_sid"] in r.path)
    ]
    return web.json_response({"requests": items})


@routes.delete(PREFIX + "/requests")
async def clear_requests(request: web.Request) -> web.Response:
    ctx_of(request).store.requests.clear()
    return web.Response(status=204)


@routes.get(PREFIX + "/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    q = request.query
    since = _int_query(request, "since_id")
    items = [
        w.as_json()
        for w in ctx_of(request).store.webhooks
        if w.id > since
        and (not q.get("kind") or w.kind == q["kind"])
        and (not q.get("message_sid") or w.message_sid == q["message_sid"])
        and (not q.get("url_contains") or q["url_contains"] in w.url)
    ]
    return web.json_response({"webhooks": items})


@routes.delete(PREFIX + "/webhooks")
async def clear_webhooks(request: web.Request) -> web.Response:
    ctx_of(request).store.webhooks.clear()
    return web.Response(status=204)


@routes.get(PREFIX + "/messages")
async def list_messages(request: web.Request) -> web.Response:
    q = request.query
    items = [
        message_json(m)
        for m in ctx_of(request).store.messages.values()
        if (not q.get("to") or m.to == q["to"]) and (not q.get("from") or m.from_ == q["from"])
    ]
    return web.json_response({"messages": items})


@routes.get(PREFIX + "/messages/{sid}")
async def get_message(request: web.Request) -> web.Response:
    message = ctx_of(request).store.messages.get(request.match_info["sid"])
    if message is None:
        raise ControlError(404, "no such message")
    return web.json_response(message_json(message))

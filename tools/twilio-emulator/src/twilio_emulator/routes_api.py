"""Twilio REST API v2010 routes: accounts, incoming phone numbers, short codes, messages."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from twilio_emulator.context import caller_of, ctx_of, first, form_of
from twilio_emulator.date_filters import DATE_SENT_FILTERS, sent_date_matches
from twilio_emulator.errors import TwilioApiError
from twilio_emulator.ids import new_sid, new_token
from twilio_emulator.render import (
    V2010,
    account_json,
    all_accounts_for,
    message_json,
    number_json,
    page_params,
    short_code_json,
    v2010_page,
)
from twilio_emulator.sending import CreateRequest, create_message
from twilio_emulator.state import Account, PhoneNumber, ShortCode, utcnow

routes = web.RouteTableDef()

_ACCOUNT = V2010 + "/Accounts/{account_sid}"
_BOOL = {"true": True, "false": False}
_METHODS = {"GET", "POST"}


def _filters(query: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The list filters to repeat in paging URIs."""
    return {name: query[name] for name in names if name in query}


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def _not_found(request: web.Request) -> TwilioApiError:
    return TwilioApiError(20404, path=request.path)


def _target_account(request: web.Request) -> Account:
    """The account named in the path, if the caller is it or its parent; else 20003 like Twilio."""
    ctx = ctx_of(request)
    target = ctx.store.may_access(caller_of(request), request.match_info["account_sid"])
    if target is None:
        raise TwilioApiError(20003)
    return target


def partial_match(pattern: str, value: str) -> bool:
    """Twilio list filters match partially and allow '*' as a one-digit wildcard (contains match)."""
    digits = re.sub(r"[^0-9*]", "", pattern)
    if not digits:
        return pattern.lower() in value.lower()
    regex = "".join(r"\d" if c == "*" else c for c in digits)
    return re.search(regex, re.sub(r"[^0-9]", "", value)) is not None


def _method(form: list[tuple[str, str]], name: str, current: str) -> str:
    value = first(form, name)
    if value is None:
        return current
    if value.upper() not in _METHODS:
        raise TwilioApiError(20001, value=name)
    return value.upper()


def _url(form: list[tuple[str, str]], name: str, current: str | None) -> str | None:
    value = first(form, name)
    if value is None:
        return current
    return value or None


# --- accounts ---------------------------------------------------------------------------------------


@routes.get(V2010 + "/Accounts.json")
async def list_accounts(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    q = dict(request.query)
    accounts = all_accounts_for(ctx.store, caller_of(request))
    if "FriendlyName" in q:
        accounts = [a for a in accounts if a.friendly_name == q["FriendlyName"]]
    if "Status" in q:
        accounts = [a for a in accounts if a.status == q["Status"]]
    page, size = page_params(q)
    filters = _filters(q, ("FriendlyName", "Status"))
    items = [account_json(a) for a in accounts]
    return _json(v2010_page("accounts", items, request.path, filters, page, size))


@routes.post(V2010 + "/Accounts.json")
async def create_subaccount(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    caller = caller_of(request)
    if caller.parent_sid is not None:
        raise TwilioApiError(20003)
    account = Account(
        sid=new_sid("AC"),
        auth_token=new_token(),
        friendly_name=first(form_of(request), "FriendlyName") or "SubAccount Created",
        parent_sid=caller.sid,
    )
    ctx.store.accounts[account.sid] = account
    return _json(account_json(account), status=201)


@routes.get(_ACCOUNT + ".json")
async def fetch_account(request: web.Request) -> web.Response:
    return _json(account_json(_target_account(request)))


@routes.post(_ACCOUNT + ".json")
async def update_account(request: web.Request) -> web.Response:
    account = _target_account(request)
    form = form_of(request)
    status = first(form, "Status")
    if status is not None:
        if status not in {"active", "suspended", "closed"}:
            raise TwilioApiError(20001, value="Status")
        account.status = status  # type: ignore[assignment]
    account.friendly_name = first(form, "FriendlyName") or account.friendly_name
    account.date_updated = utcnow()
    return _json(account_json(account))


# --- incoming phone numbers -------------------------------------------------------------------------


@routes.get(_ACCOUNT + "/IncomingPhoneNumbers.json")
async def list_numbers(request: web.Request) -> web.Response:
    account = _target_account(request)
    ctx = ctx_of(request)
    q = dict(request.query)
    numbers = [n for n in ctx.store.numbers.values() if n.account_sid == account.sid]
    if q.get("PhoneNumber"):
        numbers = [n for n in numbers if partial_match(q["PhoneNumber"], n.phone_number)]
    if q.get("FriendlyName"):
        numbers = [n for n in numbers if q["FriendlyName"].lower() in n.friendly_name.lower()]
    if q.get("Origin"):
        numbers = [n for n in numbers if n.origin == q["Origin"]]
    page, size = page_params(q)
    filters = _filters(q, ("PhoneNumber", "FriendlyName", "Beta", "Origin"))
    items = [number_json(n) for n in numbers]
    return _json(v2010_page("incoming_phone_numbers", items, request.path, filters, page, size))


def _number_of(request: web.Request) -> PhoneNumber:
    account = _target_account(request)
    number = ctx_of(request).store.numbers.get(request.match_info["sid"])
    if number is None or number.account_sid != account.sid:
        raise _not_found(request)
    return number


@routes.get(_ACCOUNT + "/IncomingPhoneNumbers/{sid}.json")
async def fetch_number(request: web.Request) -> web.Response:
    return _json(number_json(_number_of(request)))


@routes.post(_ACCOUNT + "/IncomingPhoneNumbers/{sid}.json")
async def update_number(request: web.Request) -> web.Response:
    number = _number_of(request)
    form = form_of(request)
    # Every field is checked before any is applied: a rejected update changes nothing, like Twilio.
    sms_url = _url(form, "SmsUrl", number.sms_url)
    sms_method = _method(form, "SmsMethod", number.sms_method)
    sms_fallback_url = _url(form, "SmsFallbackUrl", number.sms_fallback_url)
    sms_fallback_method = _method(form, "SmsFallbackMethod", number.sms_fallback_method)
    sms_application_sid = _url(form, "SmsApplicationSid", number.sms_application_sid)
    friendly_name = first(form, "FriendlyName") or number.friendly_name
    number.sms_url, number.sms_method = sms_url, sms_method
    number.sms_fallback_url, number.sms_fallback_method = sms_fallback_url, sms_fallback_method
    number.sms_application_sid = sms_application_sid
    number.friendly_name = friendly_name
    number.date_updated = utcnow()
    return _json(number_json(number))


# --- short codes ------------------------------------------------------------------------------------


@routes.get(_ACCOUNT + "/SMS/ShortCodes.json")
async def list_short_codes(request: web.Request) -> web.Response:
    account = _target_account(request)
    ctx = ctx_of(request)
    q = dict(request.query)
    codes = [c for c in ctx.store.short_codes.values() if c.account_sid == account.sid]
    if q.get("ShortCode"):
        codes = [c for c in codes if partial_match(q["ShortCode"], c.short_code)]
    if q.get("FriendlyName"):
        codes = [c for c in codes if q["FriendlyName"].lower() in c.friendly_name.lower()]
    page, size = page_params(q)
    filters = _filters(q, ("ShortCode", "FriendlyName"))
    items = [short_code_json(c) for c in codes]
    return _json(v2010_page("short_codes", items, request.path, filters, page, size))


def _short_code_of(request: web.Request) -> ShortCode:
    account = _target_account(request)
    code = ctx_of(request).store.short_codes.get(request.match_info["sid"])
    if code is None or code.account_sid != account.sid:
        raise _not_found(request)
    return code


@routes.get(_ACCOUNT + "/SMS/ShortCodes/{sid}.json")
async def fetch_short_code(request: web.Request) -> web.Response:
    return _json(short_code_json(_short_code_of(request)))


@routes.post(_ACCOUNT + "/SMS/ShortCodes/{sid}.json")
async def update_short_code(request: web.Request) -> web.Response:
    code = _short_code_of(request)
    form = form_of(request)
    # Validate everything first, then apply: a rejected update leaves the short code as it was.
    sms_url = _url(form, "SmsUrl", code.sms_url)
    sms_method = _method(form, "SmsMethod", code.sms_method)
    sms_fallback_url = _url(form, "SmsFallbackUrl", code.sms_fallback_url)
    sms_fallback_method = _method(form, "SmsFallbackMethod", code.sms_fallback_method)
    friendly_name = first(form, "FriendlyName") or code.friendly_name
    code.sms_url, code.sms_method = sms_url, sms_method
    code.sms_fallback_url, code.sms_fallback_method = sms_fallback_url, sms_fallback_method
    code.friendly_name = friendly_name
    code.date_updated = utcnow()
    return _json(short_code_json(code))


# --- messages ---------------------------------------------------------------------------------------


@routes.post(_ACCOUNT + "/Messages.json")
async def create(request: web.Request) -> web.Response:
    account = _target_account(request)
    ctx = ctx_of(request)
    req = CreateRequest.from_form(form_of(request))
    message = create_message(ctx.store, account, req, asyncio.get_running_loop().time())
    ctx.walker.start(message.sid)
    return _json(message_json(message), status=201)


@routes.get(_ACCOUNT + "/Messages.json")
async def list_messages(request: web.Request) -> web.Response:
    account = _target_account(request)
    ctx = ctx_of(request)
    q = dict(request.query)
    messages = [m for m in ctx.store.messages.values() if m.account_sid == account.sid]
    if q.get("To"):
        messages = [m for m in messages if m.to == q["To"]]
    if q.get("From"):
        messages = [m for m in messages if m.from_ == q["From"]]
    messages = [m for m in messages if sent_date_matches(m.date_sent, q)]
    messages.sort(key=lambda m: m.date_created, reverse=True)
    page, size = page_params(q)
    filters = _filters(q, ("To", "From", *DATE_SENT_FILTERS))
    items = [message_json(m) for m in messages]
    return _json(v2010_page("messages", items, request.path, filters, page, size))


@routes.get(_ACCOUNT + "/Messages/{sid}.json")
async def fetch_message(request: web.Request) -> web.Response:
    account = _target_account(request)
    message = ctx_of(request).store.messages.get(request.match_info["sid"])
    if message is None or message.account_sid != account.sid:
        raise _not_found(request)
    return _json(message_json(message))

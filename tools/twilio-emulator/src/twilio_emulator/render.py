"""JSON representations of emulator state, shaped after Twilio's OpenAPI response schemas."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from twilio_emulator.errors import ASYNC_ERROR_MESSAGES
from twilio_emulator.state import Account, Message, PhoneNumber, Service, ShortCode, Store
from twilio_emulator.text import country_of

API_VERSION = "2010-04-01"
V2010 = f"/{API_VERSION}"


def rfc2822(value: datetime | None) -> str | None:
    """Twilio v2010 dates, e.g. 'Wed, 18 Aug 2010 20:01:40 +0000'."""
    return None if value is None else format_datetime(value)


def iso8601(value: datetime) -> str:
    """Messaging v1 dates, e.g. '2015-07-30T20:12:31Z'."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def account_json(account: Account) -> dict[str, Any]:
    base = f"{V2010}/Accounts/{account.sid}"
    return {
        "auth_token": account.auth_token,
        "date_created": rfc2822(account.date_created),
        "date_updated": rfc2822(account.date_updated),
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.parent_sid or account.sid,
        "sid": account.sid,
        "status": account.status,
        "subresource_uris": {
            "incoming_phone_numbers": f"{base}/IncomingPhoneNumbers.json",
            "messages": f"{base}/Messages.json",
            "short_codes": f"{base}/SMS/ShortCodes.json",
        },
        "type": account.type,
        "uri": f"{base}.json",
    }


def number_json(number: PhoneNumber) -> dict[str, Any]:
    return {
        "account_sid": number.account_sid,
        "address_sid": None,
        "address_requirements": "none",
        "api_version": API_VERSION,
        "beta": False,
        "capabilities": dict(number.capabilities),
        "date_created": rfc2822(number.date_created),
        "date_updated": rfc2822(number.date_updated),
        "friendly_name": number.friendly_name,
        "identity_sid": None,
        "phone_number": number.phone_number,
        "origin": number.origin,
        "sid": number.sid,
        "sms_application_sid": number.sms_application_sid,
        "sms_fallback_method": number.sms_fallback_method,
        "sms_fallback_url": number.sms_fallback_url or "",
        "sms_method": number.sms_method,
        "sms_url": number.sms_url or "",
        "status_callback": "",
        "status_callback_method": "POST",
        "trunk_sid": None,
        "uri": f"{V2010}/Accounts/{number.account_sid}/IncomingPhoneNumbers/{number.sid}.json",
        "voice_receive_mode": "voice",
        "voice_application_sid": None,
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": None,
        "voice_method": "POST",
        "voice_url": None,
        "emergency_status": "Inactive",
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "bundle_sid": None,
        "status": "in-use",
        "type": number.type,
    }


def short_code_json(code: ShortCode) -> dict[str, Any]:
    return {
        "account_sid": code.account_sid,
        "api_version": API_VERSION,
        "date_created": rfc2822(code.date_created),
        "date_updated": rfc2822(code.date_updated),
        "friendly_name": code.friendly_name,
        "short_code": code.short_code,
        "sid": code.sid,
        "sms_fallback_method": code.sms_fallback_method,
        "sms_fallback_url": code.sms_fallback_url or "",
        "sms_method": code.sms_method,
        "sms_url": code.sms_url or "",
        "uri": f"{V2010}/Accounts/{code.account_sid}/SMS/ShortCodes/{code.sid}.json",
    }


def message_json(message: Message) -> dict[str, Any]:
    uri = f"{V2010}/Accounts/{message.account_sid}/Messages/{message.sid}"
    # A service-sent message has no segments yet while it is only 'accepted' (no sender chosen).
    segments = 0 if message.status == "accepted" else message.num_segments
    error_message = None
    if message.error_code is not None:
        error_message = ASYNC_ERROR_MESSAGES.get(message.error_code, "Error")
    return {
        "body": message.body,
        "num_segments": str(segments),
        "direction": message.direction,
        "from": message.from_,
        "to": message.to,
        "date_updated": rfc2822(message.date_updated),
        "price": None,
        "error_message": error_message,
        "uri": f"{uri}.json",
        "account_sid": message.account_sid,
        "num_media": str(len(message.media_urls)),
        "status": message.status,
        "messaging_service_sid": message.messaging_service_sid,
        "sid": message.sid,
        "date_sent": rfc2822(message.date_sent),
        "date_created": rfc2822(message.date_created),
        "error_code": message.error_code,
        "price_unit": "USD",
        "api_version": API_VERSION,
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
    }


def service_json(service: Service, origin: str) -> dict[str, Any]:
    url = f"{origin}/v1/Services/{service.sid}"
    return {
        "sid": service.sid,
        "account_sid": service.account_sid,
        "friendly_name": service.friendly_name,
        "date_created": iso8601(service.date_created),
        "date_updated": iso8601(service.date_updated),
        "inbound_request_url": service.inbound_request_url,
        "inbound_method": service.inbound_method,
        "fallback_url": service.fallback_url,
        "fallback_method": service.fallback_method,
        "status_callback": service.status_callback,
        "sticky_sender": service.sticky_sender,
        "mms_converter": True,
        "smart_encoding": service.smart_encoding,
        "scan_message_content": "inherit",
        "fallback_to_long_code": False,
        "area_code_geomatch": True,
        "synchronous_validation": False,
        "validity_period": service.validity_period,
        "url": url,
        "links": {
            "phone_numbers": f"{url}/PhoneNumbers",
            "short_codes": f"{url}/ShortCodes",
            "alpha_senders": f"{url}/AlphaSenders",
            "us_app_to_person": f"{url}/Compliance/Usa2p",
        },
        "usecase": service.usecase,
        "us_app_to_person_registered": service.us_app_to_person_registered,
        "use_inbound_webhook_on_number": service.use_inbound_webhook_on_number,
    }


def service_number_json(service: Service, number: PhoneNumber, origin: str) -> dict[str, Any]:
    added = service.members.get(number.sid, service.date_created)
    caps = [name.upper() for name, enabled in number.capabilities.items() if enabled and name != "fax"]
    return {
        "sid": number.sid,
        "account_sid": number.account_sid,
        "service_sid": service.sid,
        "date_created": iso8601(added),
        "date_updated": iso8601(added),
        "phone_number": number.phone_number,
        "country_code": country_of(number.phone_number),
        "capabilities": caps,
        "url": f"{origin}/v1/Services/{service.sid}/PhoneNumbers/{number.sid}",
    }


def service_short_code_json(service: Service, code: ShortCode, origin: str) -> dict[str, Any]:
    added = service.members.get(code.sid, service.date_created)
    return {
        "sid": code.sid,
        "account_sid": code.account_sid,
        "service_sid": service.sid,
        "date_created": iso8601(added),
        "date_updated": iso8601(added),
        "short_code": code.short_code,
        "country_code": country_of(code.short_code),
        "capabilities": ["SMS", "MMS"],
        "url": f"{origin}/v1/Services/{service.sid}/ShortCodes/{code.sid}",
    }


def page_params(query: dict[str, str]) -> tuple[int, int]:
    """(page, page_size) from Twilio paging parameters; PageSize default 50, max 1000."""
    try:
        size = int(query.get("PageSize", "50"))
        page = int(query.get("Page", "0"))
    except ValueError:
        return 0, 50
    return max(page, 0), min(max(size, 1), 1000)


def v2010_page(
    key: str, items: list[dict[str, Any]], path: str, filters: Mapping[str, str], page: int, size: int
) -> dict[str, Any]:
    """v2010 list envelope; page URIs are relative (the SDK joins them to its base URL)."""
    start = page * size
    chunk = items[start : start + size]

    def uri(p: int) -> str:
        return f"{path}?{urlencode({**filters, 'PageSize': size, 'Page': p})}"

    has_next = start + size < len(items)
    return {
        key: chunk,
        "end": start + max(len(chunk) - 1, 0),
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1) + f"&PageToken=PA{page + 1}" if has_next else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": uri(page - 1) + f"&PageToken=PB{page - 1}" if page > 0 else None,
        "start": start,
        "uri": uri(page),
    }


def v1_page(key: str, items: list[dict[str, Any]], url: str, page: int, size: int) -> dict[str, Any]:
    """Messaging v1 list envelope; page URLs are absolute and point back at the emulator."""
    start = page * size
    chunk = items[start : start + size]

    def page_url(p: int) -> str:
        return f"{url}?{urlencode({'PageSize': size, 'Page': p})}"

    return {
        key: chunk,
        "meta": {
            "first_page_url": page_url(0),
            "key": key,
            "next_page_url": page_url(page + 1) if start + size < len(items) else None,
            "page": page,
            "page_size": size,
            "previous_page_url": page_url(page - 1) if page > 0 else None,
            "url": page_url(page),
        },
    }


def all_accounts_for(store: Store, caller: Account) -> list[Account]:
    return [a for a in store.accounts.values() if a.sid == caller.sid or a.parent_sid == caller.sid]

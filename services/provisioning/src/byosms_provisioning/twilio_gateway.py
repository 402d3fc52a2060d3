"""Provisioning's Twilio calls: the lookups of integrations and number imports, and how their
failures are reported.

- The generic part (the shared HTTP session, ``BYOSMS_TWILIO_API_BASE`` redirect, per-call
  deadline, classification of failures, ``Retry-After``) is :mod:`byosms_common.twilio_client`.
- Failures become ``ByosmsError`` codes through :data:`TWILIO_CODE_RULES` and
  :data:`HTTP_STATUS_RULES`; a unit test covers every row. A 429's ``Retry-After`` travels on the
  error (:class:`TwilioCallError`), so callers wait as long as Twilio asks before trying again.
  Error text from Twilio is never returned to callers (Twilio says not to branch on it), and
  credentials never appear in errors.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from byosms_common.errors import ByosmsError, VendorError
from byosms_common.twilio_client import (
    FailureKind,
    TwilioClients,
    TwilioFailure,
    classify,
    parse_retry_after,
    redirect_url,
)
from byosms_provisioning.imports.checks import VendorNumber, VendorService

__all__ = [
    "HTTP_STATUS_RULES",
    "TWILIO_CODE_RULES",
    "ErrorRule",
    "TwilioAccount",
    "TwilioCallError",
    "TwilioGateway",
    "VendorError",
    "map_exception",
    "parse_retry_after",
    "redirect_url",
    "retry_after_of",
    "rule_for",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """How one Twilio failure is reported: our error code and whether trying again may help."""

    code: str
    retryable: bool = False


# Twilio error codes (twilio-facts section 6). 20005 ("Account not active") is prior knowledge.
TWILIO_CODE_RULES: Mapping[int, ErrorRule] = {
    20003: ErrorRule("credentials_rejected"),
    20005: ErrorRule("account_not_active"),
    20404: ErrorRule("vendor_resource_not_found"),
    20429: ErrorRule("vendor_unavailable", retryable=True),
    20500: ErrorRule("vendor_unavailable", retryable=True),
    20503: ErrorRule("vendor_unavailable", retryable=True),
}

# Used when the body carries no known Twilio code.
HTTP_STATUS_RULES: Mapping[int, ErrorRule] = {
    401: ErrorRule("credentials_rejected"),
    403: ErrorRule("credentials_rejected"),
    404: ErrorRule("vendor_resource_not_found"),
    429: ErrorRule("vendor_unavailable", retryable=True),
}
SERVER_ERROR_RULE = ErrorRule("vendor_unavailable", retryable=True)
OTHER_CLIENT_ERROR_RULE = ErrorRule("vendor_rejected")
UNREACHABLE_RULE = ErrorRule("vendor_unavailable", retryable=True)


def rule_for(status: int | None, twilio_code: int | None) -> ErrorRule:
    """The rule for a Twilio error response."""
    if twilio_code is not None and twilio_code in TWILIO_CODE_RULES:
        return TWILIO_CODE_RULES[twilio_code]
    if status is not None:
        if status in HTTP_STATUS_RULES:
            return HTTP_STATUS_RULES[status]
        if status >= 500:
            return SERVER_ERROR_RULE
    return OTHER_CLIENT_ERROR_RULE


class TwilioCallError(VendorError):
    """A failed Twilio call; ``retry_after`` is how long Twilio asked us to wait (seconds), if it said."""

    def __init__(
        self, code: str | None = None, *, retryable: bool | None = None, retry_after: float | None = None, **params: str
    ) -> None:
        super().__init__(code, retryable=retryable, **params)
        self.retry_after = retry_after


def retry_after_of(error: BaseException) -> float | None:
    """Twilio's Retry-After hint carried by ``error``, in seconds (None when it gave none)."""
    value = getattr(error, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None


def map_exception(exc: BaseException, *, retry_after: float | None = None) -> ByosmsError:
    """The byosms error for anything a Twilio call raised (``retry_after``: the 429's hint, if any)."""
    failure = classify(exc, retry_after=retry_after)
    if failure.kind is not FailureKind.ANSWERED:
        # Lookups change nothing at Twilio, so an unanswered one is as safe to repeat as an unreachable one.
        return TwilioCallError(UNREACHABLE_RULE.code, retryable=UNREACHABLE_RULE.retryable)
    status, code = failure.status, failure.code
    rule = rule_for(status, code)
    params = {"twilio_code": str(code if code is not None else status)} if rule.code == "vendor_rejected" else {}
    if rule.code == "account_not_active":
        params = {"status": "not active"}
    hint = failure.retry_after if rule.retryable and status == 429 else None
    return TwilioCallError(rule.code, retryable=rule.retryable, retry_after=hint, **params)


@dataclass(frozen=True, slots=True)
class TwilioAccount:
    """What the Accounts API says about an account."""

    sid: str
    status: str
    friendly_name: str | None
    type: str | None


class TwilioGateway(TwilioClients):
    """Twilio REST calls made for tenants, each under a deadline and with errors mapped."""

    def __init__(self, *, api_base: str | None, timeout_seconds: float, max_concurrency: int = 5) -> None:
        super().__init__(api_base=api_base, timeout_seconds=timeout_seconds)
        self.max_concurrency = max(1, max_concurrency)
        """How many calls one lookup (e.g. asking every Messaging Service) may have in flight at once."""

    async def call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one Twilio operation under the deadline; failures raise a mapped ``ByosmsError``."""
        try:
            return await self.run(what, operation)
        except TwilioFailure as failure:
            error = map_exception(failure)
            log.warning("twilio %s -> %s", what, error.code)
            raise error from None

    async def fetch_account(self, account_sid: str, auth_token: str) -> TwilioAccount:
        """The account the credentials belong to; raises ``credentials_rejected`` and friends."""
        client = self.client(account_sid, auth_token)
        instance = await self.call("fetch account", client.api.v2010.accounts(account_sid).fetch_async)
        return TwilioAccount(
            sid=str(instance.sid),
            status=str(instance.status),
            friendly_name=instance.friendly_name,
            type=str(instance.type) if instance.type is not None else None,
        )

    async def check_credentials(self, account_sid: str, auth_token: str) -> TwilioAccount:
        """Validate credentials: they must open an active account with exactly this SID."""
        account = await self.fetch_account(account_sid, auth_token)
        if account.sid != account_sid:
            raise VendorError("credentials_rejected")
        if account.status != "active":
            raise VendorError("account_not_active", status=account.status)
        return account


# Number lookups (issue 6) are appended below this line.


def _text(value: object) -> str | None:
    """A Twilio string field, with empty strings (Twilio's way of saying "not set") as None."""
    return str(value) if value else None


async def list_incoming_numbers(
    gateway: TwilioGateway, account_sid: str, auth_token: str, phone_number: str
) -> list[VendorNumber]:
    """IncomingPhoneNumbers whose PhoneNumber filter matches ``phone_number`` (Twilio matches partially;
    the caller picks the exact one)."""
    client = gateway.client(account_sid, auth_token)
    rows = await gateway.call(
        "list incoming phone numbers",
        lambda: client.api.v2010.accounts(account_sid).incoming_phone_numbers.list_async(
            phone_number=phone_number, limit=100
        ),
    )
    return [
        VendorNumber(
            sid=str(row.sid),
            value=str(row.phone_number),
            sms_url=_text(row.sms_url),
            sms_method=_text(row.sms_method),
            sms_application_sid=_text(row.sms_application_sid),
        )
        for row in rows
    ]


async def list_short_codes(
    gateway: TwilioGateway, account_sid: str, auth_token: str, short_code: str
) -> list[VendorNumber]:
    """ShortCodes whose ShortCode filter matches ``short_code`` (partial match, as above)."""
    client = gateway.client(account_sid, auth_token)
    rows = await gateway.call(
        "list short codes",
        lambda: client.api.v2010.accounts(account_sid).short_codes.list_async(short_code=short_code, limit=100),
    )
    return [
        VendorNumber(
            sid=str(row.sid), value=str(row.short_code), sms_url=_text(row.sms_url), sms_method=_text(row.sms_method)
        )
        for row in rows
    ]


async def messaging_service_of(
    gateway: TwilioGateway, account_sid: str, auth_token: str, member_sid: str, *, short_code: bool
) -> VendorService | None:
    """The Messaging Service that ``member_sid`` (PN... or SC...) belongs to, if any.

    Twilio has no "which service holds this number" query: each service is asked, and a 404 means
    "not a member". The services are asked in parallel, at most ``gateway.max_concurrency`` at a
    time, so an account with many services stays within the import's deadline; every call runs
    under the gateway's deadline. The answer is taken in listing order and the remaining
    questions are cancelled as soon as it is known.
    """
    client = gateway.client(account_sid, auth_token)
    services = await gateway.call("list messaging services", lambda: client.messaging.v1.services.list_async())
    if not services:
        return None
    slots = asyncio.Semaphore(gateway.max_concurrency)

    async def holds(service_sid: str) -> bool:
        context = client.messaging.v1.services(service_sid)
        member = context.short_codes(member_sid) if short_code else context.phone_numbers(member_sid)
        async with slots:
            try:
                await gateway.call("fetch messaging service member", member.fetch_async)
            except ByosmsError as exc:
                if exc.code == "vendor_resource_not_found":
                    return False
                raise
        return True

    questions = [asyncio.create_task(holds(str(service.sid))) for service in services]
    try:
        for service, question in zip(services, questions, strict=True):
            if await question:
                return VendorService(
                    sid=str(service.sid),
                    use_inbound_webhook_on_number=bool(service.use_inbound_webhook_on_number),
                    inbound_request_url=_text(service.inbound_request_url),
                    inbound_method=_text(service.inbound_method),
                )
        return None
    finally:
        for question in questions:
            question.cancel()
        await asyncio.gather(*questions, return_exceptions=True)

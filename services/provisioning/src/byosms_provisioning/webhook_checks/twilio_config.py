"""Reading and changing, with a tenant's own credentials, what decides where Twilio delivers a number's
inbound SMS (see :mod:`resolver`).

One :class:`ConfigReader` serves one Twilio account for one round of checks: the account-wide answers
(Messaging Services and their members, Conversations address configurations, TwiML Apps) are asked once
per round and shared by all of the round's numbers, so a check costs one request per number plus a few
per account. Every request waits for its slot of the account's :class:`Pacer` (the configured rate), and
a 429 is retried after Twilio's ``Retry-After``, which also holds back the account's other requests.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from byosms_common.backoff import Backoff, retry
from byosms_common.errors import ByosmsError
from byosms_common.request_pacing import Pacer
from byosms_provisioning.imports.checks import VendorNumber, VendorService
from byosms_provisioning.twilio_gateway import TwilioCallError, TwilioGateway, map_exception, retry_after_of
from byosms_provisioning.webhook_checks.resolver import AddressConfig, Fix, NumberConfiguration, VendorApplication

log = logging.getLogger(__name__)

T = TypeVar("T")

PAGE_SIZE = 1000


def _text(value: object) -> str | None:
    return str(value) if value else None


def _lister(listing: Any) -> Callable[[], Awaitable[list[Any]]]:
    async def pages() -> list[Any]:
        return list(await listing.list_async(page_size=PAGE_SIZE))

    return pages


def _not_found(exc: Exception) -> bool:
    return isinstance(exc, ByosmsError) and exc.code == "vendor_resource_not_found"


class ConfigReader:
    """Twilio reads and writes of one account for one round of checks (answers cached for the round)."""

    def __init__(
        self,
        gateway: TwilioGateway,
        account_sid: str,
        auth_token: str,
        *,
        pacer: Pacer | None = None,
        attempts: int = 4,
        deadline: float | None = None,
    ) -> None:
        self._gateway = gateway
        self._account_sid = account_sid
        self._client = gateway.client(account_sid, auth_token)
        self._pacer = pacer
        self._attempts = attempts
        self._deadline = deadline
        self._members: dict[str, VendorService] | None = None
        self._address_configs: tuple[AddressConfig, ...] | None = None
        self._applications: dict[str, VendorApplication | None] = {}

    @property
    def account(self) -> Any:
        return self._client.api.v2010.accounts(self._account_sid)

    async def call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """One request in its slot, retried while retryable; a 429 waits its ``Retry-After``."""

        async def once() -> T:
            if self._pacer is not None:
                await self._pacer.turn()
            return await self._gateway.call(what, operation)

        def wait(exc: Exception) -> float | None:
            seconds = retry_after_of(exc)
            if seconds is not None and self._pacer is not None:
                self._pacer.pause(seconds)
            return seconds

        return await retry(
            once,
            retryable=lambda exc: isinstance(exc, ByosmsError) and exc.retryable and not _not_found(exc),
            backoff=Backoff(0.5, 8.0),
            attempts=self._attempts,
            deadline=self._deadline,
            wait_at_least=wait,
            what=f"twilio {what}",
        )

    # --- reads -----------------------------------------------------------------------------------

    async def number(self, sid: str, *, short_code: bool) -> VendorNumber:
        """The IncomingPhoneNumber (``PN…``) or ShortCode (``SC…``); ``vendor_resource_not_found`` if gone."""
        if short_code:
            row = await self.call("fetch short code", self.account.short_codes(sid).fetch_async)
            return VendorNumber(
                sid=str(row.sid),
                value=str(row.short_code),
                sms_url=_text(row.sms_url),
                sms_method=_text(row.sms_method),
            )
        row = await self.call("fetch incoming phone number", self.account.incoming_phone_numbers(sid).fetch_async)
        return VendorNumber(
            sid=str(row.sid),
            value=str(row.phone_number),
            sms_url=_text(row.sms_url),
            sms_method=_text(row.sms_method),
            sms_application_sid=_text(row.sms_application_sid),
        )

    async def memberships(self) -> dict[str, VendorService]:
        """Every sender SID (PN…/SC…) in a Messaging Service of the account, with its service."""
        if self._members is None:
            services = await self.call(
                "list messaging services", lambda: self._client.messaging.v1.services.list_async(page_size=PAGE_SIZE)
            )
            members: dict[str, VendorService] = {}
            for service in services:
                vendor = VendorService(
                    sid=str(service.sid),
                    use_inbound_webhook_on_number=bool(service.use_inbound_webhook_on_number),
                    inbound_request_url=_text(service.inbound_request_url),
                    inbound_method=_text(service.inbound_method),
                )
                context = self._client.messaging.v1.services(vendor.sid)
                for listing in (context.phone_numbers, context.short_codes):
                    rows = await self.call("list messaging service senders", _lister(listing))
                    for row in rows:
                        members.setdefault(str(row.sid), vendor)
            self._members = members
        return self._members

    async def address_configs(self) -> tuple[AddressConfig, ...]:
        """The account's SMS address configurations of Conversations (none where Conversations is not on)."""
        if self._address_configs is None:
            try:
                rows = await self.call(
                    "list conversations address configurations",
                    lambda: self._client.conversations.v1.address_configurations.list_async(
                        type="sms", page_size=PAGE_SIZE
                    ),
                )
            except ByosmsError as exc:
                if not _not_found(exc):
                    raise
                rows = []
            configs = []
            for row in rows:
                auto = row.auto_creation if isinstance(row.auto_creation, dict) else {}
                configs.append(
                    AddressConfig(
                        sid=str(row.sid),
                        address=str(row.address),
                        auto_creation_enabled=bool(auto.get("enabled")),
                        auto_creation_type=_text(auto.get("type")),
                    )
                )
            self._address_configs = tuple(configs)
        return self._address_configs

    async def application(self, sid: str) -> VendorApplication | None:
        """The TwiML App (None when it does not exist, e.g. deleted while the number still names it)."""
        if sid not in self._applications:
            try:
                row = await self.call("fetch twiml application", self.account.applications(sid).fetch_async)
                self._applications[sid] = VendorApplication(
                    sid=str(row.sid), sms_url=_text(row.sms_url), sms_method=_text(row.sms_method)
                )
            except ByosmsError as exc:
                if not _not_found(exc):
                    raise
                self._applications[sid] = None
        return self._applications[sid]

    async def configuration(self, sid: str, *, short_code: bool) -> NumberConfiguration:
        """Everything that decides where inbound SMS to the sender ``sid`` go."""
        number = await self.number(sid, short_code=short_code)
        service = (await self.memberships()).get(number.sid)
        application = await self.application(number.sms_application_sid) if number.sms_application_sid else None
        configs = () if short_code else await self.address_configs()
        return NumberConfiguration(number=number, service=service, application=application, address_configs=configs)

    def forget(self) -> None:
        """Drop the round's cached answers (after a repair changed them)."""
        self._members, self._address_configs = None, None
        self._applications.clear()

    # --- writes (repair, only when the tenant asks) -----------------------------------------------

    async def apply_number_fixes(self, sid: str, fixes: list[Fix], *, short_code: bool) -> None:
        """Set the number's SmsUrl / SmsMethod / SmsApplicationSid in one update."""
        names = {"SmsUrl": "sms_url", "SmsMethod": "sms_method", "SmsApplicationSid": "sms_application_sid"}
        values = {names[f.parameter]: f.value for f in fixes if f.parameter in names}
        if not values:
            return
        context = self.account.short_codes(sid) if short_code else self.account.incoming_phone_numbers(sid)
        if short_code:
            values.pop("sms_application_sid", None)
        await self.call("update number webhook", lambda: context.update_async(**values))

    async def set_service_deferring(self, service_sid: str) -> None:
        """ "Defer to sender's webhook" on the Messaging Service (affects all of its senders)."""
        service = self._client.messaging.v1.services(service_sid)
        await self.call("update messaging service", lambda: service.update_async(use_inbound_webhook_on_number=True))

    async def send(self, *, from_: str, to: str, body: str) -> str:
        """Create one message (the probe's code); its MessageSid. Never retried: a retry could send twice."""
        try:
            if self._pacer is not None:
                await self._pacer.turn()
            message = await self._gateway.run(
                "send probe message",
                lambda: self.account.messages.create_async(from_=from_, to=to, body=body),
                creates=True,
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes a coded error
            raise map_exception(exc, retry_after=retry_after_of(exc)) from None
        return str(message.sid)

    async def inbound_messages(self, *, to: str, from_: str) -> list[tuple[str, str]]:
        """(MessageSid, body) of the newest inbound messages Twilio holds from ``from_`` to ``to``."""
        rows = await self.call(
            "list messages", lambda: self.account.messages.list_async(to=to, from_=from_, limit=20, page_size=20)
        )
        return [(str(r.sid), str(r.body or "")) for r in rows if str(r.direction) == "inbound"]


__all__ = ["ConfigReader", "TwilioCallError"]

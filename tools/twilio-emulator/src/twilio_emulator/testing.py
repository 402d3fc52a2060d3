"""In-process emulator for tests, and a typed async client for the control API.

    from twilio_emulator.testing import running_emulator

    async with running_emulator() as emu:
        acct = await emu.control.create_account()
        pn = await emu.control.add_phone_number(acct.sid, "+15005550006", sms_url="http://...")
        result = await emu.control.inbound(from_="+14155550100", to="+15005550006", body="hi")

``EmulatorControl`` also works against an emulator started elsewhere (``make up``, the CLI).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from twilio_emulator.app import create_app
from twilio_emulator.control import (
    AccountSeed,
    FaultSeed,
    InboundRequest,
    MediaItem,
    OptOutSeed,
    OutcomeSeed,
    PhoneNumberSeed,
    RateSeed,
    SeedDocument,
    ServiceSeed,
    SharedKeySeed,
    ShortCodeSeed,
)
from twilio_emulator.control_media import MediaSeed
from twilio_emulator.routes_holds import HoldRequest, ReleaseRequest
from twilio_emulator.settings import EmulatorSettings
from twilio_emulator.state import AccountStatus, FinalStatus


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AccountInfo(_View):
    sid: str
    auth_token: str
    status: AccountStatus
    parent_sid: str | None = None
    friendly_name: str | None = None


class InboundResult(_View):
    message_sid: str
    account_sid: str
    url: str | None
    method: str
    status: int | None
    error: str | None
    dropped: str | None
    keyword: Literal["STOP", "START", "HELP"] | None
    fallback_status: int | None


class ApiRequest(_View):
    id: int
    at: str
    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    auth_username: str | None
    status: int
    error_code: int | None

    def field(self, name: str) -> str | None:
        """First form value named ``name``."""
        return next((v for n, v in self.form if n == name), None)


class WebhookCall(_View):
    id: int
    kind: Literal["inbound", "status", "fallback"]
    message_sid: str
    url: str
    method: str
    params: list[tuple[str, str]]
    signature: str
    attempt: int
    status: int | None
    error: str | None

    def param(self, name: str) -> str | None:
        return next((v for n, v in self.params if n == name), None)


class ControlApiError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"emulator control API answered {status}: {body}")
        self.status = status
        self.body = body


class MediaInfo(_View):
    """A media item added with :meth:`EmulatorControl.add_media`."""

    sid: str
    message_sid: str
    account_sid: str
    content_type: str
    size: int
    url: str
    """As Twilio puts it into a webhook: https://api.twilio.com/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…"""
    uri: str
    cdn_url: str


class CdnRequest(_View):
    id: int
    media_sid: str | None
    authorization: bool


class EmulatorControl:
    """Async client for the emulator's /_emulator control API."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> EmulatorControl:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self, method: str, path: str, body: BaseModel | None = None, params: dict[str, str] | None = None
    ) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        payload = body.model_dump(mode="json", by_alias=True) if body is not None else None
        async with self._session.request(
            method, f"{self.base_url}/_emulator{path}", json=payload, params=params
        ) as response:
            text = await response.text()
            if response.status >= 400:
                raise ControlApiError(response.status, text)
            return await response.json() if text else None

    async def console(self, method: str, path: str, **fields: Any) -> Any:
        """A change "in the Twilio Console" (``/_emulator/console``, see :mod:`twilio_emulator.console`):
        only the fields given are sent, so only they change."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        async with self._session.request(method, f"{self.base_url}/_emulator/console{path}", json=fields) as response:
            text = await response.text()
            if response.status >= 400:
                raise ControlApiError(response.status, text)
            return await response.json() if text else None

    # --- state -----------------------------------------------------------------------------------

    async def health(self) -> bool:
        return (await self._call("GET", "/health"))["status"] == "ok"  # type: ignore[no-any-return]

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    async def seed(self, document: SeedDocument) -> dict[str, Any]:
        return await self._call("POST", "/seed", document)  # type: ignore[no-any-return]

    async def create_account(
        self,
        sid: str | None = None,
        auth_token: str | None = None,
        *,
        status: AccountStatus = "active",
        parent_sid: str | None = None,
        friendly_name: str | None = None,
        shared_key: SharedKeySeed | None = None,
    ) -> AccountInfo:
        """Create (or update, when ``sid`` exists) an account; random SID/token when not given."""
        seed = AccountSeed(
            sid=sid,
            auth_token=auth_token,
            status=status,
            parent_sid=parent_sid,
            friendly_name=friendly_name,
            shared_key=shared_key,
        )
        return AccountInfo.model_validate(await self._call("POST", "/accounts", seed))

    async def set_account_status(self, sid: str, status: AccountStatus) -> AccountInfo:
        current = AccountInfo.model_validate(await self._call("GET", f"/accounts/{sid}"))
        seed = AccountSeed(sid=sid, auth_token=current.auth_token, status=status, parent_sid=current.parent_sid)
        return AccountInfo.model_validate(await self._call("POST", "/accounts", seed))

    async def add_service(self, account_sid: str, **fields: Any) -> str:
        """Create a Messaging Service (fields as in :class:`ServiceSeed`); returns its MG SID."""
        seed = ServiceSeed(account_sid=account_sid, **fields)
        return (await self._call("POST", "/services", seed))["sid"]  # type: ignore[no-any-return]

    async def add_phone_number(self, account_sid: str, phone_number: str, **fields: Any) -> dict[str, Any]:
        """Create a number (fields as in :class:`PhoneNumberSeed`); returns its Twilio JSON (``sid`` ...)."""
        seed = PhoneNumberSeed(account_sid=account_sid, phone_number=phone_number, **fields)
        return await self._call("POST", "/phone-numbers", seed)  # type: ignore[no-any-return]

    async def add_short_code(self, account_sid: str, short_code: str, **fields: Any) -> dict[str, Any]:
        """Create a short code (fields as in :class:`ShortCodeSeed`); returns its Twilio JSON."""
        seed = ShortCodeSeed(account_sid=account_sid, short_code=short_code, **fields)
        return await self._call("POST", "/short-codes", seed)  # type: ignore[no-any-return]

    async def add_opt_out(self, sender: str, recipient: str) -> None:
        await self._call("POST", "/opt-outs", OptOutSeed(sender=sender, recipient=recipient))

    async def remove_opt_out(self, sender: str, recipient: str) -> None:
        await self._call("DELETE", "/opt-outs", OptOutSeed(sender=sender, recipient=recipient))

    async def opt_outs(self) -> list[tuple[str, str]]:
        data = await self._call("GET", "/opt-outs")
        return [(o["sender"], o["recipient"]) for o in data["opt_outs"]]

    # --- behaviour -------------------------------------------------------------------------------

    async def set_outcome(
        self,
        to: str = "*",
        status: FinalStatus = "delivered",
        *,
        error_code: int | None = None,
        reject_code: int | None = None,
        duplicate_callbacks: bool = False,
        out_of_order: bool = False,
    ) -> None:
        """How messages to ``to`` end (later rules win); ``reject_code`` rejects the create call."""
        seed = OutcomeSeed(
            to=to,
            status=status,
            error_code=error_code,
            reject_code=reject_code,
            duplicate_callbacks=duplicate_callbacks,
            out_of_order=out_of_order,
        )
        await self._call("POST", "/outcomes", seed)

    async def add_fault(
        self,
        *,
        status: int | None = None,
        latency_ms: int = 0,
        method: str | None = None,
        path_contains: str | None = None,
        count: int | None = None,
        lose_answer: bool = False,
        retry_after_s: int | None = None,
    ) -> None:
        """Inject latency and/or a 429 (``retry_after_s``: its Retry-After) or a 5xx into matching Twilio API
        requests (``count`` times, or forever); ``lose_answer``: the request is handled (a create creates its
        message) but its answer is lost (the connection is dropped)."""
        seed = FaultSeed(
            status=status,
            latency_ms=latency_ms,
            method=method,
            path_contains=path_contains,
            count=count,
            lose_answer=lose_answer,
            retry_after_s=retry_after_s,
        )
        await self._call("POST", "/faults", seed)

    async def set_rate(self, limit: int, *, sender: str = "*", window_s: float = 1.0) -> None:
        """At most ``limit`` message creates per ``window_s`` per sender, then 429/20429."""
        await self._call("POST", "/rates", RateSeed(sender=sender, limit=limit, window_s=window_s))

    async def clear_behaviour(self) -> None:
        for path in ("/outcomes", "/faults", "/rates"):
            await self._call("DELETE", path)

    # --- traffic ---------------------------------------------------------------------------------

    async def inbound(
        self,
        from_: str,
        to: str,
        body: str = "",
        *,
        media: list[tuple[str | None, str]] | None = None,
        extra_params: dict[str, str] | None = None,
        omit_body: bool = False,
    ) -> InboundResult:
        """Simulate a customer SMS/MMS to ``to``; media items are (url, content_type), a None url meaning
        Twilio's own media URL of the message; ``omit_body`` posts no Body field at all."""
        req = InboundRequest.model_validate(
            {
                "from": from_,
                "to": to,
                "body": body,
                "omit_body": omit_body,
                "media": [MediaItem(url=u, content_type=c) for u, c in media or []],
                "extra_params": extra_params or {},
            }
        )
        return InboundResult.model_validate(await self._call("POST", "/inbound", req))

    async def requests(
        self, *, method: str | None = None, path_contains: str | None = None, since_id: int = 0
    ) -> list[ApiRequest]:
        """Twilio API requests the emulator received (oldest first)."""
        params = {"since_id": str(since_id)}
        if method:
            params["method"] = method
        if path_contains:
            params["path_contains"] = path_contains
        data = await self._call("GET", "/requests", params=params)
        return [ApiRequest.model_validate(r) for r in data["requests"]]

    async def webhooks(
        self, *, kind: str | None = None, message_sid: str | None = None, url_contains: str | None = None
    ) -> list[WebhookCall]:
        """Webhooks the emulator posted, with the status the target answered (oldest first)."""
        params = {
            k: v for k, v in {"kind": kind, "message_sid": message_sid, "url_contains": url_contains}.items() if v
        }
        data = await self._call("GET", "/webhooks", params=params)
        return [WebhookCall.model_validate(w) for w in data["webhooks"]]

    async def messages(self, *, to: str | None = None, from_: str | None = None) -> list[dict[str, Any]]:
        """Every message the emulator holds (its Twilio JSON), optionally only those to ``to`` / from ``from_``."""
        params = {k: v for k, v in (("to", to), ("from", from_)) if v is not None}
        data = await self._call("GET", "/messages", params=params)
        return list(data["messages"])

    async def message(self, sid: str) -> dict[str, Any]:
        """A message's Twilio JSON, without credentials."""
        return await self._call("GET", f"/messages/{sid}")  # type: ignore[no-any-return]

    async def add_media(
        self,
        account_sid: str,
        *,
        message_sid: str | None = None,
        content_type: str = "image/jpeg",
        content: bytes | None = None,
        size: int | None = None,
        filename: str | None = None,
        redirect_url: str | None = None,
        chunked: bool = False,
    ) -> MediaInfo:
        """Add a media item to a message (created as a received message when unknown); ``content`` or
        ``size`` filler bytes. ``redirect_url`` replaces the CDN URL in the API's redirect."""
        seed = MediaSeed(
            account_sid=account_sid,
            message_sid=message_sid,
            content_type=content_type,
            content_base64=base64.b64encode(content).decode("ascii") if content is not None else None,
            size=size,
            filename=filename,
            redirect_url=redirect_url,
            chunked=chunked,
        )
        return MediaInfo.model_validate(await self._call("POST", "/media", seed))

    async def cdn_requests(self) -> list[CdnRequest]:
        """Requests the media CDN received, oldest first, each with whether it carried Authorization."""
        data = await self._call("GET", "/cdn-requests")
        return [CdnRequest.model_validate(r) for r in data["requests"]]

    # --- held webhooks and token rotation ---------------------------------------------------------

    async def hold_webhooks(
        self, kind: str, *, to: str | None = None, message_sid: str | None = None, count: int | None = None
    ) -> None:
        """Hold back the next webhooks of ``kind`` (``inbound``/``status``): stored at Twilio, not posted."""
        await self._call(
            "POST",
            "/holds",
            HoldRequest.model_validate({"kind": kind, "to": to, "message_sid": message_sid, "count": count}),
        )

    async def held_webhooks(self) -> list[dict[str, Any]]:
        """The webhooks held back so far (not yet released)."""
        return list((await self._call("GET", "/holds"))["held"])

    async def release_webhooks(
        self, *, message_sid: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Post held webhooks now; what their targets answered."""
        body = ReleaseRequest.model_validate({"message_sid": message_sid, "kind": kind})
        return list((await self._call("POST", "/holds/release", body))["released"])

    async def clear_holds(self) -> None:
        await self._call("DELETE", "/holds")

    async def _auth_tokens(self, method: str, path: str, account_sid: str, token: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        basic = base64.b64encode(f"{account_sid}:{token}".encode()).decode("ascii")
        headers = {"Authorization": f"Basic {basic}"}
        async with self._session.request(method, f"{self.base_url}/v1/AuthTokens{path}", headers=headers) as response:
            text = await response.text()
            if response.status >= 400:
                raise ControlApiError(response.status, text)
            return await response.json() if text else None

    async def create_secondary_auth_token(self, account_sid: str, auth_token: str) -> str:
        """Twilio's ``POST /v1/AuthTokens/Secondary`` with the account's credentials: the new secondary token."""
        return str((await self._auth_tokens("POST", "/Secondary", account_sid, auth_token))["secondary_auth_token"])

    async def promote_auth_token(self, account_sid: str, auth_token: str) -> str:
        """Twilio's ``POST /v1/AuthTokens/Promote``: the secondary token becomes primary, the old one is gone."""
        return str((await self._auth_tokens("POST", "/Promote", account_sid, auth_token))["auth_token"])

    async def wait_for_webhooks(
        self,
        predicate: Callable[[list[WebhookCall]], bool],
        *,
        kind: str | None = None,
        message_sid: str | None = None,
        timeout_s: float = 10.0,
        interval_s: float = 0.02,
    ) -> list[WebhookCall]:
        """Poll the webhook log until ``predicate(calls)`` holds; TimeoutError at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            calls = await self.webhooks(kind=kind, message_sid=message_sid)
            if predicate(calls):
                return calls
            if loop.time() >= deadline:
                raise TimeoutError(f"webhook condition not met within {timeout_s}s; seen {len(calls)} calls")
            await asyncio.sleep(interval_s)

    async def wait_for_status(self, sid: str, statuses: set[str], timeout_s: float = 10.0) -> dict[str, Any]:
        """Poll a message until its status is one of ``statuses``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            message = await self.message(sid)
            if message["status"] in statuses:
                return message
            if loop.time() >= deadline:
                raise TimeoutError(f"message {sid} still {message['status']} after {timeout_s}s")
            await asyncio.sleep(0.02)


@dataclass(frozen=True)
class RunningEmulator:
    base_url: str
    control: EmulatorControl
    app: web.Application


@asynccontextmanager
async def running_emulator(
    settings: EmulatorSettings | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[RunningEmulator]:
    """Start the emulator on a free port of ``host`` for the duration of the block."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0)
        await site.start()
        port = runner.addresses[0][1]
        base_url = f"http://{host}:{port}"
        async with EmulatorControl(base_url) as control:
            yield RunningEmulator(base_url=base_url, control=control, app=app)
    finally:
        await runner.cleanup()

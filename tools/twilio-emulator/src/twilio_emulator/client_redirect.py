"""Point the real twilio-python 9.x client at the emulator (or any Twilio-compatible base URL).

Usage::

    from twilio.rest import Client
    from twilio_emulator.client_redirect import async_http_client, sync_http_client

    client = Client(account_sid, auth_token, http_client=sync_http_client("http://127.0.0.1:8099"))
    client.incoming_phone_numbers.list(phone_number="+15005550006")

    http = async_http_client("http://127.0.0.1:8099")
    aclient = Client(account_sid, auth_token, http_client=http)
    await aclient.messages.create_async(to=..., from_=..., body=...)
    await http.close()

Every request to ``https://<anything>.twilio.com`` (api, messaging, and the region/edge variants the SDK
builds from TWILIO_REGION / TWILIO_EDGE) is sent to ``base_url`` with the same path and query instead.
Other URLs pass through unchanged. Requires the ``twilio`` package (extra ``byosms-twilio-emulator[client]``).

Why a custom async client: twilio's ``AsyncTwilioHttpClient`` ignores its timeout and passes ``auth=`` to
aiohttp, which aiohttp 3.14 deprecates (an error under ``-W error``). This subclass sends the Basic
credentials as a header, form-encodes repeated fields (``MediaUrl``) itself and applies a real timeout.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0


def rewrite_url(url: str, base_url: str) -> str:
    """``https://api.twilio.com/2010-04-01/...`` -> ``<base_url>/2010-04-01/...`` (path and query kept)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host != "twilio.com" and not host.endswith(".twilio.com"):
        return url
    rewritten = base_url.rstrip("/") + parts.path
    return f"{rewritten}?{parts.query}" if parts.query else rewritten


class RedirectingHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Sync twilio http client (requests) that sends Twilio API calls to ``base_url``."""

    def __init__(self, base_url: str, timeout: float | None = DEFAULT_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(timeout=timeout, **kwargs)
        self.base_url = base_url

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return super().request(
            method,
            rewrite_url(url, self.base_url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


class RedirectingAsyncHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """Async twilio http client (aiohttp) that sends Twilio API calls to ``base_url``.

    The aiohttp session is created on first use, inside the running loop. Close it with
    ``await client.close()`` or ``async with``.
    """

    def __init__(self, base_url: str, timeout: float | None = DEFAULT_TIMEOUT_S) -> None:
        # pool_connections=False: the parent must not build a ClientSession outside a running loop.
        super().__init__(pool_connections=False, timeout=timeout)
        self.base_url = base_url
        self._own_session: aiohttp.ClientSession | None = None

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - signature fixed by twilio's AsyncHttpClient
        allow_redirects: bool = False,
    ) -> Response:
        if self._own_session is None or self._own_session.closed:
            self._own_session = aiohttp.ClientSession()
        send_headers = dict(headers or {})
        if auth is not None:
            send_headers["Authorization"] = basic_auth_header(auth[0], auth[1])
        target = rewrite_url(url, self.base_url)
        if params:
            target += ("&" if "?" in target else "?") + urlencode(_clean(params), doseq=True)
        body: str | None = None
        if data:
            if send_headers.get("Content-Type", "").startswith("application/json"):
                body = json.dumps(data)
            else:
                body = urlencode(_clean(data), doseq=True)
                send_headers["Content-Type"] = "application/x-www-form-urlencoded"
        limit = timeout if timeout is not None else self.timeout
        async with self._own_session.request(
            method.upper(),
            target,
            data=body,
            headers=send_headers,
            timeout=aiohttp.ClientTimeout(total=limit),
            allow_redirects=allow_redirects,
        ) as response:
            text = await response.text()
            return Response(response.status, text, response.headers)

    async def close(self) -> None:
        if self._own_session is not None:
            await self._own_session.close()
            self._own_session = None

    async def __aenter__(self) -> RedirectingAsyncHttpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def basic_auth_header(username: str, password: str) -> str:
    """``Basic base64(user:password)`` (aiohttp.BasicAuth is deprecated in aiohttp 3.14)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _clean(values: dict[str, object]) -> dict[str, Any]:
    """Drop unset values the SDK may leave in (it normally strips ``values.unset`` itself)."""
    return {k: v for k, v in values.items() if v is not None}


def sync_http_client(base_url: str, timeout: float | None = DEFAULT_TIMEOUT_S) -> RedirectingHttpClient:
    """An ``http_client`` for ``twilio.rest.Client`` that talks to ``base_url`` (sync calls)."""
    return RedirectingHttpClient(base_url, timeout=timeout)


def async_http_client(base_url: str, timeout: float | None = DEFAULT_TIMEOUT_S) -> RedirectingAsyncHttpClient:
    """An ``http_client`` for ``twilio.rest.Client`` that talks to ``base_url`` (``*_async`` calls)."""
    return RedirectingAsyncHttpClient(base_url, timeout=timeout)

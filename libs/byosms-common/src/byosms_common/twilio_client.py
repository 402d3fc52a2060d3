"""The generic part of talking to Twilio, shared by provisioning and routing.

- :class:`TwilioClients`: one shared async HTTP session for all tenants; a cheap
  ``twilio.rest.Client`` per call carries the tenant's Account SID and Auth Token.
- ``BYOSMS_TWILIO_API_BASE`` (``api_base``) redirects every ``https://*.twilio.com`` URL to a base URL
  of our choice (the emulator in tests and the local stack).
- :meth:`TwilioClients.run` runs one operation under an explicit deadline (``AsyncTwilioHttpClient``
  ignores its own timeout) and turns every failure into a :class:`TwilioFailure` that says what is
  known: Twilio's HTTP status and error code, whether the request never reached Twilio, and a 429's
  ``Retry-After``.
- :func:`retry_with_backoff`: tries an operation again with exponential backoff and jitter while the
  failure may pass, within a bounded time.

Which of our error codes a failure becomes is each service's business (provisioning and routing
map differently). Credentials never appear in errors or logs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from byosms_common.backoff import Backoff as Backoff  # re-exported: callers pace with it
from byosms_common.backoff import retry

log = logging.getLogger(__name__)

T = TypeVar("T")


class FailureKind(StrEnum):
    """What is known about a failed Twilio call."""

    ANSWERED = "answered"
    """Twilio answered with an error (``status``/``code`` set)."""
    UNREACHABLE = "unreachable"
    """The request never reached Twilio (no connection): nothing was done there."""
    NO_ANSWER = "no_answer"
    """The deadline passed or the connection broke after the request may have been sent: Twilio may
    or may not have acted on it."""


class TwilioFailure(Exception):
    """A failed Twilio call: Twilio's HTTP status and error code when it answered."""

    def __init__(
        self, kind: FailureKind, *, status: int | None = None, code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(kind.value, status, code)
        self.kind = kind
        self.status = status
        self.code = code
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"twilio {self.kind} status={self.status} code={self.code}"


def _code_in_body(text: str) -> int | None:
    try:
        body = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


def classify(exc: BaseException, *, retry_after: float | None = None, creates: bool = False) -> TwilioFailure:
    """What ``exc`` (raised by a Twilio SDK call) says about the call (``retry_after``: a 429's hint).

    ``creates``: the call creates something (a message). An exception that is not an answer from
    Twilio (e.g. a 201 whose body could not be read) then means NO_ANSWER: Twilio may have acted.
    """
    if isinstance(exc, TwilioFailure):
        return exc
    if isinstance(exc, TwilioRestException):
        status, code = exc.status, exc.code
    elif isinstance(exc, TwilioException) and len(exc.args) > 1 and hasattr(exc.args[1], "status_code"):
        # list()/page() failures carry the raw response as the second argument (twilio-facts 5.8).
        response = exc.args[1]
        status, code = int(response.status_code), _code_in_body(str(getattr(response, "text", "")))
    elif isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return TwilioFailure(FailureKind.UNREACHABLE)
    elif isinstance(exc, TimeoutError | aiohttp.ClientError | OSError):
        return TwilioFailure(FailureKind.NO_ANSWER)
    else:
        status, code = getattr(exc, "status", None), getattr(exc, "code", None)
        if not isinstance(status, int):
            status = None
        if not isinstance(code, int):
            code = None
        if creates and status is None:
            return TwilioFailure(FailureKind.NO_ANSWER)
    return TwilioFailure(
        FailureKind.ANSWERED, status=status, code=code, retry_after=retry_after if status == 429 else None
    )


def redirect_url(url: str, api_base: str) -> str:
    """``url`` with a ``*.twilio.com`` scheme and host replaced by ``api_base`` (path and query kept)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not (host == "twilio.com" or host.endswith(".twilio.com")):
        return url
    base = urlsplit(api_base)
    path = base.path.rstrip("/") + parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class _CallNotes:
    """What the HTTP client saw during one call (shared with the tasks the call spawns)."""

    retry_after: float | None = None


_CALL_NOTES: ContextVar[_CallNotes | None] = ContextVar("byosms_twilio_call_notes", default=None)


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's async client, sending Basic auth as a header, optionally redirected to ``api_base``.

    Sending the header ourselves avoids aiohttp's deprecated ``auth=`` argument and keeps the
    credentials out of the SDK's ``_test_only_last_request`` record.
    """

    def __init__(self, api_base: str | None) -> None:
        super().__init__(pool_connections=True)
        self._api_base = api_base

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's signature; deadlines are set by the caller
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        target = redirect_url(url, self._api_base) if self._api_base else url
        sent_headers = dict(headers or {})
        if auth is not None:
            pair = f"{auth[0]}:{auth[1]}".encode()
            sent_headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        async with self.session.request(
            method.upper(),
            target,
            params=params,
            data=data,
            headers=sent_headers,
            allow_redirects=allow_redirects,
        ) as response:
            text = await response.text()
            if response.status == 429:
                notes = _CALL_NOTES.get()
                if notes is not None:
                    notes.retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return TwilioResponse(response.status, text, response.headers)


class TwilioClients:
    """Twilio clients for tenant accounts over one shared HTTP session; calls run under a deadline."""

    def __init__(self, *, api_base: str | None, timeout_seconds: float) -> None:
        self._api_base = api_base
        self._timeout = timeout_seconds
        self._http: _HttpClient | None = None

    async def start(self) -> None:
        """Open the shared HTTP session (must run inside the event loop)."""
        if self._http is None:
            self._http = _HttpClient(self._api_base)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def client(self, account_sid: str, auth_token: str, *, subaccount_sid: str | None = None) -> Any:
        """A Twilio client for one tenant account, sharing the session."""
        if self._http is None:
            raise RuntimeError(f"{type(self).__name__}.start() was not awaited")
        # A non-empty environment mapping keeps TWILIO_REGION/TWILIO_EDGE from rewriting hosts
        # (an empty one falls back to os.environ; twilio-facts 5.6).
        return Client(
            account_sid,
            auth_token,
            account_sid=subaccount_sid,
            http_client=self._http,
            environment={"BYOSMS": "1"},
        )

    async def run(self, what: str, operation: Callable[[], Awaitable[T]], *, creates: bool = False) -> T:
        """Run one Twilio operation under the deadline; any failure raises a :class:`TwilioFailure`
        (``creates``: the operation creates something, see :func:`classify`)."""
        notes = _CallNotes()
        token = _CALL_NOTES.set(notes)
        try:
            return await asyncio.wait_for(operation(), self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is classified
            failure = classify(exc, retry_after=notes.retry_after, creates=creates)
            log.warning("twilio %s failed: %s (%s)", what, failure, type(exc).__name__)
            raise failure from None
        finally:
            _CALL_NOTES.reset(token)


async def retry_with_backoff(
    operation: Callable[[], Awaitable[T]],
    *,
    retryable: Callable[[Exception], bool],
    within_seconds: float,
    backoff: Backoff | None = None,
    what: str = "twilio call",
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] | None = None,
) -> T:
    """Run ``operation``; while it fails with an error ``retryable`` accepts, wait (backoff with
    jitter, at least a 429's ``retry_after``) and try again, for at most ``within_seconds`` in all.

    When the next wait would pass that bound, the last error is raised at once instead of sleeping
    into it.
    """
    now = clock or asyncio.get_running_loop().time
    return await retry(
        operation,
        retryable=retryable,
        backoff=backoff,
        deadline=now() + within_seconds,
        wait_at_least=_retry_after,
        what=what,
        sleep=sleep,
        clock=now,
    )


def _retry_after(exc: Exception) -> float | None:
    asked = getattr(exc, "retry_after", None)
    return float(asked) if isinstance(asked, int | float) else None

"""Posts signed webhooks (inbound messages, status callbacks) the way Twilio does.

- The '#...' connection-override fragment is removed before sending and signing; its keys
  (ct, rt, tt in ms; rc retry count; rp retry policy ct/rt/4xx/5xx/all) are honoured.
- POST sends the exact form fields (empty ones included); GET appends them to the query string and signs
  the resulting URL only.
- The URL is sent byte-for-byte (no re-quoting) because the signature covers it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import aiohttp
from yarl import URL

from twilio_emulator.signing import (
    SETTINGS_HEADER,
    SIGNATURE_HEADER,
    compute_signature,
    fragment_of,
    settings_header_value,
    strip_fragment,
)
from twilio_emulator.state import Account, Store, WebhookKind, WebhookRecord, utcnow

log = logging.getLogger(__name__)

USER_AGENT = "TwilioProxy/1.1"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"


@dataclass(frozen=True)
class Overrides:
    """Connection overrides from a webhook URL fragment (defaults as documented by Twilio)."""

    connect_ms: int = 5000
    read_ms: int = 15000
    total_ms: int = 15000
    retries: int = 1
    policy: frozenset[str] = frozenset({"ct"})

    @classmethod
    def parse(cls, fragment: str) -> Overrides:
        values = dict(parse_qsl(fragment, keep_blank_values=True))

        def num(key: str, default: int, low: int, high: int) -> int:
            try:
                return min(max(int(values[key]), low), high)
            except (KeyError, ValueError):
                return default

        policy = frozenset(p.strip() for p in values.get("rp", "ct").split(",") if p.strip())
        return cls(
            connect_ms=num("ct", 5000, 1, 10000),
            read_ms=num("rt", 15000, 1, 15000),
            total_ms=num("tt", 15000, 1, 15000),
            retries=num("rc", 1, 0, 5),
            policy=policy or frozenset({"ct"}),
        )

    def should_retry(self, failure: str) -> bool:
        return "all" in self.policy or failure in self.policy


@dataclass(frozen=True)
class Delivery:
    """Outcome of one webhook delivery (after retries)."""

    url: str
    status: int | None
    error: str | None
    records: tuple[WebhookRecord, ...]

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400


class WebhookPoster:
    """Owns the aiohttp ClientSession used for all webhooks; ``start``/``close`` bound its lifetime."""

    def __init__(self, store: Store, max_timeout_s: float = 15.0) -> None:
        self._store = store
        self._max_timeout_s = max_timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # No cookie jar: webhooks are independent requests, like Twilio's.
        self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def sign(self, account: Account, url: str, params: list[tuple[str, str]]) -> dict[str, str]:
        """Signature headers for ``url``/``params`` (SharedKey when the account has one, else auth token)."""
        if account.shared_key is not None:
            key = account.shared_key
            return {
                SIGNATURE_HEADER: compute_signature(url, params, key.secret, key.algorithm),
                SETTINGS_HEADER: settings_header_value(key.id, key.algorithm),
            }
        return {SIGNATURE_HEADER: compute_signature(url, params, account.auth_token)}

    async def deliver(
        self,
        *,
        kind: WebhookKind,
        account: Account,
        message_sid: str,
        url: str,
        method: str,
        params: list[tuple[str, str]],
    ) -> Delivery:
        if self._session is None:
            raise RuntimeError("WebhookPoster not started")
        overrides = Overrides.parse(fragment_of(url))
        target = strip_fragment(url)
        method = method.upper() if method.upper() in {"GET", "POST"} else "POST"
        if method == "GET":
            sep = "&" if "?" in target else "?"
            target = f"{target}{sep}{urlencode(params)}" if params else target
            signed_params: list[tuple[str, str]] = []
            body: str | None = None
        else:
            signed_params = params
            body = urlencode(params)
        headers = {
            "User-Agent": USER_AGENT,
            IDEMPOTENCY_HEADER: f"{message_sid}-{secrets.token_hex(8)}",
            **self.sign(account, target, signed_params),
        }
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"

        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(overrides.total_ms / 1000, self._max_timeout_s)
        records: list[WebhookRecord] = []
        status: int | None = None
        error: str | None = None
        for attempt in range(1, overrides.retries + 2):
            remaining = deadline - loop.time()
            if remaining <= 0:
                error = error or "total timeout"
                break
            record = WebhookRecord(
                id=self._store.next_id(),
                at=utcnow(),
                kind=kind,
                message_sid=message_sid,
                url=target,
                method=method,
                params=list(params),
                signature=headers[SIGNATURE_HEADER],
                attempt=attempt,
            )
            self._store.webhooks.append(record)
            records.append(record)
            status, error, failure = await self._attempt(method, target, body, headers, overrides, remaining)
            record.status, record.error = status, error
            if failure is None or not overrides.should_retry(failure):
                break
        log.info("webhook %s %s -> %s (%s)", kind, message_sid, status, error)
        return Delivery(url=target, status=status, error=error, records=tuple(records))

    async def _attempt(
        self,
        method: str,
        url: str,
        body: str | None,
        headers: dict[str, str],
        overrides: Overrides,
        remaining_s: float,
    ) -> tuple[int | None, str | None, str | None]:
        """(status, error text, failure class for the retry policy or None when successful)."""
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(
            total=remaining_s, sock_connect=overrides.connect_ms / 1000, sock_read=overrides.read_ms / 1000
        )
        try:
            async with self._session.request(
                method,
                URL(url, encoded=True),
                data=body.encode("utf-8") if body is not None else None,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            return None, f"connect: {type(exc).__name__}", "ct"
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            return None, f"read: {type(exc).__name__}", "rt"
        except aiohttp.ClientError as exc:
            return None, f"http: {type(exc).__name__}", "rt"
        if status >= 500:
            return status, None, "5xx"
        if status >= 400:
            return status, None, "4xx"
        return status, None, None

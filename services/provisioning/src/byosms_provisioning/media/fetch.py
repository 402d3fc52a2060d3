"""Fetching one media item from Twilio (the I/O edge of the media endpoint).

1. ``GET`` the item's API URL with the tenant's Basic credentials: the only request that carries them.
2. Twilio answers ``307`` to a short-lived CDN URL (possibly more than once). Each redirect is
   followed by hand, **without** ``Authorization``, only to https hosts in
   ``BYOSMS_PROVISIONING_MEDIA_REDIRECT_HOSTS``, at most ``..._MAX_REDIRECTS`` times.
3. The final answer must be a 200 with an allowed content type and at most ``..._MAX_BYTES``:
   a declared ``Content-Length`` above the limit is refused before a byte is read; without one the
   body is read up to the limit and refused past it.

Nothing of the URLs' queries (pre-signed CDN URLs carry a signature) or the credentials is logged.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp

from byosms_common.errors import ByosmsError, NotFound, VendorError
from byosms_provisioning.media.urls import MediaRef, api_url, redirect_allowed, redirect_host
from byosms_provisioning.refusal_log import REFUSALS
from byosms_provisioning.settings import ProvisioningSettings

log = logging.getLogger(__name__)

REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024


def media_type(content_type_header: str | None) -> str:
    """The bare, lower-case media type of a Content-Type header (parameters dropped)."""
    return (content_type_header or "").split(";", 1)[0].strip().lower()


@dataclass
class FetchedMedia:
    """An accepted answer: its type and size (when declared), and its body to stream."""

    content_type: str
    content_length: int | None
    response: aiohttp.ClientResponse
    prefix: bytes = b""
    """Bytes already read (the whole body when it came without a Content-Length)."""

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.prefix:
            yield self.prefix
        if self.content_length is None:
            return
        async for chunk in self.response.content.iter_chunked(CHUNK_BYTES):
            yield chunk

    def release(self) -> None:
        self.response.release()


class MediaFetcher:
    """One HTTP session for media fetches (no cookies, no proxies from the environment)."""

    def __init__(self) -> None:
        self._settings = ProvisioningSettings.model_construct()
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(1)

    async def start(self, settings: ProvisioningSettings) -> None:
        """Take the service's settings and open the session (inside the event loop)."""
        if self._session is None:
            self._settings = settings
            self._slots = asyncio.Semaphore(settings.media_max_concurrent)
            timeout = aiohttp.ClientTimeout(total=settings.media_timeout_seconds, connect=10)
            self._session = aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.DummyCookieJar())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def busy(self) -> bool:
        return self._slots.locked()

    @property
    def slots(self) -> asyncio.Semaphore:
        """Held by the caller for the whole fetch and stream."""
        return self._slots

    async def fetch(self, ref: MediaRef, auth_token: str) -> FetchedMedia:
        """The accepted answer for ``ref`` (release it after streaming), or a ``ByosmsError``."""
        if self._session is None:
            raise RuntimeError("MediaFetcher.start() was not awaited")
        settings = self._settings
        url = api_url(ref, settings.twilio_api_base)
        pair = f"{ref.account_sid}:{auth_token}".encode()
        headers: dict[str, str] = {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        for hop in range(settings.media_max_redirects + 1):
            try:
                response = await self._session.get(url, headers=headers, allow_redirects=False)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("media %s: %s at hop %d", ref.media_sid, type(exc).__name__, hop)
                raise VendorError("vendor_unavailable", retryable=True) from None
            # Credentials go with the first request only, never to where it is redirected.
            headers = {}
            if response.status in REDIRECTS:
                location = response.headers.get("Location", "")
                response.release()
                target = urljoin(url, location)
                if not redirect_allowed(
                    target, settings.media_redirect_hosts, allow_http=settings.media_redirect_allow_http
                ):
                    log.warning("media %s: redirect to %s refused", ref.media_sid, redirect_host(target))
                    raise ByosmsError("media_redirect_refused")
                url = target
                continue
            return await self._accept(ref, response, redirected=hop > 0)
        log.warning("media %s: more than %d redirects", ref.media_sid, settings.media_max_redirects)
        raise ByosmsError("media_redirect_refused")

    async def _accept(self, ref: MediaRef, response: aiohttp.ClientResponse, *, redirected: bool) -> FetchedMedia:
        settings = self._settings
        status = response.status
        if status != 200:
            response.release()
            if status == 404:
                # Anyone may ask for media SIDs that don't exist: noted, rate limited.
                log.info("media %s: Twilio answered 404", ref.media_sid)
                REFUSALS.note("media_not_found")
                raise NotFound("media_not_found")
            log.warning("media %s: Twilio answered %d", ref.media_sid, status)
            if status in (401, 403) and not redirected:
                raise VendorError("credentials_rejected")
            if status in (401, 403):
                # The CDN refused its own (pre-signed, short-lived) URL: a new request gets a fresh one.
                raise VendorError("vendor_unavailable", retryable=True)
            if status == 429 or status >= 500:
                raise VendorError("vendor_unavailable", retryable=True)
            raise VendorError("vendor_rejected", twilio_code=str(status))
        content_type = media_type(response.headers.get("Content-Type"))
        if content_type not in {t.lower() for t in settings.media_allowed_types}:
            response.release()
            log.info("media %s: content type %s refused", ref.media_sid, content_type[:80] or "(none)")
            REFUSALS.note("media_type_not_allowed")
            raise ByosmsError("media_type_not_allowed", content_type=content_type[:80] or "(none)")
        limit = settings.media_max_bytes
        declared = response.content_length
        if declared is not None and declared > limit:
            response.release()
            log.info("media %s: %d bytes refused (limit %d)", ref.media_sid, declared, limit)
            REFUSALS.note("media_too_large")
            raise ByosmsError("media_too_large", limit=str(limit))
        if declared is not None:
            return FetchedMedia(content_type, declared, response)
        # No length declared: read up to the limit before answering, so an oversized item is refused whole.
        body = bytearray()
        try:
            async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                body += chunk
                if len(body) > limit:
                    log.info("media %s: more than %d bytes refused", ref.media_sid, limit)
                    REFUSALS.note("media_too_large")
                    raise ByosmsError("media_too_large", limit=str(limit))
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("media %s: %s while reading", ref.media_sid, type(exc).__name__)
            raise VendorError("vendor_unavailable", retryable=True) from None
        finally:
            response.release()
        return FetchedMedia(content_type, None, response, prefix=bytes(body))

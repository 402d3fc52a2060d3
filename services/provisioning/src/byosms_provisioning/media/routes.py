"""``GET /api/v2/sms/media?url=…[&integration_id=…]``: an inbound MMS media item, fetched through byosms."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from byosms_common.errors import ByosmsError
from byosms_provisioning import auth
from byosms_provisioning.context import CONTEXT, ServiceContext, context_of
from byosms_provisioning.integrations.model import INTEGRATION_ID
from byosms_provisioning.media import service
from byosms_provisioning.media.fetch import MediaFetcher
from byosms_provisioning.problems import parse_query

log = logging.getLogger(__name__)

PATH = "/api/v2/sms/media"
FETCHER = web.AppKey("byosms_provisioning.media_fetcher", MediaFetcher)


class MediaQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1, max_length=500, description="MediaUrlN of the inbound message")
    integration_id: str | None = Field(default=None, pattern=INTEGRATION_ID.pattern)


async def get_media(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    principal = await auth.authenticate(request, ctx.verifier, auth.PHONE_NUMBER_VIEW)
    query = parse_query(request, MediaQuery)
    service.media_ref(ctx, query.url)  # a URL that is not Twilio's is refused before anything else
    fetcher = request.app[FETCHER]
    if fetcher.busy():
        raise ByosmsError("media_busy", retryable=True)
    async with fetcher.slots:
        ref, media = await service.fetch(ctx, fetcher, principal.organization_id, query.url, query.integration_id)
        try:
            response = web.StreamResponse(
                headers={
                    "Content-Type": media.content_type,
                    "Cache-Control": "private, no-store",
                    "X-Content-Type-Options": "nosniff",
                    "Content-Disposition": f'attachment; filename="{ref.media_sid}"',
                }
            )
            if media.content_length is not None:
                response.content_length = media.content_length
            await response.prepare(request)
            sent = 0
            try:
                async for chunk in media.chunks():
                    sent += len(chunk)
                    await response.write(chunk)
            except (aiohttp.ClientError, TimeoutError) as exc:
                # The answer has begun: no problem document can follow. The connection is closed so the
                # caller sees a short body, not a complete one.
                reason = type(exc).__name__
                log.warning("media %s: Twilio's body broke off after %d bytes (%s)", ref.media_sid, sent, reason)
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write_eof()
            log.info("media %s served: %d bytes of %s", ref.media_sid, sent, media.content_type)
            return response
        finally:
            media.release()


def register(app: web.Application, ctx: ServiceContext | None) -> None:
    del ctx  # the settings are read when the app starts (the OpenAPI test registers without a context)
    fetcher = MediaFetcher()
    app[FETCHER] = fetcher

    async def lifetime(started: web.Application) -> AsyncIterator[None]:
        await fetcher.start(started[CONTEXT].settings)
        yield
        await fetcher.close()

    app.cleanup_ctx.append(lifetime)
    app.router.add_get(PATH, get_media)

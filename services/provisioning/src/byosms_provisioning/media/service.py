"""Serving one inbound MMS media item to a platform service: which URL, whose credentials, what comes back.

The caller names the media URL it got in the routed event (and optionally the integration). The URL
must be a media URL of Twilio's API (:func:`~byosms_provisioning.media.urls.parse_media_url`);
anything else is refused (400) and never requested. Its account must be one of the caller's
organization's integrations: otherwise the item is "not found" (404), like another organization's
resource anywhere in this API.
"""

from __future__ import annotations

import logging

from byosms_common.crypto import CryptoError, associated_data, open_sealed
from byosms_common.errors import ByosmsError, InvalidInput, NotFound
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.integrations.model import AUTH_TOKEN_FIELD
from byosms_provisioning.media import repo
from byosms_provisioning.media.fetch import FetchedMedia, MediaFetcher
from byosms_provisioning.media.urls import MediaRef, parse_media_url

log = logging.getLogger(__name__)


def media_ref(ctx: ServiceContext, url: str) -> MediaRef:
    ref = parse_media_url(url, ctx.settings.twilio_api_base)
    if ref is None:
        raise InvalidInput("media_url_not_allowed")
    return ref


async def fetch(
    ctx: ServiceContext, fetcher: MediaFetcher, organization_id: str, url: str, integration_id: str | None
) -> tuple[MediaRef, FetchedMedia]:
    """The accepted media item (the caller streams and releases it); the caller holds a fetch slot."""
    ref = media_ref(ctx, url)
    found = await repo.credentials_for(ctx.pool, organization_id, ref.account_sid, integration_id)
    if found is None:
        raise NotFound("media_not_found")
    try:
        token = open_sealed(
            ctx.keyring, found.auth_token, associated_data(organization_id, found.integration_id, AUTH_TOKEN_FIELD)
        )
    except CryptoError as exc:
        log.error("cannot open the auth token of integration %s: %s", found.integration_id, type(exc).__name__)
        raise ByosmsError("internal_error") from None
    return ref, await fetcher.fetch(ref, token)

"""Messages' Media resource (v2010) and the media "CDN" its redirect points at.

- ``GET .../Messages/{sid}/Media.json``: the message's media list (``media_list``, v2010 paging);
- ``GET``/``DELETE .../Messages/{sid}/Media/{ME}.json``: one item's metadata / delete it;
- ``GET .../Messages/{sid}/Media/{ME}`` (no extension): like Twilio, a ``307`` redirect to a
  short-lived CDN URL, here ``{origin}/cdn/media/{token}`` (or the item's seeded ``redirect_url``).
  Basic auth is required here, as for every API path;
- ``GET /cdn/media/{token}``: the bytes, **without** authentication. Each request is recorded with
  whether it carried an ``Authorization`` header (``GET /_emulator/cdn-requests``), so a test can
  prove credentials were not forwarded on the redirect.

Media items are added with the control API (``POST /_emulator/media``, :mod:`twilio_emulator.control_media`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from twilio_emulator.context import ctx_of
from twilio_emulator.errors import TwilioApiError
from twilio_emulator.render import V2010, page_params, rfc2822, v2010_page
from twilio_emulator.routes_api import _target_account
from twilio_emulator.state import CdnRequestRecord, StoredMedia, utcnow

routes = web.RouteTableDef()

CDN_PREFIX = "/cdn/media/"
_MESSAGE = V2010 + "/Accounts/{account_sid}/Messages/{message_sid}"
_MEDIA_SID = "{media_sid:ME[0-9a-f]{32}}"


def media_uri(item: StoredMedia) -> str:
    """The item's path as Twilio names it (relative to https://api.twilio.com), without extension."""
    return f"{V2010}/Accounts/{item.account_sid}/Messages/{item.message_sid}/Media/{item.sid}"


def media_json(item: StoredMedia) -> dict[str, Any]:
    return {
        "account_sid": item.account_sid,
        "content_type": item.content_type,
        "date_created": rfc2822(item.date_created),
        "date_updated": rfc2822(item.date_updated),
        "parent_sid": item.message_sid,
        "sid": item.sid,
        "uri": media_uri(item) + ".json",
    }


def _message_media(request: web.Request) -> list[StoredMedia]:
    account = _target_account(request)
    store = ctx_of(request).store
    message = store.messages.get(request.match_info["message_sid"])
    if message is None or message.account_sid != account.sid:
        raise TwilioApiError(20404, path=request.path)
    return [m for m in store.media.values() if m.message_sid == message.sid]


def _item(request: web.Request) -> StoredMedia:
    sid = request.match_info["media_sid"]
    item = next((m for m in _message_media(request) if m.sid == sid), None)
    if item is None:
        raise TwilioApiError(20404, path=request.path)
    return item


@routes.get(_MESSAGE + "/Media.json")
async def list_media(request: web.Request) -> web.Response:
    items = sorted(_message_media(request), key=lambda m: m.date_created, reverse=True)
    page, size = page_params(dict(request.query))
    body = v2010_page("media_list", [media_json(m) for m in items], request.path, {}, page, size)
    return web.json_response(body)


@routes.get(_MESSAGE + "/Media/" + _MEDIA_SID + ".json")
async def fetch_media(request: web.Request) -> web.Response:
    return web.json_response(media_json(_item(request)))


@routes.delete(_MESSAGE + "/Media/" + _MEDIA_SID + ".json")
async def delete_media(request: web.Request) -> web.Response:
    item = _item(request)
    del ctx_of(request).store.media[item.sid]
    return web.Response(status=204)


@routes.get(_MESSAGE + "/Media/" + _MEDIA_SID)
async def media_content(request: web.Request) -> web.Response:
    item = _item(request)
    location = item.redirect_url or f"{ctx_of(request).origin(request)}{CDN_PREFIX}{item.cdn_token}"
    return web.Response(status=307, headers={"Location": location})


@routes.get(CDN_PREFIX + "{token}")
async def cdn(request: web.Request) -> web.StreamResponse:
    store = ctx_of(request).store
    item = next((m for m in store.media.values() if m.cdn_token == request.match_info["token"]), None)
    store.cdn_requests.append(
        CdnRequestRecord(
            id=store.next_id(),
            at=utcnow(),
            media_sid=item.sid if item is not None else None,
            authorization="Authorization" in request.headers,
        )
    )
    if item is None:
        # What S3 answers for an expired or unknown pre-signed URL, roughly.
        return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>", content_type="application/xml")
    headers = {"Content-Type": item.content_type}
    if item.filename:
        headers["Content-Disposition"] = f'inline; filename="{item.filename}"'
    if not item.chunked:
        return web.Response(body=item.content, headers=headers)
    response = web.StreamResponse(headers=headers)
    response.enable_chunked_encoding()
    await response.prepare(request)
    step = 64 * 1024
    for start in range(0, len(item.content), step):
        await response.write(item.content[start : start + step])
    await response.write_eof()
    return response

"""Control API for media (not part of Twilio): add a media item to a message, read the CDN's request log.

``POST /_emulator/media`` takes :class:`MediaSeed` and answers ``{sid, message_sid, account_sid,
content_type, size, url, uri, cdn_url}``: ``url`` is the item's URL as Twilio puts it into a webhook
(``https://api.twilio.com/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…``), ``uri`` the same path
on the emulator. A ``message_sid`` the emulator does not hold yet is created as a received message of
the account, so a test can build media without a phone number.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from twilio_emulator.context import ctx_of
from twilio_emulator.control import PREFIX, ControlError, _body, _check_sid
from twilio_emulator.ids import new_sid
from twilio_emulator.routes_media import CDN_PREFIX, media_uri
from twilio_emulator.state import Message, StoredMedia

routes = web.RouteTableDef()

TWILIO_API = "https://api.twilio.com"
MAX_SEEDED_BYTES = 64 * 1024 * 1024


class MediaSeed(BaseModel):
    """A media item. Give ``content_base64`` for exact bytes, or ``size`` for that many filler bytes."""

    model_config = ConfigDict(extra="forbid")

    account_sid: str
    message_sid: str | None = None
    content_type: str = "image/jpeg"
    content_base64: str | None = None
    size: int | None = Field(default=None, ge=0, le=MAX_SEEDED_BYTES)
    filename: str | None = None
    redirect_url: str | None = Field(default=None, description="the API's redirect goes here instead of the CDN")
    chunked: bool = Field(default=False, description="the CDN answers without Content-Length")

    @field_validator("account_sid")
    @classmethod
    def _account(cls, value: str) -> str:
        return _check_sid(value, "AC") or value

    @field_validator("message_sid")
    @classmethod
    def _message(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("MM", "SM")):
            raise ValueError("must be an MM or SM sid")
        return value

    def content(self) -> bytes:
        if self.content_base64 is not None:
            try:
                return base64.b64decode(self.content_base64, validate=True)
            except (binascii.Error, ValueError):
                raise ControlError(400, "content_base64 is not valid base64") from None
        pattern = b"byosms-emulator-media "
        size = self.size or 0
        return (pattern * (size // len(pattern) + 1))[:size]


@routes.post(PREFIX + "/media")
async def add_media(request: web.Request) -> web.Response:
    seed = await _body(request, MediaSeed)
    ctx = ctx_of(request)
    store = ctx.store
    if seed.account_sid not in store.accounts:
        raise ControlError(400, f"account {seed.account_sid} does not exist")
    message_sid = seed.message_sid or new_sid("MM")
    message = store.messages.get(message_sid)
    if message is None:
        message = Message(
            sid=message_sid,
            account_sid=seed.account_sid,
            to="+15005550006",
            from_="+14155550100",
            body="",
            direction="inbound",
            status="received",
        )
        store.messages[message.sid] = message
    elif message.account_sid != seed.account_sid:
        raise ControlError(400, f"message {message_sid} belongs to another account")
    item = StoredMedia(
        sid=new_sid("ME"),
        account_sid=seed.account_sid,
        message_sid=message.sid,
        content_type=seed.content_type,
        content=seed.content(),
        cdn_token=secrets.token_urlsafe(24),
        filename=seed.filename,
        redirect_url=seed.redirect_url,
        chunked=seed.chunked,
    )
    store.media[item.sid] = item
    uri = media_uri(item)
    message.media_urls.append(TWILIO_API + uri)
    body = {
        "sid": item.sid,
        "message_sid": item.message_sid,
        "account_sid": item.account_sid,
        "content_type": item.content_type,
        "size": len(item.content),
        "url": TWILIO_API + uri,
        "uri": uri,
        "cdn_url": f"{ctx.origin(request)}{CDN_PREFIX}{item.cdn_token}",
    }
    return web.json_response(body, status=201)


@routes.get(PREFIX + "/cdn-requests")
async def cdn_requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": [r.as_json() for r in ctx_of(request).store.cdn_requests]})


@routes.delete(PREFIX + "/cdn-requests")
async def clear_cdn_requests(request: web.Request) -> web.Response:
    ctx_of(request).store.cdn_requests.clear()
    return web.Response(status=204)

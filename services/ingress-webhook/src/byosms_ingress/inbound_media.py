"""The media items of an inbound MMS: every one Twilio posted, and only links to Twilio itself. Pure.

Twilio posts ``NumMedia`` and, per item N = 0..9, ``MediaUrlN`` and ``MediaContentTypeN``. Platform
services fetch an item through byosms with the tenant's Twilio credentials, so a link is kept only
when it names this very message on Twilio's API host::

    https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/ME…

Anything else (another host, another account or message, a query, credentials, a port, an index
past the tenth, an item ``NumMedia`` announces but that never came) is left off the event and
counted in ``media_dropped``, with a reason per item for the metric. URLs are never logged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from byosms_common.messages import MAX_INBOUND_MEDIA

TWILIO_API_ORIGIN = "https://api.twilio.com"
_MEDIA_PATH = re.compile(r"/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)/Media/(ME[0-9a-fA-F]{32})")
_MEDIA_URL_NAME = re.compile(r"MediaUrl(0|[1-9][0-9]{0,2})")
MAX_CONTENT_TYPE_LENGTH = 255


class DropReason(StrEnum):
    """Why a media item is not on the event (the ``reason`` label of the metric)."""

    FOREIGN_HOST = "foreign_host"
    """Not ``https://api.twilio.com`` (another host, scheme, port, credentials)."""
    FOREIGN_ACCOUNT = "foreign_account"
    """On Twilio, but under another account than the webhook's AccountSid."""
    FOREIGN_MESSAGE = "foreign_message"
    """On Twilio under the account, but of another message."""
    MALFORMED = "malformed"
    """Twilio's host, but not a media resource path (or a query, fragment, bad Media SID)."""
    OVER_LIMIT = "over_limit"
    """An index past the tenth item."""
    MISSING = "missing"
    """``NumMedia`` announces it, but no ``MediaUrlN`` came."""


@dataclass(frozen=True, slots=True)
class MediaItems:
    """The items kept (fields of ``byosms_common.messages.Media``) and the reasons of those dropped."""

    kept: tuple[dict[str, str | None], ...]
    dropped: tuple[DropReason, ...]


def media_url_problem(url: str, account_sid: str, message_sid: str) -> DropReason | None:
    """None when ``url`` is the media resource of this account's message on Twilio's API host."""
    if not url.startswith(TWILIO_API_ORIGIN + "/"):
        return DropReason.FOREIGN_HOST
    match = _MEDIA_PATH.fullmatch(url, len(TWILIO_API_ORIGIN))
    if match is None:
        return DropReason.MALFORMED
    if match.group(1) != account_sid:
        return DropReason.FOREIGN_ACCOUNT
    if match.group(2) != message_sid:
        return DropReason.FOREIGN_MESSAGE
    return None


def media_items(raw: Mapping[str, Sequence[str]], account_sid: str, message_sid: str, declared: int) -> MediaItems:
    """Every ``MediaUrlN`` of the webhook in index order, checked (see the module docstring).

    ``declared`` is ``NumMedia`` (0 when absent): items it announces beyond those posted count as
    missing (at most ten).
    """
    indexes = sorted(
        int(match.group(1))
        for name in raw
        if name.startswith("MediaUrl") and (match := _MEDIA_URL_NAME.fullmatch(name))
    )
    kept: list[dict[str, str | None]] = []
    dropped: list[DropReason] = []
    for index in indexes:
        url = raw[f"MediaUrl{index}"][0]
        problem = (
            DropReason.OVER_LIMIT if index >= MAX_INBOUND_MEDIA else media_url_problem(url, account_sid, message_sid)
        )
        if problem is not None:
            dropped.append(problem)
            continue
        content_type = (raw.get(f"MediaContentType{index}") or [""])[0].strip()
        kept.append({"url": url, "content_type": content_type[:MAX_CONTENT_TYPE_LENGTH] or None})
    announced = min(declared, MAX_INBOUND_MEDIA)
    posted = sum(1 for index in indexes if index < MAX_INBOUND_MEDIA)
    dropped.extend([DropReason.MISSING] * max(0, announced - posted))
    return MediaItems(kept=tuple(kept), dropped=tuple(dropped))

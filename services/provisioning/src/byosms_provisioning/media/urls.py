"""Which media URLs are fetched and which redirects are followed (pure).

A media URL is accepted only in the shape Twilio puts into an inbound MMS webhook,
``https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}``
(or the same path on ``BYOSMS_TWILIO_API_BASE``, the emulator), with no credentials, query,
fragment or other port. What is requested is never the caller's string: it is rebuilt from the
three SIDs on the configured API base (:func:`api_url`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

TWILIO_API = "https://api.twilio.com"
_PATH = re.compile(
    r"/2010-04-01/Accounts/(?P<account>AC[0-9a-fA-F]{32})/Messages/(?P<message>(?:MM|SM)[0-9a-fA-F]{32})"
    r"/Media/(?P<media>ME[0-9a-fA-F]{32})"
)


@dataclass(frozen=True, slots=True)
class MediaRef:
    """One media item of one message of one Twilio account."""

    account_sid: str
    message_sid: str
    media_sid: str

    @property
    def path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.message_sid}/Media/{self.media_sid}"


def _origin(url: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port, path) of ``url``; None when it carries credentials, a query or a fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port, parts.path


def parse_media_url(url: str, api_base: str | None) -> MediaRef | None:
    """The media item ``url`` names, or None when it is not a media URL of the Twilio API host.

    Accepted hosts: ``https://api.twilio.com`` (default port), and ``api_base`` when it is set.
    """
    if len(url) > 500:
        return None
    found = _origin(url)
    if found is None:
        return None
    scheme, host, port, path = found
    bases = [TWILIO_API] + ([api_base] if api_base else [])
    for base in bases:
        expected = _origin(base.rstrip("/"))
        if expected is None:
            continue
        e_scheme, e_host, e_port, e_path = expected
        if (scheme, host) != (e_scheme, e_host) or _port(scheme, port) != _port(e_scheme, e_port):
            continue
        if not path.startswith(e_path):
            continue
        match = _PATH.fullmatch(path[len(e_path) :])
        if match is not None:
            return MediaRef(match["account"], match["message"], match["media"])
    return None


def _port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)


def api_url(ref: MediaRef, api_base: str | None) -> str:
    """The URL requested for ``ref``: its path on the configured API base (api.twilio.com by default)."""
    return (api_base or TWILIO_API).rstrip("/") + ref.path


def redirect_allowed(url: str, hosts: tuple[str, ...], *, allow_http: bool) -> bool:
    """Whether a media redirect to ``url`` is followed: https (http only when allowed), no credentials,
    and a host listed in ``hosts`` (``*.example.com`` matches its subdomains, not itself)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        return False
    if parts.username is not None or parts.password is not None:
        return False
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return False
    for pattern in hosts:
        pattern = pattern.lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and not _is_ip(host):
                return True
        elif host == pattern:
            return True
    return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def redirect_host(url: str) -> str:
    """Only the host of a redirect target, for logs (a pre-signed URL's query is a credential)."""
    try:
        return (urlsplit(url).hostname or "?")[:100]
    except ValueError:
        return "?"

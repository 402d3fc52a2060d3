"""Twilio webhook signatures (pure functions, no I/O).

X-Twilio-Signature: base64(HMAC-SHA1(token, url + concat(sorted(name) + value))). The URL is the exact URL
the request is sent to (query string included, never the '#...' connection-override fragment, which is not
sent on the wire). Repeated names contribute each distinct value once, sorted, like twilio-python does.
A SharedKey signature (twilio-facts section 11) signs the same string with the SharedKey secret and names
the key and algorithm in X-Twilio-Webhooks-Signature-Settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Literal

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"

Algorithm = Literal["HMAC_SHA1", "HMAC_SHA256"]


def strip_fragment(url: str) -> str:
    """Remove a '#...' fragment (Twilio connection overrides); it is neither sent nor signed."""
    return url.split("#", 1)[0]


def fragment_of(url: str) -> str:
    """The fragment of ``url`` without '#', or an empty string."""
    return url.split("#", 1)[1] if "#" in url else ""


def signing_payload(url: str, params: Iterable[tuple[str, str]]) -> str:
    """The string Twilio signs: the URL, then each sorted name with its sorted distinct values."""
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    parts = [url]
    for name in sorted(grouped):
        parts.extend(name + value for value in sorted(grouped[name]))
    return "".join(parts)


def compute_signature(url: str, params: Iterable[tuple[str, str]], key: str, algorithm: Algorithm = "HMAC_SHA1") -> str:
    """Base64 HMAC over :func:`signing_payload` with ``key`` (auth token or SharedKey secret)."""
    digest = hashlib.sha256 if algorithm == "HMAC_SHA256" else hashlib.sha1
    mac = hmac.new(key.encode("utf-8"), signing_payload(url, params).encode("utf-8"), digest)
    return base64.b64encode(mac.digest()).decode("ascii")


def settings_header_value(key_id: str, algorithm: Algorithm) -> str:
    """Value of X-Twilio-Webhooks-Signature-Settings for a SharedKey-signed webhook."""
    return f"key={key_id},algorithm={algorithm}"

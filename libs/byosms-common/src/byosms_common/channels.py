"""Which messaging channel an address belongs to. byosms carries SMS and MMS only. Pure.

Twilio writes other channels' addresses with a prefix (``whatsapp:+14155550100``, ``rcs:brand_agent``);
a Messaging Service with such senders posts their webhooks to the same URL as its SMS ones. The
ingress publishes them as usual (a 4xx would make Twilio fall back or alert) and routing discards the
inbound ones with :data:`UNSUPPORTED_CHANNEL`.
"""

from __future__ import annotations

UNSUPPORTED_CHANNEL = "unsupported_channel"
SMS = "sms"


def channel_of(address: str | None) -> str:
    """``sms`` for a phone number or short code (or a blank), else the lower-cased prefix before ``:``
    (``whatsapp``, ``rcs``, ``messenger``, ...)."""
    if not address:
        return SMS
    prefix, separator, _ = address.partition(":")
    if not separator or not prefix or not prefix.isascii() or not prefix.replace("-", "").isalnum():
        return SMS
    return prefix.lower()


def other_channel(*addresses: str | None) -> str | None:
    """The first channel other than SMS among ``addresses`` (From, To), or None when all are SMS."""
    for address in addresses:
        channel = channel_of(address)
        if channel != SMS:
            return channel
    return None

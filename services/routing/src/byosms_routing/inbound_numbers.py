"""Which inventory number an inbound message was sent to. Pure.

Twilio writes a number as E.164 in the webhook's ``To``, the inventory's address too. A short code
arrives as its bare digits (twilio-facts 1.2) while the inventory keys it ``<country>:<digits>``
(``US:12345``): the webhook's ``ToCountry`` names the country; without it, the one short code with
those digits of the message's integration is taken.
"""

from __future__ import annotations

from collections.abc import Mapping

from byosms_common.messages import InboundMessagePayload, NumberStateRecord


def _first(raw: Mapping[str, list[str]], name: str) -> str:
    values = raw.get(name) or []
    return values[0].strip() if values else ""


def inventory_number(
    numbers: Mapping[str, NumberStateRecord], payload: InboundMessagePayload
) -> NumberStateRecord | None:
    """The number ``payload`` was sent to, from the inventory's records keyed by address."""
    found = numbers.get(payload.to)
    if found is not None or not payload.to.isascii() or not payload.to.isdigit():
        return found
    country = _first(payload.raw, "ToCountry").upper()
    if country:
        found = numbers.get(f"{country}:{payload.to}")
        if found is not None:
            return found
    suffix = f":{payload.to}"
    matches = [
        record
        for address, record in numbers.items()
        if address.endswith(suffix) and record.payload.number.integration_id == payload.integration_id
    ]
    return matches[0] if len(matches) == 1 else None

"""Whether a recipient's address keeps failing, per organization and conversation (sender, recipient).
Pure; kept in ``failing_addresses``.

A message to the address that ends failed or undelivered with 30003 (unreachable handset), 30005
(unknown or inactive number) or 30006 (landline or unreachable carrier) counts one failure
(``delivery_errors.DeliveryReason.counts_against_address``); a message delivered (in full or in part,
or read) resets the count. After :data:`FLAG_AFTER` failures in a row the conversation is **flagged**:
every status change of a failure to that address says ``address_flagged=True`` until a delivery
clears it. Other failures (filtered, unregistered sender, ...) say nothing about the address and leave
the count as it is. Flagging blocks nothing: it tells the agent and the platform that the number is
probably bad.
"""

from __future__ import annotations

from dataclasses import dataclass

from byosms_common.twilio_status import FAILED_STATUSES, TwilioMessageStatus
from byosms_routing.delivery_errors import reason_for

FLAG_AFTER = 3
"""Failures in a row (30003/30005/30006) after which the conversation is flagged."""

DELIVERED = frozenset(
    {TwilioMessageStatus.DELIVERED, TwilioMessageStatus.PARTIALLY_DELIVERED, TwilioMessageStatus.READ}
)


@dataclass(frozen=True, slots=True)
class AddressHealth:
    failures: int = 0
    last_error_code: int | None = None

    @property
    def flagged(self) -> bool:
        return self.failures >= FLAG_AFTER


def after(health: AddressHealth, status: str, error_code: int | None) -> AddressHealth | None:
    """The address's health after a message to it moved to ``status``; None when it does not change."""
    parsed = TwilioMessageStatus.parse(status)
    if parsed in DELIVERED:
        return AddressHealth() if health.failures else None
    if parsed in FAILED_STATUSES and reason_for(error_code).counts_against_address:
        return AddressHealth(health.failures + 1, error_code)
    return None

"""What Twilio's delivery error codes (30xxx, in ``ErrorCode`` of a failed or undelivered message) mean
for the platform: a stable reason, whether sending again later may help, and whether the failure
counts against the recipient's address (``address_health``). Pure.

Sources: twilio-facts section 6 and twilio-genesys-2026 section 3.4. Each reason has an English and a
German text in ``byosms_common.errors.CATALOG`` under ``delivery_<reason>`` (placeholder
``{twilio_code}``). A code not listed keeps the generic ``message_not_delivered``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeliveryReason:
    reason: str
    """Stable reason code (the event's ``reason``)."""
    retryable: bool = False
    """Sending again later may succeed (the cause is temporary)."""
    counts_against_address: bool = False
    """The failure says the recipient's address may be bad (unreachable, unknown, landline)."""

    @property
    def text_code(self) -> str:
        """The ``byosms_common.errors`` code of its English and German text."""
        return f"delivery_{self.reason}"


DELIVERY_REASONS: dict[int, DeliveryReason] = {
    30001: DeliveryReason("queue_overflow", retryable=True),
    30002: DeliveryReason("account_suspended"),
    30003: DeliveryReason("handset_unreachable", retryable=True, counts_against_address=True),
    30004: DeliveryReason("message_blocked"),
    30005: DeliveryReason("unknown_destination", counts_against_address=True),
    30006: DeliveryReason("landline_or_unreachable_carrier", counts_against_address=True),
    30007: DeliveryReason("message_filtered"),
    30008: DeliveryReason("carrier_error", retryable=True),
    30032: DeliveryReason("toll_free_unverified"),
    30034: DeliveryReason("unregistered_10dlc"),
    30450: DeliveryReason("sms_pumping_blocked"),
    30610: DeliveryReason("quiet_hours"),
    30640: DeliveryReason("litigator_blocked"),
    30047: DeliveryReason("reschedule_failed"),
}

UNKNOWN_FAILURE = DeliveryReason("not_delivered")
"""A failure whose code is missing or not listed."""
CANCELED = DeliveryReason("canceled")
PARTIALLY_DELIVERED = DeliveryReason("partially_delivered")


def reason_for(error_code: int | None) -> DeliveryReason:
    """The reason of a failed or undelivered message with Twilio's ``error_code``."""
    if error_code is None:
        return UNKNOWN_FAILURE
    return DELIVERY_REASONS.get(error_code, UNKNOWN_FAILURE)

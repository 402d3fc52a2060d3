"""Where a customer's consent is recorded and which records a send must respect. Pure.

Consent belongs to an organization and a customer, and covers a *scope*: the sender as Twilio writes
it (E.164 number, or the short code's digits), or a Messaging Service (its ``MG…`` SID). Twilio
blocks a whole service when one of its senders gets a STOP (twilio-facts 7.1), so byosms does too:

- a keyword to a sender in a service (the webhook's ``MessagingServiceSid``, or the service the
  number was imported with) is recorded for the sender *and* for the service;
- a send from a sender looks at the sender's record and, when the number was imported in a service,
  at the service's: the newest of them decides (a STOP to one sender of the service blocks all its
  senders; a START to any of them lifts it again).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from byosms_common.messages import NumberStateRecord
from byosms_routing.send_checks import twilio_sender


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One recorded signal of a customer for one scope."""

    scope: str
    opted_out: bool
    changed_at: datetime


def is_service(scope: str) -> bool:
    """Whether ``scope`` is a Messaging Service SID (not a sender)."""
    return scope.startswith("MG")


def keyword_scopes(sender: str, inbound_service: str | None, number: NumberStateRecord | None) -> tuple[str, ...]:
    """Where a keyword sent to ``sender`` (as the webhook's To) is recorded: the sender, and the
    Messaging Service it came through (the webhook's) or else the one the number was imported in."""
    service = inbound_service or (number.payload.number.messaging_service_sid if number is not None else None)
    scopes = [twilio_sender(sender)]
    if service and service not in scopes:
        scopes.append(service)
    return tuple(scopes)


def send_scopes(sender_address: str, number: NumberStateRecord | None) -> tuple[str, ...]:
    """Which consent records a send from ``sender_address`` (an inventory address) must respect: the
    sender's and, when the number was imported in a Messaging Service, the service's."""
    scopes = [twilio_sender(sender_address)]
    service = number.payload.number.messaging_service_sid if number is not None else None
    if service:
        scopes.append(service)
    return tuple(scopes)


def newest(records: Iterable[ConsentRecord]) -> ConsentRecord | None:
    """The record that decides: the newest; on a tie an opt-out (never text someone who may have
    said STOP)."""
    found: ConsentRecord | None = None
    for record in records:
        if (
            found is None
            or record.changed_at > found.changed_at
            or (record.changed_at == found.changed_at and record.opted_out and not found.opted_out)
        ):
            found = record
    return found


def blocking_record(records: Iterable[ConsentRecord], *, compliance_reply: bool = False) -> ConsentRecord | None:
    """The opt-out that refuses a send to the customer, None when it may go. A compliance reply
    routing recorded (the answer to the customer's STOP or HELP) always goes."""
    if compliance_reply:
        return None
    deciding = newest(records)
    return deciding if deciding is not None and deciding.opted_out else None

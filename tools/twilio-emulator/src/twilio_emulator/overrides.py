"""What can take a number's inbound SMS away from its own webhook: TwiML Apps and Conversations address
configurations (their state, and the pure decision of where an inbound message goes). No I/O.

- A **TwiML App** (``AP…``, ``/2010-04-01/Accounts/{AC}/Applications``) named by a number's
  ``sms_application_sid`` is called with its ``sms_url``/``sms_method`` instead of the number's.
- A Conversations **address configuration** (``IG…``, ``conversations.twilio.com/v1/Configuration/Addresses``)
  of type ``sms`` with auto-creation enabled captures messages to its address into a Conversation: no
  SMS webhook is called (the emulator records the message as dropped, naming the configuration).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twilio_emulator.state import PhoneNumber, Service, ShortCode, Store


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Application:
    """A TwiML App (only its messaging part matters here)."""

    sid: str
    account_sid: str
    friendly_name: str
    sms_url: str | None = None
    sms_method: str = "POST"
    sms_fallback_url: str | None = None
    sms_fallback_method: str = "POST"
    sms_status_callback: str | None = None
    date_created: datetime = field(default_factory=_now)
    date_updated: datetime = field(default_factory=_now)


@dataclass
class AddressConfiguration:
    """A Conversations address configuration."""

    sid: str
    account_sid: str
    type: str
    address: str
    friendly_name: str | None = None
    auto_creation: dict[str, Any] = field(default_factory=lambda: {"enabled": False})
    address_country: str | None = None
    date_created: datetime = field(default_factory=_now)
    date_updated: datetime = field(default_factory=_now)

    @property
    def captures(self) -> bool:
        return self.type == "sms" and bool(self.auto_creation.get("enabled"))


@dataclass(frozen=True)
class InboundRoute:
    """Where Twilio sends an inbound message to one receiver; ``dropped`` says why it goes nowhere."""

    url: str | None
    method: str
    fallback_url: str | None
    fallback_method: str
    dropped: str | None = None


def capturing_configuration(store: Store, address: str) -> AddressConfiguration | None:
    """The enabled SMS address configuration of ``address`` in the receiver's account, if any."""
    return next((c for c in store.address_configs.values() if c.captures and c.address == address), None)


def inbound_route(store: Store, receiver: PhoneNumber | ShortCode, service: Service | None) -> InboundRoute:
    """Twilio's order: Conversations capture, a non-deferring Messaging Service, a TwiML App, the number."""
    address = str(getattr(receiver, "phone_number", None) or getattr(receiver, "short_code", ""))
    config = capturing_configuration(store, address)
    if config is not None and config.account_sid == receiver.account_sid:
        return InboundRoute(
            None, "POST", None, "POST", dropped=f"captured by Conversations address configuration {config.sid}"
        )
    if service is not None and not service.use_inbound_webhook_on_number:
        route = InboundRoute(
            service.inbound_request_url or None, service.inbound_method, service.fallback_url, service.fallback_method
        )
    else:
        app_sid = getattr(receiver, "sms_application_sid", None)
        if app_sid:
            app = store.applications.get(app_sid)
            if app is None or app.account_sid != receiver.account_sid:
                return InboundRoute(None, "POST", None, "POST", dropped=f"TwiML App {app_sid} does not exist")
            route = InboundRoute(app.sms_url, app.sms_method, app.sms_fallback_url, app.sms_fallback_method)
        else:
            route = InboundRoute(
                receiver.sms_url, receiver.sms_method, receiver.sms_fallback_url, receiver.sms_fallback_method
            )
    if not route.url:
        return InboundRoute(None, route.method, route.fallback_url, route.fallback_method, "no inbound webhook URL")
    return route

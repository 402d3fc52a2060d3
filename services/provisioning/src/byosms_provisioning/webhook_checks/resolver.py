"""Where Twilio really delivers a number's inbound SMS, and whether that is our regional ingress. Pure.

Twilio decides in this order (twilio-facts §5.2, §5.4; Conversations from its Address Configuration
resource):

1. a Conversations **address configuration** for the number's address with auto-creation enabled
   captures the message into a Conversation: no SMS webhook is called;
2. a **Messaging Service** the number belongs to that does not defer to the sender's webhook
   (``use_inbound_webhook_on_number`` false) calls its own ``inbound_request_url`` (none: dropped);
3. a **TwiML App** on the number (``sms_application_sid``) is called instead of the number's ``sms_url``;
4. otherwise the number's ``sms_url`` with its ``sms_method``.

:func:`resolve` reports ``ok`` when that lands on the region's ingress URL with POST, else ``drifted``
with every finding in that order (the first is the one in effect), where the message goes instead, and
the values to set to make it ``ok``. The product wants the number's own webhook, so a service or app
that happens to call our URL counts as drift as well (the import has always refused them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from byosms_provisioning.imports.checks import VendorNumber, VendorService, posts, same_webhook_url


class DriftKind(StrEnum):
    """What sends a number's inbound SMS elsewhere (each is also the error code of an import refusal)."""

    CONVERSATIONS_AUTOCREATE = "conversations_autocreate"
    MESSAGING_SERVICE_NOT_DEFERRING = "messaging_service_not_deferring"
    APPLICATION_OVERRIDE = "webhook_application_override"
    URL_MISMATCH = "webhook_not_configured"
    METHOD_NOT_POST = "webhook_method_not_post"


@dataclass(frozen=True, slots=True)
class VendorApplication:
    """A TwiML App as Twilio lists it (``/Accounts/{AC}/Applications/{AP}.json``)."""

    sid: str
    sms_url: str | None
    sms_method: str | None = None


@dataclass(frozen=True, slots=True)
class AddressConfig:
    """A Conversations address configuration (``conversations.twilio.com/v1/Configuration/Addresses``)."""

    sid: str
    address: str
    auto_creation_enabled: bool
    auto_creation_type: str | None = None
    """``webhook``, ``studio`` or ``default``: where the auto-created Conversation's events go."""


@dataclass(frozen=True, slots=True)
class NumberConfiguration:
    """Everything Twilio says that decides where inbound SMS to one number go."""

    number: VendorNumber
    service: VendorService | None = None
    application: VendorApplication | None = None
    """The app named by ``number.sms_application_sid``, when it could be read."""
    address_configs: tuple[AddressConfig, ...] = ()
    """The account's SMS address configurations (only those of the number's address matter)."""


FixTarget = Literal["number", "messaging_service", "address_configuration"]


@dataclass(frozen=True, slots=True)
class Fix:
    """One value to set at Twilio (the Twilio API parameter name, as the REST API spells it)."""

    target: FixTarget
    sid: str
    parameter: str
    value: str
    current: str | None


Via = Literal["number", "application", "messaging_service", "conversations"]


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where inbound SMS to the number go, and whether that is ``expected_url``."""

    expected_url: str
    via: Via
    delivers_to: str | None
    """The URL Twilio calls (None: the message is captured by Conversations or dropped)."""
    method: str | None
    kinds: tuple[DriftKind, ...] = ()
    fixes: tuple[Fix, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.kinds

    @property
    def status(self) -> Literal["ok", "drifted"]:
        return "ok" if self.ok else "drifted"

    @property
    def kind(self) -> DriftKind | None:
        """The finding in effect (the first in Twilio's order), None when ``ok``."""
        return self.kinds[0] if self.kinds else None


def _bare(address: str) -> str:
    return address.strip().removeprefix("+")


def capturing_config(configuration: NumberConfiguration) -> AddressConfig | None:
    """The enabled auto-create address configuration of the number's address, if any."""
    wanted = _bare(configuration.number.value)
    for config in configuration.address_configs:
        if config.auto_creation_enabled and _bare(config.address) == wanted:
            return config
    return None


def _method(value: str | None) -> str:
    return (value or "POST").strip().upper() or "POST"


def resolve(configuration: NumberConfiguration, expected_url: str) -> Resolution:
    """Where Twilio delivers inbound SMS to the number, and what to set when that is not ``expected_url``."""
    number, service, app = configuration.number, configuration.service, configuration.application
    kinds: list[DriftKind] = []
    fixes: list[Fix] = []
    via: Via = "number"
    delivers_to: str | None = number.sms_url
    method: str | None = _method(number.sms_method)

    # Evaluated from the lowest precedence up, so each override replaces where the message goes.
    number_url_ok = same_webhook_url(number.sms_url, expected_url)
    if not number_url_ok:
        kinds.append(DriftKind.URL_MISMATCH)
        fixes.append(Fix("number", number.sid, "SmsUrl", expected_url, number.sms_url))
    if not posts(number.sms_method):
        kinds.append(DriftKind.METHOD_NOT_POST)
        fixes.append(Fix("number", number.sid, "SmsMethod", "POST", number.sms_method))
    if number.sms_application_sid:
        kinds.insert(0, DriftKind.APPLICATION_OVERRIDE)
        fixes.insert(0, Fix("number", number.sid, "SmsApplicationSid", "", number.sms_application_sid))
        via = "application"
        delivers_to = app.sms_url if app is not None else None
        method = _method(app.sms_method) if app is not None else None
    if service is not None and not service.use_inbound_webhook_on_number:
        kinds.insert(0, DriftKind.MESSAGING_SERVICE_NOT_DEFERRING)
        fixes.insert(0, Fix("messaging_service", service.sid, "UseInboundWebhookOnNumber", "true", "false"))
        via = "messaging_service"
        delivers_to = service.inbound_request_url
        method = _method(service.inbound_method) if service.inbound_request_url else None
    captured = capturing_config(configuration)
    if captured is not None:
        kinds.insert(0, DriftKind.CONVERSATIONS_AUTOCREATE)
        fixes.insert(0, Fix("address_configuration", captured.sid, "AutoCreation.Enabled", "false", "true"))
        via, delivers_to, method = "conversations", None, None
    return Resolution(
        expected_url=expected_url,
        via=via,
        delivers_to=delivers_to,
        method=method,
        kinds=tuple(kinds),
        fixes=tuple(fixes),
    )

"""Every command and event that byosms services exchange over Kafka, each defined once.

Commands are orders (``ImportNumber``, ``SendMessage``); events say what happened
(``NumberImported``, ``InboundMessageReceived``). Every message shares one envelope:

- ``id``: unique, and deterministic where consumers must drop duplicates (for example the Twilio
  MessageSid of an inbound message);
- ``type``: a literal discriminator, ``schema_version``: bumped on incompatible changes;
- ``occurred_at``: when it happened (UTC), ``organization_id``: the tenant;
- ``trace``: W3C trace context of the producer, so traces cross Kafka hops (filled from the current
  span when not given);
- ``payload``: the message-specific part.

Models are frozen and reject unknown fields. JSON Schemas and the AsyncAPI document in
``contracts/`` are generated from this module (``byosms-contracts``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from opentelemetry import propagate, trace
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION: Literal[1] = 1


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh random message id."""
    return uuid.uuid4().hex


class Model(BaseModel):
    """Base of every payload: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class TraceContext(Model):
    """W3C trace context (https://www.w3.org/TR/trace-context/) of the producing span."""

    traceparent: str = Field(pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
    tracestate: str | None = None


class Envelope(Model):
    """Fields every command and event carries."""

    id: str = Field(default_factory=new_id, min_length=1, max_length=200)
    schema_version: Literal[1] = SCHEMA_VERSION
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    organization_id: str = Field(min_length=1, max_length=100)
    trace: TraceContext | None = Field(default_factory=lambda: current_trace())


def current_trace() -> TraceContext | None:
    """The W3C trace context of the current span (None outside a span): every envelope built without
    a ``trace`` gets it."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None  # the common case on consumers: no span is active
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    traceparent = carrier.get("traceparent")
    if not traceparent:
        return None
    return TraceContext(traceparent=traceparent, tracestate=carrier.get("tracestate") or None)


# --------------------------------------------------------------------------------------------------
# Shared value types
# --------------------------------------------------------------------------------------------------


class IntegrationStatus(StrEnum):
    """Whether an integration's numbers are in use."""

    ACTIVE = "active"
    INACTIVE = "inactive"


class NumberType(StrEnum):
    """Kinds of sender ids a tenant can import (the seed's "Type" list)."""

    LOCAL = "local"
    MOBILE = "mobile"
    TOLLFREE = "tollfree"
    SHORTCODE = "shortcode"


class NumberState(StrEnum):
    """Lifecycle of a number in the inventory."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    REMOVED = "removed"


class SealedSecret(Model):
    """A secret encrypted with envelope encryption (see ``byosms_common.crypto``).

    The data key is AES-256-GCM-wrapped by the key-encryption key ``kek_id``; the associated data
    binds the ciphertext to its organization and integration.
    """

    kek_id: str = Field(min_length=1, max_length=64)
    wrapped_key: str = Field(description="base64 of nonce + AES-GCM-wrapped 32-byte data key")
    nonce: str = Field(description="base64 of the 12-byte nonce used with the data key")
    ciphertext: str = Field(description="base64 of the AES-GCM ciphertext with tag")


class ComplianceBlock(Model):
    """Keywords and the reply message for one compliance interaction (help, opt-out, re-opt-in)."""

    keywords: tuple[Annotated[str, Field(min_length=1, max_length=50)], ...] = Field(max_length=50)
    message: str = Field(max_length=1600)


class Compliance(Model):
    """The three compliance interactions a short code requires."""

    help: ComplianceBlock
    opt_out: ComplianceBlock
    re_opt_in: ComplianceBlock


class KeywordKind(StrEnum):
    """Which compliance interaction an inbound message was: its text is exactly one keyword of the
    number (a short code's Help, Opt-out or Re-opt-in block, or Twilio's standard keywords), or
    Twilio's Advanced Opt-Out said so (``OptOutType``)."""

    HELP = "help"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


class LocalizedText(Model):
    """A user-facing message in the languages byosms serves."""

    en: str
    de: str


# --------------------------------------------------------------------------------------------------
# Integrations
# --------------------------------------------------------------------------------------------------


SignatureMode = Literal["enforce", "observe"]
"""How the ingress treats a webhook whose signature fails: refuse it (enforce) or count, report and accept it."""


def signature_mode_in_effect(mode: SignatureMode, expires_at: datetime | None, now: datetime) -> SignatureMode:
    """``observe`` only before its expiry; an expired (or expiry-less) observe mode counts as enforce."""
    if mode == "observe" and expires_at is not None and now < expires_at:
        return "observe"
    return "enforce"


class IntegrationSnapshot(Model):
    """An integration as others may see it: no secrets, only whether credentials are set."""

    integration_id: str
    name: str
    notes: str = ""
    account_sid: str | None = None
    has_credentials: bool = False
    has_shared_key: bool = False
    shared_key_id: str | None = Field(
        default=None, description="id of the current webhook SharedKey (None: no key, or one stored without id)"
    )
    previous_shared_key_id: str | None = Field(
        default=None, description="id of the previous SharedKey, still valid during a rotation window"
    )
    region: str
    status: IntegrationStatus
    version: int = Field(ge=1)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    default_routing_target: str | None = Field(
        default=None, description="where messages to its numbers without a routing target of their own go"
    )
    auth_token_rotation_expires_at: AwareDatetime | None = Field(
        default=None, description="an Auth Token rotation window is open until then (both tokens validate webhooks)"
    )
    signature_mode: SignatureMode = "enforce"
    signature_mode_expires_at: AwareDatetime | None = Field(
        default=None, description="observe mode ends then: the integration is back in enforce after it"
    )


class IntegrationStatePayload(Model):
    """The state record of an integration on the compacted state topic (token still encrypted)."""

    integration_id: str
    account_sid: str | None = None
    auth_token: SealedSecret | None = None
    shared_key: SealedSecret | None = None
    shared_key_id: str | None = Field(
        default=None,
        description=(
            "id of the SharedKey in shared_key (what X-Twilio-Webhooks-Signature-Settings names as key=); "
            "None for a key stored without id, which then signs whatever key id a webhook names"
        ),
    )
    previous_shared_key: SealedSecret | None = Field(
        default=None,
        description="the SharedKey replaced by the current one, still valid during a rotation window (sealed)",
    )
    previous_shared_key_id: str | None = Field(default=None, description="id of previous_shared_key")
    region: str
    status: IntegrationStatus
    version: int = Field(ge=1)
    default_routing_target: str | None = Field(
        default=None, description="the integration's default routing target (numbers without their own)"
    )
    organization_routing_target: str | None = Field(
        default=None, description="the organization's default routing target (integrations without their own)"
    )
    next_auth_token: SealedSecret | None = Field(
        default=None,
        description="the next Auth Token of a rotation window (sealed): webhooks signed with it are accepted too",
    )
    next_auth_token_expires_at: AwareDatetime | None = Field(
        default=None, description="the rotation window closes then: next_auth_token no longer validates after it"
    )
    signature_mode: SignatureMode = Field(
        default="enforce",
        description="enforce: a webhook with a bad signature is refused; observe: it is counted, reported and "
        "accepted (signature_failure on its event), until signature_mode_expires_at",
    )
    signature_mode_expires_at: AwareDatetime | None = Field(
        default=None,
        description="observe mode holds only before then; observe without it, or after it, counts as enforce",
    )


class IntegrationState(Envelope):
    """Current state of one integration; the topic is compacted by integration id."""

    type: Literal["integration.state"] = "integration.state"
    payload: IntegrationStatePayload


class IntegrationChangePayload(Model):
    """What changed on an integration and who changed it."""

    integration: IntegrationSnapshot
    actor: str = Field(description="user or service that made the change")
    command_id: str | None = Field(
        default=None, description="id of the command on the integration command topic that made the change, if any"
    )


class IntegrationCreated(Envelope):
    type: Literal["integration.created"] = "integration.created"
    payload: IntegrationChangePayload


class IntegrationUpdated(Envelope):
    """Name, notes or credentials changed (a credentials change says only that they are set)."""

    type: Literal["integration.updated"] = "integration.updated"
    payload: IntegrationChangePayload


class IntegrationActivated(Envelope):
    type: Literal["integration.activated"] = "integration.activated"
    payload: IntegrationChangePayload


class IntegrationDeactivated(Envelope):
    """The integration is inactive: its numbers become inactive and inbound messages are discarded."""

    type: Literal["integration.deactivated"] = "integration.deactivated"
    payload: IntegrationChangePayload


class IntegrationDeleted(Envelope):
    """The integration is gone: all its numbers are removed from the inventory."""

    type: Literal["integration.deleted"] = "integration.deleted"
    payload: IntegrationChangePayload


class CommandRejectedPayload(Model):
    """Why a command was not carried out."""

    command_id: str
    command_type: str
    code: str
    message: LocalizedText
    retryable: bool = False


class IntegrationCommandRejected(Envelope):
    type: Literal["integration.command_rejected"] = "integration.command_rejected"
    payload: CommandRejectedPayload


class CommandAppliedPayload(Model):
    """A command was carried out; ``changed`` is False when it found nothing to change."""

    command_id: str
    command_type: str
    integration_id: str
    changed: bool
    integration: IntegrationSnapshot | None = Field(
        default=None, description="the integration after the command; None when it was deleted"
    )


class IntegrationCommandApplied(Envelope):
    """The result of every command carried out (besides the change event, if it changed something).

    Every command on the integration command topic ends in exactly one ``integration.command_applied``
    or ``integration.command_rejected`` with its ``command_id``.
    """

    type: Literal["integration.command_applied"] = "integration.command_applied"
    payload: CommandAppliedPayload


class CreateIntegrationPayload(Model):
    integration_id: str | None = Field(
        default=None,
        description=(
            "no longer accepted: integration ids are generated by provisioning (a command carrying one is "
            "rejected with invalid_request); read the id from the result event with this command's id"
        ),
    )
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="optional idempotency key, unique within the organization: a repeat returns the first result",
    )
    name: str = Field(min_length=1, max_length=200)
    notes: str = Field(default="", max_length=2000)
    region: str
    actor: str


class CreateIntegration(Envelope):
    """Create an integration (inactive until credentials are set). Credentials go through the HTTP API only."""

    type: Literal["integration.create"] = "integration.create"
    payload: CreateIntegrationPayload


class SealedCredentials(Model):
    """Twilio credentials sealed for provisioning (see ``byosms_provisioning.integrations.credential_sealing``).

    X25519 key agreement with provisioning's published public key ``key_id``, HKDF-SHA256, then
    AES-256-GCM; the associated data binds the ciphertext to the organization, the integration and
    the Account SID, so it cannot be replayed into another organization's command.
    """

    key_id: str = Field(min_length=1, max_length=64, description="which provisioning public key sealed it")
    ephemeral_public_key: str = Field(max_length=100, description="base64 of the sender's one-time X25519 key")
    nonce: str = Field(max_length=100, description="base64 of the 12-byte AES-GCM nonce")
    ciphertext: str = Field(max_length=4096, description="base64 of the AES-GCM ciphertext of the JSON secrets")


class SetCredentialsPayload(Model):
    integration_id: str
    account_sid: str = Field(max_length=64)
    sealed: SealedCredentials
    actor: str
    keep_previous_shared_key: bool = Field(
        default=True,
        description=(
            "when the sealed shared key has a different id than the current one, keep the current key valid "
            "as the previous key (rotation window); false retires it at once"
        ),
    )


class SetIntegrationCredentials(Envelope):
    """Set or rotate credentials; the auth token and shared key travel only sealed for provisioning."""

    type: Literal["integration.set_credentials"] = "integration.set_credentials"
    payload: SetCredentialsPayload


class IntegrationRefPayload(Model):
    integration_id: str
    actor: str


class ActivateIntegration(Envelope):
    type: Literal["integration.activate"] = "integration.activate"
    payload: IntegrationRefPayload


class DeactivateIntegration(Envelope):
    type: Literal["integration.deactivate"] = "integration.deactivate"
    payload: IntegrationRefPayload


class DeleteIntegration(Envelope):
    type: Literal["integration.delete"] = "integration.delete"
    payload: IntegrationRefPayload


class UpdateIntegrationPayload(Model):
    integration_id: str
    name: str | None = Field(default=None, min_length=1, max_length=200)
    notes: str | None = Field(default=None, max_length=2000)
    actor: str


class UpdateIntegration(Envelope):
    type: Literal["integration.update"] = "integration.update"
    payload: UpdateIntegrationPayload


class WebhookSignatureFailingPayload(Model):
    """Webhooks of one integration failed signature validation at an ingress."""

    integration_id: str
    region: str
    failures: int = Field(ge=1, description="failures since the previous report of this integration")
    first_at: AwareDatetime
    last_at: AwareDatetime
    reason: str = Field(max_length=64, description="the last failure: bad_signature, missing_signature, ...")


class WebhookSignatureFailing(Envelope):
    """Reported by the ingress at most once a minute per integration while signatures keep failing."""

    type: Literal["integration.webhook_signature_failing"] = "integration.webhook_signature_failing"
    payload: WebhookSignatureFailingPayload


class WebhookSignatureRecoveredPayload(Model):
    integration_id: str
    region: str
    accepted_at: AwareDatetime


class WebhookSignatureRecovered(Envelope):
    """A webhook of an integration passed validation again after a reported failure."""

    type: Literal["integration.webhook_signature_recovered"] = "integration.webhook_signature_recovered"
    payload: WebhookSignatureRecoveredPayload


# --------------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------------


class ImportNumberPayload(Model):
    """One number (or short code) to add to the SMS number inventory."""

    import_id: str = Field(default_factory=new_id)
    integration_id: str
    number_type: NumberType
    sender_id: str = Field(max_length=32, description="E.164 number, or the short code's digits")
    country: str | None = Field(default=None, description="ISO 3166 alpha-2; required for short codes")
    compliance: Compliance | None = None
    actor: str


class ImportNumber(Envelope):
    type: Literal["number.import"] = "number.import"
    payload: ImportNumberPayload


class ImportedNumber(Model):
    """A number as the inventory holds it."""

    address: str = Field(description="E.164 number, or '<country>:<shortcode>' for short codes")
    number_type: NumberType
    country: str
    twilio_sid: str
    integration_id: str
    compliance: Compliance | None = None
    messaging_service_sid: str | None = Field(
        default=None,
        description="the Twilio Messaging Service (MG...) the number belonged to when it was imported: "
        "Twilio's opt-outs cover the whole service, so byosms's do too",
    )


class NumberImportedPayload(Model):
    import_id: str
    number: ImportedNumber


class NumberImported(Envelope):
    type: Literal["number.imported"] = "number.imported"
    payload: NumberImportedPayload


class NumberImportRejectedPayload(Model):
    import_id: str
    integration_id: str
    sender_id: str
    code: str
    message: LocalizedText
    details: dict[str, str] = Field(default_factory=dict)


class NumberImportRejected(Envelope):
    type: Literal["number.import_rejected"] = "number.import_rejected"
    payload: NumberImportRejectedPayload


class NumberStateChangedPayload(Model):
    address: str
    integration_id: str
    state: NumberState
    previous_state: NumberState | None
    reason: str
    import_id: str | None = Field(
        default=None,
        description="the import that put the number in the inventory; on removal its claim is released",
    )


class NumberStateChanged(Envelope):
    """The inventory changed a number's state (activated, deactivated, removed)."""

    type: Literal["number.state_changed"] = "number.state_changed"
    payload: NumberStateChangedPayload


ROUTING_TARGET_PATTERN = r"^[!-~]{1,200}$"
"""A routing target: a queue id or an inbound flow id of the platform (printable ASCII, no spaces)."""


class NumberStatePayload(Model):
    number: ImportedNumber
    state: NumberState
    version: int = Field(ge=1)
    routing_target: str | None = Field(
        default=None,
        pattern=ROUTING_TARGET_PATTERN,
        description="queue (or inbound flow) id the number's inbound messages go to; None: its integration's default",
    )
    import_id: str | None = Field(default=None, description="the import that added the number (the number's id)")
    imported_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


class NumberStateRecord(Envelope):
    """Current state of one number; the topic is compacted by address."""

    type: Literal["number.state"] = "number.state"
    payload: NumberStatePayload


class NumberCommandPayload(Model):
    """What every command on a number in the inventory names."""

    address: str = Field(min_length=1, max_length=40, description="the number's sender address (the record key)")
    expected_version: int | None = Field(
        default=None, ge=1, description="the record's version as last seen; another one answers version_conflict"
    )
    actor: str = Field(min_length=1, max_length=200)


class RemoveNumber(Envelope):
    """Remove one number from the inventory (never touches Twilio); its claim is freed for a new import."""

    type: Literal["number.remove"] = "number.remove"
    payload: NumberCommandPayload


class SetNumberRoutingPayload(NumberCommandPayload):
    routing_target: str | None = Field(
        pattern=ROUTING_TARGET_PATTERN, description="queue or inbound flow id; None: use the integration's default"
    )


class SetNumberRouting(Envelope):
    type: Literal["number.set_routing_target"] = "number.set_routing_target"
    payload: SetNumberRoutingPayload


class SetNumberCompliancePayload(NumberCommandPayload):
    compliance: Compliance = Field(description="all three blocks, each with a keyword and a message")


class SetNumberCompliance(Envelope):
    type: Literal["number.set_compliance"] = "number.set_compliance"
    payload: SetNumberCompliancePayload


class NumberCommandAppliedPayload(Model):
    command_id: str
    command_type: str
    address: str
    changed: bool = Field(description="False when the command found nothing to change")
    number: NumberStatePayload | None = Field(default=None, description="the number afterwards; None when removed")


class NumberCommandApplied(Envelope):
    """Every command on ``numbers.commands.v1`` but imports ends in exactly one ``number.command_applied`` or
    ``number.command_rejected`` with its ``command_id`` (imports end in ``number.imported`` or
    ``number.import_rejected``)."""

    type: Literal["number.command_applied"] = "number.command_applied"
    payload: NumberCommandAppliedPayload


class NumberCommandRejectedPayload(Model):
    command_id: str
    command_type: str
    address: str
    code: str
    message: LocalizedText
    retryable: bool = False


class NumberCommandRejected(Envelope):
    type: Literal["number.command_rejected"] = "number.command_rejected"
    payload: NumberCommandRejectedPayload


class NumberRouteMissingPayload(Model):
    address: str
    integration_id: str
    message_sid: str = Field(description="the inbound message discarded for want of a routing target")


class NumberRouteMissing(Envelope):
    """Routing discarded an inbound message to an active number because no routing target resolves (the
    number's, its integration's default, its organization's default): shown as a ``no_route`` warning."""

    type: Literal["number.no_route"] = "number.no_route"
    payload: NumberRouteMissingPayload


class WebhookFix(Model):
    """One value to set at Twilio so that inbound SMS reach the regional ingress."""

    target: Literal["number", "messaging_service", "address_configuration"]
    sid: str = Field(description="the Twilio SID of what to change (PN/SC, MG or IG)")
    parameter: str = Field(description="the Twilio API parameter, e.g. SmsUrl or UseInboundWebhookOnNumber")
    value: str
    current: str | None = None


class NumberWebhookChangedPayload(Model):
    address: str
    number_id: str
    integration_id: str
    status: Literal["ok", "drifted"]
    kind: str | None = Field(
        default=None,
        description="the finding in effect: conversations_autocreate, messaging_service_not_deferring, "
        "webhook_application_override, webhook_not_configured or webhook_method_not_post",
    )
    kinds: list[str] = Field(default_factory=list, description="every finding, the one in effect first")
    previous_status: Literal["ok", "drifted", "unchecked"] | None = None
    previous_kind: str | None = None
    via: Literal["number", "application", "messaging_service", "conversations"]
    delivers_to: str | None = Field(default=None, description="the URL Twilio calls now (none: captured or dropped)")
    expected_url: str
    fixes: list[WebhookFix] = Field(default_factory=list)
    trigger: Literal["import", "schedule", "on_demand", "repair", "probe"]
    checked_at: AwareDatetime


class NumberWebhookChanged(Envelope):
    """Where Twilio delivers a number's inbound SMS changed: it drifted away from the regional ingress
    (another URL, a TwiML App, a Messaging Service not deferring, a Conversations capture) or is back."""

    type: Literal["number.webhook_changed"] = "number.webhook_changed"
    payload: NumberWebhookChangedPayload


class NumberWebhookRepairedPayload(Model):
    address: str
    number_id: str
    integration_id: str
    actor: str = Field(description="who asked for the repair")
    applied: list[WebhookFix] = Field(description="the values set at Twilio (current: the value before)")
    failed: list[WebhookFix] = Field(default_factory=list)
    error_code: str | None = None


class NumberWebhookRepaired(Envelope):
    """A tenant asked byosms to set its number's webhook at Twilio; what was changed, old and new value."""

    type: Literal["number.webhook_repaired"] = "number.webhook_repaired"
    payload: NumberWebhookRepairedPayload


# --------------------------------------------------------------------------------------------------
# Messaging
# --------------------------------------------------------------------------------------------------


MAX_INBOUND_MEDIA = 10
"""Twilio posts at most ten media items with an inbound MMS (``MediaUrl0`` .. ``MediaUrl9``)."""


class Media(Model):
    """One media item of an inbound MMS: a URL on Twilio's API host under the integration's own account
    and message (the ingress drops any other), and the content type Twilio reported for it."""

    url: str
    content_type: str | None = None


class InboundMessagePayload(Model):
    """An inbound SMS/MMS as Twilio posted it, with typed fields and every raw parameter."""

    message_sid: str
    account_sid: str
    messaging_service_sid: str | None = None
    from_: str = Field(alias="from")
    to: str
    body: str
    num_segments: int = Field(ge=0, default=1)
    media: tuple[Media, ...] = Field(default=(), max_length=MAX_INBOUND_MEDIA)
    media_dropped: int = Field(
        default=0,
        ge=0,
        description="media items the webhook named that are not on the event: their URL is not on Twilio's API "
        "host under this integration's account and message (a forged or foreign link), or beyond the tenth",
    )
    region: str
    integration_id: str
    received_at: AwareDatetime
    raw: dict[str, list[str]] = Field(description="every form parameter exactly as received")
    signed_with: str | None = Field(
        default=None,
        max_length=32,
        description="which secret validated the webhook's signature: auth_token, auth_token_next (the next "
        "token of a rotation window), shared_key or shared_key_previous; None when not checked (recovered) "
        "or failed in observe mode",
    )
    signature_failure: str | None = Field(
        default=None,
        max_length=64,
        description="observe mode: why the signature failed (signature_wrong, ...); the message was accepted",
    )
    recovered: bool = Field(
        default=False,
        description="not posted by Twilio's webhook: found in Twilio's Messages list by routing's recovery job",
    )

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)


class InboundMessageReceived(Envelope):
    """The ingress validated and accepted an inbound message. ``id`` is the MessageSid."""

    type: Literal["sms.inbound_received"] = "sms.inbound_received"
    payload: InboundMessagePayload


class DeliveryReportPayload(Model):
    message_sid: str
    account_sid: str
    status: str
    error_code: int | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    region: str
    integration_id: str
    received_at: AwareDatetime
    raw: dict[str, list[str]]
    signed_with: str | None = Field(
        default=None,
        max_length=32,
        description="which secret validated the webhook's signature: auth_token, auth_token_next (the next "
        "token of a rotation window), shared_key or shared_key_previous; None when not checked (recovered) "
        "or failed in observe mode",
    )
    signature_failure: str | None = Field(
        default=None,
        max_length=64,
        description="observe mode: why the signature failed (signature_wrong, ...); the message was accepted",
    )
    recovered: bool = Field(
        default=False,
        description="no status callback came: the status was fetched from Twilio by routing's recovery job",
    )

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)


class DeliveryReportReceived(Envelope):
    """A Twilio status callback. ``id`` is MessageSid + ':' + status."""

    type: Literal["sms.delivery_report_received"] = "sms.delivery_report_received"
    payload: DeliveryReportPayload


MAX_MEDIA_URLS = 10
"""Twilio's limit of media items per outbound message (MediaUrl, twilio-facts 5.5)."""


def is_sendable_media_url(value: str) -> bool:
    """Whether Twilio can be asked to fetch ``value`` for an MMS: an https URL with a host and a valid
    port, without credentials, whitespace or control characters, at most 2,000 characters."""
    if len(value) > 2000:
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    if parts.scheme != "https" or not parts.hostname or parts.username is not None or parts.password is not None:
        return False
    return not any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)


def are_sendable_media_urls(urls: Sequence[str]) -> bool:
    """At most :data:`MAX_MEDIA_URLS`, each :func:`is_sendable_media_url`."""
    return len(urls) <= MAX_MEDIA_URLS and all(is_sendable_media_url(url) for url in urls)


class SendMessagePayload(Model):
    message_id: str = Field(default_factory=new_id, description="platform's id, used for idempotency")
    from_: str = Field(alias="from", description="an imported sender address")
    to: str
    body: str = Field(max_length=1600)
    media_urls: tuple[str, ...] = Field(
        default=(),
        description=(
            "public https URLs Twilio fetches and sends as MMS (MediaUrl): at most 10, each with a host, without"
            " credentials or whitespace, at most 2,000 characters; a send breaking this ends in"
            " sms.outbound_failed with code message_media_invalid (not dead-lettered: every send has one result)"
        ),
    )

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)


class SendMessage(Envelope):
    type: Literal["sms.send"] = "sms.send"
    payload: SendMessagePayload


class RoutedMessagePayload(Model):
    message_sid: str
    integration_id: str
    from_: str = Field(alias="from")
    to: str
    body: str
    media: tuple[Media, ...] = Field(default=(), max_length=MAX_INBOUND_MEDIA)
    media_dropped: int = Field(default=0, ge=0, description="media items the ingress dropped (see the inbound event)")
    queue: str | None = Field(default=None, description="the routing target: a queue or inbound flow id")
    region: str | None = Field(default=None, description="the region whose ingress accepted the message")
    received_at: AwareDatetime | None = Field(default=None, description="when the ingress accepted it")
    spooled: bool | None = Field(default=None, description="whether it reached Kafka from the ingress's spool")
    recovered: bool | None = Field(
        default=None, description="the webhook never came: recovered from Twilio's Messages list"
    )
    keyword: KeywordKind | None = Field(
        default=None,
        description="the message was a compliance keyword: help, opt_out (the customer opted out: sends to them "
        "are refused until they opt in again) or opt_in; None for any other message",
    )

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)


class InboundMessageRouted(Envelope):
    type: Literal["sms.inbound_routed"] = "sms.inbound_routed"
    payload: RoutedMessagePayload


class DiscardedPayload(Model):
    message_sid: str
    integration_id: str | None
    reason: str
    region: str | None = Field(default=None, description="the region whose ingress accepted the message")
    received_at: AwareDatetime | None = Field(default=None, description="when the ingress accepted it")
    spooled: bool | None = Field(default=None, description="whether it reached Kafka from the ingress's spool")
    recovered: bool | None = Field(
        default=None, description="the webhook never came: recovered from Twilio's Messages list"
    )


class InboundMessageDiscarded(Envelope):
    type: Literal["sms.inbound_discarded"] = "sms.inbound_discarded"
    payload: DiscardedPayload


class MessageStatusPayload(Model):
    message_id: str
    message_sid: str | None = None
    status: str
    error_code: int | None = None
    code: str | None = None
    message: LocalizedText | None = None
    retryable: bool = False
    reason: str | None = Field(
        default=None,
        description="why a status change is not a delivery: the reason of Twilio's delivery error code "
        "(handset_unreachable for 30003, unregistered_10dlc for 30034, ...; not_delivered for others), "
        "canceled or partially_delivered; message holds its English and German text",
    )
    address_flagged: bool = Field(
        default=False,
        description="the recipient's address keeps failing (30003/30005/30006) in this conversation: "
        "it is flagged until a message to it is delivered",
    )
    recovered: bool | None = Field(
        default=None,
        description="the status callback never came: the status was fetched from Twilio by the recovery job",
    )


class OutboundMessageAccepted(Envelope):
    """Twilio accepted an outbound message (status queued or later)."""

    type: Literal["sms.outbound_accepted"] = "sms.outbound_accepted"
    payload: MessageStatusPayload


class OutboundMessageFailed(Envelope):
    type: Literal["sms.outbound_failed"] = "sms.outbound_failed"
    payload: MessageStatusPayload


class MessageStatusChanged(Envelope):
    type: Literal["sms.status_changed"] = "sms.status_changed"
    payload: MessageStatusPayload


class MissedMessagesRecoveredPayload(Model):
    """What one recovery run found for one number: messages Twilio has that never came as webhooks."""

    address: str = Field(description="the number (E.164) or short code address")
    integration_id: str
    window_start: AwareDatetime = Field(description="Twilio's messages sent from this time on were compared")
    window_end: AwareDatetime
    inbound_recovered: int = Field(ge=0, description="inbound messages replayed, marked recovered")
    reports_recovered: int = Field(ge=0, description="final statuses of outbound messages fetched and applied")
    message_sids: tuple[str, ...] = Field(default=(), max_length=1000, description="the messages recovered")


class MissedMessagesRecovered(Envelope):
    """Routing's recovery job found and replayed messages (or final statuses) whose webhooks never came."""

    type: Literal["number.missed_messages_recovered"] = "number.missed_messages_recovered"
    payload: MissedMessagesRecoveredPayload


class OptOutPayload(Model):
    sender: str
    recipient: str
    keyword: str
    messaging_service_sid: str | None = Field(
        default=None,
        description="the Messaging Service the sender is in: the consent change covers all of its senders",
    )


class RecipientOptedOut(Envelope):
    type: Literal["sms.recipient_opted_out"] = "sms.recipient_opted_out"
    payload: OptOutPayload


class RecipientOptedIn(Envelope):
    type: Literal["sms.recipient_opted_in"] = "sms.recipient_opted_in"
    payload: OptOutPayload


COMMANDS: tuple[type[Envelope], ...] = (
    CreateIntegration,
    UpdateIntegration,
    ActivateIntegration,
    DeactivateIntegration,
    DeleteIntegration,
    SetIntegrationCredentials,
    ImportNumber,
    RemoveNumber,
    SetNumberRouting,
    SetNumberCompliance,
    SendMessage,
)
EVENTS: tuple[type[Envelope], ...] = (
    IntegrationState,
    IntegrationCreated,
    IntegrationUpdated,
    IntegrationActivated,
    IntegrationDeactivated,
    IntegrationDeleted,
    IntegrationCommandRejected,
    IntegrationCommandApplied,
    WebhookSignatureFailing,
    WebhookSignatureRecovered,
    NumberImported,
    NumberImportRejected,
    NumberStateChanged,
    NumberStateRecord,
    NumberCommandApplied,
    NumberCommandRejected,
    NumberRouteMissing,
    NumberWebhookChanged,
    NumberWebhookRepaired,
    MissedMessagesRecovered,
    InboundMessageReceived,
    DeliveryReportReceived,
    InboundMessageRouted,
    InboundMessageDiscarded,
    OutboundMessageAccepted,
    OutboundMessageFailed,
    MessageStatusChanged,
    RecipientOptedOut,
    RecipientOptedIn,
)
ALL_MESSAGES: tuple[type[Envelope], ...] = COMMANDS + EVENTS

AnyMessage = Annotated[
    CreateIntegration
    | UpdateIntegration
    | ActivateIntegration
    | DeactivateIntegration
    | DeleteIntegration
    | SetIntegrationCredentials
    | ImportNumber
    | RemoveNumber
    | SetNumberRouting
    | SetNumberCompliance
    | SendMessage
    | IntegrationState
    | IntegrationCreated
    | IntegrationUpdated
    | IntegrationActivated
    | IntegrationDeactivated
    | IntegrationDeleted
    | IntegrationCommandRejected
    | IntegrationCommandApplied
    | WebhookSignatureFailing
    | WebhookSignatureRecovered
    | NumberImported
    | NumberImportRejected
    | NumberStateChanged
    | NumberStateRecord
    | NumberCommandApplied
    | NumberCommandRejected
    | NumberRouteMissing
    | NumberWebhookChanged
    | NumberWebhookRepaired
    | MissedMessagesRecovered
    | InboundMessageReceived
    | DeliveryReportReceived
    | InboundMessageRouted
    | InboundMessageDiscarded
    | OutboundMessageAccepted
    | OutboundMessageFailed
    | MessageStatusChanged
    | RecipientOptedOut
    | RecipientOptedIn,
    Field(discriminator="type"),
]

ANY_MESSAGE: TypeAdapter[AnyMessage] = TypeAdapter(AnyMessage)


def message_type(model: type[Envelope]) -> str:
    """The ``type`` discriminator value of a message class."""
    default = model.model_fields["type"].default
    assert isinstance(default, str)
    return default


def encode(message: Envelope) -> bytes:
    """Serialize a message to the JSON bytes put on Kafka."""
    return message.model_dump_json(by_alias=True).encode()


def decode(data: bytes | str) -> AnyMessage:
    """Parse JSON bytes from Kafka into the message class its ``type`` names (raises ValidationError)."""
    return ANY_MESSAGE.validate_json(data)

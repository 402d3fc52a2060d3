"""Settings of the provisioning service, read from environment variables.

Own variables carry the ``BYOSMS_PROVISIONING_`` prefix; shared ones keep their stack-wide names
(``BYOSMS_KAFKA_BOOTSTRAP``, ``BYOSMS_DATABASE_URL``, ``BYOSMS_KEKS``/``BYOSMS_ACTIVE_KEK``,
``BYOSMS_TWILIO_API_BASE``, ``BYOSMS_REGIONS_OVERRIDES``) and are read by the shared classes or
through explicit aliases. Nothing secret has a default; invalid settings stop the service at start.

| variable | meaning |
|---|---|
| BYOSMS_PROVISIONING_HOST / _PORT | where the admin API listens (default 127.0.0.1:8081) |
| BYOSMS_PROVISIONING_JWT_PUBLIC_KEY_FILE | PEM public key that verifies callers' JWTs |
| BYOSMS_PROVISIONING_JWT_JWKS_FILE | a JWKS document on disk (alternative to the PEM key) |
| BYOSMS_PROVISIONING_JWT_JWKS_URL | a JWKS URL, fetched and cached (alternative) |
| BYOSMS_PROVISIONING_JWT_ISSUER / _AUDIENCE | required ``iss`` / ``aud`` claims |
| BYOSMS_PROVISIONING_JWT_ALGORITHMS | accepted algorithms (asymmetric only; default RS256, ES256) |
| BYOSMS_PROVISIONING_MAX_BODY_BYTES | largest accepted request body |
| BYOSMS_PROVISIONING_TWILIO_TIMEOUT_SECONDS | deadline of every Twilio call |
| BYOSMS_PROVISIONING_OUTBOX_POLL_SECONDS | how often the outbox relay looks for unsent rows |
| BYOSMS_PROVISIONING_COMMANDS_ENABLED | consume the integration command topic (default true) |
| BYOSMS_PROVISIONING_IMPORT_DEADLINE_SECONDS | in-progress imports older than this are rejected, claim freed (120) |
| BYOSMS_PROVISIONING_IMPORT_SWEEP_SECONDS | how often imports past their deadline are looked for (5) |
| BYOSMS_PROVISIONING_WEBHOOK_CHECK_INTERVAL_SECONDS | how often each number's SMS webhook is checked (3600) |
| BYOSMS_PROVISIONING_WEBHOOK_CHECKS_ENABLED | run the scheduled webhook checks (true) |
| BYOSMS_PROVISIONING_WEBHOOK_CHECK_REQUESTS_PER_SECOND | Twilio requests per second per account of the checks (2) |
| BYOSMS_PROVISIONING_WEBHOOK_CHECK_BATCH_SIZE | numbers per round of the scheduled checks (100) |
| BYOSMS_PROVISIONING_WEBHOOK_PROBE_MAX_WAIT_SECONDS | longest wait of a live path check (120) |
| BYOSMS_PROVISIONING_MEDIA_MAX_BYTES | largest MMS media item served by GET /api/v2/sms/media (5 MiB) |
| BYOSMS_PROVISIONING_MEDIA_ALLOWED_TYPES | content types served (JSON list; images, audio, video, vCard, PDF) |
| BYOSMS_PROVISIONING_MEDIA_REDIRECT_HOSTS | hosts Twilio's media redirect may point at (JSON list; `*.twiliocdn.com`) |
| BYOSMS_PROVISIONING_MEDIA_REDIRECT_ALLOW_HTTP | follow media redirects to http:// (emulator only; false) |
| BYOSMS_PROVISIONING_MEDIA_MAX_REDIRECTS | redirects followed per media item (3) |
| BYOSMS_PROVISIONING_MEDIA_MAX_CONCURRENT / _TIMEOUT_SECONDS | media fetches at once (8), deadline of one (30 s) |
| BYOSMS_TWILIO_API_BASE | send every Twilio REST call to this base URL (emulator) instead of twilio.com |
| BYOSMS_REGIONS_OVERRIDES | JSON overrides of the region table (see byosms_common.regions) |
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from byosms_common.settings import TwilioApiBase
from byosms_provisioning.integrations.credential_sealing import SealingKeyring

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


# The MMS content types served by default (after Twilio's accepted MMS types): images, audio, video,
# vCard, calendar and PDF. Types a browser would run (text/html, image/svg+xml, scripts) are not among them.
DEFAULT_MEDIA_TYPES = (
    "image/jpeg",
    "image/jpg",
    "image/png",
    "image/gif",
    "image/bmp",
    "image/webp",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "audio/amr",
    "audio/3gpp",
    "audio/wav",
    "video/mp4",
    "video/mpeg",
    "video/quicktime",
    "video/webm",
    "video/3gpp",
    "text/vcard",
    "text/x-vcard",
    "text/calendar",
    "application/pdf",
)


class ProvisioningSettings(BaseSettings):
    """Everything the provisioning service reads from its environment besides the shared settings."""

    model_config = SettingsConfigDict(env_prefix="BYOSMS_PROVISIONING_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535)

    jwt_public_key_file: Path | None = Field(default=None, description="PEM public key verifying JWTs.")
    jwt_jwks_file: Path | None = Field(default=None, description="JWKS document on disk.")
    jwt_jwks_url: str | None = Field(default=None, description="JWKS URL, fetched and cached.")
    jwt_issuer: str = Field(default="byosms-platform", description="Required iss claim.")
    jwt_audience: str = Field(default="byosms-provisioning", description="Required aud claim.")
    jwt_algorithms: tuple[str, ...] = ("RS256", "ES256")
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)

    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)
    twilio_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    twilio_api_base: TwilioApiBase
    regions_overrides: str | None = Field(default=None, validation_alias="BYOSMS_REGIONS_OVERRIDES")
    outbox_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    command_group_id: str = "byosms-provisioning-commands"
    command_retry_seconds: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description="How long a command refused for a passing reason (Twilio away) is retried before it is "
        "rejected as retryable.",
    )
    import_deadline_seconds: float = Field(
        default=120.0, ge=5, le=3600, description="An import still in progress after this is rejected."
    )
    import_sweep_seconds: float = Field(
        default=5.0, gt=0, le=300, description="How often imports past their deadline are looked for."
    )
    number_command_wait_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="How long PATCH /api/v2/sms/numbers/{id} waits for inventory's result before it answers 202.",
    )
    message_trace_days: float = Field(
        default=30.0,
        gt=0,
        le=3650,
        description="How long the steps of a message's trace are kept (GET /api/v2/sms/messages/{id}).",
    )
    auth_token_rotation_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 30,
        description="How long an Auth Token rotation window stays open without confirmation: both tokens "
        "validate webhooks until then, after it the next token is dropped.",
    )
    removed_number_days: float = Field(
        default=7.0,
        gt=0,
        le=365,
        description="How long a removed number stays listed (state removed-recently) before it is forgotten.",
    )
    webhook_check_interval_seconds: float = Field(
        default=3600.0,
        ge=10,
        le=7 * 86400,
        description="How often each active number's effective SMS webhook is checked at Twilio (spread over "
        "the interval); 0 is not allowed, set BYOSMS_PROVISIONING_WEBHOOK_CHECKS_ENABLED=false instead.",
    )
    webhook_checks_enabled: bool = Field(default=True, description="Run the scheduled webhook checks.")
    webhook_check_requests_per_second: float = Field(
        default=2.0,
        gt=0,
        le=100,
        description="Twilio requests per second the scheduled checks make per Twilio account (a 429's "
        "Retry-After pauses that account's checks for as long as Twilio asks).",
    )
    webhook_check_batch_size: int = Field(
        default=100, ge=1, le=10_000, description="Numbers taken per round of the scheduled checks."
    )
    webhook_probe_max_wait_seconds: float = Field(
        default=120.0,
        ge=1,
        le=900,
        description="Longest a live path check (webhook:probe) waits for its test message to come back.",
    )

    media_max_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1,
        le=100 * 1024 * 1024,
        description="Largest inbound MMS media item GET /api/v2/sms/media serves (Twilio's MMS limit: 5 MB).",
    )
    media_allowed_types: tuple[str, ...] = Field(
        default=DEFAULT_MEDIA_TYPES,
        description="Content types GET /api/v2/sms/media serves; others are refused (422 media_type_not_allowed).",
    )
    media_redirect_hosts: tuple[str, ...] = Field(
        default=("media.twiliocdn.com", "*.twiliocdn.com"),
        description="Hosts Twilio's media redirect may point at ('*.' matches subdomains); others are refused.",
    )
    media_redirect_allow_http: bool = Field(
        default=False, description="Follow media redirects to http:// URLs (tests and the local emulator only)."
    )
    media_max_redirects: int = Field(default=3, ge=1, le=10, description="Redirects followed per media item.")
    media_max_concurrent: int = Field(
        default=8, ge=1, le=1000, description="Media items fetched at once; more are refused (503 media_busy)."
    )
    media_timeout_seconds: float = Field(default=30.0, gt=0, le=300, description="Deadline of one media fetch.")

    @field_validator("jwt_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # A symmetric algorithm would let anyone holding the verification key mint tokens.
        bad = [alg for alg in value if alg not in ASYMMETRIC_ALGORITHMS]
        if bad or not value:
            raise ValueError(f"only asymmetric JWT algorithms are accepted, not {bad or 'none'}")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> ProvisioningSettings:
        sources = [s for s in (self.jwt_public_key_file, self.jwt_jwks_file, self.jwt_jwks_url) if s]
        if len(sources) != 1:
            raise ValueError(
                "set exactly one of BYOSMS_PROVISIONING_JWT_PUBLIC_KEY_FILE, BYOSMS_PROVISIONING_JWT_JWKS_FILE "
                "or BYOSMS_PROVISIONING_JWT_JWKS_URL"
            )
        return self


class SealingKeySettings(BaseSettings):
    """Where the sealing keys come from; unset means sealed credential commands are refused."""

    model_config = SettingsConfigDict(env_prefix="BYOSMS_PROVISIONING_", extra="ignore", frozen=True)

    sealing_keys: SecretStr | None = Field(default=None, repr=False)
    sealing_active_key: str | None = None

    def keyring(self) -> SealingKeyring | None:
        """The configured keys; ValueError (message without key material) when they are malformed."""
        if not self.sealing_keys:
            return None
        keys = self.sealing_keys.get_secret_value()
        active = self.sealing_active_key
        if active is None:
            try:
                raw = json.loads(keys)
            except json.JSONDecodeError:
                raw = None
            active = next(iter(raw), "") if isinstance(raw, dict) else ""
        return SealingKeyring.from_config(keys, active)

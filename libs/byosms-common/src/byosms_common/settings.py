"""Settings shared by every service, read from ``BYOSMS_*`` environment variables.

Each service subclasses :class:`ServiceSettings` with its own prefix for its own variables; the
names of the shared ones (``BYOSMS_KAFKA_BOOTSTRAP``, ``BYOSMS_DATABASE_URL``, ...) stay the same
everywhere so one environment file configures the whole stack.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from byosms_common.crypto import Keyring

T = TypeVar("T")


def _http_base_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError("BYOSMS_TWILIO_API_BASE must be an http(s) URL")
    return value.rstrip("/")


# The one setting that points every service's Twilio client at the emulator (unset: the real Twilio).
TwilioApiBase = Annotated[
    str | None,
    AfterValidator(_http_base_url),
    Field(
        default=None,
        validation_alias="BYOSMS_TWILIO_API_BASE",  # shared name, no prefix
        description="Base URL replacing https://*.twilio.com (tests and the local stack use the emulator).",
    ),
]


class KafkaSettings(BaseSettings):
    """How to reach Kafka."""

    model_config = SettingsConfigDict(env_prefix="BYOSMS_", extra="ignore", frozen=True)

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        description="Comma-separated Kafka bootstrap servers (BYOSMS_KAFKA_BOOTSTRAP).",
    )
    kafka_client_id_prefix: str = Field(default="byosms", description="Prefix of Kafka client ids.")
    # Client security (docs/kafka-security.md): every producer, consumer and admin client of every
    # service and the topic tool take these from here (byosms_common.kafka_security).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How clients talk to the brokers: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism (required with SASL_PLAINTEXT and SASL_SSL)."
    )
    kafka_sasl_username: str | None = Field(default=None, min_length=1, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (from a Secret; never logged)."
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="PEM file of the CA(s) that signed the brokers' certificates (default: system CAs)."
    )
    kafka_ssl_certfile: Path | None = Field(default=None, description="PEM client certificate (mutual TLS).")
    kafka_ssl_keyfile: Path | None = Field(default=None, description="PEM private key of the client certificate.")
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of an encrypted client key (never logged)."
    )
    kafka_ssl_check_hostname: bool = Field(
        default=True, description="Check that a broker's certificate names the host connected to."
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("BYOSMS_KAFKA_BOOTSTRAP must name at least one broker")
        return value.strip()

    @model_validator(mode="after")
    def _security_consistent(self) -> KafkaSettings:
        sasl = self.kafka_security_protocol.startswith("SASL_")
        tls = self.kafka_security_protocol in ("SSL", "SASL_SSL")
        if sasl and (self.kafka_sasl_mechanism is None or not self.kafka_sasl_username or not self.kafka_sasl_password):
            raise ValueError(
                f"BYOSMS_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs BYOSMS_KAFKA_SASL_MECHANISM,"
                " BYOSMS_KAFKA_SASL_USERNAME and BYOSMS_KAFKA_SASL_PASSWORD"
            )
        if not sasl and (self.kafka_sasl_mechanism or self.kafka_sasl_username or self.kafka_sasl_password):
            raise ValueError("BYOSMS_KAFKA_SASL_* are set but BYOSMS_KAFKA_SECURITY_PROTOCOL is not SASL_*")
        files = (self.kafka_ssl_cafile, self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
        if not tls and any(f is not None for f in files):
            raise ValueError("BYOSMS_KAFKA_SSL_* files are set but BYOSMS_KAFKA_SECURITY_PROTOCOL is not SSL/SASL_SSL")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("BYOSMS_KAFKA_SSL_CERTFILE and BYOSMS_KAFKA_SSL_KEYFILE go together")
        return self


class ConsumerSettings(BaseSettings):
    """How the services consume Kafka: batch sizes, retry backoff, group membership (``byosms_common.consumer``)."""

    model_config = SettingsConfigDict(env_prefix="BYOSMS_", extra="ignore", frozen=True)

    consumer_batch_max: int = Field(default=500, ge=1, le=10_000, description="Records per partition per round.")
    consumer_batch_wait_ms: int = Field(
        default=100,
        ge=0,
        le=5_000,
        description=(
            "How long the broker holds a fetch while a partition has nothing new (ms). A fetch is answered"
            " as soon as a record is there, so this costs no latency; shorter only makes idle consumers"
            " poll more often (at 10 ms, a tenth of routing's CPU on its outbound path)."
        ),
    )
    consumer_retry_first_delay_s: float = Field(default=0.1, gt=0, le=10)
    consumer_retry_max_delay_s: float = Field(
        default=1.0, gt=0, le=60, description="Longest pause between tries while a dependency is away."
    )
    consumer_error_attempts: int = Field(default=5, ge=1, le=100)
    consumer_still_down_log_s: float = Field(default=30.0, gt=0)
    consumer_session_timeout_ms: int = Field(default=10_000, ge=1_000, le=300_000)
    consumer_max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    consumer_stop_grace_s: float = Field(default=10.0, ge=0, le=300)
    consumer_lag_interval_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description=(
            "How often byosms_consumer_lag is updated (s); from offsets the client already has, so it costs no"
            " broker round trip once a partition has been fetched."
        ),
    )
    lanes_max_in_flight: int = Field(
        default=2_000, ge=1, le=100_000, description="Records taken into lanes before fetching pauses."
    )
    kafka_instance_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Stable id of this replica (a pod name): static group membership and transactional ids.",
    )


class DatabaseSettings(BaseSettings):
    """How to reach PostgreSQL. The URL may carry a password, so it is kept secret."""

    model_config = SettingsConfigDict(env_prefix="BYOSMS_", extra="ignore", frozen=True)

    database_url: SecretStr = Field(
        description="PostgreSQL URL, e.g. postgresql://byosms@127.0.0.1:55432/byosms (BYOSMS_DATABASE_URL).",
    )
    database_pool_min: int = Field(default=1, ge=0, le=100)
    database_pool_max: int = Field(default=10, ge=1, le=500)
    database_migrate_on_start: bool = Field(
        default=True,
        description="Apply the service's migrations at start; false: only check that the schema is at the"
        " release's version (the chart's migration Job applied them) and wait until it is"
        " (BYOSMS_DATABASE_MIGRATE_ON_START).",
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_scheme(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("BYOSMS_DATABASE_URL must be a postgresql:// URL")
        return value


class TelemetrySettings(BaseSettings):
    """Logging and tracing."""

    model_config = SettingsConfigDict(env_prefix="BYOSMS_", extra="ignore", frozen=True)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces endpoint (BYOSMS_OTLP_ENDPOINT); when unset nothing is exported.",
    )


class KeyringSettings(BaseSettings):
    """Key-encryption keys for tenant secrets (a Kubernetes secret in production). No defaults: a
    service that needs them refuses to start without them.

    ``BYOSMS_KEKS`` is a JSON object ``{"<kek id>": "<base64 of 32 random bytes>", ...}``;
    ``BYOSMS_ACTIVE_KEK`` names the one that wraps new data keys. Older ids stay listed until every
    data key has been re-wrapped (``byosms-provisioning rotate-keks``), then they can be removed.
    """

    model_config = SettingsConfigDict(env_prefix="BYOSMS_", extra="ignore", frozen=True)

    keks: SecretStr = Field(description="JSON {id: base64 32-byte key} of key-encryption keys (BYOSMS_KEKS).")
    active_kek: str = Field(
        min_length=1, description="Id of the key-encryption key for new secrets (BYOSMS_ACTIVE_KEK)."
    )

    def keyring(self) -> Keyring:
        """The configured keyring; raises ``CryptoError`` (without key material) when it is invalid."""
        return Keyring.from_config(self.keks.get_secret_value(), self.active_kek)


def describe_settings_error(exc: ValidationError) -> str:
    """Which settings are wrong and why, without the values (a value may be a secret)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())


def load_or_exit(service: str, load: Callable[[], T]) -> T:
    """Build settings with ``load``; on invalid settings print one line, English then German, naming
    what is wrong (never the values) and exit 2."""
    try:
        return load()
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "settings" for e in exc.errors()})
        sys.stderr.write(
            f"byosms-{service}: invalid settings: {describe_settings_error(exc)}"
            f" / ungültige Einstellungen: {', '.join(fields)}\n"
        )
        raise SystemExit(2) from None

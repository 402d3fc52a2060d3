"""Routing settings (``BYOSMS_ROUTING_*``); shared Kafka, database, keyring and telemetry settings beside them."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from byosms_common.regions import Region, load_regions
from byosms_common.settings import TwilioApiBase

# Recording an answer retries for up to ~15 s while PostgreSQL is away; plus slack for slow hosts.
SEND_LEASE_MARGIN_SECONDS = 30.0
# Twilio's fastest documented sender (a short code with purchased throughput) is far below this.
MAX_SENDER_RATE = 10_000.0


class RoutingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BYOSMS_ROUTING_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address of the health/metrics HTTP server.")
    port: int = Field(default=8084, ge=1, le=65535, description="Port of the health/metrics HTTP server.")
    consumer_group: str = Field(default="byosms-routing", description="Kafka consumer group id.")
    twilio_api_base: TwilioApiBase
    twilio_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Deadline of one Twilio call (BYOSMS_ROUTING_TWILIO_TIMEOUT_SECONDS)."
    )
    send_retry_seconds: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description="How long a send refused with 429/20429 (or not connected) is tried again, with backoff and "
        "jitter, before it fails as vendor_unavailable (BYOSMS_ROUTING_SEND_RETRY_SECONDS).",
    )
    unmatched_report_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 30,
        description="How long a delivery report that matches no message of its tenant is kept before a periodic "
        "cleanup deletes it (BYOSMS_ROUTING_UNMATCHED_REPORT_HOURS).",
    )
    report_cleanup_interval_seconds: float = Field(
        default=600.0,
        gt=0,
        le=86400,
        description="How often unmatched delivery reports are cleaned up "
        "(BYOSMS_ROUTING_REPORT_CLEANUP_INTERVAL_SECONDS).",
    )
    unknown_send_grace_seconds: float = Field(
        default=300.0,
        ge=0,
        le=86400,
        description="How long after a send ended outcome_unknown Twilio's Messages list is trusted to show it: a send "
        "not found by then is proved absent and published as not_sent, retryable "
        "(BYOSMS_ROUTING_UNKNOWN_SEND_GRACE_SECONDS).",
    )
    unknown_send_check_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How often sends whose outcome is unknown are looked up in Twilio's Messages list "
        "(BYOSMS_ROUTING_UNKNOWN_SEND_CHECK_SECONDS).",
    )
    recovery_enabled: bool = Field(
        default=True,
        description="Whether the recovery job runs: messages Twilio has for an active number whose webhook never "
        "came are replayed, final statuses never reported are fetched (BYOSMS_ROUTING_RECOVERY_ENABLED).",
    )
    recovery_window_seconds: float = Field(
        default=3600.0,
        gt=0,
        le=7 * 86400,
        description="How far back Twilio's Messages list is compared with what arrived "
        "(BYOSMS_ROUTING_RECOVERY_WINDOW_SECONDS).",
    )
    recovery_grace_seconds: float = Field(
        default=120.0,
        ge=0,
        le=86400,
        description="How old a message (or an unchanged outbound status) must be before it counts as missed: "
        "time for a late webhook (BYOSMS_ROUTING_RECOVERY_GRACE_SECONDS).",
    )
    recovery_interval_seconds: float = Field(
        default=900.0,
        gt=0,
        le=86400,
        description="How often each active number is checked; new numbers are spread over one interval "
        "(BYOSMS_ROUTING_RECOVERY_INTERVAL_SECONDS).",
    )
    recovery_check_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="How often the job looks for due numbers (BYOSMS_ROUTING_RECOVERY_CHECK_SECONDS).",
    )
    recovery_requests_per_second: float = Field(
        default=5.0,
        gt=0,
        le=100,
        description="Requests to Twilio per second and account of one routing process's recovery job (accounts "
        "are checked side by side); a 429 pauses that account for its Retry-After "
        "(BYOSMS_ROUTING_RECOVERY_REQUESTS_PER_SECOND).",
    )
    sender_rates: dict[str, float] = Field(
        default_factory=dict,
        description='Messages per second per sender address, JSON {"<sender address>": <rate>}; other senders get '
        "their number type's rate: local/mobile 1, toll-free 3, short code 100 (BYOSMS_ROUTING_SENDER_RATES).",
    )
    regions_overrides: str | None = Field(
        default=None,
        validation_alias="BYOSMS_REGIONS_OVERRIDES",  # shared name, no prefix
        description="Operator overrides of the region table, JSON; gives each region's public /status URL.",
    )

    @field_validator("sender_rates")
    @classmethod
    def _rates_valid(cls, rates: dict[str, float]) -> dict[str, float]:
        for sender, rate in rates.items():
            if not 0 < rate <= MAX_SENDER_RATE:
                raise ValueError(f"rate of {sender} must be above 0 and at most {MAX_SENDER_RATE:g} messages/s")
        return rates

    @model_validator(mode="after")
    def _regions_valid(self) -> RoutingSettings:
        self.regions()  # fails loudly at start on bad overrides
        return self

    def send_lease_seconds(self) -> float:
        """The longest one send may wait for Twilio (retries, the last call's deadline, recording the
        answer) plus a margin: a redelivery finding a younger ``sending`` record waits for it."""
        return self.send_retry_seconds + self.twilio_timeout_seconds + SEND_LEASE_MARGIN_SECONDS

    def regions(self) -> dict[str, Region]:
        """The region table with the operator's overrides (the StatusCallback URL of each region)."""
        return load_regions(self.regions_overrides)

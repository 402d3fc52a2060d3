"""Settings of the ingress, from ``BYOSMS_INGRESS_*`` environment variables.

Shared variables keep their shared names: ``BYOSMS_KAFKA_BOOTSTRAP`` (KafkaSettings),
``BYOSMS_KEKS``/``BYOSMS_ACTIVE_KEK`` (KeyringSettings), ``BYOSMS_REGIONS_OVERRIDES`` and the
telemetry ones (``BYOSMS_LOG_LEVEL``, ``BYOSMS_OTLP_ENDPOINT``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from byosms_common.regions import Region, load_regions


class IngressSettings(BaseSettings):
    """One ingress deployment serves one region."""

    model_config = SettingsConfigDict(env_prefix="BYOSMS_INGRESS_", extra="ignore", frozen=True)

    region: str = Field(default="us-east-1", description="Region id this deployment serves (BYOSMS_INGRESS_REGION).")
    regions_overrides: str | None = Field(
        default=None,
        validation_alias="BYOSMS_REGIONS_OVERRIDES",  # shared name, no prefix
        description="Operator overrides of the region table, JSON (BYOSMS_REGIONS_OVERRIDES).",
    )
    host: str = Field(default="127.0.0.1", description="Listen address (BYOSMS_INGRESS_HOST).")
    port: int = Field(default=8080, ge=0, le=65535, description="Listen port (BYOSMS_INGRESS_PORT).")
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of /metrics (and a second /healthz, /readyz), apart from the public webhook port;"
        " unset: /metrics is served on the webhook port (BYOSMS_INGRESS_METRICS_PORT).",
    )
    prestop_delay_s: float = Field(
        default=0.0,
        ge=0,
        le=300,
        description="Seconds the ingress keeps serving after SIGTERM while /readyz answers 503, so load"
        " balancers stop sending before the listener closes (BYOSMS_INGRESS_PRESTOP_DELAY_S).",
    )
    body_limit_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest accepted request body; larger ones get 413 (BYOSMS_INGRESS_BODY_LIMIT_BYTES).",
    )
    spool_dir: Path = Field(
        default=Path(".run/ingress-spool"),
        description="Directory of the on-disk spool used while Kafka is unavailable (BYOSMS_INGRESS_SPOOL_DIR).",
    )
    spool_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024 * 1024,
        description="Spool size limit; when full, webhooks get 503 (BYOSMS_INGRESS_SPOOL_MAX_BYTES).",
    )
    publish_deadline_s: float = Field(
        default=2.0,
        gt=0,
        le=10,
        description="Seconds a webhook waits for Kafka's ack before it is spooled (BYOSMS_INGRESS_PUBLISH_DEADLINE_S).",
    )
    drain_batch: int = Field(default=500, ge=1, le=10_000, description="Spooled records sent per drain round.")
    shutdown_grace_s: float = Field(
        default=10.0,
        ge=0,
        description="Seconds the final spool drain may take on stop, after the last request finished; what is"
        " left stays on disk for the next start (BYOSMS_INGRESS_SHUTDOWN_GRACE_S).",
    )

    @model_validator(mode="after")
    def _region_known(self) -> IngressSettings:
        self.region_config()  # fails loudly at start on bad overrides or an unknown region
        return self

    def region_config(self) -> Region:
        """The region this deployment serves, with the operator's overrides applied."""
        regions = load_regions(self.regions_overrides)
        if self.region not in regions:
            raise ValueError(f"BYOSMS_INGRESS_REGION {self.region!r} is not a known region")
        return regions[self.region]

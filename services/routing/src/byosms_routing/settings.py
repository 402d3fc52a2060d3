"""Routing settings (``BYOSMS_ROUTING_*``); shared Kafka, database and telemetry settings beside them."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RoutingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BYOSMS_ROUTING_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address of the health/metrics HTTP server.")
    port: int = Field(default=8084, ge=1, le=65535, description="Port of the health/metrics HTTP server.")
    consumer_group: str = Field(default="byosms-routing", description="Kafka consumer group id.")

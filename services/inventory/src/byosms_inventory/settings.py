"""Inventory settings (``BYOSMS_INVENTORY_*``); shared Kafka, database and telemetry settings beside them."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class InventorySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BYOSMS_INVENTORY_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address of the health/metrics HTTP server.")
    port: int = Field(default=8083, ge=1, le=65535, description="Port of the health/metrics HTTP server.")
    consumer_group: str = Field(default="byosms-inventory", description="Kafka consumer group id.")
    command_memory_days: float = Field(
        default=14.0,
        gt=0,
        le=365,
        description="How long a carried-out number command is remembered (its result republished on a redelivery); "
        "keep it above numbers.commands.v1's retention.",
    )

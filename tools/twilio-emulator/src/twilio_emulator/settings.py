"""Emulator settings (plain pydantic model; the CLI and tests build it, nothing is read at import)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EmulatorSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8099, ge=0, le=65535)
    # Absolute base for Messaging v1 'url'/'meta' links; defaults to the Host of each request.
    public_base_url: str | None = None
    # Delay between two status transitions of an outbound message.
    status_step_delay_s: float = Field(default=0.02, ge=0)
    # Upper bound for one webhook delivery including retries (Twilio's is 15 s).
    webhook_timeout_s: float = Field(default=15.0, gt=0)
    # Entries kept in the request and webhook logs.
    log_limit: int = Field(default=10_000, ge=1)

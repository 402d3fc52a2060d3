"""Console settings (``BYOSMS_CONSOLE_*``).

The console holds no database or Kafka settings: it is a client of the public admin API only.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BYOSMS_CONSOLE_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the console listens on.")
    port: int = Field(default=8085, ge=1, le=65535, description="Port the console listens on.")
    api_url: str = Field(
        default="http://127.0.0.1:8081",
        description="Base URL of the public admin API (provisioning), as the console reaches it.",
    )
    api_timeout_seconds: float = Field(default=30.0, gt=0, le=300, description="Deadline of one API call.")
    dev_login_key_file: Path | None = Field(
        default=None,
        description=(
            "Development only: PEM private key the console signs tokens with on its development login page "
            "(the key whose public half provisioning trusts). Unset: no development login, only a pasted token."
        ),
    )
    dev_login_issuer: str = Field(default="byosms-platform", description="`iss` of development tokens.")
    dev_login_audience: str = Field(default="byosms-provisioning", description="`aud` of development tokens.")
    cookie_secure: bool = Field(
        default=False, description="Mark the session cookie Secure (set it when the console is served over TLS)."
    )
    import_poll_interval_ms: int = Field(
        default=500, ge=100, le=10_000, description="How often the progress screen asks for an import's state."
    )

"""Settings of the local stack: ports, versions and where state and downloaded jars live.

Every field can be set by an environment variable with the prefix ``BYOSMS_STACK_`` (for example
``BYOSMS_STACK_DIR`` or ``BYOSMS_STACK_KAFKA_PORT``); CLI options override them.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK = "127.0.0.1"
DEFAULT_KAFKA_VERSION = "4.1.1"
# Each service owns its own database; `byosms` is the shared default the exported URL points at.
DEFAULT_DATABASES: tuple[str, ...] = ("byosms", "byosms_provisioning", "byosms_inventory", "byosms_routing")


class StackSettings(BaseSettings):
    """Where and how the local stack runs. Loopback only: there is deliberately no host setting."""

    model_config = SettingsConfigDict(env_prefix="BYOSMS_STACK_", extra="ignore")

    dir: Path | None = Field(default=None, description="State directory; default <repo>/.run/stack")
    cache_dir: Path | None = Field(default=None, description="Jar cache root; default ~/.cache/byosms")
    kafka_version: str = DEFAULT_KAFKA_VERSION
    log4j_version: str | None = Field(default=None, description="log4j2 version; default: matches Kafka's")
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    controller_port: int = Field(default=9093, ge=1, le=65535)
    pg_port: int = Field(default=55432, ge=1, le=65535)
    sasl_ssl_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Opt-in SASL_SSL listener (PLAIN, SCRAM-SHA-256/512, self-signed CA) on this port",
    )
    pg_bin: Path | None = Field(default=None, description="Directory with initdb/pg_ctl/postgres")
    db_user: str = "byosms"
    ready_timeout_s: float = Field(default=90.0, gt=0)

    def state_dir(self) -> Path:
        """The state directory, absolute."""
        if self.dir is not None:
            return self.dir.expanduser().resolve()
        return find_repo_root() / ".run" / "stack"

    def jar_cache_root(self) -> Path:
        """Root of the cache for jars, shared by all checkouts on the machine."""
        if self.cache_dir is not None:
            return self.cache_dir.expanduser().resolve()
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg) if xdg else Path.home() / ".cache"
        return base / "byosms"

    def kafka_lib_dir(self) -> Path:
        """Directory with the broker's jars for the configured version."""
        return self.jar_cache_root() / f"kafka-{self.kafka_version}" / "lib"


# The stack the test suite starts for itself, beside (never instead of) the one `make up` uses, so
# tests and the running demo services never consume each other's commands or share tables.
TEST_STACK_DEFAULTS: dict[str, object] = {"kafka_port": 19092, "controller_port": 19093, "pg_port": 55433}


def stack_settings(**overrides: Any) -> StackSettings:
    """``BYOSMS_STACK_*`` variables with ``overrides`` (CLI options) on top, all validated.

    Raises pydantic's ``ValidationError`` for a bad value (``--kafka-port 70000``); the CLI turns
    it into one line with :func:`describe_stack_settings_error`."""
    return StackSettings(**{k: v for k, v in overrides.items() if v is not None})


def test_stack_settings(**overrides: Any) -> StackSettings:
    """Settings of the test stack: ``<repo>/.run/test-stack`` on ports 19092/19093/55433.

    ``BYOSMS_STACK_*`` variables still override each field (CI uses them to pick free ports), and
    ``overrides`` override those; everything is validated like :func:`stack_settings`.
    """
    chosen: dict[str, Any] = {
        name: value for name, value in TEST_STACK_DEFAULTS.items() if f"BYOSMS_STACK_{name.upper()}" not in os.environ
    }
    if "BYOSMS_STACK_DIR" not in os.environ:
        chosen["dir"] = find_repo_root() / ".run" / "test-stack"
    chosen.update({k: v for k, v in overrides.items() if v is not None})
    return stack_settings(**chosen)


def describe_stack_settings_error(exc: ValidationError) -> str:
    """One line, English then German, naming each bad setting by variable and option."""
    wrong = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "settings"
        wrong.append(f"BYOSMS_STACK_{field.upper()} / --{field.replace('_', '-')}: {error['msg']}")
    names = ", ".join(f"BYOSMS_STACK_{str(e['loc'][0]).upper()}" for e in exc.errors() if e["loc"])
    return f"invalid settings: {'; '.join(wrong)} / ungültige Einstellungen: {names or 'BYOSMS_STACK_*'}"


class RepoRootNotFoundError(RuntimeError):
    """No uv workspace root above the working directory or this package."""


def is_workspace_root(directory: Path) -> bool:
    """True when ``directory`` holds a pyproject.toml that declares a uv workspace."""
    pyproject = directory / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return "workspace" in data.get("tool", {}).get("uv", {})


def find_repo_root(start: Path | None = None) -> Path:
    """The byosms checkout: first workspace root above ``start`` (default: cwd, then this file)."""
    starts = [start] if start is not None else [Path.cwd(), Path(__file__).resolve().parent]
    for origin in starts:
        for candidate in (origin, *origin.parents):
            if is_workspace_root(candidate):
                return candidate
    raise RepoRootNotFoundError(
        "Cannot find the byosms repository root (pyproject.toml with [tool.uv.workspace]); "
        "set BYOSMS_STACK_DIR. / Repository-Wurzel nicht gefunden; bitte BYOSMS_STACK_DIR setzen."
    )

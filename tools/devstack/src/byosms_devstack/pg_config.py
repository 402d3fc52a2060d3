"""Pure pieces for the throwaway PostgreSQL cluster: commands, server options, names and URLs."""

from __future__ import annotations

import re
from pathlib import Path

SUPERUSER = "postgres"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# A throwaway dev/test cluster: durability is not worth the fsyncs on a small box.
SERVER_SETTINGS: tuple[tuple[str, str], ...] = (
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    # TCP only: no socket file whose path length or directory rights could get in the way.
    ("unix_socket_directories", ""),
    ("max_connections", "200"),
)


class InvalidIdentifierError(ValueError):
    """A role or database name we would have to quote; we only accept plain lower-case names."""


def check_identifier(name: str) -> str:
    """Return ``name`` if it is a plain SQL identifier (safe to splice into DDL), else raise."""
    if not _IDENTIFIER.fullmatch(name):
        raise InvalidIdentifierError(
            f"invalid name {name!r}: use lower-case letters, digits and _ "
            f"/ ungültiger Name {name!r}: nur Kleinbuchstaben, Ziffern und _"
        )
    return name


def database_url(user: str, host: str, port: int, database: str) -> str:
    """libpq/asyncpg URL without a password: local trust auth."""
    return f"postgresql://{user}@{host}:{port}/{database}"


def as_user(command: list[str], user: str | None) -> list[str]:
    """Run ``command`` as OS user ``user`` (root only: initdb and postgres refuse to run as root)."""
    if user is None:
        return command
    return ["runuser", "-u", user, "--", *command]


def initdb_command(bin_dir: Path, data_dir: Path) -> list[str]:
    """A cluster with trust auth: it only listens on loopback and holds nothing of value."""
    return [
        str(bin_dir / "initdb"),
        "-D",
        str(data_dir),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
    ]


def server_options(host: str, port: int) -> str:
    """The ``-o`` string for pg_ctl: listen address, port and the settings above."""
    parts = [f"-c listen_addresses={host}", f"-p {port}"]
    for key, value in SERVER_SETTINGS:
        parts.append(f"-c {key}={value}" if value else f"-c {key}=''")
    return " ".join(parts)


def pg_ctl_start_command(bin_dir: Path, data_dir: Path, log_file: Path, host: str, port: int) -> list[str]:
    """Start detached; pg_ctl waits for the postmaster.pid 'ready' line itself (-w)."""
    return [
        str(bin_dir / "pg_ctl"),
        "start",
        "-D",
        str(data_dir),
        "-l",
        str(log_file),
        "-w",
        "-t",
        "60",
        "-o",
        server_options(host, port),
    ]


def pg_ctl_stop_command(bin_dir: Path, data_dir: Path, timeout_s: int = 30) -> list[str]:
    """Fast shutdown: roll back open transactions, disconnect clients, checkpoint."""
    return [str(bin_dir / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w", "-t", str(timeout_s)]


def postmaster_markers(data_dir: Path) -> tuple[str, ...]:
    """Arguments that identify our postmaster in /proc/<pid>/cmdline."""
    return ("postgres", str(data_dir))


def parse_postmaster_pid(text: str) -> int | None:
    """First line of ``postmaster.pid`` is the postmaster's pid."""
    first = text.splitlines()[0].strip() if text.strip() else ""
    return int(first) if first.isdigit() else None

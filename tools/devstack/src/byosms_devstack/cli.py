"""`byosms-stack`: up, down, status, env for the local stack."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from byosms_cli.devkeys import default_key_dir, ensure_keypair
from byosms_devstack.demo import DemoError, Endpoints, run_demo
from byosms_devstack.settings import (
    DEFAULT_DATABASES,
    RepoRootNotFoundError,
    StackSettings,
    describe_stack_settings_error,
    stack_settings,
    test_stack_settings,
)
from byosms_devstack.stack import ensure_stack, load_running_settings, sasl_ssl_env, stack_status, stop_stack

app = typer.Typer(
    help="Local byosms stack (Kafka + PostgreSQL on 127.0.0.1) without Docker.",
    no_args_is_help=True,
    add_completion=False,
)

StateDir = Annotated[Path | None, typer.Option("--dir", help="State directory (env BYOSMS_STACK_DIR).")]
TestStack = Annotated[
    bool,
    typer.Option("--test", help="The test suite's own stack (.run/test-stack, ports 19092/19093/55433)."),
]


def _err(message: str) -> None:
    typer.echo(f"byosms-stack: {message}", err=True)


def _settings(state_dir: Path | None, test: bool = False, **overrides: Any) -> StackSettings:
    """Validated settings from BYOSMS_STACK_* and the options; a bad value ends the command in one line."""
    try:
        return (test_stack_settings if test else stack_settings)(dir=state_dir, **overrides)
    except ValidationError as exc:
        _err(describe_stack_settings_error(exc))
        raise typer.Exit(1) from None
    except RepoRootNotFoundError as exc:
        _err(str(exc))
        raise typer.Exit(1) from None


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """StackError, missing tools, bad names, unreadable state: one line on stderr and exit 1, no traceback."""
    try:
        yield
    except (RuntimeError, ValueError) as exc:  # our messages carry English and German already
        _err(str(exc))
        raise typer.Exit(1) from None
    except OSError as exc:  # a state dir we cannot write, a program we cannot run
        where = f" ({exc.filename})" if exc.filename else ""
        _err(f"system error{where}: {exc.strerror or exc} / Systemfehler{where}: {exc.strerror or exc}")
        raise typer.Exit(1) from None


@app.command()
def up(
    state_dir: StateDir = None,
    kafka_port: Annotated[int | None, typer.Option(help="Kafka PLAINTEXT port (env BYOSMS_STACK_KAFKA_PORT).")] = None,
    controller_port: Annotated[int | None, typer.Option(help="KRaft controller port.")] = None,
    pg_port: Annotated[int | None, typer.Option(help="PostgreSQL port (env BYOSMS_STACK_PG_PORT).")] = None,
    kafka_version: Annotated[str | None, typer.Option(help="Apache Kafka version from Maven Central.")] = None,
    db: Annotated[list[str] | None, typer.Option("--db", help="Extra database to create (repeatable).")] = None,
    sasl_ssl_port: Annotated[
        int | None,
        typer.Option(
            help="Also a SASL_SSL listener on this port (env BYOSMS_STACK_SASL_SSL_PORT); see `env --sasl-ssl`."
        ),
    ] = None,
    test: TestStack = False,
) -> None:
    """Start Kafka and PostgreSQL if needed, create topics and databases, print shell exports."""
    ports = {
        "kafka_port": kafka_port,
        "controller_port": controller_port,
        "pg_port": pg_port,
        "sasl_ssl_port": sasl_ssl_port,
    }
    settings = _settings(state_dir, test, kafka_version=kafka_version, **ports)
    databases = list(DEFAULT_DATABASES) + [d for d in db or [] if d not in DEFAULT_DATABASES]
    began = time.monotonic()
    with _one_line_errors():
        info = ensure_stack(settings, databases=databases, say=_err)
    what = ", ".join(info.started) if info.started else "nothing (already running)"
    _err(f"ready in {time.monotonic() - began:.1f} s; started: {what}")
    typer.echo(info.exports(), nl=False)


@app.command()
def down(state_dir: StateDir = None, test: TestStack = False) -> None:
    """Stop the Kafka and PostgreSQL processes that `up` started from this state directory."""
    settings = _settings(state_dir, test)
    with _one_line_errors():
        stopped = stop_stack(settings, say=_err)
    _err("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def status(state_dir: StateDir = None, test: TestStack = False) -> None:
    """Show what runs; exit code 0 when both servers run, 1 otherwise."""
    settings = _settings(state_dir, test)
    with _one_line_errors():
        info = stack_status(settings)
    for name, pid, where in (
        ("kafka", info.kafka_pid, info.kafka_bootstrap),
        ("postgres", info.postgres_pid, info.database_url),
    ):
        typer.echo(f"{name:9} {'running pid ' + str(pid) if pid else 'stopped':20} {where}")
    typer.echo(f"state     {info.state_dir}")
    if info.kafka_pid is None or info.postgres_pid is None:
        raise typer.Exit(1)


@app.command()
def env(
    state_dir: StateDir = None,
    test: TestStack = False,
    sasl_ssl: Annotated[
        str | None,
        typer.Option(help="Settings for the SASL_SSL listener with this mechanism (PLAIN, SCRAM-SHA-256/512)."),
    ] = None,
) -> None:
    """Print the connection settings as shell exports: eval "$(byosms-stack env)"."""
    settings = _settings(state_dir, test)
    with _one_line_errors():
        info = stack_status(settings)
        if sasl_ssl is not None:
            recorded = load_running_settings(settings)
            exports = info.env() | sasl_ssl_env(recorded, sasl_ssl)
            typer.echo("".join(f"export {k}={shlex.quote(v)}\n" for k, v in exports.items()), nl=False)
            return
    typer.echo(info.exports(), nl=False)


@app.command()
def demo(
    provisioning_url: Annotated[str, typer.Option(help="Provisioning admin API.")] = "http://127.0.0.1:8081",
    emulator_url: Annotated[str, typer.Option(help="Twilio emulator.")] = "http://127.0.0.1:8099",
    inbound_url: Annotated[
        str, typer.Option(help="The region's public inbound webhook URL (what numbers must carry).")
    ] = "http://127.0.0.1:8080/vendors/v1/twilio/3d904439dc3f4eceb2e574b43c8f5ac5/mo",
    region: Annotated[str, typer.Option(help="Region of the demo integration.")] = "eu-central-1",
    kafka_bootstrap: Annotated[str, typer.Option(envvar="BYOSMS_KAFKA_BOOTSTRAP")] = "127.0.0.1:9092",
    key_dir: Annotated[Path | None, typer.Option(help="Development JWT keys (byosms dev-keys).")] = None,
) -> None:
    """Run the product's main job against the running services (see `make up`)."""
    private_key, _ = ensure_keypair(key_dir or default_key_dir())
    endpoints = Endpoints(provisioning_url, emulator_url, kafka_bootstrap, inbound_url, region)
    try:
        asyncio.run(run_demo(endpoints, private_key.read_bytes(), lambda line: typer.echo(f"demo: {line}")))
    except DemoError as exc:
        _err(f"demo failed: {exc} / Demo fehlgeschlagen")
        raise typer.Exit(1) from None


def main() -> None:
    sys.exit(app())

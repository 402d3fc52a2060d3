"""Bring the local stack up, down, and report on it. The Python API that tests and the CLI share."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from byosms_devstack import kafka_config as kc
from byosms_devstack import kafka_server, kafka_tls, postgres_server, procs, readiness
from byosms_devstack import pg_config as pc
from byosms_devstack.settings import DEFAULT_DATABASES, LOOPBACK, StackSettings
from byosms_devstack.system import Say
from byosms_devstack.topic_plan import plan_topics


class StackError(RuntimeError):
    """The stack could not be brought up or down; the message carries the relevant log tail."""


@dataclass(frozen=True, slots=True)
class StackInfo:
    """How to reach the running stack."""

    kafka_bootstrap: str
    database_url: str
    kafka_pid: int | None = None
    postgres_pid: int | None = None
    state_dir: str = ""
    databases: tuple[str, ...] = DEFAULT_DATABASES
    started: tuple[str, ...] = field(default=())
    """Which servers this call started (empty when everything already ran)."""

    def database_url_for(self, database: str) -> str:
        """URL of another database on the same server, e.g. a service's own."""
        return self.database_url.rsplit("/", 1)[0] + "/" + pc.check_identifier(database)

    def env(self) -> dict[str, str]:
        return {"BYOSMS_KAFKA_BOOTSTRAP": self.kafka_bootstrap, "BYOSMS_DATABASE_URL": self.database_url}

    def exports(self) -> str:
        """Shell lines for `eval "$(byosms-stack env)"`."""
        return "".join(f"export {k}={v}\n" for k, v in self.env().items())


def _stderr(message: str) -> None:
    print(f"byosms-stack: {message}", file=sys.stderr, flush=True)  # noqa: T201


def _settings_file(state_dir: Path) -> Path:
    return state_dir / "stack.json"


def _load_running_settings(settings: StackSettings) -> StackSettings:
    """Ports and versions of a stack started earlier win over the current ones while it still runs:
    `down` and `status` must find the processes `up` started even without the same options."""
    path = _settings_file(settings.state_dir())
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return settings
    if not isinstance(recorded, dict):
        return settings
    keys = ("kafka_port", "controller_port", "pg_port", "kafka_version", "db_user", "sasl_ssl_port")
    try:  # validated like any other settings: a damaged stack.json is ignored, not trusted
        return StackSettings(**{**settings.model_dump(), **{k: recorded[k] for k in keys if k in recorded}})
    except ValidationError:
        return settings


def _record_settings(settings: StackSettings) -> None:
    data = settings.model_dump(
        mode="json", include={"kafka_port", "controller_port", "pg_port", "kafka_version", "db_user", "sasl_ssl_port"}
    )
    _settings_file(settings.state_dir()).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def load_running_settings(settings: StackSettings) -> StackSettings:
    """The settings of the stack that runs from this state dir (ports recorded by `up`)."""
    return _load_running_settings(settings)


def _effective(settings: StackSettings, say: Say) -> StackSettings:
    """The requested settings, unless a stack with other ports already runs from this state dir."""
    recorded = _load_running_settings(settings)
    if recorded == settings:
        return settings
    kafka_up = kafka_server.running_pid(kafka_server.layout(recorded)) is not None
    pg_up = postgres_server.running_pid(postgres_server.layout(recorded)) is not None
    if kafka_up or pg_up:
        say("a stack with other settings already runs here; using it (run `byosms-stack down` to change)")
        return recorded
    return settings


def info_for(settings: StackSettings, databases: Sequence[str] = DEFAULT_DATABASES) -> StackInfo:
    kafka_pid = kafka_server.running_pid(kafka_server.layout(settings))
    pg_pid = postgres_server.running_pid(postgres_server.layout(settings))
    return StackInfo(
        kafka_bootstrap=f"{LOOPBACK}:{settings.kafka_port}",
        database_url=pc.database_url(settings.db_user, LOOPBACK, settings.pg_port, databases[0]),
        kafka_pid=kafka_pid,
        postgres_pid=pg_pid,
        state_dir=str(settings.state_dir()),
        databases=tuple(databases),
    )


async def _provision_kafka(settings: StackSettings, kafka_pid: int, deadline: float) -> None:
    """Wait for the broker, create the topics and, with a SASL_SSL listener, its SCRAM user."""
    k_lay = kafka_server.layout(settings)
    try:
        await readiness.wait_kafka(
            LOOPBACK, settings.kafka_port, deadline, lambda: kafka_server.is_alive(k_lay, kafka_pid)
        )
        await readiness.ensure_topics(k_lay.bootstrap, plan_topics(), deadline)
        if settings.sasl_ssl_port is not None:
            tls = kafka_server.tls_files(settings)
            await readiness.ensure_scram_user(k_lay.bootstrap, kafka_tls.SASL_USER, tls.sasl_password())
            for mechanism in kc.SASL_MECHANISMS:
                await readiness.wait_sasl_login(sasl_ssl_env(settings, mechanism), deadline)
    except readiness.NotReadyError as exc:
        raise StackError(
            f"{exc}\n--- {kafka_server.server_log(k_lay)} (tail) ---\n{procs.tail(kafka_server.server_log(k_lay))}"
            f"\n--- {kafka_server.stdout_log(k_lay)} (tail) ---\n{procs.tail(kafka_server.stdout_log(k_lay), 20)}"
        ) from exc


def sasl_ssl_env(
    settings: StackSettings, mechanism: str = "SCRAM-SHA-512", *, client_cert: bool = False
) -> dict[str, str]:
    """The ``BYOSMS_KAFKA_*`` settings that reach the broker through its SASL_SSL listener."""
    if settings.sasl_ssl_port is None:
        raise StackError("the stack has no SASL_SSL listener (set BYOSMS_STACK_SASL_SSL_PORT) / kein SASL_SSL-Listener")
    tls = kafka_server.tls_files(settings)
    env = {
        "BYOSMS_KAFKA_BOOTSTRAP": f"{LOOPBACK}:{settings.sasl_ssl_port}",
        "BYOSMS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "BYOSMS_KAFKA_SASL_MECHANISM": mechanism,
        "BYOSMS_KAFKA_SASL_USERNAME": kafka_tls.SASL_USER,
        "BYOSMS_KAFKA_SASL_PASSWORD": tls.sasl_password(),
        "BYOSMS_KAFKA_SSL_CAFILE": str(tls.ca_cert),
    }
    if client_cert:
        env["BYOSMS_KAFKA_SSL_CERTFILE"] = str(tls.client_cert)
        env["BYOSMS_KAFKA_SSL_KEYFILE"] = str(tls.client_key)
    return env


def ensure_kafka(settings: StackSettings, *, say: Say = _stderr) -> str:
    """Only the broker (no PostgreSQL), e.g. a second one with a SASL_SSL listener for the security
    tests; returns its PLAINTEXT bootstrap. Stop it with :func:`stop_kafka`."""
    state_dir = settings.state_dir()
    state_dir.mkdir(parents=True, exist_ok=True)
    with procs.exclusive_lock(state_dir / "stack.lock"):
        started = False
        try:
            pid, started = kafka_server.start(settings, say)
            _record_settings(settings)
            deadline = time.monotonic() + settings.ready_timeout_s
            _run_async(lambda: _provision_kafka(settings, pid, deadline))
        except BaseException as exc:
            _stop_started(settings, kafka=started, postgres=False, say=say)
            if isinstance(exc, kafka_server.KafkaError):
                raise StackError(str(exc)) from exc
            raise
    return kafka_server.layout(settings).bootstrap


def stop_kafka(settings: StackSettings, *, say: Say = _stderr) -> bool:
    """Stop the broker :func:`ensure_kafka` started from this state dir."""
    with procs.exclusive_lock(settings.state_dir() / "stack.lock"):
        try:
            return kafka_server.stop(settings, say)
        except kafka_server.KafkaError as exc:
            raise StackError(str(exc)) from exc


async def _wait_and_provision(settings: StackSettings, kafka_pid: int, pg_pid: int, databases: Sequence[str]) -> None:
    deadline = time.monotonic() + settings.ready_timeout_s
    p_lay = postgres_server.layout(settings)

    async def kafka_part() -> None:
        await _provision_kafka(settings, kafka_pid, deadline)

    async def pg_part() -> None:
        try:
            await readiness.wait_postgres(
                LOOPBACK, settings.pg_port, deadline, lambda: postgres_server.is_alive(p_lay, pg_pid)
            )
            await readiness.ensure_databases(LOOPBACK, settings.pg_port, settings.db_user, databases)
        except readiness.NotReadyError as exc:
            raise StackError(f"{exc}\n--- {p_lay.log_file} (tail) ---\n{procs.tail(p_lay.log_file)}") from exc

    await asyncio.gather(kafka_part(), pg_part())


def _run_async(coro_factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """asyncio.run, or in a helper thread when called from inside a running loop (async fixtures)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro_factory())
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(coro_factory())).result()


def ensure_stack(
    settings: StackSettings | None = None,
    *,
    databases: Sequence[str] = DEFAULT_DATABASES,
    say: Say = _stderr,
) -> StackInfo:
    """Start Kafka and PostgreSQL unless they already run, then make sure topics, role and databases
    exist. Idempotent and safe to call from several processes at once. Blocks until both answer."""
    settings = settings or StackSettings()
    for name in databases:
        pc.check_identifier(name)
    pc.check_identifier(settings.db_user)
    state_dir = settings.state_dir()
    state_dir.mkdir(parents=True, exist_ok=True)
    with procs.exclusive_lock(state_dir / "stack.lock"):
        settings = _effective(settings, say)
        kafka_started = pg_started = False
        try:
            # Both start concurrently: pg_ctl returns once PostgreSQL is up while the JVM still boots.
            kafka_pid, kafka_started = kafka_server.start(settings, say)
            pg_pid, pg_started = postgres_server.start(settings, say)
            _record_settings(settings)
            _run_async(lambda: _wait_and_provision(settings, kafka_pid, pg_pid, databases))
        except BaseException as exc:
            # A half-started stack would only be found by the next `down`; stop what this call started.
            _stop_started(settings, kafka=kafka_started, postgres=pg_started, say=say)
            if isinstance(exc, (kafka_server.KafkaError, postgres_server.PostgresError)):
                raise StackError(str(exc)) from exc
            raise
    started = tuple(n for n, s in (("kafka", kafka_started), ("postgres", pg_started)) if s)
    return dataclasses.replace(info_for(settings, databases), started=started)


def _stop_started(settings: StackSettings, *, kafka: bool, postgres: bool, say: Say) -> None:
    try:
        if kafka:
            kafka_server.stop(settings, say)
        if postgres:
            postgres_server.stop(settings, say)
    except (kafka_server.KafkaError, postgres_server.PostgresError) as exc:
        say(f"cleanup after failed start: {exc}")


def stop_stack(settings: StackSettings | None = None, *, say: Say = _stderr) -> list[str]:
    """Stop the servers this state dir started (never anything else). Returns which were running."""
    settings = settings or StackSettings()
    state_dir = settings.state_dir()
    if not state_dir.is_dir():
        return []
    with procs.exclusive_lock(state_dir / "stack.lock"):
        settings = _load_running_settings(settings)
        stopped = []
        try:
            if kafka_server.stop(settings, say):
                stopped.append("kafka")
            if postgres_server.stop(settings, say):
                stopped.append("postgres")
        except (kafka_server.KafkaError, postgres_server.PostgresError) as exc:
            raise StackError(str(exc)) from exc
        return stopped


def stack_status(settings: StackSettings | None = None) -> StackInfo:
    """What runs from this state dir (pids are None for stopped servers); starts nothing."""
    settings = _load_running_settings(settings or StackSettings())
    return info_for(settings)

"""Async checks and provisioning against the running servers: readiness, topics, roles, databases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin import _scram as scram  # the public names are not re-exported for mypy

from byosms_common.kafka_security import aiokafka_options
from byosms_common.settings import KafkaSettings
from byosms_devstack import pg_config as pc
from byosms_devstack import procs
from byosms_devstack.topic_plan import LOCAL_REPLICATION_FACTOR, PlannedTopic

POLL_S = 0.2
TOPIC_ALREADY_EXISTS = 36


class NotReadyError(RuntimeError):
    """A server did not answer before the deadline, or died while we waited."""


async def _wait_port(host: str, port: int, deadline: float, alive: Callable[[], bool], what: str) -> None:
    while not await asyncio.to_thread(procs.port_open, host, port):
        if not alive():
            raise NotReadyError(f"{what} exited while starting / {what} hat sich beim Start beendet")
        if time.monotonic() >= deadline:
            raise NotReadyError(
                f"{what} not listening on {host}:{port} in time / {what} lauscht nicht rechtzeitig auf {host}:{port}"
            )
        await asyncio.sleep(POLL_S)


async def wait_kafka(host: str, port: int, deadline: float, alive: Callable[[], bool]) -> None:
    """TCP first, then an admin metadata call: the port opens before metadata is usable."""
    await _wait_port(host, port, deadline, alive, "Kafka")
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=f"{host}:{port}", request_timeout_ms=5000)
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            if cluster.get("brokers") and cluster.get("controller_id", -1) >= 0:
                return
        except (KafkaError, OSError):
            pass
        finally:
            await admin.close()
        if not alive():
            raise NotReadyError("Kafka exited while starting / Kafka hat sich beim Start beendet")
        if time.monotonic() >= deadline:
            raise NotReadyError("Kafka metadata not available in time / Kafka-Metadaten nicht rechtzeitig da")
        await asyncio.sleep(POLL_S)


async def ensure_topics(bootstrap: str, planned: Sequence[PlannedTopic], deadline: float) -> list[str]:
    """Create missing topics; existing ones are left alone. Returns the names created now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in planned if t.name not in existing]
        if missing:
            new = [NewTopic(t.name, t.partitions, LOCAL_REPLICATION_FACTOR, topic_configs=t.configs) for t in missing]
            response = await admin.create_topics(new, timeout_ms=15000)
            failures = [
                f"{name}: {message or code}"
                for name, code, message in response.topic_errors
                if code not in (0, TOPIC_ALREADY_EXISTS)
            ]
            if failures:
                raise NotReadyError("topic creation failed / Topic-Anlage fehlgeschlagen: " + "; ".join(failures))
        # Creation returns before every partition has a leader; wait so the first produce succeeds.
        wanted = {t.name for t in planned}
        while True:
            described = await admin.describe_topics(sorted(wanted))
            if all(
                d.get("error_code", 0) == 0
                and all(p.get("leader", -1) >= 0 for p in d.get("partitions", []))
                and d.get("partitions")
                for d in described
            ):
                return [t.name for t in missing]
            if time.monotonic() >= deadline:
                raise NotReadyError("topics have no leader in time / Topics ohne Leader")
            await asyncio.sleep(POLL_S)
    finally:
        await admin.close()


async def ensure_scram_user(bootstrap: str, user: str, password: str) -> None:
    """SCRAM-SHA-256 and -512 credentials of ``user`` (KRaft keeps them in the metadata log), set
    over the PLAINTEXT listener; idempotent. The PLAIN user is in the listener's JAAS config."""
    # Quiet: failures come back through the futures; librdkafka would print to stderr besides.
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    # One mechanism per request: the broker refuses to alter one user twice in a request.
    for mechanism in (scram.ScramMechanism.SCRAM_SHA_256, scram.ScramMechanism.SCRAM_SHA_512):
        upsert = scram.UserScramCredentialUpsertion(user, scram.ScramCredentialInfo(mechanism, 4096), password.encode())
        for future in admin.alter_user_scram_credentials([upsert]).values():
            try:
                await asyncio.wait_for(asyncio.wrap_future(future), 30)
            except (KafkaException, TimeoutError) as exc:
                raise NotReadyError(f"cannot create the SCRAM user: {exc} / SCRAM-Benutzer nicht angelegt") from None


async def wait_sasl_login(env: dict[str, str], deadline: float) -> None:
    """Until a client logs in through the SASL_SSL listener with these ``BYOSMS_KAFKA_*`` settings: a
    SCRAM credential just created reaches the broker's metadata a moment after the controller's."""
    settings = KafkaSettings.model_validate({k.removeprefix("BYOSMS_").lower(): v for k, v in env.items()})
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000, **aiokafka_options(settings)
        )
        try:
            await admin.start()
            await admin.describe_cluster()
            return
        except (KafkaError, OSError):
            pass
        finally:
            await admin.close()
        if time.monotonic() >= deadline:
            raise NotReadyError(
                f"no {settings.kafka_sasl_mechanism} login through SASL_SSL in time / kein SASL_SSL-Login rechtzeitig"
            )
        await asyncio.sleep(POLL_S)


async def wait_postgres(host: str, port: int, deadline: float, alive: Callable[[], bool]) -> None:
    """A real connection doing SELECT 1 as the cluster superuser."""
    await _wait_port(host, port, deadline, alive, "PostgreSQL")
    url = pc.database_url(pc.SUPERUSER, host, port, "postgres")
    while True:
        try:
            conn = await asyncpg.connect(url, timeout=5)
            try:
                if await conn.fetchval("SELECT 1") == 1:
                    return
            finally:
                await conn.close()
        except (TimeoutError, OSError, asyncpg.PostgresError):
            pass
        if not alive():
            raise NotReadyError("PostgreSQL exited while starting / PostgreSQL hat sich beim Start beendet")
        if time.monotonic() >= deadline:
            raise NotReadyError("PostgreSQL does not answer in time / PostgreSQL antwortet nicht rechtzeitig")
        await asyncio.sleep(POLL_S)


async def ensure_databases(host: str, port: int, role: str, databases: Sequence[str]) -> list[str]:
    """Role (LOGIN, CREATEDB for tests) and one database per service owned by it; idempotent.

    Returns the databases created now. Names were validated, so splicing them into DDL is safe."""
    pc.check_identifier(role)
    for name in databases:
        pc.check_identifier(name)
    conn = await asyncpg.connect(pc.database_url(pc.SUPERUSER, host, port, "postgres"), timeout=10)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            await conn.execute(f"CREATE ROLE {role} LOGIN CREATEDB")
        created = []
        for name in databases:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f"CREATE DATABASE {name} OWNER {role}")
                created.append(name)
        return created
    finally:
        await conn.close()


async def check_database(url: str) -> bool:
    """Whether ``url`` accepts a connection and answers SELECT 1."""
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    try:
        return bool(await conn.fetchval("SELECT 1") == 1)
    finally:
        await conn.close()

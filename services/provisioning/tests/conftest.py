"""Fixtures of the provisioning tests.

Integration fixtures use the local stack (``uv run byosms-stack up``): PostgreSQL at
``BYOSMS_DATABASE_URL`` and Kafka at ``BYOSMS_KAFKA_BOOTSTRAP``. Each test gets its own throw-away
PostgreSQL schema, its own organization ids, and an in-process Twilio emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from faststream.kafka import KafkaBroker

from byosms_common import topics
from byosms_common.crypto import Keyring
from byosms_common.db import apply_migrations, create_pool, load_migrations
from byosms_common.kafka import Publisher, build_broker
from byosms_common.regions import load_regions
from byosms_common.settings import KafkaSettings
from byosms_common.testing import start_group_at_end
from byosms_common.topics import TopicSpec
from byosms_provisioning import app as app_module
from byosms_provisioning.auth import ALL_PERMISSIONS, JwtVerifier, PemKey
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.settings import ProvisioningSettings
from byosms_provisioning.twilio_gateway import TwilioGateway
from twilio_emulator.settings import EmulatorSettings
from twilio_emulator.testing import RunningEmulator, running_emulator

ISSUER, AUDIENCE = "byosms-platform", "byosms-provisioning"
TEST_KEKS = {"k1": Keyring.generate_key(), "k2": Keyring.generate_key()}


@pytest.fixture(scope="session")
def prov_signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def prov_pool() -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh schema with the service's migrations applied; dropped afterwards."""
    schema = f"prov_test_{uuid.uuid4().hex[:12]}"
    pool = await create_pool(os.environ["BYOSMS_DATABASE_URL"], schema, min_size=1, max_size=5)
    try:
        await apply_migrations(pool, schema, load_migrations("byosms_provisioning"))
        yield pool
    finally:
        await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await pool.close()


@pytest.fixture
async def prov_emulator() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(EmulatorSettings(status_step_delay_s=0.005)) as emu:
        yield emu


def keyring(active: str = "k1", ids: tuple[str, ...] = ("k1", "k2")) -> Keyring:
    return Keyring.from_config(
        "{" + ",".join(f'"{i}": "{TEST_KEKS[i]}"' for i in ids) + "}",
        active,
    )


@dataclass
class Harness:
    """A running provisioning service (HTTP app, outbox relay, optional command consumer)."""

    ctx: ServiceContext
    client: TestClient[Any, Any]
    emulator: RunningEmulator
    signing_key: rsa.RSAPrivateKey
    schema: str
    org: str = field(default_factory=lambda: f"org-{uuid.uuid4().hex[:10]}")

    def token(self, *permissions: str, org: str | None = None, sub: str = "alice@example.com") -> str:
        now = int(time.time())
        claims = {
            "sub": sub,
            "org": org or self.org,
            "permissions": list(permissions or ALL_PERMISSIONS),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 600,
        }
        return jwt.encode(claims, self.signing_key, algorithm="RS256")

    def headers(self, *permissions: str, org: str | None = None, language: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token(*permissions, org=org)}"}
        if language:
            headers["Accept-Language"] = language
        return headers


def provisioning_settings(**overrides: Any) -> ProvisioningSettings:
    values: dict[str, Any] = {
        "jwt_jwks_url": "http://unused.invalid/jwks.json",
        "twilio_timeout_seconds": 2.0,
        "outbox_poll_seconds": 0.2,
        "max_body_bytes": 4096,
    }
    values.update(overrides)
    return ProvisioningSettings.model_validate(values)


@contextlib.asynccontextmanager
async def running_service(
    pool: asyncpg.Pool,
    emulator: RunningEmulator,
    signing_key: rsa.RSAPrivateKey,
    *,
    with_commands: bool = False,
    settings: ProvisioningSettings | None = None,
) -> AsyncIterator[Harness]:
    service_settings = settings or provisioning_settings(command_group_id=f"prov-test-{uuid.uuid4().hex[:8]}")
    twilio = TwilioGateway(api_base=emulator.base_url, timeout_seconds=service_settings.twilio_timeout_seconds)
    await twilio.start()
    public_pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    broker: KafkaBroker = build_broker(
        KafkaSettings(kafka_bootstrap=os.environ["BYOSMS_KAFKA_BOOTSTRAP"]), "provisioning-test"
    )
    ctx = ServiceContext(
        settings=service_settings,
        pool=pool,
        keyring=keyring(),
        twilio=twilio,
        verifier=JwtVerifier(PemKey(public_pem), issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"]),
        regions=load_regions(None),
        publisher=Publisher(broker),
    )
    if with_commands:
        # A fresh group starts at the end of the shared topics: this instance handles only what its
        # test sends, not the backlog of earlier tests and runs.
        group = service_settings.command_group_id
        bootstrap = os.environ["BYOSMS_KAFKA_BOOTSTRAP"]
        await start_group_at_end(bootstrap, group, [topics.INTEGRATION_COMMANDS.name])
        await start_group_at_end(bootstrap, f"{group}-imports", [topics.NUMBER_COMMANDS.name])
        await start_group_at_end(bootstrap, f"{group}-number-claims", [topics.NUMBER_EVENTS.name])
        await start_group_at_end(bootstrap, f"{group}-webhook-health", [topics.WEBHOOK_SIGNATURE_REPORTS.name])
        await start_group_at_end(bootstrap, f"{group}-inventory-records", [topics.NUMBER_STATE.name])
        await start_group_at_end(bootstrap, f"{group}-inventory-events", [topics.NUMBER_EVENTS.name])
        await start_group_at_end(bootstrap, f"{group}-message-trace", [topics.MESSAGE_EVENTS.name])
    consumers = app_module.build_consumers(ctx, KafkaSettings(kafka_bootstrap=os.environ["BYOSMS_KAFKA_BOOTSTRAP"]))
    await broker.start()
    if with_commands:
        await consumers.start()
    stop = asyncio.Event()
    relay = asyncio.create_task(app_module.run_outbox_relay(ctx, stop))
    client: TestClient[Any, Any] = TestClient(TestServer(app_module.build_http_app(ctx)))
    await client.start_server()
    schema = await pool.fetchval("SELECT current_schema()")
    try:
        yield Harness(ctx=ctx, client=client, emulator=emulator, signing_key=signing_key, schema=schema)
    finally:
        stop.set()
        await relay
        await client.close()
        await consumers.stop()
        await broker.stop()
        await twilio.close()


@pytest.fixture
async def prov(
    prov_pool: asyncpg.Pool, prov_emulator: RunningEmulator, prov_signing_key: rsa.RSAPrivateKey
) -> AsyncIterator[Harness]:
    async with running_service(prov_pool, prov_emulator, prov_signing_key) as harness:
        yield harness


@dataclass(frozen=True)
class Record:
    key: str | None
    value: bytes | None
    offset: int


async def topic_records(
    topic: TopicSpec,
    *,
    key: str | Callable[[str | None], bool],
    until: Callable[[list[Record]], bool],
    timeout: float = 15.0,  # noqa: ASYNC109 - a polling deadline, not a cancellation scope
) -> list[Record]:
    """Records of ``topic`` with ``key`` (raw bytes), polled from the beginning until ``until`` holds."""
    wanted = (lambda k: k == key) if isinstance(key, str) else key
    consumer = AIOKafkaConsumer(bootstrap_servers=os.environ["BYOSMS_KAFKA_BOOTSTRAP"], enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[Record] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for r in records:
                    k = r.key.decode() if r.key is not None else None
                    if wanted(k):
                        found.append(Record(k, r.value, r.offset))
            if until(found):
                return found
            if loop.time() > deadline:
                raise AssertionError(f"condition on {topic.name} not met in {timeout}s; saw {len(found)} records")
    finally:
        await consumer.stop()


@pytest.fixture
def prov_records() -> Callable[..., Any]:
    """``topic_records`` for tests (test modules cannot import conftest in importlib mode)."""
    return topic_records


@pytest.fixture
def prov_service() -> Callable[..., Any]:
    """``running_service`` for tests that need their own service instance (e.g. with commands)."""
    return running_service

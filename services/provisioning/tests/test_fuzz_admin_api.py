"""Fuzzing the running admin API from its own OpenAPI document (schemathesis): whatever a client sends,
valid or not, the answer is never a 5xx, and every refusal is a problem document.

The service runs in a thread of its own (real PostgreSQL schema, Kafka broker, in-process Twilio
emulator) because schemathesis calls it synchronously. Each operation gets a few examples, valid
and invalid ones, so the whole run stays well under a minute.
"""

from __future__ import annotations

import asyncio
import collections
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import jwt
import pytest
import schemathesis
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, settings

from byosms_common.crypto import Keyring
from byosms_common.db import apply_migrations, create_pool, load_migrations
from byosms_common.kafka import Publisher, build_broker
from byosms_common.regions import load_regions
from byosms_common.settings import KafkaSettings
from byosms_provisioning import app as app_module
from byosms_provisioning.auth import ALL_PERMISSIONS, JwtVerifier, PemKey
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.openapi import document
from byosms_provisioning.settings import ProvisioningSettings
from byosms_provisioning.twilio_gateway import TwilioGateway
from twilio_emulator.settings import EmulatorSettings
from twilio_emulator.testing import running_emulator

pytestmark = pytest.mark.integration

ISSUER, AUDIENCE = "byosms-platform", "byosms-provisioning"
EXAMPLES_PER_OPERATION = 5
SEEN: collections.Counter[int] = collections.Counter()
"""Statuses the fuzzing got, for the check that it reached the handlers."""

schema = schemathesis.openapi.from_dict(document())


@dataclass(frozen=True)
class LiveService:
    base_url: str
    authorization: str


async def _serve(key: rsa.RSAPrivateKey, ready: queue.Queue[str | BaseException], stop: threading.Event) -> None:
    db_schema = f"prov_fuzz_{uuid.uuid4().hex[:12]}"
    pool = await create_pool(os.environ["BYOSMS_DATABASE_URL"], db_schema, min_size=1, max_size=5)
    try:
        await apply_migrations(pool, db_schema, load_migrations("byosms_provisioning"))
        async with running_emulator(EmulatorSettings(status_step_delay_s=0.005)) as emulator:
            settings_ = ProvisioningSettings.model_validate(
                {"jwt_jwks_url": "http://unused.invalid/jwks.json", "twilio_timeout_seconds": 2.0}
            )
            twilio = TwilioGateway(api_base=emulator.base_url, timeout_seconds=2.0)
            await twilio.start()
            broker = build_broker(KafkaSettings(kafka_bootstrap=os.environ["BYOSMS_KAFKA_BOOTSTRAP"]), "prov-fuzz")
            await broker.start()
            public_pem = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            ctx = ServiceContext(
                settings=settings_,
                pool=pool,
                keyring=Keyring.from_config(f'{{"k1": "{Keyring.generate_key()}"}}', "k1"),
                twilio=twilio,
                verifier=JwtVerifier(PemKey(public_pem), issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"]),
                regions=load_regions(None),
                publisher=Publisher(broker),
            )
            runner = web.AppRunner(app_module.build_http_app(ctx))
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            ready.put(f"http://127.0.0.1:{port}")
            await asyncio.to_thread(stop.wait)
            await runner.cleanup()
            await broker.stop()
            await twilio.close()
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        ready.put(exc)
    finally:
        await pool.execute(f"DROP SCHEMA IF EXISTS {db_schema} CASCADE")
        await pool.close()


@pytest.fixture(scope="module")
def live_service(servers: object) -> Iterator[LiveService]:
    del servers  # makes sure BYOSMS_DATABASE_URL / BYOSMS_KAFKA_BOOTSTRAP are set
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ready: queue.Queue[str | BaseException] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(target=lambda: asyncio.run(_serve(key, ready, stop)), daemon=True)
    thread.start()
    started = ready.get(timeout=60)
    if isinstance(started, BaseException):
        raise started
    now = int(time.time())
    claims = {
        "sub": "fuzzer@example.com",
        "org": f"org-fuzz-{uuid.uuid4().hex[:8]}",
        "permissions": list(ALL_PERMISSIONS),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 3600,
    }
    token = jwt.encode(claims, key, algorithm="RS256")
    try:
        yield LiveService(base_url=started, authorization=f"Bearer {token}")
    finally:
        stop.set()
        thread.join(timeout=30)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_is_answered_with_a_server_error(case: schemathesis.Case, live_service: LiveService) -> None:
    # A valid token on every request, so the fuzzing reaches the handlers (refused tokens: test_auth.py).
    response = case.call(base_url=live_service.base_url, headers={"Authorization": live_service.authorization})
    SEEN[response.status_code] += 1
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/problem+json"), (response.status_code, response.text)


def test_the_fuzzing_reached_the_handlers() -> None:
    """Runs after the fuzzing (file order): it got past authentication to successes and refusals of input."""
    if not SEEN:
        pytest.skip("run together with the fuzz test")
    assert any(200 <= status < 300 for status in SEEN), SEEN
    assert SEEN[400] > 0, SEEN
    assert SEEN[401] < sum(SEEN.values()) / 10, SEEN

"""SharedKey ids: a webhook naming ``key=<id>`` is checked with the integration's key of that id (the
current one or, during a rotation window, the previous one); an id it does not have is refused."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from byosms_common.messages import SealedSecret
from byosms_common.settings import KafkaSettings
from byosms_ingress.app import Ingress
from byosms_ingress.integrations_cache import Integration, IntegrationsCache, select_shared_key
from byosms_ingress.metrics import IngressMetrics
from byosms_ingress.publishing import EventPublisher
from byosms_ingress.routes import RouteDeps, add_routes
from byosms_ingress.settings import IngressSettings
from byosms_ingress.spool import Spool

KEY_A, KEY_B, KEY_C = "shared-key-A-secret-0123", "shared-key-B-secret-4567", "shared-key-C-secret-89ab"
ID_A, ID_B, ID_C = "SK" + "a1" * 16, "SK" + "b2" * 16, "SK" + "c3" * 16
SEALED = SealedSecret(kek_id="k", wrapped_key="dw==", nonce="bg==", ciphertext="Yw==")
OTHER = SealedSecret(kek_id="k", wrapped_key="eA==", nonce="bg==", ciphertext="eA==")


# ---------------------------------------------------------------------------------- selection (unit)


def integration(**keys: Any) -> Integration:
    return Integration(
        integration_id="i", organization_id="o", account_sid="AC1", status="active", version=1,  # type: ignore[arg-type]
        auth_token=SEALED, **{"shared_key": None, **keys},
    )  # fmt: skip


@pytest.mark.unit
@pytest.mark.parametrize(
    ("label", "keys", "named", "selected"),
    [
        ("current by id", {"shared_key": SEALED, "shared_key_id": ID_B}, ID_B, "shared_key"),
        ("previous by id", {"shared_key": SEALED, "shared_key_id": ID_B, "previous_shared_key": OTHER,
                            "previous_shared_key_id": ID_A}, ID_A, "shared_key_previous"),
        ("current wins over a stale previous with its id",
         {"shared_key": SEALED, "shared_key_id": ID_B, "previous_shared_key": OTHER, "previous_shared_key_id": ID_B},
         ID_B, "shared_key"),
        ("unknown id", {"shared_key": SEALED, "shared_key_id": ID_B, "previous_shared_key": OTHER,
                        "previous_shared_key_id": ID_A}, ID_C, "unknown"),
        ("retired previous", {"shared_key": SEALED, "shared_key_id": ID_B}, ID_A, "unknown"),
        ("key stored without id signs any id", {"shared_key": SEALED}, ID_C, "shared_key"),
        ("no shared key", {}, ID_A, "none"),
    ],
)  # fmt: skip
def test_select_shared_key(label: str, keys: dict[str, Any], named: str, selected: str) -> None:
    assert select_shared_key(integration(**keys), named) == selected, label


@pytest.mark.unit
def test_cache_opens_the_previous_key_and_forgets_it_on_change(ingress_kit: Any) -> None:
    keyring = ingress_kit.new_keyring()
    cache = IntegrationsCache(keyring=keyring, region=ingress_kit.REGION.id)
    tenant = ingress_kit.new_tenant(
        shared_key=KEY_B, shared_key_id=ID_B, previous_shared_key=KEY_A, previous_shared_key_id=ID_A
    )
    cache.apply(tenant.integration_id, tenant.state(keyring))
    found = cache.find(tenant.account_sid)
    assert found is not None
    assert (cache.secret(found, "shared_key"), cache.secret(found, "shared_key_previous")) == (KEY_B, KEY_A)
    tenant.previous_shared_key = tenant.previous_shared_key_id = None
    tenant.version = 2
    cache.apply(tenant.integration_id, tenant.state(keyring))
    found = cache.find(tenant.account_sid)
    assert found is not None
    assert cache.secret(found, "shared_key_previous") is None
    assert select_shared_key(found, ID_A) == "unknown"


# --------------------------------------------------------------------- routes (local HTTP server)


@dataclass
class MemoryProducer:
    sent: list[bytes] = field(default_factory=list)

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Any:
        import asyncio

        assert value is not None
        self.sent.append(value)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@dataclass
class Routes:
    client: TestClient[web.Request, web.Application]
    cache: IntegrationsCache
    metrics: IngressMetrics
    keyring: Any


@pytest.fixture
async def routes(ingress_kit: Any, tmp_path: Path) -> AsyncIterator[Routes]:
    keyring = ingress_kit.new_keyring()
    cache = IntegrationsCache(keyring=keyring, region=ingress_kit.REGION.id)
    metrics = IngressMetrics()
    spool = Spool(tmp_path / "spool", 2 * 1024 * 1024)
    await spool.open()
    publisher = EventPublisher(spool, metrics, deadline_s=1.0, drain_batch=10)
    publisher.producer = MemoryProducer()
    app = web.Application()
    add_routes(app, RouteDeps(region=ingress_kit.REGION, cache=cache, publisher=publisher, metrics=metrics,
                              ready=lambda: True))  # fmt: skip
    async with TestClient(TestServer(app)) as client:
        yield Routes(client, cache, metrics, keyring)
    await spool.close()


async def post(routes: Routes, kit: Any, tenant: Any, secret: str, settings: str | None) -> int:
    params = kit.sms_params(tenant.account_sid, kit.new_message_sid())
    algorithm = "HMAC_SHA256" if settings and "HMAC_SHA256" in settings else "HMAC_SHA1"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": kit.sign(secret, kit.MO_URL, params, algorithm),
    }
    if settings is not None:
        headers["X-Twilio-Webhooks-Signature-Settings"] = settings
    response = await routes.client.post(
        kit.MO_URL.removeprefix(kit.REGION.base_url), data=kit.form(params), headers=headers
    )
    return response.status


def rejected(routes: Routes, reason: str) -> float:
    labels = {"endpoint": "mo", "kind": "inbound", "outcome": "rejected", "reason": reason}
    return routes.metrics.registry.get_sample_value("byosms_ingress_requests_total", labels) or 0.0


@pytest.mark.integration
async def test_either_key_of_a_rotation_window_is_accepted_and_others_refused(routes: Routes, ingress_kit: Any) -> None:
    kit = ingress_kit
    tenant = kit.new_tenant(
        shared_key=KEY_B, shared_key_id=ID_B, previous_shared_key=KEY_A, previous_shared_key_id=ID_A
    )
    routes.cache.apply(tenant.integration_id, tenant.state(routes.keyring))

    assert await post(routes, kit, tenant, KEY_B, f"key={ID_B},algorithm=HMAC_SHA256") == 200
    assert await post(routes, kit, tenant, KEY_A, f"key={ID_A},algorithm=HMAC_SHA1") == 200
    assert await post(routes, kit, tenant, tenant.token, None) == 200  # no key=: the Auth Token, as before
    # A key signing under another key's id is a wrong signature; an id the integration lacks is refused.
    assert await post(routes, kit, tenant, KEY_A, f"key={ID_B},algorithm=HMAC_SHA256") == 403
    assert rejected(routes, "signature_wrong") == 1
    assert await post(routes, kit, tenant, KEY_C, f"key={ID_C},algorithm=HMAC_SHA256") == 403
    assert await post(routes, kit, tenant, KEY_A, f"key={ID_C},algorithm=HMAC_SHA256") == 403
    assert rejected(routes, "unknown_shared_key") == 2

    # The provisioning retires the previous key: the state record changes, the cache follows it live.
    tenant.previous_shared_key = tenant.previous_shared_key_id = None
    tenant.version += 1
    routes.cache.apply(tenant.integration_id, tenant.state(routes.keyring))
    assert await post(routes, kit, tenant, KEY_A, f"key={ID_A},algorithm=HMAC_SHA1") == 403
    assert rejected(routes, "unknown_shared_key") == 3
    assert await post(routes, kit, tenant, KEY_B, f"key={ID_B},algorithm=HMAC_SHA256") == 200


@pytest.mark.integration
async def test_a_key_stored_without_id_checks_any_named_id(routes: Routes, ingress_kit: Any) -> None:
    kit = ingress_kit
    tenant = kit.new_tenant(shared_key=KEY_A)  # as stored before key ids existed
    routes.cache.apply(tenant.integration_id, tenant.state(routes.keyring))
    assert await post(routes, kit, tenant, KEY_A, f"key={ID_C},algorithm=HMAC_SHA256") == 200
    assert await post(routes, kit, tenant, KEY_B, f"key={ID_C},algorithm=HMAC_SHA256") == 403


# ------------------------------------------------- Kafka state topic + the Twilio emulator signing


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.integration
async def test_emulator_signed_webhooks_during_a_rotation(
    ingress_kit: Any, ingress_kafka_bootstrap: str, tmp_path: Path
) -> None:
    from twilio_emulator.control import SharedKeySeed
    from twilio_emulator.settings import EmulatorSettings
    from twilio_emulator.testing import running_emulator

    kit = ingress_kit
    port = _free_port()
    # Twilio signs the public URL; here the public base is the test server itself, so the emulator's
    # signature over the URL it posts to is the one the ingress checks.
    overrides = json.dumps({"us-east-1": {"public_base_url": f"http://127.0.0.1:{port}"}})
    settings = IngressSettings.model_validate(
        {
            "region": "us-east-1",
            "BYOSMS_REGIONS_OVERRIDES": overrides,  # the shared name (no prefix) is the field's alias
            "spool_dir": tmp_path / "spool",
            "publish_deadline_s": 5.0,
        }
    )
    assert settings.region_config().base_url == f"http://127.0.0.1:{port}"
    keyring = kit.new_keyring()
    ingress = Ingress(settings, KafkaSettings(kafka_bootstrap=ingress_kafka_bootstrap), keyring)
    key_a, key_b = SharedKeySeed(id=ID_A, secret=KEY_A), SharedKeySeed(id=ID_B, secret=KEY_B, algorithm="HMAC_SHA256")
    async with (
        TestClient(TestServer(ingress.web_app(), host="127.0.0.1", port=port)),
        running_emulator(EmulatorSettings(status_step_delay_s=0.005)) as emu,
    ):
        await kit.wait_until(ingress.follower.loaded.is_set, 30, "integrations loaded")
        await kit.wait_until(lambda: ingress.publisher.producer is not None, 30, "producer connected")
        account = await emu.control.create_account(shared_key=key_a)
        number, customer = "+15005550006", "+14155550100"
        await emu.control.add_phone_number(account.sid, number, sms_url=ingress.region.inbound_url)
        tenant = kit.Tenant(account_sid=account.sid, token=account.auth_token, shared_key=KEY_A, shared_key_id=ID_A)

        async def publish(version: int) -> None:
            tenant.version = version
            await kit.seed(ingress_kafka_bootstrap, keyring, tenant)
            await kit.wait_until(
                lambda: (found := ingress.cache.find(account.sid)) is not None and found.version == version,
                20,
                f"state version {version} cached",
            )

        async def inbound_signed_with(key: SharedKeySeed) -> int | None:
            await emu.control.create_account(account.sid, account.auth_token, shared_key=key)
            result = await emu.control.inbound(customer, number, f"signed with {key.id}")
            assert result.error is None, result
            return result.status

        await publish(1)
        assert await inbound_signed_with(key_a) == 200

        # Rotation in Twilio to key B; provisioning keeps A as the previous key.
        tenant.shared_key, tenant.shared_key_id = KEY_B, ID_B
        tenant.previous_shared_key, tenant.previous_shared_key_id = KEY_A, ID_A
        await publish(2)
        assert await inbound_signed_with(key_b) == 200
        assert await inbound_signed_with(key_a) == 200  # webhooks still signed with A: valid in the window
        assert await inbound_signed_with(SharedKeySeed(id=ID_C, secret=KEY_C)) == 403  # an id it doesn't have

        # Retired: A is refused, B goes on.
        tenant.previous_shared_key = tenant.previous_shared_key_id = None
        await publish(3)
        assert await inbound_signed_with(key_a) == 403
        assert await inbound_signed_with(key_b) == 200
        sample = ingress.metrics.registry.get_sample_value
        labels = {"endpoint": "mo", "kind": "inbound", "outcome": "rejected", "reason": "unknown_shared_key"}
        assert sample("byosms_ingress_requests_total", labels) == 2

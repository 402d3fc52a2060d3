"""The ingress with the dev stack's Kafka: signed webhooks end up on the MO and DR topics, and the
integration cache follows the state topic live (rotation, deactivation, deletion)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from byosms_common.messages import DeliveryReportReceived, InboundMessageReceived, IntegrationStatus, decode
from byosms_common.settings import KafkaSettings
from byosms_ingress.app import Ingress
from byosms_ingress.settings import IngressSettings

pytestmark = pytest.mark.integration

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Running:
    ingress: Ingress
    client: TestClient[web.Request, web.Application]
    keyring: Any


@pytest.fixture
async def running(ingress_kit: Any, ingress_kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Running]:
    keyring = ingress_kit.new_keyring()
    settings = IngressSettings(region="us-east-1", spool_dir=tmp_path / "spool", publish_deadline_s=5.0)
    ingress = Ingress(settings, KafkaSettings(kafka_bootstrap=ingress_kafka_bootstrap), keyring)
    async with TestClient(TestServer(ingress.web_app())) as client:
        await ingress_kit.wait_until(ingress.follower.loaded.is_set, 30, "integrations loaded")
        await ingress_kit.wait_until(lambda: ingress.publisher.producer is not None, 30, "producer connected")
        yield Running(ingress, client, keyring)


async def _post(running: Running, kit: Any, url: str, params: list[tuple[str, str]], token: str) -> int:
    path = url.removeprefix(kit.REGION.base_url)
    headers = {**FORM, "X-Twilio-Signature": kit.sign(token, url, params)}
    response = await running.client.post(path, data=kit.form(params), headers=headers)
    return response.status


async def test_inbound_and_report_reach_kafka(
    running: Running, ingress_kit: Any, ingress_kafka_bootstrap: str, ingress_readers: dict[str, Any]
) -> None:
    kit = ingress_kit
    tenant = kit.new_tenant()
    await kit.seed(ingress_kafka_bootstrap, running.keyring, tenant)
    await kit.wait_until(lambda: running.ingress.cache.find(tenant.account_sid) is not None, 20, "tenant cached")

    sid = kit.new_message_sid()
    assert (
        await _post(running, kit, kit.MO_URL, kit.sms_params(tenant.account_sid, sid, body="Grüße 👋"), tenant.token)
        == 200
    )
    assert await _post(running, kit, kit.STATUS_URL, kit.status_params(tenant.account_sid, sid), tenant.token) == 200

    [mo] = await running_collect(ingress_readers["mo"], sid)
    event = decode(mo.value)
    assert isinstance(event, InboundMessageReceived)
    assert (event.id, event.organization_id, event.payload.body) == (sid, tenant.organization_id, "Grüße 👋")
    assert (event.payload.region, event.payload.integration_id) == ("us-east-1", tenant.integration_id)
    assert event.payload.raw["FromZip"] == [""]
    assert mo.key == b"+15005550006|+14155550100"
    assert dict(mo.headers)["byosms-type"] == b"sms.inbound_received"

    [dr] = await running_collect(ingress_readers["dr"], sid)
    report = decode(dr.value)
    assert isinstance(report, DeliveryReportReceived)
    assert (report.id, report.payload.status, dr.key) == (f"{sid}:delivered", "delivered", sid.encode())


async def running_collect(reader: Any, sid: str) -> list[Any]:
    return list(await reader.collect(lambda r: sid.encode() in r.value, 1))


async def test_cache_follows_rotation_deactivation_and_deletion(
    running: Running, ingress_kit: Any, ingress_kafka_bootstrap: str, ingress_readers: dict[str, Any]
) -> None:
    kit = ingress_kit
    tenant = kit.new_tenant()
    await kit.seed(ingress_kafka_bootstrap, running.keyring, tenant)
    cache = running.ingress.cache
    await kit.wait_until(lambda: cache.find(tenant.account_sid) is not None, 20, "tenant cached")
    old_token = tenant.token
    assert (
        await _post(running, kit, kit.MO_URL, kit.sms_params(tenant.account_sid, kit.new_message_sid()), old_token)
        == 200
    )

    # Rotation: the new token is used as soon as the state record arrives; the old one no longer is.
    tenant.token, tenant.version = "e" * 32, 2
    await kit.seed(ingress_kafka_bootstrap, running.keyring, tenant)
    await kit.wait_until(lambda: (i := cache.find(tenant.account_sid)) is not None and i.version == 2, 20, "rotation")
    assert (
        await _post(running, kit, kit.MO_URL, kit.sms_params(tenant.account_sid, kit.new_message_sid()), old_token)
        == 403
    )
    assert (
        await _post(running, kit, kit.MO_URL, kit.sms_params(tenant.account_sid, kit.new_message_sid()), tenant.token)
        == 200
    )

    # Deactivated: still validated and published (routing discards and records why).
    tenant.status, tenant.version = IntegrationStatus.INACTIVE, 3
    await kit.seed(ingress_kafka_bootstrap, running.keyring, tenant)
    await kit.wait_until(
        lambda: (i := cache.find(tenant.account_sid)) is not None and i.version == 3, 20, "deactivation"
    )
    inactive_sid = kit.new_message_sid()
    assert await _post(running, kit, kit.MO_URL, kit.sms_params(tenant.account_sid, inactive_sid), tenant.token) == 200
    await running_collect(ingress_readers["mo"], inactive_sid)

    # Deleted (tombstone): 403.
    await kit.publish_states(ingress_kafka_bootstrap, [(tenant.integration_id, None)])
    await kit.wait_until(lambda: cache.find(tenant.account_sid) is None, 20, "deletion")
    assert (
        await _post(running, kit, kit.MO_URL, kit.sms_params(tenant.account_sid, kit.new_message_sid()), tenant.token)
        == 403
    )


async def test_observe_mode_is_honoured_only_until_its_expiry_even_without_a_new_state_record(
    running: Running, ingress_kit: Any, ingress_kafka_bootstrap: str
) -> None:
    kit = ingress_kit
    cache = running.ingress.cache
    wrong = "f" * 32

    async def bad_signature() -> int:
        return await _post(running, kit, kit.MO_URL, kit.sms_params(tenant.account_sid, kit.new_message_sid()), wrong)

    # Observe for a few seconds: a bad signature is accepted, then refused once the time is up, although
    # the state topic still says observe (provisioning's job has not set it back yet).
    tenant = kit.new_tenant(
        signature_mode="observe", signature_mode_expires_at=datetime.now(UTC) + timedelta(seconds=4)
    )
    await kit.seed(ingress_kafka_bootstrap, running.keyring, tenant)
    await kit.wait_until(lambda: cache.find(tenant.account_sid) is not None, 20, "tenant cached")
    assert await bad_signature() == 200
    expires = tenant.signature_mode_expires_at
    assert expires is not None
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
    assert await bad_signature() == 403
    metrics = await (await running.client.get("/metrics")).text()
    assert f'integration_id="{tenant.integration_id}",mode="enforce",reason="signature_wrong"' in metrics
    good = kit.sms_params(tenant.account_sid, kit.new_message_sid())
    assert await _post(running, kit, kit.MO_URL, good, tenant.token) == 200

    # A record in observe without an expiry (an older writer) counts as enforce.
    tenant.signature_mode_expires_at, tenant.version = None, 2
    await kit.seed(ingress_kafka_bootstrap, running.keyring, tenant)
    await kit.wait_until(lambda: (i := cache.find(tenant.account_sid)) is not None and i.version == 2, 20, "v2")
    assert await bad_signature() == 403


async def test_health_ready_and_metrics(running: Running) -> None:
    assert (await running.client.get("/healthz")).status == 200
    ready = await running.client.get("/readyz")
    assert ready.status == 200, await ready.text()
    assert json.loads(await ready.text())["checks"] == {
        "not_stopping": True,
        "integrations_loaded": True,
        "kafka": True,
        "spool_accepting": True,
    }
    metrics = await (await running.client.get("/metrics")).text()
    assert 'byosms_ingress_spool_records{spool="' in metrics
    assert "byosms_ingress_kafka_reachable 1.0" in metrics


async def test_not_ready_without_kafka_and_no_crash(ingress_kit: Any, tmp_path: Path) -> None:
    settings = IngressSettings(region="us-east-1", spool_dir=tmp_path / "spool")
    ingress = Ingress(settings, KafkaSettings(kafka_bootstrap="127.0.0.1:1"), ingress_kit.new_keyring())
    async with TestClient(TestServer(ingress.web_app())) as client:
        ready = await client.get("/readyz")
        assert ready.status == 503
        tenant = ingress_kit.new_tenant()
        params = ingress_kit.sms_params(tenant.account_sid, ingress_kit.new_message_sid())
        path = ingress_kit.MO_URL.removeprefix(ingress_kit.REGION.base_url)
        response = await client.post(path, data=ingress_kit.form(params), headers=FORM)
        assert response.status == 503  # integrations not loaded: cannot validate, Twilio may use its fallback

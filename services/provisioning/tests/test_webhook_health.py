"""Webhook signature failures reported by the ingress, shown on the integration until fixed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from byosms_common.kafka import Publisher, build_broker
from byosms_common.messages import (
    WebhookSignatureFailing,
    WebhookSignatureFailingPayload,
    WebhookSignatureRecovered,
    WebhookSignatureRecoveredPayload,
)
from byosms_common.settings import KafkaSettings
from byosms_common.topics import WEBHOOK_SIGNATURE_REPORTS
from byosms_provisioning.integrations.webhook_health import handle_report

if TYPE_CHECKING:
    from conftest import Harness

pytestmark = pytest.mark.integration

BASE = "/api/v2/integrations"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def failing(org: str, iid: str, failures: int, first: datetime, last: datetime) -> WebhookSignatureFailing:
    return WebhookSignatureFailing(
        organization_id=org,
        payload=WebhookSignatureFailingPayload(
            integration_id=iid,
            region="us-east-1",
            failures=failures,
            first_at=first,
            last_at=last,
            reason="signature_wrong",
        ),
    )


def recovered(org: str, iid: str, at: datetime) -> WebhookSignatureRecovered:
    return WebhookSignatureRecovered(
        organization_id=org,
        payload=WebhookSignatureRecoveredPayload(integration_id=iid, region="us-east-1", accepted_at=at),
    )


async def created(prov: Harness) -> str:
    response = await prov.client.post(BASE, json={"name": "N", "region": "us-east-1"}, headers=prov.headers())
    assert response.status == 201
    return str((await response.json())["id"])


async def health(prov: Harness, iid: str, language: str | None = None) -> dict[str, Any]:
    response = await prov.client.get(f"{BASE}/{iid}", headers=prov.headers(language=language))
    assert response.status == 200
    body: dict[str, Any] = (await response.json())["webhook_health"]
    return body


async def test_failures_are_summed_shown_in_the_callers_language_and_cleared(prov: Harness) -> None:
    iid = await created(prov)
    assert await health(prov, iid) == {"status": "ok"}

    first = failing(prov.org, iid, 1, T0, T0)
    await handle_report(prov.ctx, first)
    await handle_report(prov.ctx, first)  # redelivery: not counted twice
    await handle_report(prov.ctx, failing(prov.org, iid, 7, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)))
    await handle_report(prov.ctx, failing("intruder-org", iid, 50, T0, T0))  # not its integration: ignored

    shown = await health(prov, iid)
    assert shown["status"] == "failing"
    assert shown["failures"] == 8
    assert datetime.fromisoformat(shown["since"]) == T0
    assert datetime.fromisoformat(shown["last_at"]) == T0 + timedelta(minutes=2)
    assert shown["code"] == "webhook_signature_invalid"
    assert "secondary auth tokens are not supported" in shown["message"]
    assert "2025-03-01 12:00 UTC" in shown["message"]
    german = await health(prov, iid, "de")
    assert "sekundäre Auth Tokens werden nicht unterstützt" in german["message"]
    listed = await (await prov.client.get(BASE, headers=prov.headers())).json()
    assert listed["items"][0]["webhook_health"]["failures"] == 8

    # An acceptance older than the last failure (another ingress still failing) does not clear it.
    await handle_report(prov.ctx, recovered(prov.org, iid, T0 + timedelta(minutes=1)))
    assert (await health(prov, iid))["status"] == "failing"
    await handle_report(prov.ctx, recovered(prov.org, iid, T0 + timedelta(minutes=3)))
    assert await health(prov, iid) == {"status": "ok"}


async def test_new_credentials_clear_the_failures(prov: Harness) -> None:
    iid = await created(prov)
    await handle_report(prov.ctx, failing(prov.org, iid, 3, T0, T0))
    assert (await health(prov, iid))["status"] == "failing"
    account = await prov.emulator.control.create_account()
    response = await prov.client.put(
        f"{BASE}/{iid}/credentials",
        json={"account_sid": account.sid, "auth_token": account.auth_token},
        headers=prov.headers(),
    )
    assert response.status == 200
    assert (await response.json())["webhook_health"] == {"status": "ok"}
    # A report about the old credentials, still on its way from an ingress, does not bring it back.
    await handle_report(prov.ctx, failing(prov.org, iid, 5, T0, T0 + timedelta(minutes=1)))
    assert (await health(prov, iid))["status"] == "ok"
    # Failures after the change are shown again.
    later = datetime.now(UTC) + timedelta(seconds=5)
    await handle_report(prov.ctx, failing(prov.org, iid, 3, later, later))
    shown = await health(prov, iid)
    assert (shown["status"], shown["failures"]) == ("failing", 3)


async def test_reports_for_unknown_integrations_are_dropped(prov: Harness) -> None:
    await handle_report(prov.ctx, failing(prov.org, f"gone-{uuid.uuid4().hex[:6]}", 1, T0, T0))
    count = await prov.ctx.pool.fetchval("SELECT count(*) FROM integration_webhook_health")
    assert count == 0


async def test_reports_arrive_through_kafka(
    prov_pool: Any, prov_emulator: Any, prov_signing_key: Any, prov_service: Callable[..., Any]
) -> None:
    async with prov_service(prov_pool, prov_emulator, prov_signing_key, with_commands=True) as prov:
        iid = await created(prov)
        broker = build_broker(KafkaSettings(), "provisioning-test-client")
        await broker.start()
        try:
            report = failing(prov.org, iid, 2, T0, T0)
            await Publisher(broker).publish(WEBHOOK_SIGNATURE_REPORTS, report, key=iid)
        finally:
            await broker.stop()
        deadline = asyncio.get_running_loop().time() + 30
        while (shown := await health(prov, iid))["status"] != "failing":
            assert asyncio.get_running_loop().time() < deadline, "the report was not consumed"
            await asyncio.sleep(0.2)
        assert shown["failures"] == 2

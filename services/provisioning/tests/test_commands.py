"""Integration commands from the Kafka command topic."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from byosms_common.kafka import Publisher, build_broker
from byosms_common.messages import (
    ActivateIntegration,
    CreateIntegration,
    CreateIntegrationPayload,
    DeactivateIntegration,
    DeleteIntegration,
    IntegrationCommandRejected,
    IntegrationRefPayload,
    UpdateIntegration,
    UpdateIntegrationPayload,
    decode,
)
from byosms_common.settings import KafkaSettings
from byosms_common.topics import INTEGRATION_COMMANDS, INTEGRATION_EVENTS, INTEGRATION_STATE
from byosms_provisioning import repo
from byosms_provisioning.subscribers import handle_command

if TYPE_CHECKING:
    from conftest import Harness

pytestmark = pytest.mark.integration


def ref(org: str, iid: str) -> IntegrationRefPayload:
    return IntegrationRefPayload(integration_id=iid, actor="platform-svc")


async def test_commands_apply_once_and_refusals_are_events(prov: Harness, prov_records: Callable[..., Any]) -> None:
    iid = f"cmd-{uuid.uuid4().hex[:10]}"
    create = CreateIntegration(
        organization_id=prov.org,
        payload=CreateIntegrationPayload(integration_id=iid, name="From Kafka", region="eu-west-1", actor="svc"),
    )
    await handle_command(prov.ctx, create)
    await handle_command(prov.ctx, create)  # redelivery: skipped
    await handle_command(
        prov.ctx,
        UpdateIntegration(
            organization_id=prov.org,
            payload=UpdateIntegrationPayload(integration_id=iid, notes="via command", actor="svc"),
        ),
    )
    activate = ActivateIntegration(organization_id=prov.org, payload=ref(prov.org, iid))
    await handle_command(prov.ctx, activate)  # refused: no credentials
    await handle_command(prov.ctx, DeactivateIntegration(organization_id=prov.org, payload=ref(prov.org, iid)))
    other_org = DeleteIntegration(organization_id="someone-else", payload=ref("someone-else", iid))
    await handle_command(prov.ctx, other_org)  # refused: not found for that organization

    found = await repo.get(prov.ctx.pool, prov.org, iid)
    assert found is not None
    assert (found.name, found.notes, found.version) == ("From Kafka", "via command", 2)

    events = await prov_records(INTEGRATION_EVENTS, key=iid, until=lambda rs: len(rs) >= 4)
    decoded = [decode(r.value or b"") for r in events]
    assert [m.type for m in decoded] == [
        "integration.created",
        "integration.updated",
        "integration.command_rejected",
        "integration.command_rejected",
    ]
    rejected = decoded[2]
    assert isinstance(rejected, IntegrationCommandRejected)
    assert rejected.payload.command_id == activate.id
    assert rejected.payload.code == "integration_no_credentials"
    assert rejected.payload.message.de
    last = decoded[3]
    assert isinstance(last, IntegrationCommandRejected)
    assert (last.organization_id, last.payload.code) == ("someone-else", "integration_not_found")


async def test_commands_through_kafka(
    prov_pool: Any,
    prov_emulator: Any,
    prov_signing_key: Any,
    prov_service: Callable[..., Any],
    prov_records: Callable[..., Any],
) -> None:
    async with prov_service(prov_pool, prov_emulator, prov_signing_key, with_commands=True) as prov:
        iid = f"kafka-{uuid.uuid4().hex[:10]}"
        broker = build_broker(KafkaSettings(), "provisioning-test-client")
        await broker.start()
        try:
            publisher = Publisher(broker)
            await publisher.publish(
                INTEGRATION_COMMANDS,
                CreateIntegration(
                    organization_id=prov.org,
                    payload=CreateIntegrationPayload(integration_id=iid, name="K", region="us-west-2", actor="svc"),
                ),
                key=iid,
            )
            await publisher.publish(
                INTEGRATION_COMMANDS, DeleteIntegration(organization_id=prov.org, payload=ref(prov.org, iid)), key=iid
            )
        finally:
            await broker.stop()
        events = await prov_records(INTEGRATION_EVENTS, key=iid, until=lambda rs: len(rs) >= 2, timeout=30)
        assert [decode(r.value or b"").type for r in events] == ["integration.created", "integration.deleted"]
        states = await prov_records(INTEGRATION_STATE, key=iid, until=lambda rs: len(rs) >= 2, timeout=30)
        assert states[-1].value is None  # tombstone

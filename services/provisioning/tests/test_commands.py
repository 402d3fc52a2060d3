"""Integration commands from the Kafka command topic."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from byosms_common.crypto import associated_data, open_sealed
from byosms_common.errors import ByosmsError
from byosms_common.kafka import Publisher, build_broker
from byosms_common.messages import (
    ActivateIntegration,
    CreateIntegration,
    CreateIntegrationPayload,
    DeactivateIntegration,
    DeleteIntegration,
    IntegrationCommandApplied,
    IntegrationCommandRejected,
    IntegrationCreated,
    IntegrationRefPayload,
    IntegrationUpdated,
    SetCredentialsPayload,
    SetIntegrationCredentials,
    UpdateIntegration,
    UpdateIntegrationPayload,
    decode,
    encode,
)
from byosms_common.settings import KafkaSettings
from byosms_common.topics import INTEGRATION_COMMANDS, INTEGRATION_EVENTS, INTEGRATION_STATE
from byosms_provisioning.integrations import credential_sealing, repo
from byosms_provisioning.integrations.subscribers import apply_command, handle_command

if TYPE_CHECKING:
    from conftest import Harness

pytestmark = pytest.mark.integration


def ref(org: str, iid: str) -> IntegrationRefPayload:
    return IntegrationRefPayload(integration_id=iid, actor="platform-svc")


async def created_id(prov: Harness, request_id: str) -> str:
    async with prov.ctx.pool.acquire() as conn:
        found = await repo.get_by_request_id(conn, prov.org, request_id)
    assert found is not None
    return found.id


async def test_commands_apply_once_and_every_command_has_a_result(
    prov: Harness, prov_records: Callable[..., Any]
) -> None:
    request_id = f"req-{uuid.uuid4().hex[:10]}"
    create = CreateIntegration(
        organization_id=prov.org,
        payload=CreateIntegrationPayload(request_id=request_id, name="From Kafka", region="eu-west-1", actor="svc"),
    )
    await handle_command(prov.ctx, create)
    await handle_command(prov.ctx, create)  # redelivery: skipped
    iid = await created_id(prov, request_id)
    update = UpdateIntegration(
        organization_id=prov.org,
        payload=UpdateIntegrationPayload(integration_id=iid, notes="via command", actor="svc"),
    )
    await handle_command(prov.ctx, update)
    activate = ActivateIntegration(organization_id=prov.org, payload=ref(prov.org, iid))
    await handle_command(prov.ctx, activate)  # refused: no credentials
    deactivate = DeactivateIntegration(organization_id=prov.org, payload=ref(prov.org, iid))
    await handle_command(prov.ctx, deactivate)  # applied, nothing to change
    other_org = DeleteIntegration(organization_id="someone-else", payload=ref("someone-else", iid))
    await handle_command(prov.ctx, other_org)  # refused: not found for that organization

    found = await repo.get(prov.ctx.pool, prov.org, iid)
    assert found is not None
    assert (found.name, found.notes, found.version) == ("From Kafka", "via command", 2)

    events = await prov_records(INTEGRATION_EVENTS, key=iid, until=lambda rs: len(rs) >= 7)
    decoded = [decode(r.value or b"") for r in events]
    assert [m.type for m in decoded] == [
        "integration.created",
        "integration.command_applied",
        "integration.updated",
        "integration.command_applied",
        "integration.command_rejected",
        "integration.command_applied",
        "integration.command_rejected",
    ]
    created, created_result, updated, _, rejected, unchanged, last = decoded
    assert isinstance(created, IntegrationCreated)
    assert isinstance(updated, IntegrationUpdated)
    assert (created.payload.command_id, updated.payload.command_id) == (create.id, update.id)
    assert isinstance(created_result, IntegrationCommandApplied)
    assert (created_result.payload.command_id, created_result.payload.changed) == (create.id, True)
    assert created_result.payload.integration is not None
    assert created_result.payload.integration.integration_id == iid
    assert isinstance(rejected, IntegrationCommandRejected)
    assert rejected.payload.command_id == activate.id
    assert rejected.payload.code == "integration_no_credentials"
    assert rejected.payload.message.de
    assert isinstance(unchanged, IntegrationCommandApplied)
    assert (unchanged.payload.command_id, unchanged.payload.changed) == (deactivate.id, False)
    assert unchanged.payload.command_type == "integration.deactivate"
    assert isinstance(last, IntegrationCommandRejected)
    assert (last.organization_id, last.payload.code) == ("someone-else", "integration_not_found")


async def test_create_command_with_a_chosen_id_is_refused_alike_whether_taken_or_not(
    prov: Harness, prov_records: Callable[..., Any]
) -> None:
    request_id = f"req-{uuid.uuid4().hex[:10]}"
    await handle_command(
        prov.ctx,
        CreateIntegration(
            organization_id=prov.org,
            payload=CreateIntegrationPayload(request_id=request_id, name="A", region="eu-west-1", actor="svc"),
        ),
    )
    taken = await created_id(prov, request_id)
    intruder = f"org-{uuid.uuid4().hex[:10]}"
    commands = [
        CreateIntegration(
            organization_id=intruder,
            payload=CreateIntegrationPayload(integration_id=chosen, name="B", region="eu-west-1", actor="svc"),
        )
        for chosen in (taken, f"free-{uuid.uuid4().hex[:8]}")
    ]
    for command in commands:
        await handle_command(prov.ctx, command)
    results = await prov_records(INTEGRATION_EVENTS, key=intruder, until=lambda rs: len(rs) >= 2)
    decoded = [decode(r.value or b"") for r in results]
    assert all(isinstance(m, IntegrationCommandRejected) for m in decoded)
    assert [(m.payload.command_id, m.payload.code) for m in decoded] == [  # type: ignore[union-attr]
        (c.id, "integration_id_not_accepted") for c in commands
    ]
    assert (await repo.get(prov.ctx.pool, prov.org, taken)) is not None


async def test_set_credentials_command_carries_them_sealed(prov: Harness, prov_records: Callable[..., Any]) -> None:
    private = credential_sealing.generate_private_key()
    prov.ctx.sealing_keys = credential_sealing.SealingKeyring.from_config(json.dumps({"s1": private}), "s1")
    public = credential_sealing.public_key_b64(private)
    request_id = f"req-{uuid.uuid4().hex[:10]}"
    await handle_command(
        prov.ctx,
        CreateIntegration(
            organization_id=prov.org,
            payload=CreateIntegrationPayload(request_id=request_id, name="S", region="eu-west-1", actor="svc"),
        ),
    )
    iid = await created_id(prov, request_id)
    account = await prov.emulator.control.create_account()
    shared = "shared-key-secret-0123456789"

    def command(org: str, integration_id: str, token: str) -> SetIntegrationCredentials:
        sealed = credential_sealing.seal(
            public,
            "s1",
            organization_id=org,
            integration_id=integration_id,
            account_sid=account.sid,
            auth_token=token,
            shared_key=shared,
        )
        return SetIntegrationCredentials(
            organization_id=prov.org,
            payload=SetCredentialsPayload(integration_id=iid, account_sid=account.sid, sealed=sealed, actor="svc"),
        )

    replayed = command("another-org", iid, account.auth_token)  # sealed for another organization
    wrong = command(prov.org, iid, "0" * 32)  # opens, but Twilio refuses the token
    good = command(prov.org, iid, account.auth_token)
    for c in (replayed, wrong, good):
        raw = encode(c)
        assert account.auth_token.encode() not in raw
        assert shared.encode() not in raw
        await handle_command(prov.ctx, c)

    events = await prov_records(INTEGRATION_EVENTS, key=iid, until=lambda rs: len(rs) >= 6)
    decoded = [decode(r.value or b"") for r in events]
    assert [m.type for m in decoded[2:]] == [
        "integration.command_rejected",
        "integration.command_rejected",
        "integration.updated",
        "integration.command_applied",
    ]
    assert [m.payload.code for m in decoded[2:4]] == [  # type: ignore[union-attr]
        "sealed_credentials_invalid",
        "credentials_rejected",
    ]
    stored = await repo.get(prov.ctx.pool, prov.org, iid)
    assert stored is not None
    assert stored.has_credentials
    assert stored.shared_key is not None
    aad = associated_data(prov.org, iid, "auth_token")
    assert stored.auth_token is not None
    assert open_sealed(prov.ctx.keyring, stored.auth_token, aad) == account.auth_token


async def test_set_credentials_command_without_sealing_keys_is_refused(prov: Harness) -> None:
    prov.ctx.sealing_keys = None
    private = credential_sealing.generate_private_key()
    sealed = credential_sealing.seal(
        credential_sealing.public_key_b64(private),
        "s1",
        organization_id=prov.org,
        integration_id="i",
        account_sid="AC" + "0" * 32,
        auth_token="0" * 32,
    )
    command = SetIntegrationCredentials(
        organization_id=prov.org,
        payload=SetCredentialsPayload(integration_id="i", account_sid="AC" + "0" * 32, sealed=sealed, actor="svc"),
    )
    async with prov.ctx.pool.acquire() as conn, conn.transaction():
        with pytest.raises(ByosmsError) as refused:
            await apply_command(prov.ctx, command, conn)
    assert refused.value.code == "sealed_credentials_invalid"


async def test_commands_through_kafka(
    prov_pool: Any,
    prov_emulator: Any,
    prov_signing_key: Any,
    prov_service: Callable[..., Any],
    prov_records: Callable[..., Any],
) -> None:
    async with prov_service(prov_pool, prov_emulator, prov_signing_key, with_commands=True) as prov:
        broker = build_broker(KafkaSettings(), "provisioning-test-client")
        await broker.start()
        try:
            publisher = Publisher(broker)
            request_id = f"req-{uuid.uuid4().hex[:10]}"
            create = CreateIntegration(
                organization_id=prov.org,
                payload=CreateIntegrationPayload(request_id=request_id, name="K", region="us-west-2", actor="svc"),
            )
            await publisher.publish(INTEGRATION_COMMANDS, create, key=prov.org)
            iid = await _wait_created(prov, request_id)
            await publisher.publish(
                INTEGRATION_COMMANDS, DeleteIntegration(organization_id=prov.org, payload=ref(prov.org, iid)), key=iid
            )
        finally:
            await broker.stop()
        events = await prov_records(INTEGRATION_EVENTS, key=iid, until=lambda rs: len(rs) >= 4, timeout=30)
        assert [decode(r.value or b"").type for r in events] == [
            "integration.created",
            "integration.command_applied",
            "integration.deleted",
            "integration.command_applied",
        ]
        states = await prov_records(INTEGRATION_STATE, key=iid, until=lambda rs: len(rs) >= 2, timeout=30)
        assert states[-1].value is None  # tombstone


async def _wait_created(prov: Harness, request_id: str, timeout: float = 30.0) -> str:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with prov.ctx.pool.acquire() as conn:
            found = await repo.get_by_request_id(conn, prov.org, request_id)
        if found is not None:
            return found.id
        assert asyncio.get_running_loop().time() < deadline, "the create command was not applied"
        await asyncio.sleep(0.1)


async def test_twilio_away_ends_in_a_retryable_rejection_not_silence(
    prov: Harness, prov_records: Callable[..., Any]
) -> None:
    private = credential_sealing.generate_private_key()
    prov.ctx.sealing_keys = credential_sealing.SealingKeyring.from_config(json.dumps({"s1": private}), "s1")
    prov.ctx.settings = prov.ctx.settings.model_copy(update={"command_retry_seconds": 1.0})
    request_id = f"req-{uuid.uuid4().hex[:10]}"
    await handle_command(
        prov.ctx,
        CreateIntegration(
            organization_id=prov.org,
            payload=CreateIntegrationPayload(request_id=request_id, name="T", region="eu-west-1", actor="svc"),
        ),
    )
    iid = await created_id(prov, request_id)
    account = await prov.emulator.control.create_account()
    await prov.emulator.control.add_fault(status=503, path_contains=f"/Accounts/{account.sid}.json")
    sealed = credential_sealing.seal(
        credential_sealing.public_key_b64(private),
        "s1",
        organization_id=prov.org,
        integration_id=iid,
        account_sid=account.sid,
        auth_token=account.auth_token,
    )
    command = SetIntegrationCredentials(
        organization_id=prov.org,
        payload=SetCredentialsPayload(integration_id=iid, account_sid=account.sid, sealed=sealed, actor="svc"),
    )
    await handle_command(prov.ctx, command)
    await handle_command(prov.ctx, command)  # delivered again: still one result

    def rejections(records: list[Any]) -> list[IntegrationCommandRejected]:
        found = [decode(r.value or b"") for r in records]
        return [m for m in found if isinstance(m, IntegrationCommandRejected) and m.payload.command_id == command.id]

    records = await prov_records(INTEGRATION_EVENTS, key=iid, until=lambda rs: len(rejections(rs)) >= 1)
    await asyncio.sleep(0.5)
    records = await prov_records(INTEGRATION_EVENTS, key=iid, until=lambda rs: len(rejections(rs)) >= 1)
    (rejected,) = rejections(records)
    assert rejected.payload.code == "vendor_unavailable"
    assert rejected.payload.retryable is True
    stored = await repo.get(prov.ctx.pool, prov.org, iid)
    assert stored is not None
    assert not stored.has_credentials

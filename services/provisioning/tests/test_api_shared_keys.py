"""SharedKey ids and the rotation window through the admin API, the command topic, KEK rotation and
the migration (real PostgreSQL and Kafka, Twilio emulated)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from byosms_common.crypto import CryptoError, Keyring, associated_data, open_sealed, seal
from byosms_common.db import Migration, apply_migrations, create_pool, load_migrations
from byosms_common.messages import (
    CreateIntegration,
    CreateIntegrationPayload,
    IntegrationState,
    SetCredentialsPayload,
    SetIntegrationCredentials,
    decode,
)
from byosms_common.topics import INTEGRATION_STATE
from byosms_provisioning import auth
from byosms_provisioning.integrations import credential_sealing, repo, rotation
from byosms_provisioning.integrations.subscribers import handle_command

if TYPE_CHECKING:
    from conftest import Harness

pytestmark = pytest.mark.integration

BASE = "/api/v2/integrations"
KEY_A, KEY_B, KEY_C = "shared-key-A-secret-0123", "shared-key-B-secret-4567", "shared-key-C-secret-89ab"
ID_A, ID_B, ID_C = "SK" + "a1" * 16, "SK" + "b2" * 16, "SK" + "c3" * 16


async def new_integration(prov: Harness) -> tuple[str, Any]:
    created = await prov.client.post(BASE, json={"name": "n", "region": "us-east-1"}, headers=prov.headers())
    assert created.status == 201
    return (await created.json())["id"], await prov.emulator.control.create_account()


async def put_credentials(prov: Harness, iid: str, acct: Any, expect: int = 200, **extra: Any) -> dict[str, Any]:
    body = {"account_sid": acct.sid, "auth_token": acct.auth_token, **extra}
    response = await prov.client.put(f"{BASE}/{iid}/credentials", json=body, headers=prov.headers())
    assert response.status == expect, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def retire(prov: Harness, iid: str, key_id: str, expect: int, *permissions: str) -> dict[str, Any]:
    response = await prov.client.delete(
        f"{BASE}/{iid}/credentials/shared-keys/{key_id}", headers=prov.headers(*permissions)
    )
    assert response.status == expect, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def latest_state(prov_records: Callable[..., Any], iid: str, version: int) -> IntegrationState:
    def reached(records: list[Any]) -> bool:
        return any(r.value and decode(r.value).payload.version == version for r in records)  # type: ignore[union-attr]

    records = await prov_records(INTEGRATION_STATE, key=iid, until=reached)
    state = decode(records[-1].value)
    assert isinstance(state, IntegrationState)
    return state


async def test_rotation_keeps_the_previous_key_until_it_is_retired(
    prov: Harness, prov_records: Callable[..., Any]
) -> None:
    iid, acct = await new_integration(prov)
    first = await put_credentials(prov, iid, acct, shared_key=KEY_A, shared_key_id=ID_A)
    assert first["credentials"]["shared_key_ids"] == {"current": ID_A}

    rotated = await put_credentials(prov, iid, acct, shared_key=KEY_B, shared_key_id=ID_B)
    assert rotated["credentials"] == {
        "auth_token_set": True,
        "shared_key_set": True,
        "shared_key_ids": {"current": ID_B, "previous": ID_A},
    }

    stored = await repo.get(prov.ctx.pool, prov.org, iid)
    assert stored is not None
    assert stored.previous_shared_key is not None
    assert stored.shared_key is not None
    # Each key is sealed for its own slot: the previous one does not open as the current one.
    previous_aad = associated_data(prov.org, iid, "shared_key_previous")
    assert open_sealed(prov.ctx.keyring, stored.previous_shared_key, previous_aad) == KEY_A
    with pytest.raises(CryptoError):
        open_sealed(prov.ctx.keyring, stored.previous_shared_key, associated_data(prov.org, iid, "shared_key"))
    assert open_sealed(prov.ctx.keyring, stored.shared_key, associated_data(prov.org, iid, "shared_key")) == KEY_B

    # The state topic carries both keys sealed, with their ids, for the ingresses.
    state = await latest_state(prov_records, iid, rotated["version"])
    assert (state.payload.shared_key_id, state.payload.previous_shared_key_id) == (ID_B, ID_A)
    assert state.payload.previous_shared_key == stored.previous_shared_key

    # Retiring: the current key cannot be retired, an unknown id is not found, a malformed one is refused.
    assert (await retire(prov, iid, ID_B, 409))["code"] == "shared_key_is_current"
    assert (await retire(prov, iid, ID_C, 404))["code"] == "shared_key_not_found"
    malformed = await retire(prov, iid, "a=b", 400)
    assert "shared_key_id" in malformed["detail"]
    assert (await retire(prov, iid, ID_A, 403, auth.INTEGRATION_VIEW))["code"] != "shared_key_not_found"

    retired = await retire(prov, iid, ID_A, 200)
    assert retired["credentials"]["shared_key_ids"] == {"current": ID_B}
    assert retired["version"] == rotated["version"] + 1
    state = await latest_state(prov_records, iid, retired["version"])
    assert (state.payload.shared_key_id, state.payload.previous_shared_key, state.payload.previous_shared_key_id) == (
        ID_B,
        None,
        None,
    )
    assert (await retire(prov, iid, ID_A, 404))["code"] == "shared_key_not_found"

    # The audit log names the key ids, never a key.
    entries = await repo.audit_entries(prov.ctx.pool, prov.org, iid)
    assert [e["action"] for e in entries][-3:] == ["credentials_set", "credentials_set", "shared_key_retired"]
    assert entries[-2]["after"]["previous_shared_key_id"] == ID_A
    assert (entries[-1]["before"]["previous_shared_key_id"], entries[-1]["after"]["previous_shared_key_id"]) == (
        ID_A,
        None,
    )
    assert all(k not in json.dumps(entries, default=str) for k in (KEY_A, KEY_B, "ciphertext"))


async def test_a_credentials_change_without_a_new_key_id_ends_the_window(prov: Harness) -> None:
    iid, acct = await new_integration(prov)
    await put_credentials(prov, iid, acct, shared_key=KEY_A, shared_key_id=ID_A)
    await put_credentials(prov, iid, acct, shared_key=KEY_B, shared_key_id=ID_B)
    same = await put_credentials(prov, iid, acct, shared_key=KEY_B, shared_key_id=ID_B)
    assert same["credentials"]["shared_key_ids"] == {"current": ID_B}
    not_kept = await put_credentials(
        prov, iid, acct, shared_key=KEY_C, shared_key_id=ID_C, keep_previous_shared_key=False
    )
    assert not_kept["credentials"]["shared_key_ids"] == {"current": ID_C}
    without = await put_credentials(prov, iid, acct)
    assert without["credentials"] == {"auth_token_set": True, "shared_key_set": False, "shared_key_ids": {}}
    legacy = await put_credentials(prov, iid, acct, shared_key=KEY_A)
    assert legacy["credentials"]["shared_key_ids"] == {"current": None}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"shared_key_id": ID_A}, "shared_key_id"),  # an id without a key
        ({"shared_key": KEY_A, "shared_key_id": "SK,algorithm=HMAC_SHA1"}, "shared_key_id"),
        ({"shared_key": KEY_A, "shared_key_id": "x" * 65}, "shared_key_id"),
        ({"shared_key": KEY_A, "keep_previous_shared_key": "sometimes"}, "keep_previous_shared_key"),
    ],
)
async def test_bad_key_ids_are_refused_naming_the_field(prov: Harness, body: dict[str, Any], field: str) -> None:
    iid, acct = await new_integration(prov)
    problem = await put_credentials(prov, iid, acct, expect=400, **body)
    assert field in problem["detail"]
    assert KEY_A not in json.dumps(problem)
    assert (await repo.get(prov.ctx.pool, prov.org, iid)).account_sid is None  # type: ignore[union-attr]


async def test_set_credentials_command_names_the_key_id_inside_the_seal(prov: Harness) -> None:
    private = credential_sealing.generate_private_key()
    prov.ctx.sealing_keys = credential_sealing.SealingKeyring.from_config(json.dumps({"s1": private}), "s1")
    public = credential_sealing.public_key_b64(private)
    request_id = f"req-{uuid.uuid4().hex[:10]}"
    create = CreateIntegrationPayload(request_id=request_id, name="S", region="us-east-1", actor="svc")
    await handle_command(prov.ctx, CreateIntegration(organization_id=prov.org, payload=create))
    found = await repo.get_by_request_id(prov.ctx.pool, prov.org, request_id)  # type: ignore[arg-type]
    assert found is not None
    account = await prov.emulator.control.create_account()

    async def send(key: str, key_id: str, *, keep: bool = True) -> None:
        sealed = credential_sealing.seal(
            public,
            "s1",
            organization_id=prov.org,
            integration_id=found.id,
            account_sid=account.sid,
            auth_token=account.auth_token,
            shared_key=key,
            shared_key_id=key_id,
        )
        payload = SetCredentialsPayload(
            integration_id=found.id, account_sid=account.sid, sealed=sealed, actor="svc", keep_previous_shared_key=keep
        )
        await handle_command(prov.ctx, SetIntegrationCredentials(organization_id=prov.org, payload=payload))

    await send(KEY_A, ID_A)
    await send(KEY_B, ID_B)
    stored = await repo.get(prov.ctx.pool, prov.org, found.id)
    assert stored is not None
    assert stored.shared_key_ids == {"current": ID_B, "previous": ID_A}
    await send(KEY_C, ID_C, keep=False)
    stored = await repo.get(prov.ctx.pool, prov.org, found.id)
    assert stored is not None
    assert stored.shared_key_ids == {"current": ID_C}


async def test_kek_rotation_covers_the_previous_key(prov: Harness) -> None:
    iid, acct = await new_integration(prov)
    await put_credentials(prov, iid, acct, shared_key=KEY_A, shared_key_id=ID_A)
    await put_credentials(prov, iid, acct, shared_key=KEY_B, shared_key_id=ID_B)
    assert await repo.count_by_kek(prov.ctx.pool) == {"k1": 3}

    old = prov.ctx.keyring
    assert await rotation.rotate(prov.ctx.pool, Keyring(keys=old.keys, active="k2")) == 1
    assert await repo.count_by_kek(prov.ctx.pool) == {"k2": 3}
    retired = Keyring(keys={"k2": old.keys["k2"]}, active="k2")
    stored = await repo.get(prov.ctx.pool, prov.org, iid)
    assert stored is not None
    assert stored.previous_shared_key is not None
    previous_aad = associated_data(prov.org, iid, "shared_key_previous")
    assert open_sealed(retired, stored.previous_shared_key, previous_aad) == KEY_A


async def test_every_sealed_column_is_rotated(prov: Harness) -> None:
    # A new sealed column that KEK rotation does not know would keep secrets under a retired KEK.
    jsonb = await prov.ctx.pool.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = $1 AND table_name = 'integrations' AND data_type = 'jsonb'",
        prov.schema,
    )
    assert {r["column_name"] for r in jsonb} == set(repo.SEALED_COLUMNS)


async def test_migration_keeps_existing_rows_working() -> None:
    """Rows written before key ids existed read as keys without id; the new columns start empty."""
    schema = f"prov_mig_{uuid.uuid4().hex[:12]}"
    pool = await create_pool(os.environ["BYOSMS_DATABASE_URL"], schema, min_size=1, max_size=2)
    try:
        migrations: list[Migration] = load_migrations("byosms_provisioning")
        before = [m for m in migrations if m.version < 11]
        assert [m.version for m in migrations if m.version >= 11][:1] == [11]
        await apply_migrations(pool, schema, before)
        keyring = Keyring.from_config('{"k": "' + Keyring.generate_key() + '"}', "k")
        sealed = seal(keyring, KEY_A, associated_data("org", "old", "shared_key")).model_dump_json()
        token = seal(keyring, "t" * 32, associated_data("org", "old", "auth_token")).model_dump_json()
        await pool.execute(
            "INSERT INTO integrations (id, organization_id, name, region, account_sid, auth_token, shared_key, "
            "status, version, created_at, updated_at) "
            "VALUES ('old', 'org', 'n', 'us-east-1', $1, $2, $3, 'active', 4, now(), now())",
            "AC" + "0" * 32,
            token,
            sealed,
        )
        assert await apply_migrations(pool, schema, migrations) == [m.version for m in migrations if m.version >= 11]
        old = await repo.get(pool, "org", "old")
        assert old is not None
        assert old.shared_key is not None
        assert old.shared_key_ids == {"current": None}
        assert open_sealed(keyring, old.shared_key, associated_data("org", "old", "shared_key")) == KEY_A
    finally:
        await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await pool.close()

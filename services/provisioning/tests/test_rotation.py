"""KEK rotation re-wraps every data key; the old KEK can then be retired."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

import pytest

from byosms_common.crypto import CryptoError, Keyring, associated_data, open_sealed
from byosms_provisioning.integrations import repo, rotation

if TYPE_CHECKING:
    from conftest import Harness

pytestmark = pytest.mark.integration


async def test_rotate_rewraps_and_old_kek_can_be_retired(prov: Harness) -> None:
    tokens: dict[str, str] = {}
    for n in range(5):
        acct = await prov.emulator.control.create_account()
        created = await prov.client.post(
            "/api/v2/integrations", json={"name": f"i{n}", "region": "us-east-1"}, headers=prov.headers()
        )
        iid = (await created.json())["id"]
        response = await prov.client.put(
            f"/api/v2/integrations/{iid}/credentials",
            json={"account_sid": acct.sid, "auth_token": acct.auth_token, "shared_key": "shared-key-secret-0123"},
            headers=prov.headers(),
        )
        assert response.status == 200
        tokens[iid] = acct.auth_token
    assert (await repo.count_by_kek(prov.ctx.pool)) == {"k1": 10}

    old = prov.ctx.keyring
    both = Keyring(keys=old.keys, active="k2")
    changed = await rotation.rotate(prov.ctx.pool, both, batch_size=2)
    assert changed == 5
    assert (await repo.count_by_kek(prov.ctx.pool)) == {"k2": 10}
    assert await rotation.rotate(prov.ctx.pool, both) == 0  # idempotent

    retired = Keyring(keys={"k2": old.keys["k2"]}, active="k2")
    for iid, token in tokens.items():
        found = await repo.get(prov.ctx.pool, prov.org, iid)
        assert found is not None
        assert found.auth_token is not None
        assert found.shared_key is not None
        assert open_sealed(retired, found.auth_token, associated_data(prov.org, iid, "auth_token")) == token
        shared = open_sealed(retired, found.shared_key, associated_data(prov.org, iid, "shared_key"))
        assert shared == "shared-key-secret-0123"
        assert found.version == 2  # rotation is not an edit

    # The new wrapping is republished to the state topic through the outbox.
    pending = await prov.ctx.pool.fetchval("SELECT count(*) FROM outbox WHERE message_type = 'integration.state'")
    assert pending == 5 * 2 + 5  # create + credentials per integration, then one per rotation


def test_rewrapped_leaves_unsealed_integrations_alone() -> None:
    from datetime import UTC, datetime

    from byosms_provisioning.integrations import model as integrations

    created = integrations.create(
        integration_id="x", organization_id="o", name="n", notes="", region="r", now=datetime.now(UTC)
    ).current
    keyring = Keyring.from_config('{"a": "' + Keyring.generate_key() + '"}', "a")
    assert rotation.rewrapped(keyring, created) == dataclasses.replace(created)


async def _sealed_integrations(prov: Harness, count: int) -> list[str]:
    ids = []
    for n in range(count):
        acct = await prov.emulator.control.create_account()
        created = await prov.client.post(
            "/api/v2/integrations", json={"name": f"l{n}", "region": "us-east-1"}, headers=prov.headers()
        )
        iid = (await created.json())["id"]
        response = await prov.client.put(
            f"/api/v2/integrations/{iid}/credentials",
            json={"account_sid": acct.sid, "auth_token": acct.auth_token},
            headers=prov.headers(),
        )
        assert response.status == 200
        ids.append(iid)
    return sorted(ids)


async def test_rotation_goes_on_past_rows_another_transaction_holds(prov: Harness) -> None:
    # SKIP LOCKED shortens a batch while rows remain: rotation must not stop at a short batch.
    ids = await _sealed_integrations(prov, 3)
    both = Keyring(keys=prov.ctx.keyring.keys, active="k2")
    async with prov.ctx.pool.acquire() as holder:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM integrations WHERE id = $1 FOR UPDATE", ids[0])
        rotating = asyncio.create_task(rotation.rotate(prov.ctx.pool, both, batch_size=2, poll_seconds=0.05))
        await asyncio.sleep(0.5)
        assert not rotating.done()  # waiting for the locked row, not finished with it left behind
        await lock.rollback()
    assert await asyncio.wait_for(rotating, 10) == 3
    assert await repo.count_by_kek(prov.ctx.pool) == {"k2": 3}


async def test_rotation_names_what_is_left_when_rows_stay_locked(prov: Harness) -> None:
    ids = await _sealed_integrations(prov, 3)
    both = Keyring(keys=prov.ctx.keyring.keys, active="k2")
    async with prov.ctx.pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM integrations WHERE id = $1 FOR UPDATE", ids[1])
        with pytest.raises(rotation.RotationIncomplete) as caught:
            await rotation.rotate(prov.ctx.pool, both, batch_size=2, locked_wait_seconds=0.3, poll_seconds=0.05)
    assert caught.value.remaining == 1
    assert "1 integration(s)" in str(caught.value)
    # A CryptoError: `byosms-provisioning rotate-keks` reports it and exits non-zero.
    assert isinstance(caught.value, CryptoError)
    assert await repo.count_by_kek(prov.ctx.pool) == {"k1": 1, "k2": 2}

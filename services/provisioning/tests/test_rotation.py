"""KEK rotation re-wraps every data key; the old KEK can then be retired."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from byosms_common.crypto import Keyring, associated_data, open_sealed
from byosms_provisioning import repo, rotation

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

    from byosms_provisioning import integrations

    created = integrations.create(
        integration_id="x", organization_id="o", name="n", notes="", region="r", now=datetime.now(UTC)
    ).current
    keyring = Keyring.from_config('{"a": "' + Keyring.generate_key() + '"}', "a")
    assert rotation.rewrapped(keyring, created) == dataclasses.replace(created)

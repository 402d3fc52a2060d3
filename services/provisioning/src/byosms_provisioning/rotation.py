"""KEK rotation: re-wrap every data key under the active key-encryption key, in small batches.

Only the wrapped data key changes; the secret's ciphertext stays. Each batch is one short
transaction (rows locked with SKIP LOCKED, so the admin API keeps working), and the new state
record is republished so live caches hold secrets they can still open after the old KEK is retired.
Run it after adding the new KEK to ``BYOSMS_KEKS`` and making it ``BYOSMS_ACTIVE_KEK`` everywhere;
retire the old KEK once it reports nothing left under it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import asyncpg

from byosms_common.crypto import Keyring, associated_data, rewrap
from byosms_common.topics import INTEGRATION_STATE
from byosms_provisioning import outbox, repo
from byosms_provisioning.integrations import AUTH_TOKEN_FIELD, SHARED_KEY_FIELD, Integration
from byosms_provisioning.service import state_record

log = logging.getLogger(__name__)


def rewrapped(keyring: Keyring, integration: Integration) -> Integration:
    """The integration with its sealed secrets wrapped by the active KEK."""
    org, iid = integration.organization_id, integration.id
    token = integration.auth_token
    key = integration.shared_key
    return replace(
        integration,
        auth_token=rewrap(keyring, token, associated_data(org, iid, AUTH_TOKEN_FIELD)) if token else None,
        shared_key=rewrap(keyring, key, associated_data(org, iid, SHARED_KEY_FIELD)) if key else None,
    )


async def rotate(pool: asyncpg.Pool, keyring: Keyring, *, batch_size: int = 200) -> int:
    """Re-wrap every secret not yet under the active KEK; returns how many integrations changed."""
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            batch = await repo.sealed_batch(conn, keyring.active, batch_size)
            for integration in batch:
                updated = rewrapped(keyring, integration)
                await repo.update_sealed(conn, updated)
                await outbox.enqueue(conn, INTEGRATION_STATE, state_record(updated), updated.id)
        total += len(batch)
        if batch:
            log.info("re-wrapped %d integrations (%d so far)", len(batch), total)
        if len(batch) < batch_size:
            return total

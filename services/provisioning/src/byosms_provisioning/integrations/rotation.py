"""KEK rotation: re-wrap every data key under the active key-encryption key, in small batches.

Only the wrapped data key changes; the secret's ciphertext stays. Each batch is one short
transaction (rows locked with SKIP LOCKED, so the admin API keeps working), and the new state
record is republished so live caches hold secrets they can still open after the old KEK is retired.
Run it after adding the new KEK to ``BYOSMS_KEKS`` and making it ``BYOSMS_ACTIVE_KEK`` everywhere;
retire the old KEK once it reports nothing left under it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import asyncpg

from byosms_common.crypto import CryptoError, Keyring, associated_data, rewrap
from byosms_common.topics import INTEGRATION_STATE
from byosms_provisioning import outbox
from byosms_provisioning.integrations import repo
from byosms_provisioning.integrations.model import (
    AUTH_TOKEN_FIELD,
    NEXT_AUTH_TOKEN_FIELD,
    PREVIOUS_SHARED_KEY_FIELD,
    SHARED_KEY_FIELD,
    Integration,
)
from byosms_provisioning.integrations.service import state_record

log = logging.getLogger(__name__)


def rewrapped(keyring: Keyring, integration: Integration) -> Integration:
    """The integration with its sealed secrets wrapped by the active KEK."""
    org, iid = integration.organization_id, integration.id
    token = integration.auth_token
    key = integration.shared_key
    previous = integration.previous_shared_key
    upcoming = integration.next_auth_token
    return replace(
        integration,
        auth_token=rewrap(keyring, token, associated_data(org, iid, AUTH_TOKEN_FIELD)) if token else None,
        shared_key=rewrap(keyring, key, associated_data(org, iid, SHARED_KEY_FIELD)) if key else None,
        previous_shared_key=(
            rewrap(keyring, previous, associated_data(org, iid, PREVIOUS_SHARED_KEY_FIELD)) if previous else None
        ),
        next_auth_token=(
            rewrap(keyring, upcoming, associated_data(org, iid, NEXT_AUTH_TOKEN_FIELD)) if upcoming else None
        ),
    )


class RotationIncomplete(CryptoError):
    """Integrations still have a secret under an old KEK after rotation gave up waiting for them.

    A ``CryptoError``, so ``byosms-provisioning rotate-keks`` reports it and exits non-zero: the old
    KEK must not be retired yet.
    """

    def __init__(self, remaining: int) -> None:
        super().__init__(
            f"{remaining} integration(s) still have secrets under an old KEK (locked by other transactions "
            "until rotation gave up); run rotate-keks again before retiring the old KEK"
        )
        self.remaining = remaining


async def remaining(pool: asyncpg.Pool, active_kek: str) -> int:
    """How many integrations have a secret not wrapped by ``active_kek`` (locked rows included)."""
    count: int = await pool.fetchval(
        f"SELECT count(*) FROM integrations WHERE {repo.UNDER_OLD_KEK}",  # noqa: S608 - fixed column names
        active_kek,
    )
    return count


async def rotate(
    pool: asyncpg.Pool,
    keyring: Keyring,
    *,
    batch_size: int = 200,
    locked_wait_seconds: float = 30.0,
    poll_seconds: float = 0.5,
) -> int:
    """Re-wrap every secret not yet under the active KEK; returns how many integrations changed.

    Batches skip rows other transactions hold (SKIP LOCKED), so a short or empty batch does not mean
    that nothing is left: rotation goes on until no row under an old KEK remains, waiting up to
    ``locked_wait_seconds`` for locked rows to come free. Raises :class:`RotationIncomplete` with the
    number left when they do not.
    """
    loop = asyncio.get_running_loop()
    total = 0
    gave_up_at: float | None = None
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
            gave_up_at = None
            continue
        left = await remaining(pool, keyring.active)
        if left == 0:
            return total
        if gave_up_at is None:
            gave_up_at = loop.time() + locked_wait_seconds
        if loop.time() >= gave_up_at:
            raise RotationIncomplete(left)
        log.info("%d integration(s) under an old KEK are locked by other transactions; waiting", left)
        await asyncio.sleep(poll_seconds)

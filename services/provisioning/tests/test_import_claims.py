"""Address claims of number imports against real PostgreSQL (issue 6, check 5).

Needs the dev stack's PostgreSQL (``uv run byosms-stack up``) or BYOSMS_DATABASE_URL. Each test
module run migrates a schema of its own, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from byosms_common import db
from byosms_provisioning.imports import repo as repo_imports
from byosms_provisioning.imports.checks import claim_outcome

pytestmark = pytest.mark.integration


@pytest.fixture
async def claims_pool() -> AsyncIterator[asyncpg.Pool]:
    schema = f"provisioning_t{uuid.uuid4().hex[:12]}"
    pool = await db.create_pool(os.environ["BYOSMS_DATABASE_URL"], schema, min_size=2, max_size=6)
    try:
        await db.apply_migrations(pool, schema, db.load_migrations("byosms_provisioning"))
        yield pool
    finally:
        await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await pool.close()


def _address() -> str:
    # Unique per test: a +1 555-01xx-style number is never needed here, only a unique key.
    return f"+1415{uuid.uuid4().int % 10_000_000:07d}"


async def _new_import(pool: asyncpg.Pool, organization_id: str, address: str, deadline: float = 60.0) -> str:
    import_id = uuid.uuid4().hex
    async with pool.acquire() as conn:
        await repo_imports.insert_import(
            conn,
            import_id=import_id,
            organization_id=organization_id,
            integration_id="int-" + organization_id,
            number_type="local",
            sender_id=address,
            command={},
            deadline_seconds=deadline,
        )
    return import_id


async def _claim(
    pool: asyncpg.Pool, organization_id: str, import_id: str, address: str, start: asyncio.Barrier | None = None
) -> str | None:
    async with pool.acquire() as conn, conn.transaction():
        await repo_imports.drop_lapsed_claim(conn, address)
        if start is not None:
            # Both transactions are open before either claims, so the statements really overlap.
            await start.wait()
        row = await repo_imports.claim_address(
            conn, address=address, organization_id=organization_id, import_id=import_id
        )
        return claim_outcome(row, organization_id, import_id)


async def test_concurrent_imports_from_two_organizations_give_exactly_one_success(claims_pool: asyncpg.Pool) -> None:
    for _ in range(50):
        address = _address()
        first = await _new_import(claims_pool, "org-a", address)
        second = await _new_import(claims_pool, "org-b", address)
        start = asyncio.Barrier(2)
        outcomes = await asyncio.gather(
            _claim(claims_pool, "org-a", first, address, start),
            _claim(claims_pool, "org-b", second, address, start),
        )
        # The loser meets the winner's import still in progress (the first check of step 5).
        assert sorted(outcomes, key=str) == sorted([None, "provisioning_in_progress"], key=str), outcomes
        holders = await claims_pool.fetch("SELECT import_id FROM number_claims WHERE address = $1", address)
        assert len(holders) == 1
        assert holders[0]["import_id"] in (first, second)


async def test_concurrent_imports_from_one_organization_give_one_in_progress(claims_pool: asyncpg.Pool) -> None:
    for _ in range(20):
        address = _address()
        ids = [await _new_import(claims_pool, "org-a", address) for _ in range(3)]
        start = asyncio.Barrier(len(ids))
        outcomes = await asyncio.gather(*(_claim(claims_pool, "org-a", i, address, start) for i in ids))
        assert outcomes.count(None) == 1
        assert outcomes.count("provisioning_in_progress") == 2


async def test_claim_lifecycle(claims_pool: asyncpg.Pool) -> None:
    address = _address()
    first = await _new_import(claims_pool, "org-a", address)
    assert await _claim(claims_pool, "org-a", first, address) is None
    # The same import redelivered keeps its claim.
    assert await _claim(claims_pool, "org-a", first, address) is None

    async with claims_pool.acquire() as conn:
        assert await repo_imports.hold_claim(conn, address, first)
    again = await _new_import(claims_pool, "org-a", address)
    assert await _claim(claims_pool, "org-a", again, address) == "number_already_imported"
    other = await _new_import(claims_pool, "org-b", address)
    assert await _claim(claims_pool, "org-b", other, address) == "number_not_available"

    # Inventory removed the number: another organization may import it now.
    async with claims_pool.acquire() as conn:
        assert not await repo_imports.release_removed_number(conn, address, "org-b", first)
        assert not await repo_imports.release_removed_number(conn, address, "org-a", again)
        assert await repo_imports.release_removed_number(conn, address, "org-a", first)
    later = await _new_import(claims_pool, "org-b", address)
    assert await _claim(claims_pool, "org-b", later, address) is None


async def test_removal_of_an_earlier_import_keeps_a_later_hold_whatever_the_clocks(claims_pool: asyncpg.Pool) -> None:
    """The removal names its import: a late or redelivered removal of an earlier import never frees
    the hold of a later one, even when inventory's clock runs ahead of the database's."""
    address = _address()
    first = await _new_import(claims_pool, "org-a", address)
    assert await _claim(claims_pool, "org-a", first, address) is None
    async with claims_pool.acquire() as conn:
        assert await repo_imports.hold_claim(conn, address, first)
        assert await repo_imports.release_removed_number(conn, address, "org-a", first)
    second = await _new_import(claims_pool, "org-a", address)
    assert await _claim(claims_pool, "org-a", second, address) is None
    async with claims_pool.acquire() as conn:
        assert await repo_imports.hold_claim(conn, address, second)
        skewed = await conn.fetchval("SELECT now() + interval '1 hour'")
        assert not await repo_imports.release_removed_number(conn, address, "org-a", first, skewed)
    holder = await claims_pool.fetchval("SELECT import_id FROM number_claims WHERE address = $1", address)
    assert holder == second


async def test_removal_without_an_import_id_falls_back_to_the_time(claims_pool: asyncpg.Pool) -> None:
    # Events of an inventory that predates import_id in NumberStateChanged.
    address = _address()
    async with claims_pool.acquire() as conn:
        before = await conn.fetchval("SELECT now() - interval '1 minute'")
    first = await _new_import(claims_pool, "org-a", address)
    assert await _claim(claims_pool, "org-a", first, address) is None
    async with claims_pool.acquire() as conn:
        assert await repo_imports.hold_claim(conn, address, first)
        assert not await repo_imports.release_removed_number(conn, address, "org-a", None, before)
        assert not await repo_imports.release_removed_number(conn, address, "org-a", None)
        after = await conn.fetchval("SELECT now() + interval '1 second'")
        assert await repo_imports.release_removed_number(conn, address, "org-a", None, after)


async def test_lapsed_claim_is_taken_over(claims_pool: asyncpg.Pool) -> None:
    address = _address()
    stale = await _new_import(claims_pool, "org-a", address, deadline=0.0)
    assert await _claim(claims_pool, "org-a", stale, address) is None
    fresh = await _new_import(claims_pool, "org-b", address)
    assert await _claim(claims_pool, "org-b", fresh, address) is None
    async with claims_pool.acquire() as conn:
        # The lapsed import can no longer hold or release what is now someone else's.
        assert not await repo_imports.hold_claim(conn, address, stale)
        assert not await repo_imports.release_claim(conn, address, stale)
        assert await repo_imports.hold_claim(conn, address, fresh)


async def test_rejected_import_frees_the_address(claims_pool: asyncpg.Pool) -> None:
    address = _address()
    first = await _new_import(claims_pool, "org-a", address)
    assert await _claim(claims_pool, "org-a", first, address) is None
    async with claims_pool.acquire() as conn:
        assert await repo_imports.release_claim(conn, address, first)
        assert await repo_imports.finish_import(conn, first, state="rejected", code="x", result={"code": "x"})
        assert not await repo_imports.finish_import(conn, first, state="imported", code=None, result={})
    other = await _new_import(claims_pool, "org-b", address)
    assert await _claim(claims_pool, "org-b", other, address) is None

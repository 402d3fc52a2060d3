"""SQL of number imports and address claims: one function per query, the caller owns the transaction.

Time comes from the database (``now()``), so deadlines do not depend on the clocks of replicas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from byosms_common.messages import IntegrationStatus, SealedSecret
from byosms_provisioning.imports.checks import ClaimRow, ClaimState, IntegrationFacts


@dataclass(frozen=True, slots=True)
class ImportRecord:
    import_id: str
    organization_id: str
    integration_id: str
    number_type: str
    sender_id: str
    command: dict[str, Any]
    address: str | None
    state: str
    code: str | None
    result: dict[str, Any] | None
    deadline_at: datetime
    created_at: datetime
    updated_at: datetime


def _json(value: object) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


_FIELDS = tuple(ImportRecord.__dataclass_fields__)


def _import(row: asyncpg.Record) -> ImportRecord:
    # Columns added by later migrations are ignored here until the record grows a field for them.
    fields = {name: row[name] for name in _FIELDS}
    fields["command"] = _json(fields["command"])
    fields["result"] = _json(fields["result"])
    return ImportRecord(**fields)


async def insert_import(
    conn: asyncpg.Connection,
    *,
    import_id: str,
    organization_id: str,
    integration_id: str,
    number_type: str,
    sender_id: str,
    command: dict[str, Any],
    deadline_seconds: float,
) -> bool:
    """Record a new import; False if one with this id exists already (a redelivered command)."""
    status: str = await conn.execute(
        """INSERT INTO number_imports
               (import_id, organization_id, integration_id, number_type, sender_id, command, deadline_at)
           VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
           ON CONFLICT (import_id) DO NOTHING""",
        import_id,
        organization_id,
        integration_id,
        number_type,
        sender_id,
        json.dumps(command),
        deadline_seconds,
    )
    return status.endswith(" 1")


async def get_import(conn: asyncpg.Connection, import_id: str) -> ImportRecord | None:
    row = await conn.fetchrow("SELECT * FROM number_imports WHERE import_id = $1", import_id)
    return _import(row) if row is not None else None


async def get_import_of_organization(
    conn: asyncpg.Connection, organization_id: str, import_id: str
) -> ImportRecord | None:
    row = await conn.fetchrow(
        "SELECT * FROM number_imports WHERE import_id = $1 AND organization_id = $2",
        import_id,
        organization_id,
    )
    return _import(row) if row is not None else None


async def lock_import(conn: asyncpg.Connection, import_id: str) -> ImportRecord | None:
    """The import, locked until the end of the transaction (so the sweeper and the worker take turns)."""
    row = await conn.fetchrow("SELECT * FROM number_imports WHERE import_id = $1 FOR UPDATE", import_id)
    return _import(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class IntegrationForImport:
    facts: IntegrationFacts
    auth_token: SealedSecret | None


async def get_integration(conn: asyncpg.Connection, integration_id: str) -> IntegrationForImport | None:
    """The integration as the import needs it (the token stays sealed)."""
    row = await conn.fetchrow(
        "SELECT id, organization_id, status, account_sid, auth_token, region FROM integrations WHERE id = $1",
        integration_id,
    )
    if row is None:
        return None
    sealed = _sealed(row["auth_token"])
    facts = IntegrationFacts(
        integration_id=row["id"],
        organization_id=row["organization_id"],
        status=IntegrationStatus(row["status"]),
        account_sid=row["account_sid"],
        has_auth_token=sealed is not None,
        region=row["region"],
    )
    return IntegrationForImport(facts=facts, auth_token=sealed)


def _sealed(value: object) -> SealedSecret | None:
    # jsonb arrives as text unless a codec was registered on the pool; accept both.
    if value is None:
        return None
    if isinstance(value, str | bytes):
        return SealedSecret.model_validate_json(value)
    return SealedSecret.model_validate(value)


async def drop_lapsed_claim(conn: asyncpg.Connection, address: str) -> None:
    """Remove an in-progress claim whose deadline passed (its import is rejected by the sweeper)."""
    await conn.execute(
        "DELETE FROM number_claims WHERE address = $1 AND state = 'in_progress' AND expires_at <= now()",
        address,
    )


async def claim_address(conn: asyncpg.Connection, *, address: str, organization_id: str, import_id: str) -> ClaimRow:
    """Claim ``address`` for ``import_id`` until the import's deadline, or return whoever holds it.

    The primary key decides. When the address is taken, the no-op update locks the holder's row and
    returns it, so the answer is read in the same statement that lost the race.
    """
    row = await conn.fetchrow(
        """INSERT INTO number_claims AS c (address, organization_id, import_id, state, expires_at)
           SELECT $1, $2, $3, 'in_progress', i.deadline_at FROM number_imports i WHERE i.import_id = $3
           ON CONFLICT (address) DO UPDATE SET organization_id = c.organization_id
           RETURNING c.organization_id, c.import_id, c.state""",
        address,
        organization_id,
        import_id,
    )
    if row is None:
        raise LookupError(f"import {import_id} does not exist")
    return ClaimRow(row["organization_id"], row["import_id"], ClaimState(row["state"]))


async def set_import_address(conn: asyncpg.Connection, import_id: str, address: str) -> None:
    await conn.execute(
        "UPDATE number_imports SET address = $2, updated_at = now() WHERE import_id = $1", import_id, address
    )


async def hold_claim(conn: asyncpg.Connection, address: str, import_id: str) -> bool:
    """Turn this import's in-progress claim into a lasting hold; False if the claim is no longer ours."""
    status: str = await conn.execute(
        """UPDATE number_claims SET state = 'held', expires_at = NULL
           WHERE address = $1 AND import_id = $2 AND state = 'in_progress'""",
        address,
        import_id,
    )
    return status.endswith(" 1")


async def release_claim(conn: asyncpg.Connection, address: str, import_id: str) -> bool:
    """Free the address if this import holds its claim."""
    status: str = await conn.execute(
        "DELETE FROM number_claims WHERE address = $1 AND import_id = $2", address, import_id
    )
    return status.endswith(" 1")


async def release_removed_number(
    conn: asyncpg.Connection,
    address: str,
    organization_id: str,
    import_id: str | None,
    removed_at: datetime | None = None,
) -> bool:
    """Free the address held by the import whose number inventory removed.

    The removal names that import, so a hold taken by a later import of the same address (after the
    removal, or by a redelivered old event) stays, whatever the clocks say. Events from an inventory
    that predates ``import_id`` fall back to comparing the removal time with the claim time.
    """
    if import_id is not None:
        status: str = await conn.execute(
            """DELETE FROM number_claims
               WHERE address = $1 AND organization_id = $2 AND import_id = $3 AND state = 'held'""",
            address,
            organization_id,
            import_id,
        )
        return status.endswith(" 1")
    if removed_at is None:
        return False
    status = await conn.execute(
        """DELETE FROM number_claims
           WHERE address = $1 AND organization_id = $2 AND state = 'held' AND claimed_at <= $3""",
        address,
        organization_id,
        removed_at,
    )
    return status.endswith(" 1")


async def finish_import(
    conn: asyncpg.Connection, import_id: str, *, state: str, code: str | None, result: dict[str, Any]
) -> bool:
    """Record the outcome; False if the import had already ended (exactly one outcome per import)."""
    status: str = await conn.execute(
        """UPDATE number_imports SET state = $2, code = $3, result = $4, updated_at = now()
           WHERE import_id = $1 AND state = 'in_progress'""",
        import_id,
        state,
        code,
        json.dumps(result),
    )
    return status.endswith(" 1")


async def lock_due_imports(conn: asyncpg.Connection, limit: int) -> list[ImportRecord]:
    """In-progress imports past their deadline, locked; rows another replica works on are skipped."""
    rows = await conn.fetch(
        """SELECT * FROM number_imports
            WHERE state = 'in_progress' AND deadline_at <= now()
            ORDER BY deadline_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )
    return [_import(r) for r in rows]

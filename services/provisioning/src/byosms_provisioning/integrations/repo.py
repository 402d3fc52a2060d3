"""SQL of the integrations tables, one function per query (schema ``provisioning`` via search_path)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from byosms_common.messages import IntegrationStatus, SealedSecret
from byosms_provisioning.integrations.model import Integration

_COLUMNS = (
    "id, organization_id, name, notes, region, account_sid, auth_token, shared_key, status, version, "
    "created_at, updated_at, request_id, shared_key_id, previous_shared_key, previous_shared_key_id, "
    "next_auth_token, next_auth_token_started_at, next_auth_token_expires_at, signature_mode, signature_mode_expires_at"
)
# What reads return besides the written columns: the integration's default routing target and its
# organization's (both carried in the state record).
_READ = (
    _COLUMNS  # noqa: S608 - constant text only
    + ", default_routing_target, (SELECT s.default_routing_target FROM organization_settings s "
    "WHERE s.organization_id = integrations.organization_id) AS organization_routing_target"
)


def _sealed(value: Any) -> SealedSecret | None:
    if value is None:
        return None
    if isinstance(value, str | bytes):
        return SealedSecret.model_validate_json(value)
    return SealedSecret.model_validate(value)


def _json(sealed: SealedSecret | None) -> str | None:
    return sealed.model_dump_json() if sealed is not None else None


def _row(row: asyncpg.Record) -> Integration:
    return Integration(
        id=row["id"],
        organization_id=row["organization_id"],
        name=row["name"],
        notes=row["notes"],
        region=row["region"],
        account_sid=row["account_sid"],
        auth_token=_sealed(row["auth_token"]),
        shared_key=_sealed(row["shared_key"]),
        status=IntegrationStatus(row["status"]),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        request_id=row["request_id"],
        shared_key_id=row["shared_key_id"],
        previous_shared_key=_sealed(row["previous_shared_key"]),
        previous_shared_key_id=row["previous_shared_key_id"],
        default_routing_target=row["default_routing_target"],
        organization_routing_target=row["organization_routing_target"],
        next_auth_token=_sealed(row["next_auth_token"]),
        next_auth_token_started_at=row["next_auth_token_started_at"],
        next_auth_token_expires_at=row["next_auth_token_expires_at"],
        signature_mode="observe" if row["signature_mode"] == "observe" else "enforce",
        signature_mode_expires_at=row["signature_mode_expires_at"],
    )


async def insert(conn: asyncpg.Connection, i: Integration) -> bool:
    """Insert a new integration; False when the id or the organization's request id is taken."""
    status = await conn.execute(
        f"INSERT INTO integrations ({_COLUMNS}) "  # noqa: S608
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) "
        "ON CONFLICT DO NOTHING",
        i.id,
        i.organization_id,
        i.name,
        i.notes,
        i.region,
        i.account_sid,
        _json(i.auth_token),
        _json(i.shared_key),
        i.status.value,
        i.version,
        i.created_at,
        i.updated_at,
        i.request_id,
        i.shared_key_id,
        _json(i.previous_shared_key),
        i.previous_shared_key_id,
        _json(i.next_auth_token),
        i.next_auth_token_started_at,
        i.next_auth_token_expires_at,
        i.signature_mode,
        i.signature_mode_expires_at,
    )
    return bool(status == "INSERT 0 1")


async def get_by_request_id(conn: asyncpg.Connection, organization_id: str, request_id: str) -> Integration | None:
    row = await conn.fetchrow(
        f"SELECT {_READ} FROM integrations WHERE organization_id = $1 AND request_id = $2",  # noqa: S608
        organization_id,
        request_id,
    )
    return _row(row) if row else None


async def get(conn: asyncpg.Connection | asyncpg.Pool, organization_id: str, integration_id: str) -> Integration | None:
    row = await conn.fetchrow(
        f"SELECT {_READ} FROM integrations WHERE organization_id = $1 AND id = $2",  # noqa: S608
        organization_id,
        integration_id,
    )
    return _row(row) if row else None


async def get_for_update(conn: asyncpg.Connection, organization_id: str, integration_id: str) -> Integration | None:
    row = await conn.fetchrow(
        f"SELECT {_READ} FROM integrations WHERE organization_id = $1 AND id = $2 FOR UPDATE",  # noqa: S608
        organization_id,
        integration_id,
    )
    return _row(row) if row else None


async def update(conn: asyncpg.Connection, i: Integration, previous_version: int) -> bool:
    """Write ``i`` if the stored version is still ``previous_version``."""
    status = await conn.execute(
        "UPDATE integrations SET name = $3, notes = $4, account_sid = $5, auth_token = $6, shared_key = $7, "
        "status = $8, version = $9, updated_at = $10, shared_key_id = $12, previous_shared_key = $13, "
        "previous_shared_key_id = $14, default_routing_target = $15, next_auth_token = $16, "
        "next_auth_token_started_at = $17, next_auth_token_expires_at = $18, signature_mode = $19, "
        "signature_mode_expires_at = $20 "
        "WHERE organization_id = $1 AND id = $2 AND version = $11",
        i.organization_id,
        i.id,
        i.name,
        i.notes,
        i.account_sid,
        _json(i.auth_token),
        _json(i.shared_key),
        i.status.value,
        i.version,
        i.updated_at,
        previous_version,
        i.shared_key_id,
        _json(i.previous_shared_key),
        i.previous_shared_key_id,
        i.default_routing_target,
        _json(i.next_auth_token),
        i.next_auth_token_started_at,
        i.next_auth_token_expires_at,
        i.signature_mode,
        i.signature_mode_expires_at,
    )
    return bool(status == "UPDATE 1")


async def delete(conn: asyncpg.Connection, organization_id: str, integration_id: str, version: int) -> bool:
    status = await conn.execute(
        "DELETE FROM integrations WHERE organization_id = $1 AND id = $2 AND version = $3",
        organization_id,
        integration_id,
        version,
    )
    return bool(status == "DELETE 1")


@dataclass(frozen=True, slots=True)
class ListFilter:
    status: IntegrationStatus | None = None
    region: str | None = None
    name_contains: str | None = None
    account_sid: str | None = None


async def list_page(
    conn: asyncpg.Connection | asyncpg.Pool,
    organization_id: str,
    filters: ListFilter,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Integration]:
    """Up to ``limit`` integrations in creation order, after the cursor position ``after``."""
    clauses = ["organization_id = $1"]
    args: list[Any] = [organization_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if filters.status is not None:
        clauses.append(f"status = {arg(filters.status.value)}")
    if filters.region is not None:
        clauses.append(f"region = {arg(filters.region)}")
    if filters.account_sid is not None:
        clauses.append(f"account_sid = {arg(filters.account_sid)}")
    if filters.name_contains:
        escaped = filters.name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(f"name ILIKE {arg('%' + escaped + '%')}")
    if after is not None:
        clauses.append(f"(created_at, id) > ({arg(after[0])}, {arg(after[1])})")
    sql = (
        f"SELECT {_READ} FROM integrations WHERE {' AND '.join(clauses)} "  # noqa: S608 - only placeholders
        f"ORDER BY created_at, id LIMIT {arg(limit)}"
    )
    return [_row(r) for r in await conn.fetch(sql, *args)]


async def insert_audit(
    conn: asyncpg.Connection,
    *,
    organization_id: str,
    integration_id: str,
    action: str,
    actor: str,
    at: datetime,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await conn.execute(
        "INSERT INTO integration_audit (organization_id, integration_id, action, actor, at, before, after) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        organization_id,
        integration_id,
        action,
        actor,
        at,
        json.dumps(before) if before is not None else None,
        json.dumps(after) if after is not None else None,
    )


async def audit_entries(
    conn: asyncpg.Connection | asyncpg.Pool, organization_id: str, integration_id: str
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT action, actor, at, before, after FROM integration_audit "
        "WHERE organization_id = $1 AND integration_id = $2 ORDER BY id",
        organization_id,
        integration_id,
    )
    return [
        {
            "action": r["action"],
            "actor": r["actor"],
            "at": r["at"],
            "before": json.loads(r["before"]) if r["before"] else None,
            "after": json.loads(r["after"]) if r["after"] else None,
        }
        for r in rows
    ]


async def command_handled(conn: asyncpg.Connection, command_id: str) -> bool:
    """Whether a command with this id was handled before."""
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM processed_commands WHERE command_id = $1)", command_id)
    )


async def claim_command(conn: asyncpg.Connection, command_id: str, command_type: str) -> bool:
    """Record that a command is handled; False when it was handled before (a redelivery)."""
    status = await conn.execute(
        "INSERT INTO processed_commands (command_id, command_type) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        command_id,
        command_type,
    )
    return bool(status == "INSERT 0 1")


# Every sealed column (KEK rotation must cover them all; a test checks the list against the schema).
SEALED_COLUMNS = ("auth_token", "shared_key", "previous_shared_key", "next_auth_token")
# Rows with a secret not wrapped by the KEK in $1.
UNDER_OLD_KEK = "(" + " OR ".join(f"({c} IS NOT NULL AND {c}->>'kek_id' <> $1)" for c in SEALED_COLUMNS) + ")"


async def sealed_batch(conn: asyncpg.Connection, active_kek: str, limit: int) -> list[Integration]:
    """Integrations with a secret not yet wrapped by ``active_kek``, locked, skipping ones in use."""
    rows = await conn.fetch(
        f"SELECT {_READ} FROM integrations "  # noqa: S608
        f"WHERE {UNDER_OLD_KEK} "
        "ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
        active_kek,
        limit,
    )
    return [_row(r) for r in rows]


async def update_sealed(conn: asyncpg.Connection, i: Integration) -> None:
    """Replace the sealed secrets only (KEK rotation: the version and the secrets' meaning stay)."""
    await conn.execute(
        "UPDATE integrations SET auth_token = $2, shared_key = $3, previous_shared_key = $4, next_auth_token = $5 "
        "WHERE id = $1",
        i.id,
        _json(i.auth_token),
        _json(i.shared_key),
        _json(i.previous_shared_key),
        _json(i.next_auth_token),
    )


async def count_by_kek(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    parts = [f"SELECT {c}->>'kek_id' AS kek FROM integrations WHERE {c} IS NOT NULL" for c in SEALED_COLUMNS]  # noqa: S608
    rows = await conn.fetch(f"SELECT kek, count(*) AS n FROM ({' UNION ALL '.join(parts)}) s GROUP BY kek")  # noqa: S608
    return {r["kek"]: r["n"] for r in rows}


async def expired_rotations(conn: asyncpg.Connection | asyncpg.Pool, limit: int) -> list[tuple[str, str]]:
    """(organization, integration) of Auth Token rotation windows whose time is up."""
    rows = await conn.fetch(
        "SELECT organization_id, id FROM integrations WHERE next_auth_token IS NOT NULL "
        "AND next_auth_token_expires_at <= now() ORDER BY next_auth_token_expires_at LIMIT $1",
        limit,
    )
    return [(r["organization_id"], r["id"]) for r in rows]


async def expired_observe_modes(conn: asyncpg.Connection | asyncpg.Pool, limit: int) -> list[tuple[str, str]]:
    """(organization, integration) in signature mode observe whose time is up (or that has none)."""
    rows = await conn.fetch(
        "SELECT organization_id, id FROM integrations WHERE signature_mode = 'observe' "
        "AND (signature_mode_expires_at IS NULL OR signature_mode_expires_at <= now()) "
        "ORDER BY signature_mode_expires_at NULLS FIRST LIMIT $1",
        limit,
    )
    return [(r["organization_id"], r["id"]) for r in rows]


async def organization_routing_target(conn: asyncpg.Connection | asyncpg.Pool, organization_id: str) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT default_routing_target FROM organization_settings WHERE organization_id = $1", organization_id
    )
    return value


async def set_organization_routing_target(conn: asyncpg.Connection, organization_id: str, target: str | None) -> None:
    await conn.execute(
        """INSERT INTO organization_settings (organization_id, default_routing_target) VALUES ($1, $2)
           ON CONFLICT (organization_id) DO UPDATE SET default_routing_target = EXCLUDED.default_routing_target,
               version = organization_settings.version + 1, updated_at = now()""",
        organization_id,
        target,
    )


async def of_organization(conn: asyncpg.Connection, organization_id: str) -> list[Integration]:
    """Every integration of the organization (their state records carry its default routing target)."""
    rows = await conn.fetch(
        f"SELECT {_READ} FROM integrations WHERE organization_id = $1 ORDER BY id FOR UPDATE",  # noqa: S608
        organization_id,
    )
    return [_row(r) for r in rows]

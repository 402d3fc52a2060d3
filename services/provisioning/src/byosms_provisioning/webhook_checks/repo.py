"""SQL of the webhook checks (``number_webhook_checks``) and their repair audit (``number_webhook_repairs``),
one function per query."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from byosms_provisioning.webhook_checks.resolver import Fix, Resolution


@dataclass(frozen=True, slots=True)
class CheckState:
    """A number's last webhook check as stored (and shown on the number)."""

    status: str
    kind: str | None
    kinds: tuple[str, ...]
    details: dict[str, Any]
    trigger: str
    checked_at: datetime | None
    changed_at: datetime
    error_code: str | None
    error_at: datetime | None
    next_check_at: datetime


@dataclass(frozen=True, slots=True)
class DueNumber:
    """A number whose check is due, with what a check needs to know of it."""

    address: str
    organization_id: str
    number_id: str
    integration_id: str
    twilio_sid: str
    number_type: str


def details_of(resolution: Resolution) -> dict[str, Any]:
    return {
        "via": resolution.via,
        "delivers_to": resolution.delivers_to,
        "method": resolution.method,
        "expected_url": resolution.expected_url,
        "fixes": [fix_json(f) for f in resolution.fixes],
    }


def fix_json(fix: Fix) -> dict[str, Any]:
    return {
        "target": fix.target,
        "sid": fix.sid,
        "parameter": fix.parameter,
        "value": fix.value,
        "current": fix.current,
    }


def _json(value: object) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def state_of(row: Any, prefix: str = "") -> CheckState | None:
    """The check state in ``row`` (columns named ``<prefix><column>``; the inventory view selects them as
    ``w_…``), None when the row has none."""
    if row[prefix + "status"] is None:
        return None
    return CheckState(
        status=row[prefix + "status"],
        kind=row[prefix + "kind"],
        kinds=tuple(row[prefix + "kinds"] or ()),
        details=_json(row[prefix + "details"]) or {},
        trigger=row[prefix + "trigger"],
        checked_at=row[prefix + "checked_at"],
        changed_at=row[prefix + "changed_at"],
        error_code=row[prefix + "error_code"],
        error_at=row[prefix + "error_at"],
        next_check_at=row[prefix + "next_check_at"],
    )


async def record_import_check(
    conn: asyncpg.Connection,
    *,
    organization_id: str,
    number_id: str,
    address: str,
    integration_id: str,
    resolution: Resolution,
    interval_seconds: float,
) -> None:
    """The import's check (it only imports an ``ok`` number); the next one is spread over the interval."""
    await conn.execute(
        """INSERT INTO number_webhook_checks AS c (address, organization_id, number_id, integration_id, status,
               kind, kinds, details, trigger, checked_at, changed_at, next_check_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 'import', now(), now(),
                   now() + make_interval(secs => $9 * random()))
           ON CONFLICT (address) DO UPDATE SET organization_id = EXCLUDED.organization_id,
               number_id = EXCLUDED.number_id, integration_id = EXCLUDED.integration_id, status = EXCLUDED.status,
               kind = EXCLUDED.kind, kinds = EXCLUDED.kinds, details = EXCLUDED.details, trigger = 'import',
               checked_at = now(), changed_at = now(), error_code = NULL, error_at = NULL,
               next_check_at = EXCLUDED.next_check_at""",
        address,
        organization_id,
        number_id,
        integration_id,
        resolution.status,
        resolution.kind.value if resolution.kind else None,
        [k.value for k in resolution.kinds],
        json.dumps(details_of(resolution)),
        interval_seconds,
    )


async def seed_unchecked(conn: asyncpg.Connection, interval_seconds: float) -> int:
    """Give every number in the read model without a check (or with one of an earlier number at the same
    address) its first scheduled check, at a point of the interval that its address decides."""
    status = await conn.execute(
        """INSERT INTO number_webhook_checks AS c (address, organization_id, number_id, integration_id, status,
               trigger, next_check_at)
           SELECT n.address, n.organization_id, n.number_id, n.integration_id, 'unchecked', 'schedule',
                  now() + make_interval(secs => $1 * ((hashtext(n.address)::bigint + 2147483648) / 4294967296.0))
           FROM inventory_numbers n
           LEFT JOIN number_webhook_checks w ON w.address = n.address
           WHERE n.state <> 'removed' AND (w.address IS NULL OR w.number_id <> n.number_id)
           ON CONFLICT (address) DO UPDATE SET organization_id = EXCLUDED.organization_id,
               number_id = EXCLUDED.number_id, integration_id = EXCLUDED.integration_id, status = 'unchecked',
               kind = NULL, kinds = '{}', details = '{}', trigger = 'schedule', checked_at = NULL,
               changed_at = now(), error_code = NULL, error_at = NULL, next_check_at = EXCLUDED.next_check_at""",
        interval_seconds,
    )
    return int(status.split()[-1])


async def forget_orphans(conn: asyncpg.Connection, older_than_seconds: float = 86400.0) -> int:
    """Drop the checks of numbers the read model no longer holds (forgotten after removal). A check younger
    than ``older_than_seconds`` stays: the import's check is written before inventory's record arrives."""
    status = await conn.execute(
        """DELETE FROM number_webhook_checks w
           WHERE w.changed_at < now() - make_interval(secs => $1)
             AND NOT EXISTS (SELECT 1 FROM inventory_numbers n
                             WHERE n.address = w.address AND n.number_id = w.number_id)""",
        older_than_seconds,
    )
    return int(status.split()[-1])


async def claim_due(conn: asyncpg.Connection, *, batch: int, lease_seconds: float) -> list[DueNumber]:
    """Numbers whose check is due, oldest first; their next check moves ``lease_seconds`` ahead, so another
    replica does not take them while this one checks."""
    rows = await conn.fetch(
        """WITH due AS (
               SELECT w.address FROM number_webhook_checks w
               JOIN inventory_numbers n ON n.address = w.address AND n.number_id = w.number_id
               WHERE n.state <> 'removed' AND w.next_check_at <= now()
               ORDER BY w.next_check_at LIMIT $1 FOR UPDATE OF w SKIP LOCKED)
           UPDATE number_webhook_checks w SET next_check_at = now() + make_interval(secs => $2)
           FROM due, inventory_numbers n
           WHERE w.address = due.address AND n.address = w.address
           RETURNING w.address, w.organization_id, w.number_id, n.integration_id, n.twilio_sid, n.number_type""",
        batch,
        lease_seconds,
    )
    return [
        DueNumber(
            address=r["address"],
            organization_id=r["organization_id"],
            number_id=r["number_id"],
            integration_id=r["integration_id"],
            twilio_sid=r["twilio_sid"],
            number_type=r["number_type"],
        )
        for r in rows
    ]


async def lock_state(conn: asyncpg.Connection, address: str) -> CheckState | None:
    row = await conn.fetchrow(
        """SELECT status, kind, kinds, details, trigger, checked_at, changed_at, error_code, error_at, next_check_at
           FROM number_webhook_checks WHERE address = $1 FOR UPDATE""",
        address,
    )
    return state_of(row) if row else None


async def record_check(
    conn: asyncpg.Connection,
    number: DueNumber,
    resolution: Resolution,
    *,
    trigger: str,
    changed: bool,
    interval_seconds: float,
) -> None:
    await conn.execute(
        """INSERT INTO number_webhook_checks AS c (address, organization_id, number_id, integration_id, status,
               kind, kinds, details, trigger, checked_at, changed_at, next_check_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, now(), now(), now() + make_interval(secs => $11))
           ON CONFLICT (address) DO UPDATE SET organization_id = EXCLUDED.organization_id,
               number_id = EXCLUDED.number_id, integration_id = EXCLUDED.integration_id, status = EXCLUDED.status,
               kind = EXCLUDED.kind, kinds = EXCLUDED.kinds, details = EXCLUDED.details, trigger = EXCLUDED.trigger,
               checked_at = now(), changed_at = CASE WHEN $10 THEN now() ELSE c.changed_at END,
               error_code = NULL, error_at = NULL, next_check_at = EXCLUDED.next_check_at""",
        number.address,
        number.organization_id,
        number.number_id,
        number.integration_id,
        resolution.status,
        resolution.kind.value if resolution.kind else None,
        [k.value for k in resolution.kinds],
        json.dumps(details_of(resolution)),
        trigger,
        changed,
        interval_seconds,
    )


async def record_error(conn: asyncpg.Connection, address: str, code: str, retry_seconds: float) -> None:
    """The check could not ask Twilio: the state stays as it was, the error shows, it is tried again."""
    await conn.execute(
        """UPDATE number_webhook_checks SET error_code = $2, error_at = now(),
               next_check_at = now() + make_interval(secs => $3) WHERE address = $1""",
        address,
        code,
        retry_seconds,
    )


async def insert_repair(
    conn: asyncpg.Connection,
    *,
    organization_id: str,
    number_id: str,
    address: str,
    actor: str,
    fix: Fix,
    applied: bool,
    error_code: str | None,
) -> None:
    await conn.execute(
        """INSERT INTO number_webhook_repairs (organization_id, number_id, address, actor, target, target_sid,
               parameter, old_value, new_value, outcome, error_code)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        organization_id,
        number_id,
        address,
        actor,
        fix.target,
        fix.sid,
        fix.parameter,
        fix.current,
        fix.value,
        "applied" if applied else "failed",
        error_code,
    )


async def repairs(conn: asyncpg.Connection | asyncpg.Pool, organization_id: str, number_id: str) -> list[Any]:
    """The repair audit of a number, oldest first."""
    return list(
        await conn.fetch(
            """SELECT actor, at, target, target_sid, parameter, old_value, new_value, outcome, error_code
               FROM number_webhook_repairs WHERE organization_id = $1 AND number_id = $2 ORDER BY at, id""",
            organization_id,
            number_id,
        )
    )

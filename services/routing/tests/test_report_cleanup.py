"""Delivery reports that match no message of their tenant are deleted after a while; others stay."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from byosms_routing import repo

pytestmark = pytest.mark.integration


async def _report(conn: asyncpg.Connection, org: str, integration: str, sid: str, age_hours: float) -> None:
    await conn.execute(
        """INSERT INTO delivery_reports
               (report_id, message_sid, status, error_code, received_at, organization_id, integration_id, recorded_at)
           VALUES ($1, $2, 'delivered', NULL, now(), $3, $4, now() - make_interval(hours => $5::int))""",
        f"{sid}:delivered",
        sid,
        org,
        integration,
        int(age_hours),
    )


async def test_only_old_reports_without_a_message_of_their_tenant_are_deleted(pool: asyncpg.Pool) -> None:
    org, other, integration = (f"org-{uuid.uuid4().hex[:8]}", f"org-{uuid.uuid4().hex[:8]}", "int-1")
    known, unknown, fresh = ("SM" + uuid.uuid4().hex for _ in range(3))
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO outbound_messages
                   (organization_id, message_id, command_id, sender, recipient, integration_id, state, params,
                    message_sid)
               VALUES ($1, $2, 'c', '+4930', '+49151', $3, 'accepted', '{}'::jsonb, $4)""",
            org,
            uuid.uuid4().hex,
            integration,
            known,
        )
        await _report(conn, org, integration, known, 48)  # old, but its message exists
        await _report(conn, other, integration, known, 48)  # another tenant naming our SID: unmatched
        await _report(conn, org, integration, unknown, 48)  # old and unmatched
        await _report(conn, org, integration, fresh, 0)  # unmatched but recent: may still match
        deleted = await repo.delete_unmatched_reports(conn, older_than_seconds=24 * 3600)
        left = await conn.fetch(
            "SELECT organization_id, message_sid FROM delivery_reports WHERE message_sid = ANY($1::text[])",
            [known, unknown, fresh],
        )
    assert deleted >= 2
    assert sorted((r["organization_id"], r["message_sid"]) for r in left) == sorted([(org, known), (org, fresh)])

"""The one query of the media endpoint: whose credentials open a media item (schema ``provisioning``)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from byosms_common.messages import SealedSecret


@dataclass(frozen=True, slots=True)
class MediaCredentials:
    integration_id: str
    auth_token: SealedSecret


async def credentials_for(
    pool: asyncpg.Pool, organization_id: str, account_sid: str, integration_id: str | None
) -> MediaCredentials | None:
    """The sealed token of the organization's integration on ``account_sid`` (the named one, or the
    active one first, then the most recently changed); None when the organization has none."""
    row = await pool.fetchrow(
        """SELECT id, auth_token FROM integrations
           WHERE organization_id = $1 AND account_sid = $2 AND auth_token IS NOT NULL
             AND ($3::text IS NULL OR id = $3)
           ORDER BY (status = 'active') DESC, updated_at DESC, id LIMIT 1""",
        organization_id,
        account_sid,
        integration_id,
    )
    if row is None:
        return None
    raw = row["auth_token"]
    sealed = SealedSecret.model_validate_json(raw) if isinstance(raw, str | bytes) else SealedSecret.model_validate(raw)
    return MediaCredentials(integration_id=row["id"], auth_token=sealed)

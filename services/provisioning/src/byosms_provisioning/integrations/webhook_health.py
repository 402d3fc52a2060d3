"""Whether Twilio's webhooks of an integration pass signature validation, as the ingresses report it.

The ingresses publish ``WebhookSignatureFailing`` (at most once a minute per integration, with a
count) and ``WebhookSignatureRecovered`` (the first accepted webhook after a reported failure) to
``byosms.integrations.webhook-signatures.v1``. This module keeps the sum per integration in
``integration_webhook_health`` and shows it on the integration as ``webhook_health``: ``ok``, or
``failing`` with the count, since when, the last failure, and the ``webhook_signature_invalid``
message in the caller's language (which says that Twilio signs with the primary Auth Token and
secondary auth tokens are not supported). The state clears when an accepted webhook is reported
later than the last failure, or when the credentials are set again; it goes with its integration.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from pydantic import Field, RootModel

from byosms_common.consumer import EmitPublisher, Record, Subscription, one_by_one
from byosms_common.errors import Language, render
from byosms_common.messages import WebhookSignatureFailing, WebhookSignatureRecovered
from byosms_common.topics import WEBHOOK_SIGNATURE_REPORTS
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.integrations import repo

log = logging.getLogger(__name__)

CODE = "webhook_signature_invalid"


@dataclass(frozen=True, slots=True)
class Health:
    """Reported failures of one integration since it last worked."""

    integration_id: str
    failures: int
    since: datetime
    last_at: datetime
    last_reason: str
    region: str


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def view(health: Health | None, language: Language) -> dict[str, Any]:
    """The ``webhook_health`` field of the API representation."""
    if health is None:
        return {"status": "ok"}
    return {
        "status": "failing",
        "failures": health.failures,
        "since": health.since.isoformat(),
        "last_at": health.last_at.isoformat(),
        "last_reason": health.last_reason,
        "region": health.region,
        "code": CODE,
        "message": render(CODE, language, since=_when(health.since)),
    }


def _health(row: asyncpg.Record) -> Health:
    return Health(
        integration_id=row["integration_id"],
        failures=row["failures"],
        since=row["since"],
        last_at=row["last_at"],
        last_reason=row["last_reason"],
        region=row["region"],
    )


async def load(
    conn: asyncpg.Connection | asyncpg.Pool, organization_id: str, integration_ids: Iterable[str]
) -> dict[str, Health]:
    rows = await conn.fetch(
        "SELECT integration_id, failures, since, last_at, last_reason, region FROM integration_webhook_health "
        "WHERE organization_id = $1 AND integration_id = ANY($2::text[])",
        organization_id,
        list(integration_ids),
    )
    return {r["integration_id"]: _health(r) for r in rows}


async def record_failing(conn: asyncpg.Connection, report: WebhookSignatureFailing) -> bool:
    """Add a report to its integration's sum; False when no such integration of that organization exists,
    or when the report's failures all happened before the credentials were last set."""
    p = report.payload
    status = await conn.execute(
        "INSERT INTO integration_webhook_health AS h "
        "(integration_id, organization_id, failures, since, last_at, last_reason, region) "
        "SELECT i.id, i.organization_id, $3, $4, $5, $6, $7 FROM integrations i "
        "LEFT JOIN integration_webhook_health_resets r ON r.integration_id = i.id "
        "WHERE i.id = $1 AND i.organization_id = $2 AND (r.reset_at IS NULL OR $5 > r.reset_at) "
        "ON CONFLICT (integration_id) DO UPDATE SET "
        "  failures = h.failures + excluded.failures, "
        "  since = least(h.since, excluded.since), "
        "  last_reason = CASE WHEN excluded.last_at >= h.last_at THEN excluded.last_reason ELSE h.last_reason END, "
        "  region = CASE WHEN excluded.last_at >= h.last_at THEN excluded.region ELSE h.region END, "
        "  last_at = greatest(h.last_at, excluded.last_at)",
        p.integration_id,
        report.organization_id,
        p.failures,
        p.first_at,
        p.last_at,
        p.reason,
        p.region,
    )
    return bool(status == "INSERT 0 1")


async def record_recovered(conn: asyncpg.Connection, report: WebhookSignatureRecovered) -> None:
    """Clear the failures unless one was reported after this acceptance (another ingress, still failing)."""
    await conn.execute(
        "DELETE FROM integration_webhook_health WHERE integration_id = $1 AND organization_id = $2 AND last_at <= $3",
        report.payload.integration_id,
        report.organization_id,
        report.payload.accepted_at,
    )


async def clear(conn: asyncpg.Connection, organization_id: str, integration_id: str) -> None:
    """New credentials: earlier failures say nothing about them, nor do reports of them still on their way."""
    await conn.execute(
        "DELETE FROM integration_webhook_health WHERE integration_id = $1 AND organization_id = $2",
        integration_id,
        organization_id,
    )
    await conn.execute(
        "INSERT INTO integration_webhook_health_resets (integration_id, reset_at) "
        "SELECT id, now() FROM integrations WHERE id = $1 AND organization_id = $2 "
        "ON CONFLICT (integration_id) DO UPDATE SET reset_at = excluded.reset_at",
        integration_id,
        organization_id,
    )


Report = Annotated[WebhookSignatureFailing | WebhookSignatureRecovered, Field(discriminator="type")]


class ReportMessage(RootModel[Report]):
    """A report of the webhook signature topic, told apart by ``type``."""


async def handle_report(ctx: ServiceContext, report: WebhookSignatureFailing | WebhookSignatureRecovered) -> None:
    """Apply one report once (a redelivery is recognised by its id and not counted twice)."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not await repo.claim_command(conn, report.id, report.type):
            return
        if isinstance(report, WebhookSignatureFailing):
            await record_failing(conn, report)
        else:
            await record_recovered(conn, report)


def subscriptions(ctx: ServiceContext) -> list[Subscription[Any]]:
    """The ingresses' webhook signature reports."""

    async def on_report(record: Record[ReportMessage], _: EmitPublisher) -> None:
        await handle_report(ctx, record.message.root)

    return [
        Subscription(
            WEBHOOK_SIGNATURE_REPORTS,
            ReportMessage,
            one_by_one(on_report),
            group_id=f"{ctx.settings.command_group_id}-webhook-health",
        )
    ]

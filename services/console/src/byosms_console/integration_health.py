"""What an integration's Webhooks tab shows, as pure logic: the health of its numbers' webhooks (from
``GET /api/v2/integrations/{id}/number-webhooks``), whether Twilio's signatures pass (the integration's
``webhook_health``), its signature mode, a pending Auth Token rotation (never the token: only since when
and until when), the webhooks repaired (re-pointed) at Twilio recently, and the inbound messages recovered
recently because their webhook never came.

Messages the API sends (what is wrong with a number) are in the user's language already and shown as
they are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from byosms_console.number_rows import moment

SUMMARY_STATES = ("healthy", "misconfigured", "unchecked", "no_numbers")
OBSERVE_HOURS = (1, 4, 24, 72, 168)
"""The durations the mode form offers; observe mode ends by itself after it (the API allows up to 168)."""
DEFAULT_OBSERVE_HOURS = 24


def observe_hours(form: Mapping[str, Any]) -> int | None:
    """The duration the user chose (None, the API's default, for anything the form does not offer: the
    API refuses what it does not allow, in the user's language)."""
    raw = str(form.get("observe_hours", ""))
    return int(raw) if raw.isdigit() and int(raw) in OBSERVE_HOURS else None


@dataclass(frozen=True)
class DriftedRow:
    address: str
    message: str
    delivers_to: str | None
    """Where Twilio delivers the number's SMS now (None: nowhere, or captured by Conversations)."""
    checked_at: str
    since: str


@dataclass(frozen=True)
class RepairRow:
    address: str
    at: str
    change: str
    outcome: str
    actor: str


@dataclass(frozen=True)
class RecoveredRow:
    message_sid: str
    at: str
    outcome: str


@dataclass(frozen=True)
class Rotation:
    started_at: str
    expires_at: str


@dataclass(frozen=True)
class HealthTab:
    status: str | None
    """One of SUMMARY_STATES; None when the summary could not be read (``error`` says why)."""
    checked_at: str
    numbers: Mapping[str, int]
    drifted: tuple[DriftedRow, ...]
    repairs: tuple[RepairRow, ...]
    signatures_failing: bool
    signature_failures: int
    signature_message: str
    signature_mode: str
    observe_until: str | None
    """When observe mode ends by itself (None in enforce)."""
    rotation: Rotation | None
    recovered_count: int = 0
    recovered: tuple[RecoveredRow, ...] = ()
    error: str | None = None


def health_tab(integration: Mapping[str, Any], summary: Mapping[str, Any] | None, error: str | None) -> HealthTab:
    signatures = integration.get("webhook_health") or {}
    rotation = integration.get("auth_token_rotation")
    summary = summary or {}
    status = summary.get("status")
    return HealthTab(
        status=status if status in SUMMARY_STATES else None,
        checked_at=moment(summary.get("checked_at")),
        numbers={k: int(v) for k, v in (summary.get("numbers") or {}).items()},
        drifted=tuple(
            DriftedRow(
                address=str(d.get("address", "")),
                message=str(d.get("message") or d.get("kind") or ""),
                delivers_to=str(d["delivers_to"]) if d.get("delivers_to") else None,
                checked_at=moment(d.get("checked_at")),
                since=moment(d.get("since")),
            )
            for d in summary.get("drifted") or []
        ),
        repairs=tuple(
            RepairRow(
                address=str(r.get("address", "")),
                at=moment(r.get("at")),
                change=f"{r.get('parameter', '')}: {r.get('old_value') or '—'} → {r.get('new_value', '')}",
                outcome=str(r.get("outcome", "")),
                actor=str(r.get("actor", "")),
            )
            for r in summary.get("recent_repairs") or []
        ),
        signatures_failing=signatures.get("status") == "failing",
        signature_failures=int(signatures.get("failures") or 0),
        signature_message=str(signatures.get("message") or ""),
        signature_mode="observe" if integration.get("signature_mode") == "observe" else "enforce",
        observe_until=(
            moment(integration.get("signature_mode_expires_at"))
            if integration.get("signature_mode") == "observe"
            else None
        ),
        rotation=(
            Rotation(moment(rotation.get("started_at")), moment(rotation.get("expires_at")))
            if isinstance(rotation, Mapping)
            else None
        ),
        recovered_count=int((summary.get("recovered_messages") or {}).get("count") or 0),
        recovered=tuple(
            RecoveredRow(str(r.get("message_sid", "")), moment(r.get("at")), str(r.get("outcome", "")))
            for r in (summary.get("recovered_messages") or {}).get("latest") or []
        ),
        error=error,
    )

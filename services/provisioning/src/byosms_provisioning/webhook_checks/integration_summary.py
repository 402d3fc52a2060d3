"""An integration's webhook health as the last checks of its numbers say it (``GET
/api/v2/integrations/{id}/number-webhooks``): how many numbers are ``ok``, ``drifted`` or not checked
yet, when one was last checked, the drifted ones with what is wrong, the repairs made at Twilio
recently, and the inbound messages routing's recovery job replayed recently because their webhook never
came (from the message trace). The SQL is in ``summary_repo``; this module only shapes it (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from byosms_common.errors import Language
from byosms_provisioning.webhook_checks.view import message

Status = Literal["healthy", "misconfigured", "unchecked", "no_numbers"]
RECENT_DAYS = 7
"""How far back ``recent_repairs`` and ``recovered_messages`` look."""


@dataclass(frozen=True, slots=True)
class Counts:
    total: int
    ok: int
    drifted: int
    unchecked: int
    check_errors: int
    checked_at: datetime | None


@dataclass(frozen=True, slots=True)
class DriftedNumber:
    number_id: str
    address: str
    kind: str | None
    details: dict[str, Any]
    checked_at: datetime | None
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class Repair:
    number_id: str
    address: str
    actor: str
    at: datetime
    parameter: str
    old_value: str | None
    new_value: str
    outcome: str


@dataclass(frozen=True, slots=True)
class RecoveredMessage:
    message_sid: str
    at: datetime
    step: str
    """``routed`` or ``discarded``: routing's decision on the replayed message."""


@dataclass(frozen=True, slots=True)
class Recovered:
    count: int
    latest: list[RecoveredMessage]


def status_of(counts: Counts) -> Status:
    """``misconfigured`` when any number is drifted; ``unchecked`` when none has been checked yet;
    ``healthy`` when every checked number is ``ok``; ``no_numbers`` without numbers."""
    if counts.drifted:
        return "misconfigured"
    if counts.total == 0:
        return "no_numbers"
    if counts.ok == 0:
        return "unchecked"
    return "healthy"


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary_view(
    integration_id: str,
    counts: Counts,
    drifted: list[DriftedNumber],
    repairs: list[Repair],
    language: Language,
    recovered: Recovered | None = None,
) -> dict[str, Any]:
    recovered = recovered or Recovered(0, [])
    return {
        "integration_id": integration_id,
        "status": status_of(counts),
        "checked_at": _time(counts.checked_at),
        "numbers": {
            "total": counts.total,
            "ok": counts.ok,
            "drifted": counts.drifted,
            "unchecked": counts.unchecked,
            "check_errors": counts.check_errors,
        },
        "drifted": [
            {
                "number_id": d.number_id,
                "address": d.address,
                "kind": d.kind,
                "message": (
                    message(d.kind, language, expected_url=str(d.details.get("expected_url") or "")) if d.kind else None
                ),
                "delivers_to": d.details.get("delivers_to"),
                "expected_url": d.details.get("expected_url"),
                "checked_at": _time(d.checked_at),
                "since": d.changed_at.isoformat(),
            }
            for d in drifted
        ],
        "recent_repairs": [
            {
                "number_id": r.number_id,
                "address": r.address,
                "actor": r.actor,
                "at": r.at.isoformat(),
                "parameter": r.parameter,
                "old_value": r.old_value,
                "new_value": r.new_value,
                "outcome": r.outcome,
            }
            for r in repairs
        ],
        "recovered_messages": {
            "count": recovered.count,
            "latest": [
                {"message_sid": r.message_sid, "at": r.at.isoformat(), "outcome": r.step} for r in recovered.latest
            ],
        },
    }

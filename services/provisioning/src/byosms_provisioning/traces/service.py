"""A message's trace as the public API shows it, and the retention job.

Inbound: when and in which region the ingress accepted it, whether it came through the ingress's
spool, routing's decision with its target or reason. Outbound: the send checks' outcome (passed, or
the refusal with its reason), Twilio's MessageSid and every delivery status with Twilio's error code
and its meaning. Kept for ``BYOSMS_PROVISIONING_MESSAGE_TRACE_DAYS`` (30) days.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from byosms_common.errors import Language, NotFound
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.traces import repo

log = logging.getLogger(__name__)

# Failures that come from asking Twilio (without an error code of Twilio's); every other failure without
# one is a refusal of routing's send checks, before Twilio was asked.
TWILIO_OUTCOMES = frozenset({"outcome_unknown", "vendor_unavailable", "vendor_rejected"})


def _text(message: dict[str, str] | None, language: Language) -> str | None:
    return message.get(language) or message.get("en") if message else None


# A decision or Twilio's answer comes before the delivery statuses, whatever the clocks say (a report may
# be applied before the answer to the create is recorded).
_RANK = {"routed": 0, "discarded": 0, "accepted": 0, "failed": 0, "status": 1}


def _view_steps(rows: list[dict[str, Any]], language: Language) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for row in sorted(rows, key=lambda r: (_RANK.get(r["step"], 1), r["at"])):
        details, at = row["details"], row["at"].isoformat()
        match row["step"]:
            case "routed" | "discarded":
                steps.append(
                    {
                        "step": "received",
                        "at": details.get("received_at"),
                        "region": details.get("region"),
                        "spooled": details.get("spooled"),
                        **({"recovered": True} if details.get("recovered") else {}),
                    }
                )
                decision: dict[str, Any] = {"step": row["step"], "at": at}
                if row["step"] == "routed":
                    decision["target"] = details.get("target")
                else:
                    decision["reason"] = details.get("reason")
                steps.append(decision)
            case "accepted":
                steps.append({"step": "checks", "at": at, "outcome": "passed"})
                steps.append(
                    {"step": "accepted", "at": at, "message_sid": row["message_sid"], "status": details["status"]}
                )
            case "failed":
                refused_by_checks = details.get("error_code") is None and details.get("code") not in TWILIO_OUTCOMES
                steps.append(
                    {
                        "step": "checks" if refused_by_checks else "failed",
                        "at": at,
                        "outcome": "refused",
                        "code": details.get("code"),
                        "message": _text(details.get("message"), language),
                        "error_code": details.get("error_code"),
                        "retryable": details.get("retryable"),
                    }
                )
            case "status":
                steps.append(
                    {
                        "step": "status",
                        "at": at,
                        "status": details.get("status"),
                        "error_code": details.get("error_code"),
                        "message": _text(details.get("message"), language),
                        **({"recovered": True} if details.get("recovered") else {}),
                    }
                )
    return steps


async def trace(ctx: ServiceContext, organization_id: str, message: str, language: Language) -> dict[str, Any]:
    rows = await repo.steps_of(ctx.pool, organization_id, message[:200])
    if not rows:
        raise NotFound("not_found")
    first = rows[0]
    sid = next((r["message_sid"] for r in rows if r["message_sid"]), None)
    return {
        "message_sid": sid,
        "message_id": first["message_id"] if first["direction"] == "outbound" else None,
        "direction": first["direction"],
        "steps": _view_steps(rows, language),
    }


async def forget_old_traces_periodically(ctx: ServiceContext, stop: asyncio.Event) -> None:
    """Background job: steps older than ``message_trace_days`` are deleted."""
    while not stop.is_set():
        try:
            deleted = await repo.forget_older_than(ctx.pool, ctx.settings.message_trace_days)
            if deleted:
                log.info("deleted %d message trace steps past their retention", deleted)
        except Exception as exc:  # noqa: BLE001 - retried next round
            log.warning("deleting old message trace steps failed (%s); will retry", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 3600)

"""What the inventory list shows of a number, as pure logic: its queue (its own, or the default it
falls back to, or the API's ``no_route`` warning), its latest action, and the trace's steps.

Texts the API sends (warnings, errors, a refusal's meaning) are already in the user's language and
shown as they are; the console's own words come from ``texts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from byosms_console.texts import TEXTS, Language, text

ACTION_KINDS = ("import", "remove", "set_routing_target", "set_compliance")
ACTION_STATES = ("running", "completed", "failed")
TRACE_STEPS = ("received", "routed", "discarded", "checks", "accepted", "failed", "status")
# A step's details, in the order shown; "step" and "at" have columns of their own.
TRACE_DETAILS = ("region", "spooled", "target", "reason", "outcome", "status", "message_sid", "code", "error_code")


@dataclass(frozen=True)
class Queue:
    """The queue column: ``target`` and where it comes from (``number``, ``integration``,
    ``organization``), or the warning when nothing routes the number's messages."""

    target: str | None
    source: str | None
    warning: str | None


def queue_of(number: Mapping[str, Any], language: Language) -> Queue:
    effective = number.get("effective_routing_target") or {}
    target = number.get("routing_target") or effective.get("target")
    source = "number" if number.get("routing_target") else (effective.get("from") if target else None)
    warning = next(
        (str(w.get("message") or "") for w in number.get("warnings") or [] if w.get("code") == "no_route"),
        None,
    )
    if warning == "":
        warning = text("numbers.no_route", language)
    return Queue(target, source, warning)


def action_of(number: Mapping[str, Any], language: Language) -> str | None:
    """``Import: completed``, ``Removal: running``, ``Queue change: failed — <the API's reason>``."""
    action = number.get("latest_action")
    if not action:
        return None
    kind, state = str(action.get("kind", "")), str(action.get("state", ""))
    label = text(f"action.{kind}", language) if kind in ACTION_KINDS else kind
    said = text(f"action.{state}", language) if state in ACTION_STATES else state
    error = (action.get("error") or {}).get("message") if state == "failed" else None
    return f"{label}: {said}" + (f" — {error}" if error else "")


def moment(value: str | None) -> str:
    """An API timestamp as people read it: ``2026-12-02 00:36:50 UTC`` (UTC ones), else as given."""
    if not value:
        return "—"
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    if at.utcoffset() != timedelta(0):
        return value
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def step_label(step: str, language: Language) -> str:
    key = f"trace.step.{step}"
    return text(key, language) if key in TEXTS else step


def step_details(step: Mapping[str, Any], language: Language) -> list[tuple[str, str]]:
    """A trace step's facts as (label, value) pairs, known ones first, empty ones left out."""
    shown: list[tuple[str, str]] = []
    for name in (*TRACE_DETAILS, *sorted(set(step) - {"step", "at", "message", *TRACE_DETAILS})):
        value = step.get(name)
        if value is None or value == "":
            continue
        key = f"trace.field.{name}"
        label = text(key, language) if key in TEXTS else name
        if isinstance(value, bool):
            value = text("yes" if value else "no", language)
        shown.append((label, str(value)))
    return shown

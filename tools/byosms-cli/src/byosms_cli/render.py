"""How the CLI shows what the API answered: lists as tables, one resource as fields, a problem document
as one line in the caller's language (the API renders it in the Accept-Language the CLI sends), and
``--json`` for the raw documents. Pure formatting over ``rich``; no I/O but the console given."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

Column = tuple[str, str]
"""(heading, key path into an item: ``a.b`` reads ``item["a"]["b"]``)."""


def console(*, err: bool = False) -> Console:
    # Not a terminal (a pipe, a test): wide enough that no cell is cut or folded.
    plain = Console(stderr=err, highlight=False)
    return plain if plain.is_terminal else Console(stderr=err, highlight=False, width=250)


def language_from_environment() -> str | None:
    """``de`` when the locale is German (LC_ALL, LC_MESSAGES, LANG), else None (English)."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return "de" if value.lower().startswith("de") else None
    return None


def _get(item: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(item, dict):
            return None
        item = item.get(part)
    return item


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False) if value else "-"
    return str(value)


def table(items: Sequence[dict[str, Any]], columns: Sequence[Column]) -> Table:
    out = Table(box=None, pad_edge=False, header_style="bold")  # columns as kubectl and gh print them
    for heading, _ in columns:
        out.add_column(heading, no_wrap=True)
    for item in items:
        out.add_row(*(_cell(_get(item, path)) for _, path in columns))
    return out


def fields(item: dict[str, Any], columns: Sequence[Column]) -> Table:
    out = Table(box=None, show_header=False, pad_edge=False)
    out.add_column(style="bold", no_wrap=True)
    out.add_column()
    for heading, path in columns:
        out.add_row(heading, _cell(_get(item, path)))
    return out


def problem_line(status: int, body: Any) -> str:
    """One line for an error answer: the problem's detail (in the language asked for), its code, the status."""
    if isinstance(body, dict) and body.get("detail"):
        extra = "; ".join(
            f"{e.get('field')}: {e.get('message')}" for e in body.get("errors") or [] if isinstance(e, dict)
        )
        detail = str(body["detail"]) if not extra or extra in str(body["detail"]) else f"{body['detail']} ({extra})"
        return f"byosms: {detail} [{body.get('code', 'error')}, HTTP {status}]"
    return f"byosms: HTTP {status}: {body if body is not None else 'no answer body'}"


NUMBER_COLUMNS: Sequence[Column] = (
    ("ID", "id"),
    ("ADDRESS", "address"),
    ("TYPE", "type"),
    ("COUNTRY", "country"),
    ("STATE", "state"),
    ("TARGET", "effective_routing_target.target"),
    ("FROM", "effective_routing_target.from"),
    ("INTEGRATION", "integration.name"),
    ("WARNINGS", "warning_codes"),
    ("LAST ACTION", "action_summary"),
)

NUMBER_FIELDS: Sequence[Column] = (
    ("id", "id"),
    ("address", "address"),
    ("type", "type"),
    ("country", "country"),
    ("state", "state"),
    ("version", "version"),
    ("integration", "integration.id"),
    ("integration name", "integration.name"),
    ("Twilio SID", "twilio_sid"),
    ("routing target", "routing_target"),
    ("effective target", "effective_routing_target.target"),
    ("target from", "effective_routing_target.from"),
    ("compliance", "compliance"),
    ("imported", "imported_at"),
    ("updated", "updated_at"),
    ("removed", "removed_at"),
    ("warnings", "warning_messages"),
    ("last action", "action_summary"),
)


def number_row(number: dict[str, Any]) -> dict[str, Any]:
    """The number with the summaries the table and fields show."""
    warnings = number.get("warnings") or []
    action = number.get("latest_action")
    summary = None
    if isinstance(action, dict):
        summary = f"{action.get('kind')} {action.get('state')}"
        error = action.get("error")
        if isinstance(error, dict):
            summary += f": {error.get('message') or error.get('code')}"
    return {
        **number,
        "warning_codes": ", ".join(str(w.get("code")) for w in warnings) or None,
        "warning_messages": "; ".join(str(w.get("message")) for w in warnings) or None,
        "action_summary": summary,
    }


TRACE_COLUMNS: Sequence[Column] = (("STEP", "step"), ("AT", "at"), ("DETAILS", "details"))

_STEP_DETAILS = ("region", "spooled", "target", "reason", "outcome", "code", "message", "error_code", "status")


def trace_rows(trace: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for step in trace.get("steps") or []:
        details = ", ".join(
            f"{key}={_cell(step[key])}" for key in _STEP_DETAILS if key in step and step[key] is not None
        )
        if step.get("message_sid"):
            details = f"message_sid={step['message_sid']}" + (f", {details}" if details else "")
        rows.append({"step": step.get("step"), "at": step.get("at"), "details": details or None})
    return rows

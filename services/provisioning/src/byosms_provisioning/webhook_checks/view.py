"""The ``webhook`` field of a number in the inventory API: its last webhook check. Pure."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from byosms_common.errors import CATALOG, Language
from byosms_provisioning.webhook_checks.repo import CheckState


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# A finding on an imported number, told in other words than the import's refusal of the same kind.
_ON_A_NUMBER = {"webhook_not_configured": "number_webhook_not_configured"}


def message(code: str, language: Language, **params: str) -> str | None:
    """The catalog text of ``code`` (None for an unknown code); placeholders without a value show as ``…``.
    A drift kind whose catalog text speaks of the import has its own text for a number already imported."""
    text = CATALOG.get(_ON_A_NUMBER.get(code, code))
    if text is None:
        return None
    template = text.de if language == "de" else text.en
    return template.format_map(defaultdict(lambda: "…", params))


def webhook_view(state: CheckState | None, language: Language) -> dict[str, Any]:
    """``status`` ok | drifted | unchecked, the finding in effect (``kind``, with its message), where Twilio
    delivers now, what to set, when it was checked and changed, and the last check's error, if any."""
    if state is None:
        return {"status": "unchecked", "checked_at": None}
    details = state.details
    view: dict[str, Any] = {
        "status": state.status,
        "kind": state.kind,
        "kinds": list(state.kinds),
        "message": message(state.kind, language, expected_url=details.get("expected_url", "")) if state.kind else None,
        "via": details.get("via"),
        "delivers_to": details.get("delivers_to"),
        "method": details.get("method"),
        "expected_url": details.get("expected_url"),
        "fixes": details.get("fixes", []),
        "trigger": state.trigger,
        "checked_at": _time(state.checked_at),
        "changed_at": _time(state.changed_at),
        "next_check_at": _time(state.next_check_at),
        "last_error": None,
    }
    if state.error_code is not None:
        view["last_error"] = {
            "code": state.error_code,
            "message": message(state.error_code, language),
            "at": _time(state.error_at),
        }
    return view

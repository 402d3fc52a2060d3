"""The Webhooks tab's content from the API's answers: the numbers' health, signatures, mode, rotation."""

from __future__ import annotations

import pytest

from byosms_console import texts
from byosms_console.integration_health import OBSERVE_HOURS, health_tab, observe_hours

pytestmark = pytest.mark.unit

INTEGRATION = {"id": "i1", "signature_mode": "enforce", "webhook_health": {"status": "ok"}}


def test_a_misconfigured_number_shows_with_the_apis_words_and_its_times() -> None:
    summary = {
        "status": "misconfigured",
        "checked_at": "2026-12-02T05:00:00+00:00",
        "numbers": {"total": 2, "ok": 1, "drifted": 1, "unchecked": 0, "check_errors": 0},
        "drifted": [
            {
                "address": "+4915112345678",
                "kind": "webhook_not_configured",
                "message": "Der SMS-Webhook der Nummer muss auf … zeigen",
                "delivers_to": "https://other.example/sms",
                "checked_at": "2026-12-02T05:00:00+00:00",
                "since": "2026-12-02T04:00:00+00:00",
            }
        ],
        "recovered_messages": {
            "count": 3,
            "latest": [{"message_sid": "SM1", "at": "2026-12-02T03:00:00+00:00", "outcome": "routed"}],
        },
        "recent_repairs": [
            {
                "address": "+4915112345678",
                "at": "2026-12-01T10:00:00+00:00",
                "parameter": "SmsUrl",
                "old_value": None,
                "new_value": "https://in.example/sms",
                "outcome": "applied",
                "actor": "alice",
            }
        ],
    }
    tab = health_tab(INTEGRATION, summary, None)
    assert (tab.status, tab.checked_at, tab.numbers["drifted"]) == ("misconfigured", "2026-12-02 05:00:00 UTC", 1)
    [row] = tab.drifted
    assert (row.address, row.message, row.delivers_to, row.since) == (
        "+4915112345678",
        "Der SMS-Webhook der Nummer muss auf … zeigen",
        "https://other.example/sms",
        "2026-12-02 04:00:00 UTC",
    )
    [repair] = tab.repairs
    assert repair.change == "SmsUrl: — → https://in.example/sms"
    assert (tab.signature_mode, tab.signatures_failing, tab.rotation) == ("enforce", False, None)
    assert tab.recovered_count == 3
    assert [(r.message_sid, r.at, r.outcome) for r in tab.recovered] == [("SM1", "2026-12-02 03:00:00 UTC", "routed")]


def test_not_checked_yet_failing_signatures_observe_and_a_pending_rotation_without_the_token() -> None:
    integration = {
        "signature_mode": "observe",
        "signature_mode_expires_at": "2026-12-03T05:00:00+00:00",
        "webhook_health": {"status": "failing", "failures": 3, "message": "Signatur falsch"},
        "auth_token_rotation": {"started_at": "2026-12-02T01:00:00+00:00", "expires_at": "2026-12-03T01:00:00+00:00"},
    }
    tab = health_tab(integration, {"status": "unchecked", "checked_at": None, "numbers": {"total": 1}}, None)
    assert (tab.status, tab.checked_at) == ("unchecked", "—")
    assert (tab.signatures_failing, tab.signature_failures, tab.signature_message) == (True, 3, "Signatur falsch")
    assert (tab.signature_mode, tab.observe_until) == ("observe", "2026-12-03 05:00:00 UTC")
    assert tab.rotation is not None
    assert (tab.rotation.started_at, tab.rotation.expires_at) == ("2026-12-02 01:00:00 UTC", "2026-12-03 01:00:00 UTC")


def test_a_summary_that_could_not_be_read_says_why_and_still_shows_the_mode() -> None:
    unreachable = "Die Admin-API ist gerade nicht erreichbar."
    tab = health_tab(INTEGRATION, None, unreachable)
    assert (tab.status, tab.error, tab.signature_mode) == (None, unreachable, "enforce")


def test_the_observe_duration_is_one_the_form_offers_else_the_apis_default() -> None:
    assert [observe_hours({"observe_hours": str(h)}) for h in OBSERVE_HOURS] == list(OBSERVE_HOURS)
    assert [observe_hours({"observe_hours": v}) for v in ("", "5", "-1", "1e3", "169")] == [None] * 5
    assert all(f"wh.duration.{h}" in texts.TEXTS for h in OBSERVE_HOURS)
    assert health_tab(INTEGRATION, None, None).observe_until is None

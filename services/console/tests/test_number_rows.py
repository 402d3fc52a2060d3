"""What the inventory list and the trace show of the API's documents (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from byosms_console import number_rows

pytestmark = pytest.mark.unit


def _number(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "routing_target": None,
        "effective_routing_target": {"target": None, "from": None},
        "warnings": [],
        "latest_action": None,
    }
    return {**base, **fields}


def test_a_numbers_own_queue_wins_and_a_default_says_where_it_comes_from() -> None:
    own = _number(routing_target="queue-a", effective_routing_target={"target": "queue-a", "from": "number"})
    assert number_rows.queue_of(own, "en") == number_rows.Queue("queue-a", "number", None)
    inherited = _number(effective_routing_target={"target": "flow-org", "from": "organization"})
    assert number_rows.queue_of(inherited, "en") == number_rows.Queue("flow-org", "organization", None)


def test_no_route_shows_the_apis_warning_in_its_words() -> None:
    warned = _number(warnings=[{"code": "no_route", "message": "Kein Routing-Ziel", "since": None}])
    assert number_rows.queue_of(warned, "de") == number_rows.Queue(None, None, "Kein Routing-Ziel")
    unworded = _number(warnings=[{"code": "no_route"}])
    assert number_rows.queue_of(unworded, "de").warning == (
        "Keine Warteschlange: eingehende Nachrichten werden verworfen"
    )
    assert number_rows.queue_of(_number(warnings=[{"code": "other", "message": "x"}]), "en").warning is None


def test_the_latest_action_with_its_state_and_the_apis_reason() -> None:
    assert number_rows.action_of(_number(), "en") is None
    done = _number(latest_action={"kind": "import", "state": "completed"})
    assert number_rows.action_of(done, "de") == "Import: abgeschlossen"
    running = _number(latest_action={"kind": "remove", "state": "running"})
    assert number_rows.action_of(running, "en") == "Removal: running"
    failed = _number(
        latest_action={"kind": "set_routing_target", "state": "failed", "error": {"code": "x", "message": "Stale."}}
    )
    assert number_rows.action_of(failed, "en") == "Queue change: failed — Stale."
    unknown = _number(latest_action={"kind": "future_kind", "state": "completed"})
    assert number_rows.action_of(unknown, "en") == "future_kind: completed"


def test_a_trace_step_names_its_facts_and_leaves_empty_ones_out() -> None:
    received = {"step": "received", "at": "t", "region": "eu-central-1", "spooled": False, "target": None}
    assert number_rows.step_label("received", "en") == "Received by the ingress"
    assert number_rows.step_details(received, "de") == [("Region", "eu-central-1"), ("über den Spool", "nein")]
    refused = {"step": "checks", "outcome": "refused", "code": "opted_out", "message": "m", "error_code": None}
    assert number_rows.step_details(refused, "en") == [("outcome", "refused"), ("code", "opted_out")]
    assert number_rows.step_label("something_new", "en") == "something_new"
    assert number_rows.step_details({"step": "x", "extra": 3}, "en") == [("extra", "3")]


def test_times_read_as_utc_and_others_as_given() -> None:
    assert number_rows.moment("2026-12-02T00:36:50.078197+00:00") == "2026-12-02 00:36:50 UTC"
    assert number_rows.moment("2026-12-02T01:36:50+01:00") == "2026-12-02T01:36:50+01:00"
    assert number_rows.moment("yesterday") == "yesterday"
    assert number_rows.moment(None) == "—"

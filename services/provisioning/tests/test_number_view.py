"""How a number is shown: its effective routing target and the no_route warning, which holds only while
no target resolves."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from byosms_provisioning.numbers.repo import NumberView
from byosms_provisioning.numbers.routes import number_view

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, tzinfo=UTC)
WARNED = NumberView(
    id="imp",
    address="+4930123",
    organization_id="o",
    integration_id="i",
    integration_name="Main",
    number_type="local",
    country="DE",
    twilio_sid="PN1",
    compliance=None,
    routing_target=None,
    integration_target=None,
    organization_target=None,
    state="active",
    version=2,
    imported_at=NOW,
    updated_at=NOW,
    removed_at=None,
    no_route_at=NOW,
    action=None,
)


@pytest.mark.parametrize(
    ("changes", "target", "source"),
    [
        ({"organization_target": "q-org"}, "q-org", "organization"),
        ({"organization_target": "q-org", "integration_target": "q-int"}, "q-int", "integration"),
        ({"integration_target": "q-int", "routing_target": "q-num"}, "q-num", "number"),
    ],
)
def test_a_target_anywhere_ends_the_warning(changes: dict[str, str], target: str, source: str) -> None:
    view = number_view(replace(WARNED, **changes), "en")
    assert view["effective_routing_target"] == {"target": target, "from": source}
    assert view["warnings"] == []


def test_without_a_target_the_warning_shows_in_the_callers_language() -> None:
    [warning] = number_view(WARNED, "de")["warnings"]
    assert warning["code"] == "no_route"
    assert warning["message"].startswith("Eingehende Nachrichten an diese Nummer werden verworfen")
    assert number_view(replace(WARNED, state="inactive"), "en")["warnings"] == []  # discarded as inactive anyway

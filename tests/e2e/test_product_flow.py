"""The product's main job through the running system: connect a Twilio account, import a number,
receive a customer's SMS in the tenant's queues, stop receiving after deactivation."""

from __future__ import annotations

import re

import pytest

from byosms_devstack.demo import Endpoints, run_demo

pytestmark = pytest.mark.e2e


async def test_inbound_sms_reaches_the_queues_until_the_integration_is_deactivated(
    system: tuple[Endpoints, bytes],
) -> None:
    endpoints, private_key = system
    lines: list[str] = []
    result = await run_demo(endpoints, private_key, lines.append)
    assert result.routed.payload.to == result.number
    assert result.routed.payload.integration_id == result.integration_id
    assert result.routed.organization_id == result.organization_id
    assert result.routed.payload.body == "Hallo, ich habe eine Frage"
    # Deactivation reaches routing on two paths (the integration's state and, through inventory, the
    # number's state); whichever arrives first names the reason.
    assert result.discarded.payload.reason in {"integration_inactive", "number_inactive"}
    assert any(re.search(r"imported \(import \w+\)", line) for line in lines)

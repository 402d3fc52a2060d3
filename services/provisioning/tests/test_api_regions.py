"""``GET /api/v2/regions``: what an admin UI shows before an integration exists."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from byosms_provisioning import auth

if TYPE_CHECKING:
    from conftest import Harness

pytestmark = pytest.mark.integration


async def test_regions_list_each_region_with_its_inbound_webhook_url(prov: Harness) -> None:
    response = await prov.client.get("/api/v2/regions", headers=prov.headers(auth.INTEGRATION_VIEW))
    assert response.status == 200
    items = {item["id"]: item for item in (await response.json())["items"]}
    assert items["eu-central-1"] == {
        "id": "eu-central-1",
        "name": "Europe (Frankfurt)",
        "inbound_webhook_url": "https://byosms.mypurecloud.de/vendors/v1/twilio/3d904439dc3f4eceb2e574b43c8f5ac5/mo",
    }
    assert len(items) == 15


async def test_regions_need_the_view_permission(prov: Harness) -> None:
    response = await prov.client.get("/api/v2/regions", headers=prov.headers(auth.INTEGRATION_ADD, language="de"))
    assert response.status == 403
    assert (await response.json())["detail"] == "Ihnen fehlt die Berechtigung integrations:integration:view."

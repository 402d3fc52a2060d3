"""``GET /api/v2/regions``: the regions an integration can be created in, with each one's inbound
webhook URL (what every Twilio number of an integration there must carry as its SMS webhook).

Admin UIs show the URL before an integration exists, so the table is served, not copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from byosms_common.regions import Region
from byosms_provisioning import auth
from byosms_provisioning.context import ServiceContext, context_of

PATH = "/api/v2/regions"


def regions_view(regions: Mapping[str, Region]) -> dict[str, Any]:
    """Every region in the table's order: id, name, inbound webhook URL (never a secret)."""
    return {
        "items": [
            {"id": region.id, "name": region.name, "inbound_webhook_url": region.inbound_url}
            for region in regions.values()
        ]
    }


async def list_regions(request: web.Request) -> web.Response:
    ctx = context_of(request)
    await auth.authenticate(request, ctx.verifier, auth.INTEGRATION_VIEW)
    return web.json_response(regions_view(ctx.regions), headers={"Cache-Control": "max-age=300"})


def register(app: web.Application, ctx: ServiceContext) -> None:
    """Mount the regions route (called by ``app.py``)."""
    del ctx
    app.router.add_get(PATH, list_regions)

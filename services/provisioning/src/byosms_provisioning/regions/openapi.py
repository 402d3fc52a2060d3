"""The regions' part of the OpenAPI document, merged by ``byosms_provisioning.openapi``."""

from __future__ import annotations

from byosms_provisioning import auth
from byosms_provisioning.openapi_common import JSON, operation, ref
from byosms_provisioning.regions import routes


def regions_part() -> tuple[JSON, JSON]:
    paths: JSON = {
        routes.PATH: {
            "get": operation(
                "List the regions and their inbound webhook URLs",
                auth.INTEGRATION_VIEW,
                description=(
                    "The regions an integration can be created in. `inbound_webhook_url` is the URL every "
                    "Twilio number of an integration in that region must carry as its SMS webhook (HTTP POST) "
                    "before it can be imported."
                ),
                ok=(200, ref("RegionList")),
                errors=(401, 403),
            ),
        },
    }
    schemas: JSON = {
        "RegionList": {
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "name", "inbound_webhook_url"],
                        "properties": {
                            "id": {"type": "string"},
                            "name": {"type": "string"},
                            "inbound_webhook_url": {"type": "string", "format": "uri"},
                        },
                    },
                }
            },
        }
    }
    return paths, schemas

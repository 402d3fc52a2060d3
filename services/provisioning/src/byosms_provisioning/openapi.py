"""The admin API's OpenAPI 3.1 document, built from code and served at ``GET /api/v2/openapi.json``.

``contracts/openapi/provisioning.json`` is generated from it (:func:`write`); a test fails when the
checked-in file differs. Each context (``integrations``, ``imports``, ``numbers``, ``traces``,
``regions``) holds its part (``<context>/openapi.py``); a new one is added to :data:`PARTS`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from byosms_common.regions import DEFAULT_REGIONS
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.imports import openapi as imports_openapi
from byosms_provisioning.integrations import openapi as integrations_openapi
from byosms_provisioning.integrations import token_rotation_openapi
from byosms_provisioning.media import openapi as media_openapi
from byosms_provisioning.numbers import openapi as numbers_openapi
from byosms_provisioning.openapi_common import JSON, NO_NUL_PATTERN, REQUEST_SCHEMAS, Part
from byosms_provisioning.regions import openapi as regions_openapi
from byosms_provisioning.traces import openapi as traces_openapi
from byosms_provisioning.webhook_checks import openapi as webhook_openapi

CONTRACT_PATH = Path("contracts/openapi/provisioning.json")

PARTS: list[Part] = [
    integrations_openapi.integration_part,
    imports_openapi.imports_part,
    numbers_openapi.numbers_part,
    traces_openapi.traces_part,
    media_openapi.media_part,
    integrations_openapi.sealing_part,
    token_rotation_openapi.token_rotation_part,
    regions_openapi.regions_part,
    webhook_openapi.webhook_part,
]


def _forbid_nul(schema: Any) -> None:
    """Add :data:`NO_NUL_PATTERN` to every free-text string schema inside ``schema`` (in place)."""
    if isinstance(schema, dict):
        if schema.get("type") == "string" and not {"pattern", "enum", "format"} & schema.keys():
            schema["pattern"] = NO_NUL_PATTERN
        for value in schema.values():
            _forbid_nul(value)
    elif isinstance(schema, list):
        for value in schema:
            _forbid_nul(value)


def _constrain_requests(paths: JSON, schemas: JSON, region_ids: Iterable[str]) -> None:
    """What the request models cannot say themselves: no NUL in text, the deployment's regions."""
    for operation in (op for item in paths.values() for op in item.values()):
        for parameter in operation.get("parameters", []):
            if "schema" in parameter:
                _forbid_nul(parameter["schema"])
    referenced = [name for name in schemas if name in REQUEST_SCHEMAS or name.startswith("Compliance")]
    for name in referenced:
        _forbid_nul(schemas[name])
    region = schemas["CreateIntegrationBody"]["properties"]["region"]
    region.pop("pattern", None)
    region["enum"] = sorted(region_ids)
    region["description"] = "Home region of the integration: where its numbers' webhooks point."


def document(region_ids: Iterable[str] = DEFAULT_REGIONS) -> JSON:
    """The whole OpenAPI document, for a deployment serving ``region_ids`` (default: the region table)."""
    paths: JSON = {}
    schemas: JSON = {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem document; `code` is stable, `detail` is in the Accept-Language.",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "code": {"type": "string"},
                "retryable": {"type": "boolean"},
                "instance": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string"},
                            "type": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    }
    for part in PARTS:
        part_paths, part_schemas = copy.deepcopy(part())  # parts share parameter objects
        paths.update(part_paths)
        schemas.update(part_schemas)
    _constrain_requests(paths, schemas, region_ids)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "byosms provisioning admin API",
            "version": "2.0.0",
            "description": (
                "Tenants' Twilio integrations, the import of their numbers into the SMS number "
                "inventory, the inventory itself and where its numbers' messages are routed. Callers are "
                "platform services acting for a user with a "
                "bearer JWT (claims `sub`, `org`, `permissions`). Errors are RFC 9457 problem documents "
                "in English or German (Accept-Language)."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "parameters": {
                "AcceptLanguage": {
                    "name": "Accept-Language",
                    "in": "header",
                    "required": False,
                    "description": "`de` for German messages, otherwise English.",
                    "schema": {"type": "string"},
                }
            },
            "schemas": schemas,
        },
    }


def render(region_ids: Iterable[str] = DEFAULT_REGIONS) -> str:
    return json.dumps(document(region_ids), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(path: Path = CONTRACT_PATH) -> Path:
    """Write the document to ``path`` (default: ``contracts/openapi/provisioning.json`` under the cwd)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path


def register(app: web.Application, ctx: ServiceContext | None) -> None:
    # The served document names this deployment's regions (an operator may add some).
    text = render(ctx.regions if ctx is not None else DEFAULT_REGIONS)

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(text=text, content_type="application/json")

    app.router.add_get("/api/v2/openapi.json", serve)

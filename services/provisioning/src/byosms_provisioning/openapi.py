"""The admin API's OpenAPI 3.1 document, built from code and served at ``GET /api/v2/openapi.json``.

``contracts/openapi/provisioning.json`` is generated from it (:func:`write`); a test fails when the
checked-in file differs. Other features add their paths by appending a part to :data:`PARTS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from byosms_provisioning import auth
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.routes import (
    BASE,
    CreateIntegrationBody,
    CredentialsBody,
    UpdateIntegrationBody,
)

JSON = dict[str, Any]
# A part returns (paths, component schemas) to merge into the document.
Part = Callable[[], tuple[JSON, JSON]]

CONTRACT_PATH = Path("contracts/openapi/provisioning.json")


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def schema_of(model: type[BaseModel]) -> JSON:
    return model.model_json_schema(ref_template="#/components/schemas/{model}")


def problem_responses(*statuses: int) -> JSON:
    """Problem-document responses for the given HTTP statuses."""
    texts = {
        400: "Invalid input: bad JSON, unknown field, wrong type (fields named in `errors`).",
        401: "Missing or invalid bearer token.",
        403: "The token lacks the required permission.",
        404: "No such integration in the caller's organization (also for another organization's).",
        409: "Version conflict (If-Match), or the state forbids it.",
        413: "Request body too large.",
        415: "Content-Type is not application/json.",
        422: "Well-formed but refused (e.g. Twilio rejected the credentials, unknown region).",
        503: "Twilio could not be reached; retry later.",
    }
    return {
        str(s): {"description": texts[s], "content": {"application/problem+json": {"schema": ref("Problem")}}}
        for s in statuses
    }


def _op(
    summary: str,
    permission: str,
    *,
    description: str = "",
    body: JSON | None = None,
    ok: tuple[int, JSON | None] = (200, None),
    errors: tuple[int, ...] = (400, 401, 403, 404),
    parameters: list[JSON] | None = None,
) -> JSON:
    status, schema = ok
    response: JSON = {"description": "Success"}
    if schema is not None:
        response["content"] = {"application/json": {"schema": schema}}
    op: JSON = {
        "summary": summary,
        "description": (description + f"\n\nRequires permission `{permission}`.").strip(),
        "security": [{"bearer": []}],
        "parameters": [{"$ref": "#/components/parameters/AcceptLanguage"}, *(parameters or [])],
        "responses": {str(status): response, **problem_responses(*errors)},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The integration\'s version as returned in ETag (e.g. "3"); mismatch answers 409.',
    "schema": {"type": "string"},
}

CREDENTIALS_TEXT = (
    "Validates the Account SID and Auth Token with Twilio's Accounts API; wrong credentials or a "
    "suspended/closed account are refused (422) and nothing is stored. The token is stored encrypted and "
    "never returned: responses only say that one is set. Use the account's **primary** Auth Token: "
    "Twilio signs inbound webhooks with the primary token, so **secondary auth tokens are not supported** "
    "(signature validation would fail). After promoting a new token in Twilio, set it here at once. "
    "A Twilio subaccount per integration is recommended. `shared_key` optionally stores a Twilio "
    "SharedKey secret for webhook signatures."
)


def integration_part() -> tuple[JSON, JSON]:
    item = BASE + "/{id}"
    paths: JSON = {
        BASE: {
            "post": _op(
                "Create an integration (inactive until credentials are set and it is activated)",
                auth.INTEGRATION_ADD,
                body=ref("CreateIntegrationBody"),
                ok=(201, ref("Integration")),
                errors=(400, 401, 403, 409, 413, 415, 422),
            ),
            "get": _op(
                "List the organization's integrations",
                auth.INTEGRATION_VIEW,
                description="Ordered by creation; pass `next_cursor` as `cursor` for the next page.",
                ok=(200, ref("IntegrationPage")),
                errors=(400, 401, 403),
                parameters=[
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {"name": "status", "in": "query", "schema": {"enum": ["active", "inactive"]}},
                    {"name": "region", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "name",
                        "in": "query",
                        "description": "substring, case-insensitive",
                        "schema": {"type": "string"},
                    },
                    {"name": "account_sid", "in": "query", "schema": {"type": "string"}},
                ],
            ),
        },
        item: {
            "get": _op("Get an integration", auth.INTEGRATION_VIEW, ok=(200, ref("Integration")), parameters=[_ID]),
            "patch": _op(
                "Edit name and notes",
                auth.INTEGRATION_EDIT,
                body=ref("UpdateIntegrationBody"),
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409, 413, 415),
                parameters=[_ID, _IF_MATCH],
            ),
            "delete": _op(
                "Delete an integration",
                auth.INTEGRATION_DELETE,
                description="Its numbers are removed from the inventory; nothing changes in Twilio.",
                ok=(204, None),
                errors=(401, 403, 404, 409),
                parameters=[_ID, _IF_MATCH],
            ),
        },
        item + "/credentials": {
            "put": _op(
                "Set or rotate the Twilio credentials",
                auth.INTEGRATION_EDIT,
                description=CREDENTIALS_TEXT,
                body=ref("CredentialsBody"),
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409, 413, 415, 422, 503),
                parameters=[_ID, _IF_MATCH],
            ),
        },
        item + "/activate": {
            "post": _op(
                "Activate (needs credentials)",
                auth.INTEGRATION_EDIT,
                description="Its numbers become active again. Activating an active integration changes nothing.",
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409),
                parameters=[_ID, _IF_MATCH],
            ),
        },
        item + "/deactivate": {
            "post": _op(
                "Deactivate",
                auth.INTEGRATION_EDIT,
                description="Its numbers become inactive and inbound messages for them are discarded.",
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409),
                parameters=[_ID, _IF_MATCH],
            ),
        },
    }
    integration: JSON = {
        "type": "object",
        "required": ["id", "organization_id", "name", "notes", "region", "status", "credentials", "version"],
        "properties": {
            "id": {"type": "string"},
            "organization_id": {"type": "string"},
            "name": {"type": "string"},
            "notes": {"type": "string"},
            "region": {"type": "string"},
            "inbound_webhook_url": {"type": ["string", "null"], "description": "URL each number's SMS webhook needs"},
            "status": {"enum": ["active", "inactive"]},
            "account_sid": {"type": ["string", "null"]},
            "credentials": {
                "type": "object",
                "properties": {"auth_token_set": {"type": "boolean"}, "shared_key_set": {"type": "boolean"}},
            },
            "version": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    }
    schemas: JSON = {
        "Integration": integration,
        "IntegrationPage": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": ref("Integration")},
                "next_cursor": {"type": ["string", "null"]},
            },
        },
        "CreateIntegrationBody": schema_of(CreateIntegrationBody),
        "UpdateIntegrationBody": schema_of(UpdateIntegrationBody),
        "CredentialsBody": schema_of(CredentialsBody),
    }
    return paths, schemas


PARTS: list[Part] = [integration_part]


def document() -> JSON:
    """The whole OpenAPI document."""
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
        part_paths, part_schemas = part()
        paths.update(part_paths)
        schemas.update(part_schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "byosms provisioning admin API",
            "version": "2.0.0",
            "description": (
                "Tenants' Twilio integrations. Callers are platform services acting for a user with a "
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


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(path: Path = CONTRACT_PATH) -> Path:
    """Write the document to ``path`` (default: ``contracts/openapi/provisioning.json`` under the cwd)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path


async def serve(_request: web.Request) -> web.Response:
    return web.Response(text=render(), content_type="application/json")


def register(app: web.Application, ctx: ServiceContext) -> None:
    del ctx
    app.router.add_get("/api/v2/openapi.json", serve)

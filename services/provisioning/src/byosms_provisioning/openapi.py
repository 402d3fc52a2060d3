"""The admin API's OpenAPI 3.1 document, built from code and served at ``GET /api/v2/openapi.json``.

``contracts/openapi/provisioning.json`` is generated from it (:func:`write`); a test fails when the
checked-in file differs. Other features add their paths by appending a part to :data:`PARTS`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from byosms_common.messages import ImportedNumber, NumberType
from byosms_common.regions import DEFAULT_REGIONS
from byosms_provisioning import auth, routes_imports, routes_regions
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.integrations import SHARED_KEY_ID
from byosms_provisioning.routes import (
    BASE,
    SEALING_KEYS_PATH,
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
        404: "No such resource in the caller's organization (also for another organization's).",
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
    "schema": {"type": "string", "pattern": '^((W/)?"[0-9]{1,18}"|[0-9]{1,18}|\\*)$'},
}
# Text that PostgreSQL can store: every string the API takes is refused (400) when it holds U+0000.
NO_NUL_PATTERN = "^[^\\u0000]*$"
REQUEST_SCHEMAS = ("CreateIntegrationBody", "UpdateIntegrationBody", "CredentialsBody", "ImportBody")

CREDENTIALS_TEXT = (
    "Validates the Account SID and Auth Token with Twilio's Accounts API; wrong credentials or a "
    "suspended/closed account are refused (422) and nothing is stored. The token is stored encrypted and "
    "never returned: responses only say that one is set. Use the account's **primary** Auth Token: "
    "Twilio signs inbound webhooks with the primary token, so **secondary auth tokens are not supported** "
    "(signature validation would fail). After promoting a new token in Twilio, set it here at once. "
    "A Twilio subaccount per integration is recommended. `shared_key` optionally stores a Twilio "
    "SharedKey secret for webhook signatures, `shared_key_id` its id (what Twilio names in "
    "`X-Twilio-Webhooks-Signature-Settings: key=<id>`).\n\n"
    "**SharedKey rotation.** Setting a shared key with a *different* `shared_key_id` than the current key "
    "keeps the current key valid as the previous key: webhooks naming either id are accepted (the rotation "
    "window), webhooks naming any other id are refused. The window ends with the next credentials change, "
    "with `keep_previous_shared_key: false`, or with `DELETE .../credentials/shared-keys/{key_id}`. "
    "Responses list only the ids of the keys set (`credentials.shared_key_ids`), never a secret. Leaving out "
    "`shared_key` removes both keys (webhooks are then validated with the Auth Token only)."
)

RETIRE_TEXT = (
    "Ends a SharedKey rotation window: webhooks signed with the previous key `key_id` are refused from now "
    "on (after the ingresses see the change, normally within a second). The current key cannot be retired "
    "(409 `shared_key_is_current`): set new credentials instead. An id the integration does not have "
    "answers 404 `shared_key_not_found`."
)


WEBHOOK_HEALTH_TEXT = (
    "Whether Twilio's webhooks for this integration pass signature validation at the ingresses. `failing` "
    "while they keep failing (reported at most once a minute per ingress, with a count); back to `ok` when a "
    "webhook is accepted again or the credentials are set again. Twilio signs webhooks with the account's "
    "**primary** Auth Token; **secondary auth tokens are not supported**: after promoting a new token in "
    "Twilio, set it on the integration."
)


def integration_part() -> tuple[JSON, JSON]:
    item = BASE + "/{id}"
    paths: JSON = {
        BASE: {
            "post": _op(
                "Create an integration (inactive until credentials are set and it is activated)",
                auth.INTEGRATION_ADD,
                description=(
                    "The service generates the integration's id (`Location`, `id`). To make a create safe to "
                    "repeat, send a `request_id` (unique within your organization): a repeat answers 200 with "
                    "the integration the first create made. Clients cannot choose ids."
                ),
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
                errors=(400, 401, 403, 404, 409),
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
        item + "/credentials/shared-keys/{key_id}": {
            "delete": _op(
                "Retire the previous webhook SharedKey",
                auth.INTEGRATION_EDIT,
                description=RETIRE_TEXT,
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409),
                parameters=[
                    _ID,
                    {
                        "name": "key_id",
                        "in": "path",
                        "required": True,
                        "description": "the SharedKey id to retire (the integration's previous key)",
                        "schema": {"type": "string", "pattern": SHARED_KEY_ID.pattern},
                    },
                    _IF_MATCH,
                ],
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
            "id": {"type": "string", "description": "generated by the service"},
            "request_id": {"type": ["string", "null"], "description": "the idempotency key of the create, if any"},
            "organization_id": {"type": "string"},
            "name": {"type": "string"},
            "notes": {"type": "string"},
            "region": {"type": "string"},
            "inbound_webhook_url": {"type": ["string", "null"], "description": "URL each number's SMS webhook needs"},
            "status": {"enum": ["active", "inactive"]},
            "account_sid": {"type": ["string", "null"]},
            "credentials": {
                "type": "object",
                "properties": {
                    "auth_token_set": {"type": "boolean"},
                    "shared_key_set": {"type": "boolean"},
                    "shared_key_ids": {
                        "type": "object",
                        "description": (
                            "ids of the SharedKeys set: `current` (null when stored without id) and, during a "
                            "rotation window, `previous`; never a secret"
                        ),
                        "properties": {"current": {"type": ["string", "null"]}, "previous": {"type": "string"}},
                        "additionalProperties": False,
                    },
                },
            },
            "version": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "webhook_health": ref("WebhookHealth"),
        },
    }
    schemas: JSON = {
        "WebhookHealth": {
            "type": "object",
            "description": WEBHOOK_HEALTH_TEXT,
            "required": ["status"],
            "properties": {
                "status": {"enum": ["ok", "failing"]},
                "failures": {"type": "integer", "description": "failed signature checks reported so far"},
                "since": {"type": "string", "format": "date-time", "description": "first reported failure"},
                "last_at": {"type": "string", "format": "date-time", "description": "last reported failure"},
                "last_reason": {"type": "string", "description": "e.g. bad_signature, missing_signature"},
                "region": {"type": "string", "description": "region of the ingress that saw the last failure"},
                "code": {"const": "webhook_signature_invalid"},
                "message": {"type": "string", "description": "what to do, in the Accept-Language language"},
            },
        },
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


IMPORT_TEXT = (
    "Adds one of the tenant's Twilio numbers or short codes to the SMS number inventory. The command "
    "is recorded and answered with 202 and the import id at once; the checks (integration, sender id "
    "type, country, compliance blocks for short codes, no import in progress, not held by another "
    "organization, present in the Twilio account, SMS webhook pointing at the regional ingress) run "
    "asynchronously. Poll `GET .../imports/{id}` until `state` is `imported` or `rejected`; a "
    "rejection carries the seed's error code and message in the caller's language."
)


def imports_part() -> tuple[JSON, JSON]:
    base = routes_imports.BASE
    paths: JSON = {
        base: {
            "post": _op(
                "Import a number (one per request)",
                auth.PHONE_NUMBER_ALL,
                description=IMPORT_TEXT,
                body=ref("ImportBody"),
                ok=(202, ref("NumberImport")),
                errors=(400, 401, 403, 413, 415),
            ),
        },
        base + "/{id}": {
            "get": _op(
                "Show an import's state and result",
                auth.PHONE_NUMBER_ALL,
                ok=(200, ref("NumberImport")),
                parameters=[_ID],
            ),
        },
    }
    imported = schema_of(ImportedNumber)
    defs = imported.pop("$defs", {})
    number_import: JSON = {
        "type": "object",
        "required": ["id", "state", "integration_id", "type", "sender_id", "created_at", "deadline_at"],
        "properties": {
            "id": {"type": "string"},
            "state": {"enum": ["in_progress", "imported", "rejected"]},
            "integration_id": {"type": "string"},
            "type": {"enum": [t.value for t in NumberType]},
            "sender_id": {"type": "string"},
            "country": {"type": ["string", "null"]},
            "address": {"type": ["string", "null"], "description": "normalized sender id, once checked"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "deadline_at": {
                "type": "string",
                "format": "date-time",
                "description": "an import still in progress then is rejected and its claim freed",
            },
            "number": {"anyOf": [ref("ImportedNumber"), {"type": "null"}], "description": "when imported"},
            "error": {
                "type": "object",
                "description": "when rejected",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
    }
    body = schema_of(routes_imports.ImportBody)
    defs |= body.pop("$defs", {})
    schemas: JSON = {"ImportBody": body, "NumberImport": number_import, "ImportedNumber": imported, **defs}
    return paths, schemas


def sealing_part() -> tuple[JSON, JSON]:
    paths: JSON = {
        SEALING_KEYS_PATH: {
            "get": _op(
                "Public keys for sealing credentials sent on the command topic",
                auth.INTEGRATION_EDIT,
                description=(
                    "Platform services seal `integration.set_credentials` commands for provisioning: X25519 "
                    "key agreement with the `active` public key, HKDF-SHA256, AES-256-GCM, the associated "
                    "data binding organization, integration, Account SID and key id. Keys are raw 32-byte "
                    "X25519 public keys, base64. 404 `sealing_not_configured` when the deployment has none."
                ),
                ok=(200, ref("SealingKeys")),
                errors=(401, 403, 404),
            ),
        },
    }
    schemas: JSON = {
        "SealingKeys": {
            "type": "object",
            "required": ["active", "algorithm", "keys"],
            "properties": {
                "active": {"type": "string"},
                "algorithm": {"const": "X25519-HKDF-SHA256-AES-256-GCM"},
                "keys": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    }
    return paths, schemas


def regions_part() -> tuple[JSON, JSON]:
    paths: JSON = {
        routes_regions.PATH: {
            "get": _op(
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


PARTS: list[Part] = [integration_part, imports_part, sealing_part, regions_part]


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
                "Tenants' Twilio integrations and the import of their numbers into the SMS number "
                "inventory. Callers are platform services acting for a user with a "
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

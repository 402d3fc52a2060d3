"""The imports' part of the OpenAPI document (paths and schemas), merged by ``byosms_provisioning.openapi``."""

from __future__ import annotations

from byosms_common.messages import ImportedNumber, NumberType
from byosms_provisioning import auth
from byosms_provisioning.imports import routes
from byosms_provisioning.openapi_common import ID_PARAMETER, JSON, operation, ref, schema_of

IMPORT_TEXT = (
    "Adds one of the tenant's Twilio numbers or short codes to the SMS number inventory. The command "
    "is recorded and answered with 202 and the import id at once; the checks (integration, sender id "
    "type, country, compliance blocks for short codes, no import in progress, not held by another "
    "organization, present in the Twilio account, SMS webhook pointing at the regional ingress) run "
    "asynchronously. Poll `GET .../imports/{id}` until `state` is `imported` or `rejected`; a "
    "rejection carries the seed's error code and message in the caller's language."
)


def imports_part() -> tuple[JSON, JSON]:
    base = routes.BASE
    paths: JSON = {
        base: {
            "post": operation(
                "Import a number (one per request)",
                auth.PHONE_NUMBER_IMPORT,
                description=IMPORT_TEXT,
                body=ref("ImportBody"),
                ok=(202, ref("NumberImport")),
                errors=(400, 401, 403, 413, 415),
            ),
        },
        base + "/{id}": {
            "get": operation(
                "Show an import's state and result",
                auth.PHONE_NUMBER_IMPORT,
                ok=(200, ref("NumberImport")),
                parameters=[ID_PARAMETER],
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
    body = schema_of(routes.ImportBody)
    defs |= body.pop("$defs", {})
    schemas: JSON = {"ImportBody": body, "NumberImport": number_import, "ImportedNumber": imported, **defs}
    return paths, schemas

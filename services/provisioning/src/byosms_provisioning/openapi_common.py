"""What the parts of the OpenAPI document share: references, problem responses, one operation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from byosms_provisioning.auth import PHONE_NUMBER_ALL, PHONE_NUMBER_PERMISSIONS

JSON = dict[str, Any]
# A part returns (paths, component schemas) to merge into the document.
Part = Callable[[], tuple[JSON, JSON]]


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
        502: "Twilio answered in a way byosms does not follow (e.g. a media redirect to an unexpected host).",
        503: "Twilio could not be reached; retry later.",
    }
    return {
        str(s): {"description": texts[s], "content": {"application/problem+json": {"schema": ref("Problem")}}}
        for s in statuses
    }


# Permissions another one grants too.
_GRANTED_BY = dict.fromkeys(PHONE_NUMBER_PERMISSIONS, f" (or `{PHONE_NUMBER_ALL}`)")


def operation(
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
        "description": (
            description + f"\n\nRequires permission `{permission}`{_GRANTED_BY.get(permission, '')}."
        ).strip(),
        "security": [{"bearer": []}],
        "parameters": [{"$ref": "#/components/parameters/AcceptLanguage"}, *(parameters or [])],
        "responses": {str(status): response, **problem_responses(*errors)},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


ID_PARAMETER = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
IF_MATCH_PARAMETER = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The integration\'s version as returned in ETag (e.g. "3"); mismatch answers 409.',
    "schema": {"type": "string", "pattern": '^((W/)?"[0-9]{1,18}"|[0-9]{1,18}|\\*)$'},
}
# Text that PostgreSQL can store: every string the API takes is refused (400) when it holds U+0000.
NO_NUL_PATTERN = "^[^\\u0000]*$"
REQUEST_SCHEMAS = (
    "CreateIntegrationBody",
    "UpdateIntegrationBody",
    "CredentialsBody",
    "AuthTokenRotationBody",
    "SignatureModeBody",
    "ImportBody",
    "NumberPatchBody",
    "RoutingDefaultsBody",
)

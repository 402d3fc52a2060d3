"""The integrations' part of the OpenAPI document (paths and schemas), merged by ``byosms_provisioning.openapi``."""

from __future__ import annotations

from byosms_provisioning import auth
from byosms_provisioning.integrations.model import SHARED_KEY_ID
from byosms_provisioning.integrations.routes import (
    BASE,
    SEALING_KEYS_PATH,
    CreateIntegrationBody,
    CredentialsBody,
    UpdateIntegrationBody,
)
from byosms_provisioning.openapi_common import (
    ID_PARAMETER,
    IF_MATCH_PARAMETER,
    JSON,
    operation,
    ref,
    schema_of,
)

CREDENTIALS_TEXT = (
    "Validates the Account SID and Auth Token with Twilio's Accounts API; wrong credentials or a "
    "suspended/closed account are refused (422) and nothing is stored. The token is stored encrypted and "
    "never returned: responses only say that one is set. Use the account's **primary** Auth Token: "
    "Twilio signs inbound webhooks with the primary token, so **secondary auth tokens are not supported** "
    "here (signature validation would fail). To change tokens without losing webhooks, give the secondary "
    "token to `POST .../auth-token-rotation` before promoting it; setting credentials here replaces the "
    "token at once and ends a rotation window. "
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
    "**primary** Auth Token: rotate tokens with `POST .../auth-token-rotation` (both tokens validate until "
    "you confirm), or set the promoted token on the integration at once."
)


def integration_part() -> tuple[JSON, JSON]:
    item = BASE + "/{id}"
    paths: JSON = {
        BASE: {
            "post": operation(
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
            "get": operation(
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
            "get": operation(
                "Get an integration", auth.INTEGRATION_VIEW, ok=(200, ref("Integration")), parameters=[ID_PARAMETER]
            ),
            "patch": operation(
                "Edit name and notes",
                auth.INTEGRATION_EDIT,
                body=ref("UpdateIntegrationBody"),
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409, 413, 415),
                parameters=[ID_PARAMETER, IF_MATCH_PARAMETER],
            ),
            "delete": operation(
                "Delete an integration",
                auth.INTEGRATION_DELETE,
                description="Its numbers are removed from the inventory; nothing changes in Twilio.",
                ok=(204, None),
                errors=(400, 401, 403, 404, 409),
                parameters=[ID_PARAMETER, IF_MATCH_PARAMETER],
            ),
        },
        item + "/credentials": {
            "put": operation(
                "Set or rotate the Twilio credentials",
                auth.INTEGRATION_EDIT,
                description=CREDENTIALS_TEXT,
                body=ref("CredentialsBody"),
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409, 413, 415, 422, 503),
                parameters=[ID_PARAMETER, IF_MATCH_PARAMETER],
            ),
        },
        item + "/credentials/shared-keys/{key_id}": {
            "delete": operation(
                "Retire the previous webhook SharedKey",
                auth.INTEGRATION_EDIT,
                description=RETIRE_TEXT,
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409),
                parameters=[
                    ID_PARAMETER,
                    {
                        "name": "key_id",
                        "in": "path",
                        "required": True,
                        "description": "the SharedKey id to retire (the integration's previous key)",
                        "schema": {"type": "string", "pattern": SHARED_KEY_ID.pattern},
                    },
                    IF_MATCH_PARAMETER,
                ],
            ),
        },
        item + "/activate": {
            "post": operation(
                "Activate (needs credentials)",
                auth.INTEGRATION_EDIT,
                description="Its numbers become active again. Activating an active integration changes nothing.",
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409),
                parameters=[ID_PARAMETER, IF_MATCH_PARAMETER],
            ),
        },
        item + "/deactivate": {
            "post": operation(
                "Deactivate",
                auth.INTEGRATION_EDIT,
                description="Its numbers become inactive and inbound messages for them are discarded.",
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409),
                parameters=[ID_PARAMETER, IF_MATCH_PARAMETER],
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
            "default_routing_target": {
                "type": ["string", "null"],
                "description": "where messages to its numbers without a routing target of their own go",
            },
            "auth_token_rotation": {
                "type": ["object", "null"],
                "description": "an open Auth Token rotation window: both tokens validate webhooks until expires_at",
                "properties": {
                    "started_at": {"type": "string", "format": "date-time"},
                    "expires_at": {"type": "string", "format": "date-time"},
                },
            },
            "signature_mode": {
                "enum": ["enforce", "observe"],
                "description": "in effect now: an observe mode whose time is up shows as enforce",
            },
            "signature_mode_expires_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "observe mode ends then (the integration is back in enforce); null in enforce",
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


def sealing_part() -> tuple[JSON, JSON]:
    paths: JSON = {
        SEALING_KEYS_PATH: {
            "get": operation(
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

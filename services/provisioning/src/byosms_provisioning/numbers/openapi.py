"""The inventory's part of the OpenAPI document (paths and schemas), merged by ``byosms_provisioning.openapi``."""

from __future__ import annotations

from byosms_common.messages import NumberType
from byosms_provisioning import auth
from byosms_provisioning.numbers import routes
from byosms_provisioning.openapi_common import ID_PARAMETER, JSON, operation, ref, schema_of

LIST_TEXT = (
    "The organization's numbers in the SMS number inventory, ordered by address, a page at a time "
    "(`next_cursor`). Inventory owns the numbers; this list is provisioning's read model of it, so a change "
    "shows here a moment after inventory made it. Removed numbers are listed only with "
    "`state=removed-recently`, for `BYOSMS_PROVISIONING_REMOVED_NUMBER_DAYS` (7) days."
)
REMOVE_TEXT = (
    "Removes the number from the inventory, asynchronously: the answer (202) shows the removal as the "
    "number's `latest_action` (`running`), and the number leaves the list once inventory has removed it. "
    "Twilio is not touched. Its claim is freed, so the number can be imported again, by this or another "
    "organization. Inbound messages to it are discarded from then on."
)
PATCH_TEXT = (
    "Sets the routing target (a queue or inbound flow id of the platform; `null` falls back to the "
    "integration's default, then the organization's) and, for short codes, the compliance blocks (help, "
    "opt-out, re-opt-in: all three, each with a keyword and a message). `version` must be the number's "
    "current version, else 409 `version_conflict`. Inventory carries the change out; the request waits up "
    "to `BYOSMS_PROVISIONING_NUMBER_COMMAND_WAIT_SECONDS` (5 s) for it: 200 with the number afterwards, the "
    "refusal as a problem document, or 202 with the change still running."
)
DEFAULTS_TEXT = (
    "The organization's default routing target: where inbound messages to an active number go when neither "
    "the number nor its integration (`default_routing_target` on the integration) names one. Without any "
    "target a message is discarded with reason `no_route` and the number shows a `no_route` warning."
)


def numbers_part() -> tuple[JSON, JSON]:
    base, item = routes.BASE, routes.BASE + "/{id}"
    query = [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in (
            ("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
            ("cursor", {"type": "string"}),
            ("integration_id", {"type": "string"}),
            ("state", {"enum": list(routes.STATE_FILTERS)}),
            ("type", {"enum": [t.value for t in NumberType]}),
            ("address_prefix", {"type": "string"}),
            ("routing_target", {"type": "string"}),
        )
    ]
    paths: JSON = {
        base: {
            "get": operation(
                "List the inventory's numbers",
                auth.PHONE_NUMBER_VIEW,
                description=LIST_TEXT,
                ok=(200, ref("NumberPage")),
                errors=(400, 401, 403),
                parameters=query,
            ),
        },
        item: {
            "get": operation(
                "Show a number", auth.PHONE_NUMBER_VIEW, ok=(200, ref("Number")), parameters=[ID_PARAMETER]
            ),
            "patch": operation(
                "Set a number's routing target or compliance blocks",
                auth.PHONE_NUMBER_EDIT,
                description=PATCH_TEXT,
                body=ref("NumberPatchBody"),
                ok=(200, ref("Number")),
                errors=(400, 401, 403, 404, 409, 415, 422),
                parameters=[ID_PARAMETER],
            ),
            "delete": operation(
                "Remove a number from the inventory",
                auth.PHONE_NUMBER_DELETE,
                description=REMOVE_TEXT,
                ok=(202, ref("Number")),
                errors=(401, 403, 404),
                parameters=[ID_PARAMETER],
            ),
        },
        routes.ROUTING_DEFAULTS: {
            "get": operation(
                "The organization's default routing target",
                auth.PHONE_NUMBER_VIEW,
                description=DEFAULTS_TEXT,
                ok=(200, ref("RoutingDefaultsBody")),
                errors=(401, 403),
            ),
            "put": operation(
                "Set the organization's default routing target",
                auth.PHONE_NUMBER_EDIT,
                description=DEFAULTS_TEXT,
                body=ref("RoutingDefaultsBody"),
                ok=(200, ref("RoutingDefaultsBody")),
                errors=(400, 401, 403, 415),
            ),
        },
    }
    nullable_string: JSON = {"type": ["string", "null"]}
    timestamp: JSON = {"type": ["string", "null"], "format": "date-time"}
    number: JSON = {
        "type": "object",
        "required": ["id", "address", "integration", "type", "country", "state", "version", "warnings"],
        "properties": {
            "id": {"type": "string", "description": "the id of the import that added the number"},
            "address": {"type": "string", "description": "E.164 number, or <country>:<short code>"},
            "integration": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "name": nullable_string},
            },
            "type": {"enum": [t.value for t in NumberType]},
            "country": {"type": "string"},
            "twilio_sid": {"type": "string"},
            "compliance": {"anyOf": [ref("Compliance"), {"type": "null"}]},
            "routing_target": {**nullable_string, "description": "the number's own target"},
            "effective_routing_target": {
                "type": "object",
                "description": "what routing uses now, and from where (number, integration, organization)",
                "properties": {
                    "target": nullable_string,
                    "from": {"enum": ["number", "integration", "organization", None]},
                },
            },
            "state": {"enum": ["active", "inactive", "removed"]},
            "version": {"type": "integer", "description": "send it back with PATCH"},
            "imported_at": timestamp,
            "updated_at": timestamp,
            "removed_at": timestamp,
            "warnings": {
                "type": "array",
                "description": "`no_route`: messages to it were discarded for want of a routing target; "
                "shown until one resolves",
                "items": {
                    "type": "object",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "since": timestamp},
                },
            },
            "webhook": ref("NumberWebhook"),
            "latest_action": {
                "type": ["object", "null"],
                "description": "the import that added it, or the latest change asked for since",
                "properties": {
                    "kind": {"enum": ["import", "remove", "set_routing_target", "set_compliance"]},
                    "id": {"type": "string"},
                    "state": {"enum": ["running", "completed", "failed"]},
                    "at": timestamp,
                    "error": {
                        "type": "object",
                        "properties": {"code": {"type": "string"}, "message": nullable_string},
                    },
                },
            },
        },
    }
    patch = schema_of(routes.NumberPatchBody)
    defs = patch.pop("$defs", {})
    schemas: JSON = {
        "Number": number,
        "NumberPage": {
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {"items": {"type": "array", "items": ref("Number")}, "next_cursor": nullable_string},
        },
        "NumberPatchBody": patch,
        "RoutingDefaultsBody": schema_of(routes.RoutingDefaultsBody),
        **defs,
    }
    return paths, schemas

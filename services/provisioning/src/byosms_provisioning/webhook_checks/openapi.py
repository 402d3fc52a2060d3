"""Webhook health's part of the OpenAPI document (paths and schemas), merged by ``byosms_provisioning.openapi``."""

from __future__ import annotations

from byosms_provisioning import auth
from byosms_provisioning.openapi_common import ID_PARAMETER, JSON, operation, ref, schema_of
from byosms_provisioning.webhook_checks import routes
from byosms_provisioning.webhook_checks.resolver import DriftKind

KINDS = [k.value for k in DriftKind]
CHECK_TEXT = (
    "Asks Twilio now, with the integration's credentials, where inbound SMS to the number really go: the "
    "number's SMS URL and method, a TwiML App on it (`sms_application_sid`), its Messaging Service's inbound "
    "setting (\"Defer to sender's webhook\" or the service's own URL), a Conversations address configuration "
    "that auto-creates conversations for it. The result is kept on the number (`webhook`) and published "
    "(`number.webhook_changed`) when it changed. The same check runs at import and every "
    "`BYOSMS_PROVISIONING_WEBHOOK_CHECK_INTERVAL_SECONDS` (3600). A Twilio failure answers with its problem "
    "document and shows as `webhook.last_error`; the state stays as it was."
)
REPAIR_TEXT = (
    "Sets, through the tenant's own Twilio account, what the check names: the number's SMS URL (the "
    "region's ingress), method POST, and removes a TwiML App from the number; the Messaging Service's "
    '"Defer to sender\'s webhook" only with `messaging_service_defer: true` (409 '
    "`webhook_repair_needs_service_defer` otherwise). Conversations settings are never changed (409 "
    "`webhook_repair_not_supported`). Every value set is audited (who, when, old and new value; event "
    "`number.webhook_repaired`); the number is checked again and returned."
)
PROBE_TEXT = (
    "Proves the inbound path of one number of the integration, step by step (`credentials`, `configuration`, "
    "and with `send_test_message`: `sent`, `returned_to_twilio`, `arrived`), each `passed`, `failed` (with "
    "`code` and `message`) or `skipped`. With `send_test_message` (two messages are charged by Twilio) a "
    "one-time code is sent from the number to `test_phone`, whose user sends it back, or, with `from_number_id` "
    "instead (one message charged, nobody has to answer), from that other number of the integration to the "
    "number; the answer waits "
    "(at most `wait_seconds`, bounded by `BYOSMS_PROVISIONING_WEBHOOK_PROBE_MAX_WAIT_SECONDS`) until Twilio "
    "holds the reply and the message trace shows it arrived through the regional ingress."
)

SUMMARY_TEXT = (
    "The integration's webhook health as the last checks of its numbers (not removed ones) say it: `status` "
    "`misconfigured` when any number is drifted, `unchecked` when none has been checked yet, `healthy` when "
    "every checked number is ok, `no_numbers`; the counts; `checked_at`, the latest check of any of them; the "
    "drifted numbers (most recently changed first, at most `limit`) with what is wrong in the caller's "
    "language; and the values set at Twilio by `webhook:repair` for its numbers in the last 7 days "
    "(`recent_repairs`, newest first, at most `limit`); and `recovered_messages`: how many inbound messages "
    "of the integration routing's recovery job replayed in the last 7 days because their webhook never came "
    "(from the message trace), with the latest MessageSids. A `limit` outside 1 to 100 answers 400."
)


def webhook_part() -> tuple[JSON, JSON]:
    paths: JSON = {
        routes.CHECK: {
            "post": operation(
                "Check where Twilio delivers the number's inbound SMS",
                auth.PHONE_NUMBER_EDIT,
                description=CHECK_TEXT,
                ok=(200, ref("Number")),
                errors=(401, 403, 404, 422, 503),
                parameters=[ID_PARAMETER],
            )
        },
        routes.REPAIR: {
            "post": operation(
                "Repair the number's SMS webhook at Twilio",
                auth.PHONE_NUMBER_EDIT,
                description=REPAIR_TEXT,
                body=ref("WebhookRepairBody"),
                ok=(200, ref("Number")),
                errors=(400, 401, 403, 404, 409, 415, 422, 503),
                parameters=[ID_PARAMETER],
            )
        },
        routes.PROBE: {
            "post": operation(
                "Prove the inbound path of one number",
                auth.INTEGRATION_EDIT,
                description=PROBE_TEXT,
                body=ref("WebhookProbeBody"),
                ok=(200, ref("WebhookProbeResult")),
                errors=(400, 401, 403, 404, 415, 422),
                parameters=[ID_PARAMETER],
            )
        },
        routes.SUMMARY: {
            "get": operation(
                "The webhook health of the integration's numbers",
                auth.INTEGRATION_VIEW,
                description=SUMMARY_TEXT,
                ok=(200, ref("IntegrationNumberWebhooks")),
                errors=(400, 401, 403, 404),
                parameters=[
                    ID_PARAMETER,
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                ],
            )
        },
    }
    nullable: JSON = {"type": ["string", "null"]}
    timestamp: JSON = {"type": ["string", "null"], "format": "date-time"}
    fix: JSON = {
        "type": "object",
        "properties": {
            "target": {"enum": ["number", "messaging_service", "address_configuration"]},
            "sid": {"type": "string"},
            "parameter": {"type": "string", "description": "Twilio API parameter, e.g. SmsUrl"},
            "value": {"type": "string"},
            "current": nullable,
        },
    }
    schemas: JSON = {
        "NumberWebhook": {
            "type": "object",
            "description": "where Twilio delivers the number's inbound SMS, as last checked",
            "required": ["status"],
            "properties": {
                "status": {"enum": ["ok", "drifted", "unchecked"]},
                "kind": {"anyOf": [{"enum": KINDS}, {"type": "null"}], "description": "the finding in effect"},
                "kinds": {"type": "array", "items": {"enum": KINDS}},
                "message": nullable,
                "via": {"enum": ["number", "application", "messaging_service", "conversations", None]},
                "delivers_to": {**nullable, "description": "the URL Twilio calls (null: captured or dropped)"},
                "method": nullable,
                "expected_url": nullable,
                "fixes": {"type": "array", "items": fix},
                "trigger": {"enum": ["import", "schedule", "on_demand", "repair", "probe"]},
                "checked_at": timestamp,
                "changed_at": timestamp,
                "next_check_at": timestamp,
                "last_error": {
                    "type": ["object", "null"],
                    "properties": {"code": {"type": "string"}, "message": nullable, "at": timestamp},
                },
            },
        },
        "IntegrationNumberWebhooks": {
            "type": "object",
            "required": [
                "integration_id",
                "status",
                "checked_at",
                "numbers",
                "drifted",
                "recent_repairs",
                "recovered_messages",
            ],
            "properties": {
                "integration_id": {"type": "string"},
                "status": {"enum": ["healthy", "misconfigured", "unchecked", "no_numbers"]},
                "checked_at": {**timestamp, "description": "the latest check of any of its numbers"},
                "numbers": {
                    "type": "object",
                    "properties": {
                        name: {"type": "integer"} for name in ("total", "ok", "drifted", "unchecked", "check_errors")
                    },
                },
                "drifted": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "number_id": {"type": "string"},
                            "address": {"type": "string"},
                            "kind": {"anyOf": [{"enum": KINDS}, {"type": "null"}]},
                            "message": nullable,
                            "delivers_to": nullable,
                            "expected_url": nullable,
                            "checked_at": timestamp,
                            "since": {"type": "string", "format": "date-time"},
                        },
                    },
                },
                "recovered_messages": {
                    "type": "object",
                    "properties": {
                        "count": {"type": "integer"},
                        "latest": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "message_sid": {"type": "string"},
                                    "at": {"type": "string", "format": "date-time"},
                                    "outcome": {"enum": ["routed", "discarded"]},
                                },
                            },
                        },
                    },
                },
                "recent_repairs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "number_id": {"type": "string"},
                            "address": {"type": "string"},
                            "actor": {"type": "string"},
                            "at": {"type": "string", "format": "date-time"},
                            "parameter": {"type": "string"},
                            "old_value": nullable,
                            "new_value": {"type": "string"},
                            "outcome": {"enum": ["applied", "failed"]},
                        },
                    },
                },
            },
        },
        "WebhookRepairBody": schema_of(routes.RepairBody),
        "WebhookProbeBody": schema_of(routes.ProbeBody),
        "WebhookProbeResult": {
            "type": "object",
            "properties": {
                "number_id": {"type": "string"},
                "outcome": {"enum": ["passed", "failed"]},
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["step", "outcome"],
                        "properties": {
                            "step": {"enum": ["credentials", "configuration", "sent", "returned_to_twilio", "arrived"]},
                            "outcome": {"enum": ["passed", "failed", "skipped"]},
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        },
    }
    return paths, schemas

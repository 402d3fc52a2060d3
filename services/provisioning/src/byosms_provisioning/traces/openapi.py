"""The message trace's part of the OpenAPI document, merged by ``byosms_provisioning.openapi``."""

from __future__ import annotations

from byosms_provisioning import auth
from byosms_provisioning.openapi_common import ID_PARAMETER, JSON, operation, ref
from byosms_provisioning.traces import routes

STEPS = ("received", "routed", "discarded", "checks", "accepted", "failed", "status")
TRACE_TEXT = (
    "What happened to one message of your organization, step by step. Inbound (by MessageSid): `received` "
    "(when and in which region the ingress accepted it, `spooled` when it reached Kafka through the "
    "ingress's local spool, `recovered` when its webhook never came and routing's recovery job found it in "
    "Twilio's Messages list), then `routed` (with the routing `target`) or `discarded` (with the `reason`, "
    "e.g. `no_route`, `integration_inactive`). Outbound (by MessageSid, or by your message id when Twilio "
    "never had it): `checks` (`passed`, or `refused` with the code and its meaning), `accepted` (Twilio's "
    "MessageSid) or `failed` (Twilio's refusal and error code), then each delivery `status` with Twilio's "
    "error code and its meaning (`recovered` when its callback never came and the status was fetched from "
    "Twilio). No message body is kept. Steps are kept for "
    "`BYOSMS_PROVISIONING_MESSAGE_TRACE_DAYS` (30) days; another organization's message answers 404."
)


def traces_part() -> tuple[JSON, JSON]:
    paths: JSON = {
        routes.BASE + "/{id}": {
            "get": operation(
                "Trace a message",
                auth.PHONE_NUMBER_VIEW,
                description=TRACE_TEXT,
                ok=(200, ref("MessageTrace")),
                errors=(401, 403, 404),
                parameters=[ID_PARAMETER],
            )
        }
    }
    nullable: JSON = {"type": ["string", "null"]}
    schemas: JSON = {
        "MessageTrace": {
            "type": "object",
            "required": ["direction", "steps"],
            "properties": {
                "message_sid": nullable,
                "message_id": {**nullable, "description": "outbound: the platform's message id"},
                "direction": {"enum": ["inbound", "outbound"]},
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["step"],
                        "properties": {
                            "step": {
                                "enum": ["received", "routed", "discarded", "checks", "accepted", "failed", "status"]
                            },
                            "at": {"type": ["string", "null"], "format": "date-time"},
                            "region": nullable,
                            "spooled": {"type": ["boolean", "null"]},
                            "recovered": {
                                "type": "boolean",
                                "description": "the webhook never came: found at Twilio by the recovery job",
                            },
                            "target": nullable,
                            "reason": nullable,
                            "outcome": {"enum": ["passed", "refused"]},
                            "code": nullable,
                            "message": nullable,
                            "error_code": {"type": ["integer", "null"]},
                            "retryable": {"type": ["boolean", "null"]},
                            "message_sid": nullable,
                            "status": nullable,
                        },
                    },
                },
            },
        }
    }
    return paths, schemas

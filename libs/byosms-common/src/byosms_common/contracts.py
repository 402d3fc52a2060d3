"""Generates ``contracts/``: a JSON Schema per command and event, and an AsyncAPI 3.0 document.

Run ``byosms-contracts write`` after changing a message or topic; ``byosms-contracts check``
(and a unit test) fails when the checked-in files drift from the models.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from byosms_common import messages, topics
from byosms_common.messages import Envelope, message_type

# Which messages travel on which topic (the AsyncAPI channels).
TOPIC_MESSAGES: Mapping[str, tuple[type[Envelope], ...]] = {
    topics.INBOUND_MESSAGES.name: (messages.InboundMessageReceived,),
    topics.DELIVERY_REPORTS.name: (messages.DeliveryReportReceived,),
    topics.INTEGRATION_COMMANDS.name: (
        messages.CreateIntegration,
        messages.UpdateIntegration,
        messages.ActivateIntegration,
        messages.DeactivateIntegration,
        messages.DeleteIntegration,
    ),
    topics.INTEGRATION_EVENTS.name: (
        messages.IntegrationCreated,
        messages.IntegrationUpdated,
        messages.IntegrationActivated,
        messages.IntegrationDeactivated,
        messages.IntegrationDeleted,
        messages.IntegrationCommandRejected,
    ),
    topics.INTEGRATION_STATE.name: (messages.IntegrationState,),
    topics.NUMBER_COMMANDS.name: (messages.ImportNumber,),
    topics.NUMBER_EVENTS.name: (
        messages.NumberImported,
        messages.NumberImportRejected,
        messages.NumberStateChanged,
    ),
    topics.NUMBER_STATE.name: (messages.NumberStateRecord,),
    topics.OUTBOUND_COMMANDS.name: (messages.SendMessage,),
    topics.MESSAGE_EVENTS.name: (
        messages.InboundMessageRouted,
        messages.InboundMessageDiscarded,
        messages.OutboundMessageAccepted,
        messages.OutboundMessageFailed,
        messages.MessageStatusChanged,
        messages.RecipientOptedOut,
        messages.RecipientOptedIn,
    ),
}


def _dumps(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def message_schema(model: type[Envelope]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://byosms.dev/contracts/schemas/{message_type(model)}.json"
    return schema


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    components: dict[str, Any] = {"messages": {}}
    for spec in topics.ALL_TOPICS:
        carried = TOPIC_MESSAGES[spec.name]
        channel_id = spec.name.replace(".", "_").replace("-", "_")
        channels[channel_id] = {
            "address": spec.name,
            "description": spec.description,
            "messages": {message_type(m): {"$ref": f"#/components/messages/{message_type(m)}"} for m in carried},
            "bindings": {
                "kafka": {
                    "topic": spec.name,
                    "partitions": spec.partitions,
                    "topicConfiguration": {"cleanup.policy": ["compact"] if spec.compacted else ["delete"]},
                    "bindingVersion": "0.5.0",
                }
            },
            "x-key": spec.key,
            "x-producer": spec.producer,
            "x-consumers": list(spec.consumers),
            "x-dead-letter-topic": spec.dead_letter if spec.has_dead_letter else None,
        }
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{spec.producer} publishes",
        }
        for model in carried:
            components["messages"][message_type(model)] = {
                "name": model.__name__,
                "title": model.__name__,
                "summary": (model.__doc__ or model.__name__).strip().splitlines()[0],
                "contentType": "application/json",
                "payload": {"$ref": f"schemas/{message_type(model)}.json"},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "byosms events and commands",
            "version": "1.0.0",
            "description": "Kafka topics of byosms. Generated from byosms_common; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": components,
    }


def render_all() -> dict[str, str]:
    """Every generated file, by path relative to ``contracts/``."""
    files = {f"schemas/{message_type(m)}.json": _dumps(message_schema(m)) for m in messages.ALL_MESSAGES}
    files["asyncapi.json"] = _dumps(asyncapi_document())
    return files


def write(root: Path) -> None:
    for relative, text in render_all().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def drift(root: Path) -> list[str]:
    """Generated files that are missing or differ from what the models produce."""
    return [rel for rel, text in render_all().items() if not (root / rel).is_file() or (root / rel).read_text() != text]


def main() -> None:
    """``byosms-contracts write|check [CONTRACTS_DIR]``."""
    args = sys.argv[1:]
    command = args[0] if args else "check"
    root = Path(args[1]) if len(args) > 1 else Path("contracts")
    if command == "write":
        write(root)
    elif command == "check":
        stale = drift(root)
        if stale:
            sys.stderr.write("contracts are out of date, run `make contracts`: " + ", ".join(stale) + "\n")
            raise SystemExit(1)
    else:
        sys.stderr.write("usage: byosms-contracts write|check [CONTRACTS_DIR]\n")
        raise SystemExit(2)

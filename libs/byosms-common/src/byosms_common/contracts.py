"""Generates ``contracts/``: a JSON Schema per command and event, and an AsyncAPI 3.0 document.

Run ``byosms-contracts write`` after changing a message or topic; ``byosms-contracts check``
(and a unit test) fails when the checked-in files drift from the models, including a schema file
left behind by a renamed or deleted message (``write`` removes it).

The AsyncAPI document has a ``send`` operation per topic for its producer and a ``receive``
operation per consumer named in the topic's spec (``TopicSpec.consumers`` in ``topics``).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

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
        messages.SetIntegrationCredentials,
    ),
    topics.INTEGRATION_EVENTS.name: (
        messages.IntegrationCreated,
        messages.IntegrationUpdated,
        messages.IntegrationActivated,
        messages.IntegrationDeactivated,
        messages.IntegrationDeleted,
        messages.IntegrationCommandRejected,
        messages.IntegrationCommandApplied,
    ),
    topics.INTEGRATION_STATE.name: (messages.IntegrationState,),
    topics.WEBHOOK_SIGNATURE_REPORTS.name: (messages.WebhookSignatureFailing, messages.WebhookSignatureRecovered),
    topics.NUMBER_COMMANDS.name: (
        messages.ImportNumber,
        messages.RemoveNumber,
        messages.SetNumberRouting,
        messages.SetNumberCompliance,
    ),
    topics.NUMBER_EVENTS.name: (
        messages.NumberImported,
        messages.NumberImportRejected,
        messages.NumberStateChanged,
        messages.NumberCommandApplied,
        messages.NumberCommandRejected,
        messages.NumberRouteMissing,
        messages.NumberWebhookChanged,
        messages.NumberWebhookRepaired,
        messages.MissedMessagesRecovered,
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


SCHEMAS_DIR = "schemas"


class ContractsError(ValueError):
    """The topic-to-message table does not match ``topics`` and ``messages``."""


def _check_topic_messages() -> None:
    """Every topic carries messages, every message travels on exactly one topic: a new topic or
    message without its line in ``TOPIC_MESSAGES`` fails here by name, not with a KeyError."""
    problems = [f"topic {t.name} has no entry" for t in topics.ALL_TOPICS if t.name not in TOPIC_MESSAGES]
    known = {t.name for t in topics.ALL_TOPICS}
    problems += [f"{name} is not a topic in byosms_common.topics" for name in TOPIC_MESSAGES if name not in known]
    carried = [m for models in TOPIC_MESSAGES.values() for m in models]
    problems += [f"{message_type(m)} is on no topic" for m in messages.ALL_MESSAGES if m not in carried]
    problems += [f"{message_type(m)} is on several topics" for m in set(carried) if carried.count(m) > 1]
    if problems:
        raise ContractsError("TOPIC_MESSAGES in byosms_common/contracts.py: " + "; ".join(sorted(problems)))


def _slug(name: str) -> str:
    """An identifier for a topic or service name: ``platform services`` -> ``platform_services``."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_")


def _dumps(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def message_schema(model: type[Envelope]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://byosms.dev/contracts/schemas/{message_type(model)}.json"
    return schema


def asyncapi_document() -> dict[str, Any]:
    _check_topic_messages()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    components: dict[str, Any] = {"messages": {}}
    for spec in topics.ALL_TOPICS:
        carried = TOPIC_MESSAGES[spec.name]
        channel_id = _slug(spec.name)
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
        channel_messages = [{"$ref": f"#/channels/{channel_id}/messages/{message_type(m)}"} for m in carried]
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": channel_messages,
            "summary": f"{spec.producer} publishes",
        }
        for consumer in spec.consumers:
            operations[f"receive_{channel_id}_{_slug(consumer)}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": channel_messages,
                "summary": f"{consumer} consumes",
                "x-consumer": consumer,
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
    files = {f"{SCHEMAS_DIR}/{message_type(m)}.json": _dumps(message_schema(m)) for m in messages.ALL_MESSAGES}
    files["asyncapi.json"] = _dumps(asyncapi_document())
    return files


def orphans(root: Path, rendered: Mapping[str, str] | None = None) -> list[str]:
    """Schema files under ``contracts/schemas`` that no message produces any more (renamed or deleted)."""
    rendered = render_all() if rendered is None else rendered
    schemas = root / SCHEMAS_DIR
    if not schemas.is_dir():
        return []
    present = (p.relative_to(root).as_posix() for p in schemas.glob("*.json"))
    return sorted(rel for rel in present if rel not in rendered)


def write(root: Path) -> None:
    """Write every generated file and remove orphaned schemas."""
    rendered = render_all()
    for relative, text in rendered.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for relative in orphans(root, rendered):
        (root / relative).unlink()


def drift(root: Path) -> list[str]:
    """Generated files that are missing or differ from what the models produce, and orphaned schemas."""
    rendered = render_all()
    changed = [rel for rel, text in rendered.items() if not (root / rel).is_file() or (root / rel).read_text() != text]
    return changed + orphans(root, rendered)


def _fail(code: int, english: str, german: str) -> NoReturn:
    sys.stderr.write(f"byosms-contracts: {english} / {german}\n")
    raise SystemExit(code)


def main() -> None:
    """``byosms-contracts write|check [CONTRACTS_DIR]``."""
    args = sys.argv[1:]
    command = args[0] if args else "check"
    root = Path(args[1]) if len(args) > 1 else Path("contracts")
    if command not in {"write", "check"} or len(args) > 2:
        _fail(
            2,
            "usage: byosms-contracts write|check [CONTRACTS_DIR]",
            "Aufruf: byosms-contracts write|check [VERZEICHNIS]",
        )
    try:
        if command == "write":
            write(root)
            return
        stale = drift(root)
    except ContractsError as exc:
        _fail(1, str(exc), "TOPIC_MESSAGES in byosms_common/contracts.py passt nicht zu Topics und Nachrichten")
    except OSError as exc:
        _fail(1, f"cannot use {root}: {exc.strerror or exc}", f"{root} nicht nutzbar: {exc.strerror or exc}")
    if stale:
        files = ", ".join(stale)
        _fail(
            1,
            f"contracts are out of date, run `make contracts`: {files}",
            f"Verträge veraltet, `make contracts` ausführen: {files}",
        )

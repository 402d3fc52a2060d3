"""Kafka topics of byosms: the one place that names them, their keys and partition counts.

Every input topic a service consumes has a dead-letter topic ``<name>.dlt`` for messages that cannot
be parsed or keep failing, so one poison message never stalls a partition.
"""

from __future__ import annotations

from dataclasses import dataclass

DEAD_LETTER_SUFFIX = ".dlt"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A Kafka topic: its name, what its record key is, how many partitions and whether it is compacted."""

    name: str
    key: str
    partitions: int
    compacted: bool
    producer: str
    consumers: tuple[str, ...]
    description: str
    has_dead_letter: bool = True

    @property
    def dead_letter(self) -> str:
        """Name of this topic's dead-letter topic."""
        return self.name + DEAD_LETTER_SUFFIX


INBOUND_MESSAGES = TopicSpec(
    name="byosms.sms.inbound.v1",
    key="conversation key '<to>|<from>' so one conversation stays in order",
    partitions=6,
    compacted=False,
    producer="ingress-webhook, routing (recovered messages)",
    consumers=("routing",),
    description="Inbound SMS/MMS (MO) accepted from Twilio webhooks, signature already validated; and messages "
    "whose webhook never came, found in Twilio's Messages list by routing's recovery job (marked recovered).",
)
DELIVERY_REPORTS = TopicSpec(
    name="byosms.sms.delivery-reports.v1",
    key="Twilio MessageSid",
    partitions=6,
    compacted=False,
    producer="ingress-webhook, routing (recovered reports)",
    consumers=("routing",),
    description="Twilio status callbacks (delivery reports) accepted by the ingress; and final statuses whose "
    "callback never came, fetched from Twilio by routing's recovery job (marked recovered).",
)
INTEGRATION_COMMANDS = TopicSpec(
    name="byosms.integrations.commands.v1",
    key="integration id (organization id for create)",
    partitions=3,
    compacted=False,
    producer="platform services",
    consumers=("provisioning",),
    description="Commands on integrations from platform services (create, edit, credentials, (de)activate, delete).",
)
INTEGRATION_EVENTS = TopicSpec(
    name="byosms.integrations.events.v1",
    key="integration id",
    partitions=3,
    compacted=False,
    producer="provisioning",
    consumers=("inventory", "platform services"),
    description="What happened to integrations: created, updated, activated, deactivated, deleted, command rejected.",
)
INTEGRATION_STATE = TopicSpec(
    name="byosms.integrations.state.v1",
    key="integration id; a tombstone (null value) when deleted",
    partitions=3,
    compacted=True,
    producer="provisioning",
    consumers=("ingress-webhook", "routing"),
    description="Current state of every integration, auth token still encrypted; feeds live caches.",
    has_dead_letter=False,
)
WEBHOOK_SIGNATURE_REPORTS = TopicSpec(
    name="byosms.integrations.webhook-signatures.v1",
    key="integration id",
    partitions=3,
    compacted=False,
    producer="ingress-webhook",
    consumers=("provisioning",),
    description=(
        "Signature validation of an integration's webhooks keeps failing (at most one report per integration "
        "and minute per ingress, with a count), or passes again; shown on the integration."
    ),
)
NUMBER_COMMANDS = TopicSpec(
    name="byosms.numbers.commands.v1",
    key="sender address (E.164 number or country:shortcode) so imports of one number are ordered",
    partitions=3,
    compacted=False,
    producer="platform services",
    consumers=("provisioning", "inventory"),
    description=(
        "Commands on numbers, one number each: imports (provisioning), removal, routing target and compliance "
        "blocks (inventory)."
    ),
)
NUMBER_EVENTS = TopicSpec(
    name="byosms.numbers.events.v1",
    key="sender address",
    partitions=3,
    compacted=False,
    producer="provisioning, inventory, routing",
    consumers=("inventory", "provisioning", "platform services"),
    description=(
        "Import outcomes (imported, rejected), inventory changes (activated, deactivated, removed), results of "
        "number commands, routing's no_route warnings and its counts of recovered messages, and provisioning's"
        " webhook health: a number's effective SMS webhook drifted or is back (number.webhook_changed), a repair"
        " made on request (number.webhook_repaired)."
    ),
)
NUMBER_STATE = TopicSpec(
    name="byosms.numbers.state.v1",
    key="sender address; a tombstone when removed",
    partitions=3,
    compacted=True,
    producer="inventory",
    consumers=("routing", "provisioning"),
    description=(
        "Current state of every number in the inventory (with its routing target); feeds routing's cache and "
        "provisioning's read model of the inventory."
    ),
    has_dead_letter=False,
)
OUTBOUND_COMMANDS = TopicSpec(
    name="byosms.sms.outbound.commands.v1",
    key="sender '<from>': one routing process holds each sender to its pace",
    partitions=6,
    compacted=False,
    producer="platform services; routing (a short code's compliance replies)",
    consumers=("routing",),
    description=(
        "SendMessage commands: messages to send through the tenant's Twilio account. Keyed by sender, so"
        " all of a sender's commands reach the one routing process that paces it. Routing publishes the"
        " answers to a short code's HELP/STOP/re-opt-in keywords here too."
    ),
)
MESSAGE_EVENTS = TopicSpec(
    name="byosms.sms.message-events.v1",
    key="conversation key for routed messages, message id for status changes",
    partitions=6,
    compacted=False,
    producer="routing",
    consumers=("platform services",),
    description=(
        "Inbound messages routed or discarded, outbound messages sent or failed, delivery status changes, opt-outs."
    ),
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    INBOUND_MESSAGES,
    DELIVERY_REPORTS,
    INTEGRATION_COMMANDS,
    INTEGRATION_EVENTS,
    INTEGRATION_STATE,
    WEBHOOK_SIGNATURE_REPORTS,
    NUMBER_COMMANDS,
    NUMBER_EVENTS,
    NUMBER_STATE,
    OUTBOUND_COMMANDS,
    MESSAGE_EVENTS,
)


def all_topic_names(*, with_dead_letters: bool = True) -> list[str]:
    """Every topic the stack must create, dead-letter topics included unless told otherwise."""
    names = [t.name for t in ALL_TOPICS]
    if with_dead_letters:
        names += [t.dead_letter for t in ALL_TOPICS if t.has_dead_letter]
    return names


def by_name(name: str) -> TopicSpec:
    """The spec of a topic by its name."""
    for spec in ALL_TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(name)

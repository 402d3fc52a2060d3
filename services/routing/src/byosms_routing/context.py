"""What routing's handlers work with; built once in ``app``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import asyncpg
from prometheus_client import Counter

from byosms_common.crypto import SecretOpener
from byosms_common.messages import IntegrationState, NumberStateRecord
from byosms_common.regions import Region
from byosms_common.state_cache import StateTopicFollower
from byosms_common.twilio_client import TwilioClients


@dataclass(frozen=True)
class Collaborators:
    pool: asyncpg.Pool
    integrations: StateTopicFollower[IntegrationState]
    numbers: StateTopicFollower[NumberStateRecord]
    twilio: TwilioClients
    tokens: SecretOpener
    regions: Mapping[str, Region] = field(default_factory=dict)
    send_retry_seconds: float = 30.0
    send_lease_seconds: float = 90.0
    """How long a send recorded ``sending`` may still be waiting for Twilio (see ``outbound``)."""
    decisions: Counter | None = None
    """Inbound decisions published, by decision and reason (``byosms_routing_inbound_decisions_total``)."""
    sender_services: dict[tuple[str, str], str | None] = field(default_factory=dict)
    """(organization, sender) -> the Messaging Service this process last recorded for it
    (``routing.sender_services``), so an unchanged one is not written again for every batch."""

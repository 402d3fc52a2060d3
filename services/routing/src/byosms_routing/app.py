"""Builds and runs the routing service: its caches, its table of handlers and its background job on
``byosms_common.service``; the only place that creates settings and collaborators."""

from __future__ import annotations

import asyncio
import sys
import time
from functools import partial
from typing import Any

from prometheus_client import Counter

from byosms_common import topics
from byosms_common.consumer import Subscription
from byosms_common.crypto import CryptoError, Keyring, SecretOpener
from byosms_common.kafka import Publisher, build_broker, start_broker
from byosms_common.logs import configure_logging
from byosms_common.messages import (
    DeliveryReportReceived,
    InboundMessageReceived,
    IntegrationState,
    NumberStateRecord,
    SendMessage,
)
from byosms_common.migrate_cli import migrate_main, wants_migrate
from byosms_common.request_pacing import AccountPacers
from byosms_common.service import ServiceRuntime
from byosms_common.settings import (
    ConsumerSettings,
    DatabaseSettings,
    KafkaSettings,
    KeyringSettings,
    TelemetrySettings,
    load_or_exit,
)
from byosms_common.twilio_client import TwilioClients
from byosms_routing import delivery, outbound, subscribers, unknown_sends
from byosms_routing.context import Collaborators
from byosms_routing.pacing import SenderPacer
from byosms_routing.recovery import Recovery, RecoveryMetrics, RecoverySettings
from byosms_routing.settings import RoutingSettings

SERVICE = "routing"
SCHEMA = "routing"


async def run(
    settings: RoutingSettings,
    kafka: KafkaSettings,
    database: DatabaseSettings,
    stop: asyncio.Event | None = None,
    keyring: Keyring | None = None,
) -> None:
    """Run routing until ``stop``. ``keyring`` opens tenants' Twilio tokens for sending; without it every
    send fails with ``sender_credentials_unreadable`` (inbound routing works regardless)."""
    service = ServiceRuntime(
        SERVICE,
        host=settings.host,
        port=settings.port,
        kafka=kafka,
        consumer_group=settings.consumer_group,
        database=database,
        schema=SCHEMA,
        consumer_settings=ConsumerSettings(),
        migrations="byosms_routing",
    )
    # Opened auth tokens are dropped as soon as their integration changes or is deleted.
    tokens = SecretOpener(keyring)
    integrations = service.follow(
        topics.INTEGRATION_STATE, IntegrationState, on_change=lambda key, _state: tokens.forget(key)
    )
    numbers = service.follow(topics.NUMBER_STATE, NumberStateRecord)
    decisions = Counter(
        "byosms_routing_inbound_decisions_total",
        "Inbound messages routed or discarded, by reason (no_route: active number, no routing target anywhere;"
        " unsupported_channel: a whatsapp:/rcs: address).",
        ["decision", "reason"],
        registry=service.registry,
    )
    twilio = TwilioClients(api_base=settings.twilio_api_base, timeout_seconds=settings.twilio_timeout_seconds)
    service.resource("Twilio clients", twilio.start, twilio.close)
    # The background jobs' producer (handlers publish through their consumer's).
    broker = build_broker(kafka, SERVICE)
    publisher = Publisher(broker)
    service.resource("job producer", lambda: start_broker(broker), broker.stop)

    def collaborators() -> Collaborators:
        return Collaborators(
            pool=service.connected_pool,
            integrations=integrations,
            numbers=numbers,
            twilio=twilio,
            tokens=tokens,
            regions=settings.regions(),
            send_retry_seconds=settings.send_retry_seconds,
            send_lease_seconds=settings.send_lease_seconds(),
            decisions=decisions,
        )

    def table() -> list[Subscription[Any]]:
        deps = collaborators()
        pacer = SenderPacer(settings.sender_rates, clock=time.monotonic)
        return [
            Subscription(topics.INBOUND_MESSAGES, InboundMessageReceived, partial(subscribers.on_inbound_batch, deps)),
            Subscription(topics.DELIVERY_REPORTS, DeliveryReportReceived, partial(delivery.on_delivery_reports, deps)),
            Subscription(topics.OUTBOUND_COMMANDS, SendMessage, outbound.handler(deps, pacer), lanes=outbound.lane_of),
        ]

    service.consume(table)
    service.job(
        "unmatched report cleanup",
        lambda stop_jobs: delivery.delete_unmatched_reports_periodically(
            collaborators(),
            stop_jobs,
            older_than_seconds=settings.unmatched_report_hours * 3600,
            every_seconds=settings.report_cleanup_interval_seconds,
        ),
    )
    service.job(
        "unknown send lookup",
        lambda stop_jobs: unknown_sends.resolve_unknown_sends_periodically(
            collaborators(),
            publisher,
            stop_jobs,
            grace_seconds=settings.unknown_send_grace_seconds,
            check_seconds=settings.unknown_send_check_seconds,
        ),
    )
    if settings.recovery_enabled:
        recovery_settings = RecoverySettings(
            window_seconds=settings.recovery_window_seconds,
            grace_seconds=settings.recovery_grace_seconds,
            interval_seconds=settings.recovery_interval_seconds,
            check_seconds=settings.recovery_check_seconds,
            requests_per_second=settings.recovery_requests_per_second,
        )
        recovery_metrics = RecoveryMetrics(service.registry)
        pacers = AccountPacers(settings.recovery_requests_per_second, time.monotonic, asyncio.sleep)
        service.job(
            "missed message recovery",
            lambda stop_jobs: Recovery(collaborators(), publisher, recovery_settings, recovery_metrics, pacers).run(
                stop_jobs
            ),
        )
    await service.run(stop)


def main() -> None:
    """Entry point of ``byosms-routing`` (``byosms-routing migrate``: apply the migrations and exit)."""
    if wants_migrate():
        migrate_main(SERVICE, SCHEMA, "byosms_routing")
        return
    configure_logging(TelemetrySettings(), SERVICE)
    settings, kafka, database, keys = load_or_exit(
        SERVICE, lambda: (RoutingSettings(), KafkaSettings(), DatabaseSettings(), KeyringSettings())
    )
    try:
        keyring = keys.keyring()
    except CryptoError as exc:
        sys.stderr.write(f"byosms-{SERVICE}: invalid key-encryption keys / ungültige Schlüssel: {exc}\n")
        raise SystemExit(2) from None
    asyncio.run(run(settings, kafka, database, keyring=keyring))

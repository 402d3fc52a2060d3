"""``byosms-ingress drain``: move what one spool directory holds into Kafka, then exit.

For a spool no ingress process will open again: the volume claim of a StatefulSet ordinal above
the replica count after a scale-down (the chart's drain Job), or a directory copied off a failing
volume (docs/runbooks/ingress-spool-orphaned.md). It reuses the ingress's own spool and drain path
(:class:`~byosms_ingress.publishing.EventPublisher`): same order, same at-least-once guarantee,
records Kafka refuses for good set aside in ``spool-rejected.log``.

The spool's lock file makes the command fail at once (exit 3) while an ingress process has the
directory open. Kafka unreachable: retried with backoff until ``timeout_s``; exit 0 when the spool is
empty, 1 when records are left (they stay on disk, nothing is lost), 2 on bad settings.

With a metrics port, the spool gauges (labelled with the directory's name, as the ingress labels
them) are served while it runs and for ``linger_s`` after, so a scrape sees the claim go to 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import start_http_server

from byosms_common.settings import KafkaSettings
from byosms_ingress.kafka_producer import RdKafkaProducer, producer_config
from byosms_ingress.metrics import IngressMetrics
from byosms_ingress.publishing import EventPublisher
from byosms_ingress.spool import Spool, SpoolLockedError

log = logging.getLogger(__name__)

EXIT_DRAINED = 0
EXIT_LEFT = 1
EXIT_LOCKED = 3


@dataclass(frozen=True)
class DrainPlan:
    spool_dir: Path
    max_bytes: int
    drain_batch: int
    publish_deadline_s: float
    timeout_s: float
    linger_s: float = 0.0
    metrics_port: int | None = None


async def drain_spool(plan: DrainPlan, kafka: KafkaSettings, *, retry_every_s: float = 1.0) -> int:
    """Drain ``plan.spool_dir`` into Kafka; the exit code (see the module docstring)."""
    metrics = IngressMetrics(spool=plan.spool_dir.name, spool_limit=plan.max_bytes)
    if plan.metrics_port is not None:
        start_http_server(plan.metrics_port, registry=metrics.registry)
    spool = Spool(plan.spool_dir, plan.max_bytes)
    try:
        await spool.open()
    except SpoolLockedError:
        log.error("spool %s is open in another process; not draining it", plan.spool_dir)
        return EXIT_LOCKED
    publisher = EventPublisher(spool, metrics, deadline_s=plan.publish_deadline_s, drain_batch=plan.drain_batch)
    log.info(
        "draining %d spooled events (%d bytes) from %s", spool.pending_records, spool.pending_bytes, plan.spool_dir
    )
    producer = RdKafkaProducer(producer_config(kafka.kafka_bootstrap, f"{kafka.kafka_client_id_prefix}-ingress-drain"))
    await producer.start()
    publisher.producer = producer
    loop = asyncio.get_running_loop()
    deadline = loop.time() + plan.timeout_s
    try:
        while not spool.empty and loop.time() < deadline:
            # Bounded: with Kafka away a round waits for librdkafka's message timeout. Cancelled
            # mid-round, the records stay in the spool (only acknowledged ones are marked).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(publisher.drain_remaining(), max(0.1, deadline - loop.time()))
            if not spool.empty:
                await asyncio.sleep(min(retry_every_s, max(0.0, deadline - loop.time())))
    finally:
        left = spool.pending_records
        publisher.update_gauges()
        await publisher.close()
        await producer.stop(5.0)
        await spool.close()
    if left:
        log.error(
            "%d events are still in %s after %.0fs; run the drain again once Kafka is reachable",
            left,
            plan.spool_dir,
            plan.timeout_s,
        )
    else:
        log.info("spool %s is empty", plan.spool_dir)
    if plan.linger_s > 0 and plan.metrics_port is not None:
        await asyncio.sleep(plan.linger_s)
    return EXIT_LEFT if left else EXIT_DRAINED

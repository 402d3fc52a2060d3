"""Whether the ingress reaches Kafka, told once per change instead of once per reconnect attempt.

:class:`KafkaConnectivity` (the shared one of :mod:`byosms_common.kafka_reachability`, with the
ingress's wording) holds the state (unknown until the first signal, reachable, unreachable) and keeps
the gauge ``byosms_ingress_kafka_reachable`` live. It is fed by the producer's own
signals (an acknowledged record: reachable; all brokers down or a failed delivery: check now) and by
a light periodic metadata request (app.py). It writes one line per change:

- ``Kafka unreachable (<why>); webhooks go to the spool until it is back`` (WARNING),
- ``Kafka still unreachable after <n>s (<why>)`` every ``still_down_every_s`` while it lasts (WARNING),
- ``Kafka reachable again after <n>s`` (INFO), or ``Kafka reachable`` the first time.

The Kafka clients would otherwise log every failed connection attempt (librdkafka per reconnect,
aiokafka every 100 ms): librdkafka's lines are gated in kafka_producer.py, aiokafka's (the
integrations follower's consumer) by :class:`QuietKafkaClientLogs`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import Gauge

from byosms_common import kafka_reachability
from byosms_common.kafka_reachability import STILL_DOWN_EVERY_S
from byosms_common.refusal_log import RateLimiter

log = logging.getLogger(__name__)

__all__ = ["STILL_DOWN_EVERY_S", "KafkaConnectivity", "QuietKafkaClientLogs"]


class KafkaConnectivity(kafka_reachability.KafkaConnectivity):
    """The ingress's: on this module's logger, and its "unreachable" line says where webhooks go."""

    def __init__(
        self,
        gauge: Gauge | None = None,
        *,
        still_down_every_s: float = STILL_DOWN_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            gauge,
            still_down_every_s=still_down_every_s,
            clock=clock,
            consequence="; webhooks go to the spool until it is back",
            logger=log,
        )


class QuietKafkaClientLogs(logging.Filter):
    """For aiokafka's loggers: their warnings and errors are dropped unless Kafka is reachable (the
    connectivity lines say it all then), and otherwise kept to one per call site per minute."""

    def __init__(self, connectivity: KafkaConnectivity, *, interval_s: float = 60.0, prefix: str = "aiokafka") -> None:
        super().__init__()
        self._connectivity = connectivity
        self._limit = RateLimiter(interval_s)
        self._prefix = prefix
        self._installed: list[logging.Logger] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        if self._connectivity.reachable is not True:
            return False
        return self._limit.allow((record.name, record.msg)) is not None

    def install(self) -> None:
        """Attach to every logger of the client (filters on a parent logger do not see its children's records)."""
        names = [self._prefix, *(n for n in logging.root.manager.loggerDict if n.startswith(self._prefix + "."))]
        for name in names:
            logger = logging.getLogger(name)
            logger.addFilter(self)
            self._installed.append(logger)

    def remove(self) -> None:
        for logger in self._installed:
            logger.removeFilter(self)
        self._installed.clear()

"""Whether the ingress reaches Kafka, told once per change instead of once per reconnect attempt.

:class:`KafkaConnectivity` holds the state (unknown until the first signal, reachable, unreachable)
and keeps the gauge ``byosms_ingress_kafka_reachable`` live. It is fed by the producer's own
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

import asyncio
import logging
import time
from collections.abc import Callable

from prometheus_client import Gauge

from byosms_common.refusal_log import RateLimiter

log = logging.getLogger(__name__)

STILL_DOWN_EVERY_S = 30.0


class KafkaConnectivity:
    """See the module docstring. Call its methods on the event loop."""

    def __init__(
        self,
        gauge: Gauge | None = None,
        *,
        still_down_every_s: float = STILL_DOWN_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reachable: bool | None = None
        self.became_reachable = asyncio.Event()
        self._gauge = gauge
        self._every = still_down_every_s
        self._clock = clock
        self._since = 0.0
        self._last_line = 0.0
        self._why = ""
        if gauge is not None:
            gauge.set(0)

    def up(self) -> None:
        if self.reachable is True:
            return
        before, self.reachable = self.reachable, True
        self.became_reachable.set()
        if self._gauge is not None:
            self._gauge.set(1)
        if before is False:
            log.info("Kafka reachable again after %.0fs", self._clock() - self._since)
        else:
            log.info("Kafka reachable")

    def down(self, why: str) -> None:
        self._why = why
        if self.reachable is False:
            return
        self.reachable = False
        self.became_reachable.clear()
        self._since = self._last_line = self._clock()
        if self._gauge is not None:
            self._gauge.set(0)
        log.warning("Kafka unreachable (%s); webhooks go to the spool until it is back", why)

    def tick(self) -> None:
        """Call now and then: while Kafka stays unreachable, says so every ``still_down_every_s``."""
        if self.reachable is not False:
            return
        now = self._clock()
        if now - self._last_line >= self._every:
            self._last_line = now
            log.warning("Kafka still unreachable after %.0fs (%s)", now - self._since, self._why)


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

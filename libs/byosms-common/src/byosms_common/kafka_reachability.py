"""Whether a service reaches Kafka, as a live gauge and one log line per change.

:class:`KafkaConnectivity` holds the state (unknown until the first signal, reachable, unreachable),
keeps a gauge live (0 until Kafka is first reached) and writes one line per change:

- ``Kafka unreachable (<why>)<consequence>`` (WARNING),
- ``Kafka still unreachable after <n>s (<why>)`` every ``still_down_every_s`` while it lasts (WARNING),
- ``Kafka reachable again after <n>s`` (INFO), or ``Kafka reachable`` the first time.

The ingress feeds it from its producer and a probe of its own (gauge
``byosms_ingress_kafka_reachable``). The consumer services (provisioning, inventory, routing) run
:func:`watch_kafka` from :class:`~byosms_common.service.ServiceRuntime` from the moment they start
(gauge ``byosms_kafka_reachable``): a metadata request of a client of its own every
``every_s`` (every ``every_down_s`` while unreachable), with the service's security settings, so
TLS and SASL failures count as unreachable too. The consumers themselves cannot tell: an idle
aiokafka consumer whose broker is gone fetches nothing and raises nothing, it reconnects in the
background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiokafka.client import AIOKafkaClient
from prometheus_client import CollectorRegistry, Gauge

from byosms_common.kafka_security import aiokafka_options
from byosms_common.settings import KafkaSettings

log = logging.getLogger(__name__)

STILL_DOWN_EVERY_S = 30.0
PROBE_EVERY_S = 5.0
PROBE_EVERY_DOWN_S = 1.0
PROBE_TIMEOUT_S = 3.0
GAUGE = "byosms_kafka_reachable"


def reachability_gauge(registry: CollectorRegistry | None) -> Gauge:
    """``byosms_kafka_reachable`` of a consumer service, on ``registry``."""
    return Gauge(
        GAUGE,
        "1 while this process reaches a Kafka broker (a metadata request answered), 0 while not or not yet",
        registry=registry,
    )


class KafkaConnectivity:
    """See the module docstring. Call its methods on the event loop."""

    def __init__(
        self,
        gauge: Gauge | None = None,
        *,
        still_down_every_s: float = STILL_DOWN_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        consequence: str = "",
        logger: logging.Logger = log,
    ) -> None:
        self.reachable: bool | None = None
        self.became_reachable = asyncio.Event()
        self._gauge = gauge
        self._every = still_down_every_s
        self._clock = clock
        self._consequence = consequence
        self._log = logger
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
            self._log.info("Kafka reachable again after %.0fs", self._clock() - self._since)
        else:
            self._log.info("Kafka reachable")

    def down(self, why: str) -> None:
        self._why = why
        if self.reachable is False:
            return
        self.reachable = False
        self.became_reachable.clear()
        self._since = self._last_line = self._clock()
        if self._gauge is not None:
            self._gauge.set(0)
        self._log.warning("Kafka unreachable (%s)%s", why, self._consequence)

    def tick(self) -> None:
        """Call now and then: while Kafka stays unreachable, says so every ``still_down_every_s``."""
        if self.reachable is not False:
            return
        now = self._clock()
        if now - self._last_line >= self._every:
            self._last_line = now
            self._log.warning("Kafka still unreachable after %.0fs (%s)", now - self._since, self._why)


async def watch_kafka(
    kafka: KafkaSettings,
    connectivity: KafkaConnectivity,
    stop: asyncio.Event,
    *,
    client_id: str,
    every_s: float = PROBE_EVERY_S,
    every_down_s: float = PROBE_EVERY_DOWN_S,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> None:
    """Until ``stop`` is set: ask the brokers for metadata and tell ``connectivity`` the outcome."""
    client = AIOKafkaClient(
        bootstrap_servers=kafka.kafka_bootstrap,
        client_id=client_id,
        request_timeout_ms=int(timeout_s * 1000),
        **aiokafka_options(kafka),
    )
    bootstrapped = False
    try:
        while not stop.is_set():
            try:
                if bootstrapped:
                    await asyncio.wait_for(client.fetch_all_metadata(), timeout_s)
                else:
                    await asyncio.wait_for(client.bootstrap(), timeout_s)
                    bootstrapped = True
            except Exception as exc:  # noqa: BLE001 - whatever the client raises, Kafka did not answer
                connectivity.down(type(exc).__name__)
            else:
                connectivity.up()
            connectivity.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s if connectivity.reachable else every_down_s)
    finally:
        await client.close()

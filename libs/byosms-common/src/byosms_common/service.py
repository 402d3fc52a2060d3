"""One way to run a byosms service: what routing, inventory and provisioning share.

A service describes itself — its database schema, the state topics it follows, the consumers of its
table of handlers (``byosms_common.consumer.Subscription``), its background jobs and the resources it
opens and closes — and :class:`ServiceRuntime` does the rest the same way everywhere:

- the HTTP server (``/healthz``, ``/readyz``, ``/metrics`` and the service's own routes) answers at
  once; start-up steps (PostgreSQL with migrations, the state caches, resources, Kafka consumers,
  background jobs) are retried with backoff until they succeed, and ``/readyz`` says which
  condition is missing: ``postgres``, ``kafka``, ``caches``, ``consumers`` (false while a consumer
  waits for a dependency);
- the gauge ``byosms_kafka_reachable`` follows Kafka from the start, by a metadata request every few
  seconds, with one log line when Kafka goes and one when it is back (``kafka_reachability``);
- background jobs are supervised (restarted when they die);
- on SIGTERM/SIGINT everything is closed in reverse order: jobs, consumers (finishing their work),
  caches, resources, the pool.

A new consumer is a line in the service's table; a new background job, a call to :meth:`job`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from byosms_common import db
from byosms_common.consumer import Consumers, Subscription
from byosms_common.health import Readiness, add_health_routes
from byosms_common.kafka import reachable
from byosms_common.kafka_reachability import KafkaConnectivity, reachability_gauge, watch_kafka
from byosms_common.runtime import StartStep, run_service, supervise
from byosms_common.settings import ConsumerSettings, DatabaseSettings, KafkaSettings, TelemetrySettings
from byosms_common.state_cache import StateTopicFollower
from byosms_common.telemetry import setup_tracing
from byosms_common.topics import TopicSpec

log = logging.getLogger(__name__)

V = TypeVar("V", bound=BaseModel)
Job = Callable[[asyncio.Event], Awaitable[None]]


GC_THRESHOLDS = (50_000, 20, 100)
"""Generation thresholds once started: a batch keeps thousands of decoded records alive, and with
Python's defaults (700, 10, 10) the collector walks them again and again (measured: decoding a
batch's records costs twice as much)."""


async def _tune_gc() -> None:
    """Start-up is done: what exists now lives as long as the process, so the collector stops looking
    at it (``gc.freeze``), and collects the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class ServiceRuntime:
    """Builds and runs one service (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        kafka: KafkaSettings,
        consumer_group: str,
        database: DatabaseSettings | None = None,
        schema: str | None = None,
        migrations: str | None = None,
        http: web.Application | None = None,
        consumer_settings: ConsumerSettings | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.kafka = kafka
        self.consumer_group = consumer_group
        self.tracer_provider = setup_tracing(TelemetrySettings(), name)
        self.readiness = Readiness()
        self.registry = CollectorRegistry()
        self.http = http or web.Application()
        add_health_routes(self.http, self.readiness, self.registry)
        self.kafka_connectivity = KafkaConnectivity(
            reachability_gauge(self.registry), consequence="; consumers and publishing wait until it is back"
        )
        self._kafka_watch: asyncio.Task[None] | None = None
        self._kafka_watch_stop = asyncio.Event()
        self.stop = asyncio.Event()
        self._database = database
        self._schema = schema
        self._migrations = migrations
        self._consumer_settings = consumer_settings or ConsumerSettings()
        self.pool: asyncpg.Pool | None = None
        self._followers: list[StateTopicFollower[Any]] = []
        self._table: Callable[[], Sequence[Subscription[Any]]] | None = None
        self._consumers: Consumers | None = None
        self._jobs: list[tuple[str, Job]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._jobs_stop = asyncio.Event()
        self._opened: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]]]] = []
        self._started_resources: list[Callable[[], Awaitable[Any]]] = []
        self._after_pool: list[Callable[[asyncpg.Pool], None]] = []

    # -- what a service declares ----------------------------------------------------------------

    def follow(
        self,
        topic: TopicSpec,
        model: type[V],
        *,
        on_change: Callable[[str, V | None], None] | None = None,
    ) -> StateTopicFollower[V]:
        """A live cache of a compacted state topic, loaded before the consumers start."""
        follower = StateTopicFollower(
            self.kafka, topic, model, client_id=f"{self.kafka.kafka_client_id_prefix}-{self.name}", on_change=on_change
        )
        self._followers.append(follower)
        return follower

    def resource(self, name: str, start: Callable[[], Awaitable[Any]], close: Callable[[], Awaitable[Any]]) -> None:
        """Something opened at start (after PostgreSQL) and closed at shutdown, e.g. an HTTP client."""
        self._opened.append((name, start, close))

    def consume(self, table: Callable[[], Sequence[Subscription[Any]]]) -> None:
        """The service's table of handlers, built once PostgreSQL and the caches are there."""
        self._table = table

    def job(self, name: str, run: Job) -> None:
        """A background job, supervised: ``run(stop)`` runs until ``stop`` is set, restarted if it dies."""
        self._jobs.append((name, run))

    def when_connected(self, callback: Callable[[asyncpg.Pool], None]) -> None:
        """Called with the pool once PostgreSQL is connected (for objects built before it)."""
        self._after_pool.append(callback)

    def check(self, name: str, check: Callable[[], Awaitable[bool]]) -> None:
        """One more readiness condition."""
        self.readiness.add_check(name, check)

    @property
    def connected_pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise ConnectionRefusedError("PostgreSQL is not connected yet")
        return self.pool

    # -- running --------------------------------------------------------------------------------

    async def _connect_database(self) -> None:
        assert self._database is not None
        assert self._schema is not None
        assert self._migrations is not None
        if self.pool is None:
            self.pool = await db.open_migrated_pool(self._database, self._schema, self._migrations)
            for callback in self._after_pool:
                callback(self.pool)

    async def _load_caches(self) -> None:
        for follower in self._followers:
            if follower.loaded.is_set():
                continue
            await follower.stop()
            await follower.start()
            await asyncio.wait_for(follower.loaded.wait(), 60)

    async def _open_resources(self) -> None:
        for name, start, close in self._opened:
            if close in self._started_resources:
                continue
            await start()
            self._started_resources.append(close)
            log.debug("%s opened", name)

    async def _start_consumers(self) -> None:
        if self._table is None:
            return
        if self._consumers is None:
            self._consumers = Consumers(
                self.kafka,
                self._consumer_settings,
                self._table(),
                group_id=self.consumer_group,
                service=self.name,
                registry=self.registry,
                tracer_provider=self.tracer_provider,
            )
        await self._consumers.start()

    async def _start_jobs(self) -> None:
        for name, run in self._jobs:

            async def job(run: Job = run) -> None:
                await run(self._jobs_stop)

            self._tasks.append(asyncio.create_task(supervise(name, job, stop=self._jobs_stop), name=name))

    async def _watch_kafka(self) -> None:
        await watch_kafka(
            self.kafka,
            self.kafka_connectivity,
            self._kafka_watch_stop,
            client_id=f"{self.kafka.kafka_client_id_prefix}-{self.name}-probe",
        )

    async def _start_kafka_watch(self) -> None:
        if self._kafka_watch is None:
            self._kafka_watch = asyncio.create_task(
                supervise("watching Kafka", self._watch_kafka, stop=self._kafka_watch_stop), name="watch Kafka"
            )

    async def _stop_kafka_watch(self) -> None:
        self._kafka_watch_stop.set()
        if self._kafka_watch is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._kafka_watch, 5)
            self._kafka_watch = None

    async def _close(self) -> None:
        self._jobs_stop.set()
        if self._tasks:
            _, running = await asyncio.wait(self._tasks, timeout=5)
            for task in running:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._consumers is not None:
            await self._consumers.stop()
        for follower in self._followers:
            await follower.stop()
        for close in reversed(self._started_resources):
            try:
                await close()
            except Exception:
                log.warning("closing a resource failed", exc_info=True)
        if self.pool is not None:
            await self.pool.close()

    async def _database_ready(self) -> bool:
        return self.pool is not None and await self.pool.fetchval("SELECT 1") == 1

    async def _kafka_ready(self) -> bool:
        return await reachable(self.kafka.kafka_bootstrap)

    async def _caches_loaded(self) -> bool:
        return all(f.loaded.is_set() for f in self._followers)

    async def _consuming(self) -> bool:
        return self._consumers is not None and await self._consumers.healthy()

    async def run(self, stop: asyncio.Event | None = None, *, extra_steps: Sequence[StartStep] = ()) -> None:
        """Serve, start with retries, then run until SIGTERM/SIGINT or ``stop``; close everything."""
        steps: list[StartStep] = [StartStep("watch Kafka", self._start_kafka_watch)]
        if self._database is not None:
            self.readiness.add_check("postgres", self._database_ready)
            steps.append(StartStep("connect to PostgreSQL", self._connect_database))
        self.readiness.add_check("kafka", self._kafka_ready)
        if self._followers:
            self.readiness.add_check("caches", self._caches_loaded)
            steps.append(StartStep("load the state caches", self._load_caches))
        if self._opened:
            steps.append(StartStep("open resources", self._open_resources))
        steps.extend(extra_steps)
        if self._table is not None:
            self.readiness.add_check("consumers", self._consuming)
            steps.append(StartStep("start the Kafka consumers", self._start_consumers))
        if self._jobs:
            steps.append(StartStep("start background jobs", self._start_jobs))
        steps.append(StartStep("tune the garbage collector", _tune_gc))
        await run_service(
            http=self.http,
            host=self.host,
            port=self.port,
            readiness=self.readiness,
            steps=steps,
            cleanups=[self._stop_kafka_watch, self._close],
            stop=stop or self.stop,
        )

"""Live caches fed by compacted state topics (integrations, numbers).

A :class:`StateTopicFollower` reads a compacted topic from the beginning on every start, without a
consumer group (every replica needs every record), applies each record to a dict keyed by the
record key (a null value, a tombstone, deletes), marks itself *loaded* once it has reached the end
offsets that existed at start, and then keeps following changes live.

The following task is supervised: when it fails (the consumer raises, an ``on_change`` callback
raises), the follower logs it, reports not loaded (readiness), and reconnects and replays the topic
with backoff. Values stay readable meanwhile; keys that vanished while it was away are dropped when
the replay has caught up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel, ValidationError

from byosms_common.backoff import Backoff
from byosms_common.kafka_security import aiokafka_options
from byosms_common.settings import KafkaSettings
from byosms_common.topics import TopicSpec

log = logging.getLogger(__name__)

V = TypeVar("V", bound=BaseModel)


class StateTopicFollower(Generic[V]):
    """Follows a compacted topic into an in-memory ``{key: value}`` map."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic: TopicSpec,
        model: type[V],
        *,
        client_id: str,
        on_change: Callable[[str, V | None], None] | None = None,
        restart_first_delay: float = 0.5,
        restart_max_delay: float = 30.0,
    ) -> None:
        self._settings = settings
        self._topic = topic
        self._model = model
        self._client_id = client_id
        self._on_change = on_change
        self.values: dict[str, V] = {}
        self.loaded = asyncio.Event()
        self.restarts = 0
        self._restart_first_delay = restart_first_delay
        self._restart_max_delay = restart_max_delay
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._replayed: set[str] = set()

    def get(self, key: str) -> V | None:
        return self.values.get(key)

    async def start(self) -> None:
        """Connect and start following in the background (raises if Kafka cannot be reached)."""
        consumer, pending = await self._connect()
        self._consumer = consumer
        self._task = asyncio.create_task(self._supervise(consumer, pending), name=f"follow {self._topic.name}")

    async def _connect(self) -> tuple[AIOKafkaConsumer, dict[TopicPartition, int]]:
        """A consumer assigned every partition from the beginning, and the end offsets to load up to."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **aiokafka_options(self._settings),
        )
        try:
            await consumer.start()
            # The consumer tracks metadata only of subscribed topics; ask the cluster directly.
            cluster = await consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(self._topic.name)
            if not partitions:
                raise RuntimeError(f"topic {self._topic.name} does not exist")
            assigned = [TopicPartition(self._topic.name, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            end = await consumer.end_offsets(assigned)
        except BaseException:
            await consumer.stop()
            raise
        self._replayed = set()
        return consumer, {tp: off for tp, off in end.items() if off > 0}

    async def _supervise(self, consumer: AIOKafkaConsumer, pending: dict[TopicPartition, int]) -> None:
        """Follow; when following fails, report not loaded and reconnect with backoff."""
        pacing = Backoff(self._restart_first_delay, self._restart_max_delay)
        while True:
            try:
                await self._follow(consumer, pending)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.loaded.clear()
                self.restarts += 1
                log.exception("following %s failed; not loaded, restarting", self._topic.name)
            await self._close_consumer()
            tries = 0
            while True:
                tries += 1
                delay = pacing.delay(tries + 1)
                await asyncio.sleep(delay)
                try:
                    consumer, pending = await self._connect()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - Kafka away: try again later
                    log.warning("reconnecting to %s failed (%s); retrying", self._topic.name, type(exc).__name__)
                else:
                    self._consumer = consumer
                    log.info("following %s again (restart %d)", self._topic.name, self.restarts)
                    break

    async def _close_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except Exception:  # it is being replaced anyway
                log.debug("stopping the consumer of %s failed", self._topic.name, exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _follow(self, consumer: AIOKafkaConsumer, pending: dict[TopicPartition, int]) -> None:
        if not pending:
            self._mark_loaded()
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for tp, records in batches.items():
                for record in records:
                    self._apply(record.key, record.value)
                    if tp in pending and record.offset + 1 >= pending[tp]:
                        del pending[tp]
            if not self.loaded.is_set():
                for tp in list(pending):
                    if await consumer.position(tp) >= pending[tp]:
                        del pending[tp]
                if not pending:
                    self._mark_loaded()
                    log.info("%s loaded: %d records", self._topic.name, len(self.values))

    def _mark_loaded(self) -> None:
        """Caught up: drop keys the replay did not see (deleted while the follower was away)."""
        if self.restarts:
            for key in [k for k in self.values if k not in self._replayed]:
                del self.values[key]
                if self._on_change is not None:
                    self._on_change(key, None)
        self._replayed = set()
        self.loaded.set()

    def _apply(self, raw_key: bytes | None, raw_value: bytes | None) -> None:
        if raw_key is None:
            return
        key = raw_key.decode("utf-8", "replace")
        if not self.loaded.is_set():
            self._replayed.add(key)
        if raw_value is None or raw_value == b"":
            self.values.pop(key, None)
            value: V | None = None
        else:
            try:
                value = self._model.model_validate_json(raw_value)
            except ValidationError:
                log.warning("skipping invalid record for key %s on %s", key, self._topic.name)
                return
            self.values[key] = value
        if self._on_change is not None:
            self._on_change(key, value)

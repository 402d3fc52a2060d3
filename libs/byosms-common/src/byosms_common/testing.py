"""Helpers for byosms tests: wait for an outcome by polling to a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

T = TypeVar("T")


async def eventually(
    probe: Callable[[], T | Awaitable[T]],
    *,
    within: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call ``probe`` until it returns a truthy value and return that; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while True:
        outcome = probe()
        last = await outcome if isinstance(outcome, Awaitable) else outcome
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {within}s (last: {last!r})")
        await asyncio.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Seen:
    topic: str
    key: str
    value: bytes | None
    headers: dict[str, str]


class TopicWatcher:
    """Collects, from the beginning of some topics (or, ``from_end``, from where they end when the
    watcher starts), the records whose key is one of ``keys``."""

    def __init__(
        self, bootstrap: str, topics: list[str], keys: set[str] | None = None, *, from_end: bool = False
    ) -> None:
        # Like the platform's consumers: only what producers committed (the services write in transactions).
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
            isolation_level="read_committed",
        )
        self._topics = topics
        self._from_end = from_end
        self._keys = keys
        self.records: list[Seen] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TopicWatcher:
        await self._consumer.start()
        cluster = await self._consumer._client.fetch_all_metadata()
        partitions = [
            TopicPartition(topic, p)
            for topic in self._topics
            for p in sorted(cluster.partitions_for_topic(topic) or ())
        ]
        self._consumer.assign(partitions)
        if self._from_end:
            ends = await self._consumer.end_offsets(partitions)
            for tp, offset in ends.items():
                self._consumer.seek(tp, offset)
        else:
            await self._consumer.seek_to_beginning(*partitions)
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _run(self) -> None:
        async for record in self._consumer:
            key = record.key.decode("utf-8", "replace") if record.key else ""
            if self._keys is None or key in self._keys:
                headers = {k: v.decode("utf-8", "replace") for k, v in record.headers or ()}
                self.records.append(Seen(record.topic, key, record.value, headers))

    def on(self, topic: str) -> list[Seen]:
        return [r for r in self.records if r.topic == topic]


async def start_group_at_end(bootstrap: str, group_id: str, topics: list[str]) -> None:
    """Commit the current end offsets for a new consumer group, so a service started with that group
    skips the backlog other tests left on shared topics and sees only what this test produces."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted((await consumer._client.fetch_all_metadata()).partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit(dict(ends))
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def tcp_forwarding(port: int, target: str) -> AsyncIterator[None]:
    """Make 127.0.0.1:``port`` (refusing connections until now) forward to ``target`` (host:port)."""
    host, target_port = target.rsplit(":", 1)
    writers: list[asyncio.StreamWriter] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(target_port))
        writers.extend((writer, up_writer))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def consumer_group_members(bootstrap: str, group: str) -> tuple[str, dict[str, int]]:
    """The group's state and how many members subscribe to each topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    _, _, state, _, _, members = response.groups[0]
    per_topic: dict[str, int] = {}
    for member in members:
        for topic in ConsumerProtocolMemberMetadata.decode(member[3]).subscription:
            per_topic[topic] = per_topic.get(topic, 0) + 1
    return state, per_topic

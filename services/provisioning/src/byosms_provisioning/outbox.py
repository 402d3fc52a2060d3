"""Transactional outbox: events are written in the same transaction as the change they describe,
and a relay publishes them to Kafka in order, marking each row sent once Kafka acknowledged it.

If Kafka is down nothing is lost: rows wait in ``provisioning.outbox``. A row may be published
twice (the process dies between Kafka's ack and the mark), so consumers drop duplicates by the
envelope ``id``. One relay at a time holds an advisory lock, so replicas never reorder rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from byosms_common.kafka import HEADER_TYPE, Publisher
from byosms_common.messages import Envelope, encode
from byosms_common.topics import TopicSpec, by_name

log = logging.getLogger(__name__)

# An arbitrary constant naming the relay's advisory lock.
_RELAY_LOCK = 727_372_101


async def enqueue(conn: asyncpg.Connection, topic: TopicSpec, message: Envelope, key: str) -> None:
    """Add ``message`` to the outbox inside the caller's transaction."""
    await conn.execute(
        "INSERT INTO outbox (topic, record_key, value, message_type) VALUES ($1, $2, $3, $4)",
        topic.name,
        key,
        encode(message),
        str(getattr(message, "type", type(message).__name__)),
    )


async def enqueue_tombstone(conn: asyncpg.Connection, topic: TopicSpec, key: str) -> None:
    """Add a deletion marker for ``key`` on a compacted topic inside the caller's transaction."""
    await conn.execute(
        "INSERT INTO outbox (topic, record_key, value, message_type) VALUES ($1, $2, NULL, NULL)",
        topic.name,
        key,
    )


async def relay_once(pool: asyncpg.Pool, publisher: Publisher, batch: int = 100) -> int:
    """Publish up to ``batch`` unsent rows in order; returns how many were sent."""
    sent = 0
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
            return 0
        rows = await conn.fetch(
            "SELECT id, topic, record_key, value, message_type FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1",
            batch,
        )
        for row in rows:
            await _publish(publisher, row)
            await conn.execute("UPDATE outbox SET sent_at = now() WHERE id = $1", row["id"])
            sent += 1
    return sent


async def _publish(publisher: Publisher, row: Any) -> None:
    if row["value"] is None:
        await publisher.publish_tombstone(by_name(row["topic"]), row["record_key"])
    else:
        await publisher.publish_raw(
            row["topic"], bytes(row["value"]), row["record_key"], {HEADER_TYPE: row["message_type"]}
        )


async def run_relay(
    pool: asyncpg.Pool,
    publisher: Publisher,
    wakeup: asyncio.Event,
    stop: asyncio.Event,
    *,
    poll_seconds: float,
) -> None:
    """Relay until ``stop`` is set; a failure (Kafka or PostgreSQL down) is retried on the next round."""
    while not stop.is_set():
        wakeup.clear()
        try:
            while await relay_once(pool, publisher):
                pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure: retry next round
            log.warning("outbox relay round failed (%s); will retry", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_first(wakeup, stop), poll_seconds)


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()

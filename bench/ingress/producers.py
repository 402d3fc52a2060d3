"""The two Kafka producers alone: CPU time per record with the ingress's settings and send pattern.

    uv run python bench/ingress/producers.py [--records 20000] [--concurrency 32] [--size 600]

Each producer runs in a process of its own against BYOSMS_KAFKA_BOOTSTRAP (the test stack's broker),
on a scratch topic with 6 partitions that is deleted afterwards. Like the ingress, ``concurrency``
tasks each hand one record to the producer and wait for its acknowledgement (acks=all, idempotent,
the ingress's producer settings) before taking the next. CPU time is the process's user + system time, librdkafka's own
threads included, over the records sent. Prints one Markdown table row per producer; ``run.py``
calls :func:`measure` for its report.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

TOPIC_PARTITIONS = 6


@dataclass(frozen=True)
class ProducerFigures:
    name: str
    concurrency: int
    records: int
    seconds: float
    cpu_seconds: float

    @property
    def cpu_us_per_record(self) -> float:
        return self.cpu_seconds / self.records * 1e6

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    def row(self) -> str:
        return (
            f"| {self.name} | {self.concurrency} | {self.records} | {self.rate:,.0f} | {self.cpu_us_per_record:.1f} |"
        )


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


async def _pattern(send: Any, topic: str, records: int, concurrency: int, size: int) -> tuple[float, float]:
    """Send ``records`` with ``concurrency`` waiting senders; (wall seconds, CPU seconds)."""
    value = b"x" * size
    headers = [("content-type", b"application/json"), ("byosms-type", b"sms.inbound_received")]
    left = iter(range(records))

    async def sender() -> None:
        for n in left:  # bounded: the shared iterator runs out
            delivery = await send(topic, value, f"+1500555{n % 1000:04d}|+14155550100".encode(), headers=headers)
            await delivery

    for _ in range(200):  # warm-up: connections, metadata, producer id
        await (await send(topic, value, b"warm-up", headers=headers))
    cpu, wall = _cpu(), time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return time.perf_counter() - wall, _cpu() - cpu


async def _aiokafka(bootstrap: str, topic: str, records: int, concurrency: int, size: int) -> tuple[float, float]:
    from aiokafka import AIOKafkaProducer

    # The settings the ingress used with aiokafka (before issue 10).
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2, request_timeout_ms=15_000
    )
    await producer.start()
    try:
        return await _pattern(producer.send, topic, records, concurrency, size)
    finally:
        await producer.stop()


async def _librdkafka(bootstrap: str, topic: str, records: int, concurrency: int, size: int) -> tuple[float, float]:
    from byosms_ingress.kafka_producer import RdKafkaProducer, producer_config

    producer = RdKafkaProducer(producer_config(bootstrap, "byosms-bench-producer"))
    await producer.start()
    try:
        return await _pattern(producer.send, topic, records, concurrency, size)
    finally:
        await producer.stop(10.0)


def _child(name: str, bootstrap: str, topic: str, records: int, concurrency: int, size: int, out: Any) -> None:
    run = _aiokafka if name == "aiokafka" else _librdkafka
    out.send(asyncio.run(run(bootstrap, topic, records, concurrency, size)))


def _topic(bootstrap: str, create: bool, name: str) -> None:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})  # no notices on stderr
    futures = (
        admin.create_topics([NewTopic(name, TOPIC_PARTITIONS, 1)], operation_timeout=30)
        if create
        else admin.delete_topics([name], operation_timeout=30)
    )
    for future in futures.values():
        future.result(60)


def measure(bootstrap: str, *, records: int, concurrency: int, size: int = 600) -> list[ProducerFigures]:
    """Both producers, each in a fresh process, on one scratch topic."""
    topic = f"byosms.bench.producers.{uuid.uuid4().hex[:8]}"
    _topic(bootstrap, True, topic)
    ctx = multiprocessing.get_context("spawn")
    figures = []
    try:
        for name in ("aiokafka", "librdkafka"):
            receive, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(name, bootstrap, topic, records, concurrency, size, send))
            proc.start()
            seconds, cpu = receive.recv()
            proc.join(30)
            figures.append(ProducerFigures(name, concurrency, records, seconds, cpu))
    finally:
        _topic(bootstrap, False, topic)
    return figures


HEADER = "| producer | in flight | records | records/s | CPU µs/record |\n| --- | ---: | ---: | ---: | ---: |"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--size", type=int, default=600, help="value size in bytes")
    args = parser.parse_args()
    bootstrap = os.environ.get("BYOSMS_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    print(HEADER)
    for figures in measure(bootstrap, records=args.records, concurrency=args.concurrency, size=args.size):
        print(figures.row(), flush=True)

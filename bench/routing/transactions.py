"""What one Kafka transaction of the batch consumers costs, phase by phase (issue 10).

    uv run python bench/routing/transactions.py [--transactions 300] [--records 1,10] [--gaps 0,25]

Each batch a routing partition handles ends in one transaction of that partition's producer
(``BatchConsumer._commit``): begin, the batch's records, the consumed offset
(``send_offsets_to_transaction``), commit. This script runs such transactions one after the other on
one transactional producer with routing's settings (``linger_ms=0``, ``retry_backoff_ms=20``,
``acks=all``, idempotent), ``--records`` records of 600 bytes each, with ``--gaps`` ms between the
end of one transaction and the start of the next (0: a drain whose handler is instant; 25: about the
database work of a batch at 500 messages/s). Per phase it reports p50 and mean wall time, how many
``AddPartitionsToTxn`` requests were answered CONCURRENT_TRANSACTIONS (the previous transaction's
markers were not written yet; aiokafka then waits 20 ms), and the client's CPU (user and system) per
transaction; beside it, in the same run, one idempotent non-transactional send waited for (the
baseline: one round trip). Results go to ``bench/results/transactions.md`` (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.producer import sender as aiokafka_sender
from aiokafka.structs import OffsetAndMetadata

RESULTS = Path(__file__).resolve().parents[1] / "results" / "transactions.md"
VALUE = b"x" * 600


class ConcurrentTransactionsCount:
    """Counts AddPartitionsToTxn answers that make aiokafka back off (CONCURRENT_TRANSACTIONS)."""

    def __init__(self) -> None:
        self.count = 0
        self._original = aiokafka_sender.AddPartitionsToTxnHandler.handle_response

    def __enter__(self) -> ConcurrentTransactionsCount:
        original = self._original
        counter = self

        def handle_response(handler: Any, response: Any) -> Any:
            backoff = original(handler, response)
            if backoff is not None:
                counter.count += 1
            return backoff

        aiokafka_sender.AddPartitionsToTxnHandler.handle_response = handle_response
        return self

    def __exit__(self, *_: object) -> None:
        aiokafka_sender.AddPartitionsToTxnHandler.handle_response = self._original


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[len(ordered) // 2]:.1f} / {statistics.mean(ordered):.1f}"


async def run_case(bootstrap: str, topic: str, records: int, gap_ms: int, transactions: int) -> list[str]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=f"bench-txn-{uuid.uuid4().hex}",
        linger_ms=0,
        retry_backoff_ms=20,
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    group = f"bench-txn-{uuid.uuid4().hex[:8]}"
    phases: dict[str, list[float]] = {"records": [], "offsets": [], "commit": [], "total": []}
    warm_up = min(20, transactions // 5)
    try:
        with ConcurrentTransactionsCount() as concurrent:
            for i in range(transactions + warm_up):
                if i == warm_up:
                    concurrent.count = 0
                    cpu_before = os.times()
                started = time.perf_counter()
                await producer.begin_transaction()
                futures = [await producer.send(topic, VALUE, b"k") for _ in range(records)]
                await asyncio.gather(*futures)
                sent = time.perf_counter()
                offsets = {TopicPartition(topic, 0): OffsetAndMetadata(i + 1, "")}
                await producer.send_offsets_to_transaction(offsets, group)
                added = time.perf_counter()
                await producer.commit_transaction()
                done = time.perf_counter()
                if i >= warm_up:
                    phases["records"].append((sent - started) * 1000)
                    phases["offsets"].append((added - sent) * 1000)
                    phases["commit"].append((done - added) * 1000)
                    phases["total"].append((done - started) * 1000)
                if gap_ms:
                    await asyncio.sleep(gap_ms / 1000)
            cpu_after = os.times()
            retries = concurrent.count
    finally:
        await producer.stop()
    user = (cpu_after.user - cpu_before.user) / transactions * 1e6
    system = (cpu_after.system - cpu_before.system) / transactions * 1e6
    return [
        f"| {records} | {gap_ms} | {summary(phases['records'])} | {summary(phases['offsets'])} | "
        f"{summary(phases['commit'])} | {summary(phases['total'])} | {retries} of {transactions} | "
        f"{user:,.0f} / {system:,.0f} |"
    ]


async def plain_send(bootstrap: str, topic: str, count: int) -> str:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all", enable_idempotence=True)
    await producer.start()
    times: list[float] = []
    try:
        cpu_before = os.times()
        for _ in range(count):
            started = time.perf_counter()
            await (await producer.send(topic, VALUE, b"k"))
            times.append((time.perf_counter() - started) * 1000)
        cpu_after = os.times()
    finally:
        await producer.stop()
    user = (cpu_after.user - cpu_before.user) / count * 1e6
    system = (cpu_after.system - cpu_before.system) / count * 1e6
    return f"{summary(times)} ms, client CPU {user:,.0f} / {system:,.0f} µs"


async def main(args: argparse.Namespace) -> int:
    bootstrap = os.environ.get("BYOSMS_KAFKA_BOOTSTRAP")
    if not bootstrap:
        print('set BYOSMS_KAFKA_BOOTSTRAP: eval "$(uv run byosms-stack up --test)"', file=sys.stderr)
        return 2
    topic = f"bench-txn-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    await asyncio.sleep(1)  # the new partition's leader is known to every client
    rows: list[str] = []
    for records in args.records:
        for gap in args.gaps:
            rows += await run_case(bootstrap, topic, records, gap, args.transactions)
    baseline = await plain_send(bootstrap, topic, args.transactions)
    command = "uv run python bench/routing/transactions.py " + " ".join(sys.argv[1:])
    text = "\n".join(
        [
            "# One Kafka transaction of the batch consumers, phase by phase",
            "",
            f"Command: `{command.strip()}` (from the repository root, Kafka at {bootstrap}).",
            f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {os.cpu_count()} cores, loopback"
            f" only, Kafka and this script share it; load average at the end: {os.getloadavg()[0]:.1f}.",
            "",
            "Wall time in ms, p50 / mean; CPU of this client per transaction (user / system, µs).",
            "",
            "| records | gap ms | records sent and acknowledged | offsets added | commit | whole transaction | "
            "CONCURRENT_TRANSACTIONS answers | client CPU µs |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            f"Baseline in the same run: one idempotent send, not transactional, acknowledged: {baseline}.",
            "",
        ]
    )
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")
    return 0


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--records", type=_ints, default=[1, 10])
    parser.add_argument("--gaps", type=_ints, default=[0, 25])
    parser.add_argument("--no-write", action="store_true")
    sys.exit(asyncio.run(main(parser.parse_args())))

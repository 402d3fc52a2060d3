"""Routing drain benchmark: how fast ``byosms-routing`` processes work off a backlog, over the real broker.

    uv run python bench/routing/run.py [--events 100000] [--processes 1,2,4] [--kinds inbound,reports]
                                       [--timeout 60]

Two kinds of backlog, each drained separately by 1, 2 and 4 routing processes (own OS processes,
started from the console script, like a deployment):
- ``inbound``: ``InboundMessageReceived`` on ``byosms.sms.inbound.v1`` keyed ``<to>|<from>``, five
  messages per conversation, conversations spread over every partition, every message routable (an
  active integration on ``integrations.state.v1``, active numbers on ``numbers.state.v1``);
- ``reports``: ``DeliveryReportReceived`` on ``byosms.sms.delivery-reports.v1`` keyed MessageSid,
  queued, sent and delivered per message; 90% of the messages are known to routing (rows inserted
  into ``routing.outbound_messages`` beforehand, accepted with status queued), the rest are unknown.

Each drain uses a fresh consumer group whose offsets are committed at the current end of routing's
input topics *before* the backlog is produced, so earlier runs' records are not counted. The clock
runs from the group's first commit to the moment it has committed up to the end of the backlog (lag
0); routing publishes before it commits, so by then every routed or status event is on
``byosms.sms.message-events.v1``, which is read back afterwards (not during the drain, so the reader
takes no CPU from routing) to count them. CPU time of the routing processes (utime + stime from
/proc, from each process's readiness to the end) per event is the steadier figure on a shared
machine. A drain that does not finish within ``--timeout`` is reported with what it reached.
Results go to bench/results/routing.md.

Load goes to 127.0.0.1 only. Routing logs at WARNING here (it logs nothing per routed message at
INFO either; only discards and unknown reports).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.testing import start_group_at_end

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/shared.py
from shared import bench_database, cpu_seconds, postgres_cpu_seconds, postmaster_pid, write_results

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "routing.md"
ROUTING_INPUTS = [topics.INBOUND_MESSAGES.name, topics.OUTBOUND_COMMANDS.name, topics.DELIVERY_REPORTS.name]
MATCHED_SHARE = 0.9  # share of delivery-report messages routing knows
STATUSES = ("queued", "sent", "delivered")
EVENT_ID = re.compile(rb'^\{"id":"([^"]+)"')
OUTBOUND_COLUMNS = [
    "organization_id", "message_id", "command_id", "sender", "recipient", "integration_id", "state",
    "message_sid", "twilio_status",
]  # fmt: skip
TARGET_RATE, GOAL_RATE = 5_000, 10_000
PRODUCE_TIMEOUT_S = 300.0
READY_TIMEOUT_S = 120.0
READ_BACK_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------------ fixture


@dataclass(frozen=True)
class Fixture:
    """One tenant with an active integration and a few active numbers, unique to this invocation."""

    organization_id: str
    integration_id: str
    account_sid: str
    numbers: tuple[str, ...]

    @classmethod
    def new(cls, count: int = 24) -> Fixture:
        tag = uuid.uuid4().hex[:8]
        base = secrets.randbelow(9_000_000 - count) + 1_000_000
        return cls(
            organization_id=f"org-bench-routing-{tag}",
            integration_id=f"int-bench-routing-{tag}",
            account_sid="AC" + uuid.uuid4().hex,
            numbers=tuple(f"+1415{base + i:07d}" for i in range(count)),
        )

    def state_records(self) -> Iterator[tuple[str, bytes, bytes]]:
        """(topic, key, value) that make this tenant's inbound messages routable."""
        state = m.IntegrationState(
            organization_id=self.organization_id,
            payload=m.IntegrationStatePayload(
                integration_id=self.integration_id,
                account_sid=self.account_sid,
                region="us-east-1",
                status=m.IntegrationStatus.ACTIVE,
                version=1,
                default_routing_target="queue-bench",
            ),
        )
        yield topics.INTEGRATION_STATE.name, self.integration_id.encode(), m.encode(state)
        for number in self.numbers:
            record = m.NumberStateRecord(
                organization_id=self.organization_id,
                payload=m.NumberStatePayload(
                    number=m.ImportedNumber(
                        address=number,
                        number_type=m.NumberType.LOCAL,
                        country="US",
                        twilio_sid="PN" + uuid.uuid4().hex,
                        integration_id=self.integration_id,
                    ),
                    state=m.NumberState.ACTIVE,
                    version=1,
                ),
            )
            yield topics.NUMBER_STATE.name, number.encode(), m.encode(record)


def _sid(tag: str, i: int) -> str:
    return f"SM{tag}{i:024x}"  # 34 characters like a real MessageSid; the tag marks this drain


def _customer(i: int) -> str:
    return f"+1646{i % 10_000_000:07d}"


def inbound_backlog(fx: Fixture, n: int, tag: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of ``n`` inbound messages, five per conversation, in conversation order."""
    conversations = max(1, n // 5)
    received_at = datetime.now(UTC)
    backlog = []
    for i in range(n):
        c = i % conversations
        to, sender, sid = fx.numbers[c % len(fx.numbers)], _customer(c), _sid(tag, i)
        raw = {
            "ToCountry": ["US"], "SmsMessageSid": [sid], "NumMedia": ["0"], "SmsSid": [sid],
            "SmsStatus": ["received"], "Body": [f"bench message {i}"], "To": [to], "NumSegments": ["1"],
            "MessageSid": [sid], "AccountSid": [fx.account_sid], "From": [sender], "ApiVersion": ["2010-04-01"],
        }  # fmt: skip
        event = m.InboundMessageReceived(
            id=sid,
            occurred_at=received_at,
            organization_id=fx.organization_id,
            payload=m.InboundMessagePayload.model_validate(
                {
                    "message_sid": sid,
                    "account_sid": fx.account_sid,
                    "from": sender,
                    "to": to,
                    "body": f"bench message {i}",
                    "region": "us-east-1",
                    "integration_id": fx.integration_id,
                    "received_at": received_at,
                    "raw": raw,
                }
            ),
        )
        backlog.append((f"{to}|{sender}".encode(), m.encode(event)))
    return backlog


def report_backlog(fx: Fixture, messages: int, tag: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of queued, sent and delivered for each message: all queued first, then all sent,
    then all delivered, as Twilio's callbacks for a burst of sends arrive (one key keeps its order)."""
    received_at = datetime.now(UTC)
    backlog = []
    for status in STATUSES:
        for i in range(messages):
            sid = _sid(tag, i)
            sender, recipient = fx.numbers[i % len(fx.numbers)], _customer(i)
            raw = {
                "SmsSid": [sid], "SmsStatus": [status], "MessageStatus": [status], "To": [recipient],
                "MessageSid": [sid], "AccountSid": [fx.account_sid], "From": [sender], "ApiVersion": ["2010-04-01"],
            }  # fmt: skip
            event = m.DeliveryReportReceived(
                id=f"{sid}:{status}",
                occurred_at=received_at,
                organization_id=fx.organization_id,
                payload=m.DeliveryReportPayload.model_validate(
                    {
                        "message_sid": sid,
                        "account_sid": fx.account_sid,
                        "status": status,
                        "from": sender,
                        "to": recipient,
                        "region": "us-east-1",
                        "integration_id": fx.integration_id,
                        "received_at": received_at,
                        "raw": raw,
                    }
                ),
            )
            backlog.append((sid.encode(), m.encode(event)))
    return backlog


async def insert_known_messages(conn: asyncpg.Connection, fx: Fixture, matched: int, tag: str) -> None:
    """Outbound messages Twilio accepted (status queued), as routing records them after a send."""
    rows = [
        (
            fx.organization_id,
            f"bench-{tag}-{i}",
            f"cmd-{tag}-{i}",
            fx.numbers[i % len(fx.numbers)],
            _customer(i),
            fx.integration_id,
            "accepted",
            _sid(tag, i),
            "queued",
        )
        for i in range(matched)
    ]
    await conn.copy_records_to_table(
        "outbound_messages",
        schema_name="routing",
        columns=OUTBOUND_COLUMNS,
        records=rows,
    )


async def _migrate(url: str) -> None:
    """Routing's tables, before the first drain inserts into them (routing would create them at start)."""
    from byosms_common import db

    pool = await db.create_pool(url, "routing", min_size=1, max_size=1)
    try:
        await db.apply_migrations(pool, "routing", db.load_migrations("byosms_routing"))
    finally:
        await pool.close()


async def delete_fixture_rows(conn: asyncpg.Connection, fx: Fixture) -> None:
    for table in ("inbound_decisions", "delivery_reports", "outbound_messages"):
        await conn.execute(f"DELETE FROM routing.{table} WHERE organization_id = $1", fx.organization_id)  # noqa: S608 - fixed table names


def expected_status_events(matched: int) -> int:
    """MessageStatusChanged per known message: each report that moves the status (see delivery_status)."""
    from byosms_routing.delivery_status import next_status

    moves, status = 0, "queued"
    for reported in STATUSES:
        moved = next_status(status, reported)
        if moved is not None:
            moves, status = moves + 1, moved
    return moves * matched


# ------------------------------------------------------------------------------------------ kafka


async def produce(producer: AIOKafkaProducer, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Send everything, waiting for acknowledgements per chunk rather than per record."""
    chunk = 5000
    for start in range(0, len(records), chunk):
        futures = [await producer.send(topic, value, key=key) for key, value in records[start : start + chunk]]
        await asyncio.gather(*futures)


async def end_offsets(consumer: AIOKafkaConsumer, topic: topics.TopicSpec) -> dict[TopicPartition, int]:
    partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
    return dict(await consumer.end_offsets(partitions))


async def committed(admin: AIOKafkaAdminClient, group: str, topic: str) -> dict[TopicPartition, int]:
    offsets = await admin.list_consumer_group_offsets(group)
    return {tp: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}


def remaining(target: dict[TopicPartition, int], done: dict[TopicPartition, int]) -> int:
    return sum(max(0, end - done.get(tp, 0)) for tp, end in target.items())


async def read_back(
    consumer: AIOKafkaConsumer, start: dict[TopicPartition, int], tag: bytes
) -> tuple[dict[str, int], int]:
    """Events on message-events between ``start`` and the current end that belong to this drain:
    counts by type of the distinct event ids, and how many records repeated an id."""
    end = dict(await consumer.end_offsets(list(start)))
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    seen: dict[bytes, bytes] = {}
    repeats = 0
    pending = {tp for tp in start if end[tp] > start[tp]}
    deadline = time.monotonic() + READ_BACK_TIMEOUT_S
    while pending and time.monotonic() < deadline:
        batches = await consumer.getmany(*pending, timeout_ms=500, max_records=10_000)
        for tp, records in batches.items():
            for record in records:
                value = record.value or b""
                if record.offset >= end[tp] or tag not in value:
                    continue
                match = EVENT_ID.match(value)
                event_id = match.group(1) if match else value
                if event_id in seen:
                    repeats += 1
                else:
                    seen[event_id] = _event_type(value)
        # Positions, not record offsets: transaction markers take offsets no record carries.
        pending = {tp for tp in pending if await consumer.position(tp) < end[tp]}
    by_type: dict[str, int] = {}
    for kind in seen.values():
        name = kind.decode()
        by_type[name] = by_type.get(name, 0) + 1
    return by_type, repeats


def _event_type(value: bytes) -> bytes:
    for kind in (b"sms.inbound_routed", b"sms.inbound_discarded", b"sms.status_changed"):
        if b'"type":"' + kind + b'"' in value:
            return kind
    return b"other"


# ------------------------------------------------------------------------------------------ processes


@dataclass
class Routing:
    """One ``byosms-routing`` process and when it became ready."""

    process: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]
    ready_at: float | None = None
    cpu_from: float | None = None  # CPU seconds when it started to count


def start_routing(binary: str, group: str, log_dir: str, index: int, env: dict[str, str]) -> Routing:
    port = _free_port()
    log = (Path(log_dir) / f"routing-{group}-{index}.log").open("wb")  # closed in stop_routing
    process_env = {**env, "BYOSMS_ROUTING_PORT": str(port), "BYOSMS_ROUTING_CONSUMER_GROUP": group}
    process = subprocess.Popen([binary], env=process_env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)  # noqa: S603 - our console script
    return Routing(process, port, log)


def stop_routing(processes: list[Routing]) -> None:
    for routing in processes:
        if routing.process.poll() is None:
            routing.process.terminate()
    for routing in processes:
        try:
            routing.process.wait(30)
        except subprocess.TimeoutExpired:
            routing.process.kill()
            routing.process.wait(10)
        routing.log.close()


async def _ready(session: aiohttp.ClientSession, routing: Routing) -> bool:
    try:
        async with session.get(f"http://127.0.0.1:{routing.port}/readyz") as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


# ------------------------------------------------------------------------------------------ one drain


@dataclass
class Drain:
    kind: str
    processes: int
    events: int
    drained: int = 0  # committed after the group's first commit
    committed: int = 0  # committed in all (the CPU paid for these)
    seconds: float = 0.0  # from the group's first commit to lag 0 (or to the timeout)
    wall_from_ready: float = 0.0  # from the first process's readiness to lag 0
    cpu_seconds: float = 0.0
    postgres_cpu_seconds: float | None = None  # the server's CPU over the same time (all its databases)
    finished: bool = False
    out: dict[str, int] = field(default_factory=dict)
    expected_out: int = 0
    repeats: int = 0
    note: str = ""

    @property
    def rate(self) -> float:
        return self.drained / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu_seconds / self.committed * 1e6 if self.committed else float("nan")

    @property
    def postgres_us_per_event(self) -> float:
        if self.postgres_cpu_seconds is None or not self.committed:
            return float("nan")
        return self.postgres_cpu_seconds / self.committed * 1e6


async def drain(kind: str, count: int, n: int, fx: Fixture, args: argparse.Namespace, env: dict[str, str]) -> Drain:
    bootstrap = env["BYOSMS_KAFKA_BOOTSTRAP"]
    tag = uuid.uuid4().hex[:8]
    group = f"bench-routing-{kind}-{count}-{tag}"
    spec = topics.INBOUND_MESSAGES if kind == "inbound" else topics.DELIVERY_REPORTS
    topic = spec.name
    await start_group_at_end(bootstrap, group, ROUTING_INPUTS)

    result = Drain(kind, count, n)
    if kind == "inbound":
        backlog = inbound_backlog(fx, n, tag)
        result.expected_out = n
    else:
        messages = n // len(STATUSES)
        matched = int(messages * MATCHED_SHARE)
        conn = await asyncpg.connect(env["BYOSMS_DATABASE_URL"])
        try:
            await insert_known_messages(conn, fx, matched, tag)
            # As autovacuum would have by the time a real table holds this many rows.
            await conn.execute("ANALYZE routing.outbound_messages")
        finally:
            await conn.close()
        backlog = report_backlog(fx, messages, tag)
        result.events = len(backlog)
        result.expected_out = expected_status_events(matched)

    # What a platform consumer sees: committed output only (routing may publish in Kafka transactions).
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, isolation_level="read_committed"
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=256 * 1024
    )
    await reader.start()
    await admin.start()
    await producer.start()
    processes: list[Routing] = []
    try:
        out_start = await end_offsets(reader, topics.MESSAGE_EVENTS)
        await asyncio.wait_for(produce(producer, topic, backlog), PRODUCE_TIMEOUT_S)
        del backlog
        target = await end_offsets(reader, spec)
        start = await committed(admin, group, topic)
        total = remaining(target, start)  # the backlog, plus whatever another client produced meanwhile

        processes = [start_routing(args.routing, group, args.log_dir, i, env) for i in range(count)]
        await _measure(result, processes, admin, group, topic, target, total, args.timeout, args.postmaster)
        result.out, result.repeats = await read_back(reader, out_start, tag.encode())
    finally:
        stop_routing(processes)
        await producer.stop()
        await admin.close()
        await reader.stop()
    return result


async def _measure(
    result: Drain,
    processes: list[Routing],
    admin: AIOKafkaAdminClient,
    group: str,
    topic: str,
    target: dict[TopicPartition, int],
    total: int,
    limit_s: float,
    postmaster: int | None = None,
) -> None:
    """Poll readiness and the group's commits until lag 0, or ``limit_s`` after the first process was
    ready or the group's first commit, whichever came first.

    Each process's CPU is counted from its readiness, or from the group's first commit if that came
    earlier (a process still starting then has the rest of its start-up counted: conservative)."""
    first_ready: float | None = None
    first_commit: float | None = None
    done_at_first_commit = 0
    done = 0
    pg_from: float | None = None
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
        while time.monotonic() < deadline:
            for routing in processes:
                if routing.process.poll() is not None:
                    code = routing.process.returncode
                    raise RuntimeError(f"a routing process exited with {code}; see {routing.log.name}")
                if routing.ready_at is None and await _ready(session, routing):
                    routing.ready_at = time.monotonic()
                    if routing.cpu_from is None:
                        routing.cpu_from = cpu_seconds(routing.process.pid)
                    if first_ready is None:
                        first_ready = routing.ready_at
                        if postmaster is not None and pg_from is None:
                            pg_from = postgres_cpu_seconds(postmaster)
                        if first_commit is None:
                            deadline = first_ready + limit_s
            done = total - remaining(target, await committed(admin, group, topic))
            if done > 0 and first_commit is None:
                first_commit, done_at_first_commit = time.monotonic(), done
                if postmaster is not None and pg_from is None:
                    pg_from = postgres_cpu_seconds(postmaster)
                for routing in processes:
                    if routing.cpu_from is None:
                        routing.cpu_from = cpu_seconds(routing.process.pid)
                if first_ready is None:
                    deadline = first_commit + limit_s
            if done >= total:
                break
            await asyncio.sleep(0.1)
    end = time.monotonic()
    if first_ready is None and first_commit is None:
        raise RuntimeError(f"no routing process was ready within {READY_TIMEOUT_S:.0f}s")
    result.finished = done >= total
    result.drained = done - done_at_first_commit
    result.seconds = end - first_commit if first_commit is not None else 0.0
    result.wall_from_ready = end - first_ready if first_ready is not None else float("nan")
    result.committed = done
    result.cpu_seconds = sum(cpu_seconds(r.process.pid) - r.cpu_from for r in processes if r.cpu_from is not None)
    if postmaster is not None and pg_from is not None:
        result.postgres_cpu_seconds = postgres_cpu_seconds(postmaster) - pg_from
    if not result.finished:
        result.note = f"stopped after {limit_s:.0f}s: {done:,} of {total:,} committed"


# ------------------------------------------------------------------------------------------ report


def _row(d: Drain) -> str:
    got = sum(v for k, v in d.out.items() if k in ("sms.inbound_routed", "sms.status_changed"))
    status = "drained" if d.finished else "**partial**"
    return (
        f"| {d.kind} | {d.processes} | {d.events:,} | {status} | {d.drained:,} | {d.seconds:.1f} | "
        f"{d.wall_from_ready:.1f} | "
        f"{d.rate:,.0f} | {d.cpu_us_per_event:,.0f} | {d.postgres_us_per_event:,.0f} | "
        f"{got:,} / {d.expected_out:,} | {d.repeats} |"
    )


def report(drains: list[Drain], args: argparse.Namespace, started: str) -> str:
    lines = [
        "# Routing drain benchmark",
        "",
        f"Command: `{f'uv run python bench/routing/run.py {shlex.join(sys.argv[1:])}'.strip()}`"
        f" (from the repository root, Kafka at {os.environ.get('BYOSMS_KAFKA_BOOTSTRAP')}, the test stack).",
        f"Date: {started}; machine: {os.cpu_count()} cores, loopback only; routing processes, Kafka, PostgreSQL "
        "and this script share the machine.",
        "",
        "| backlog | processes | events | outcome | drained (after 1st commit) | seconds | s from 1st ready | "
        "events/s | CPU µs/event (routing) | CPU µs/event (PostgreSQL) | events out / expected | repeated ids |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(_row(d) for d in drains),
        "",
    ]
    for kind in ("inbound", "reports"):
        of_kind = [d for d in drains if d.kind == kind and d.rate > 0]
        one = next((d for d in of_kind if d.processes == 1), None)
        if one is None:
            continue
        scaling = ", ".join(f"{d.processes}: {d.rate / one.rate:.2f}×" for d in of_kind)
        verdict = "goal met" if one.rate >= GOAL_RATE else "target met" if one.rate >= TARGET_RATE else "**not met**"
        lines.append(
            f"- {kind}: **{one.rate:,.0f} events/s** with one process (target ≥ {TARGET_RATE:,}, goal"
            f" {GOAL_RATE:,}: {verdict}); rate relative to one process: {scaling}."
        )
    lines += [
        "- events/s: events committed from the group's first commit to lag 0, divided by that time (the group"
        ' join before the first commit is not in it; "s from 1st ready" has it). CPU µs/event: utime + stime'
        " of all routing processes from their readiness (or the first commit), over all events they committed;"
        " PostgreSQL's: the whole server (postmaster and all its processes) over the same time, per event"
        " (blank when the server is not on this machine).",
        "- events out: distinct routed (inbound) or status-changed (reports) events of this drain on"
        " byosms.sms.message-events.v1, read back after the drain; reports expect one per status that moves"
        f" ({', '.join(STATUSES)} on messages accepted as queued; {1 - MATCHED_SHARE:.0%} of the messages are"
        " unknown to routing and move nothing).",
        "- repeated ids: records of this drain whose event id was seen before. The broker is shared: routing"
        " instances of tests running at the same time (their own groups, another database) may also route"
        " this backlog, and what they publish is counted here too.",
        "",
    ]
    for d in drains:
        if d.note:
            lines.append(f"- {d.kind}, {d.processes} process(es): {d.note}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ main


async def _env() -> dict[str, str]:
    if not os.environ.get("BYOSMS_KAFKA_BOOTSTRAP") or not os.environ.get("BYOSMS_DATABASE_URL"):
        raise SystemExit('set BYOSMS_KAFKA_BOOTSTRAP and BYOSMS_DATABASE_URL: eval "$(uv run byosms-stack up --test)"')
    env = {k: v for k, v in os.environ.items() if k != "BYOSMS_OTLP_ENDPOINT"}
    return {
        **env,
        "BYOSMS_DATABASE_URL": await bench_database(env["BYOSMS_DATABASE_URL"]),
        # Nothing leaves loopback: a send routing might attempt goes to a closed local port.
        "BYOSMS_TWILIO_API_BASE": "http://127.0.0.1:9",
        "BYOSMS_ROUTING_SEND_RETRY_SECONDS": "0",
        # Routing refuses to start without key-encryption keys; this one seals nothing here.
        "BYOSMS_KEKS": '{"bench": "' + base64.b64encode(secrets.token_bytes(32)).decode() + '"}',
        "BYOSMS_ACTIVE_KEK": "bench",
        "BYOSMS_LOG_LEVEL": "WARNING",
        "BYOSMS_LOG_FORMAT": "json",
    }


async def main(args: argparse.Namespace) -> int:
    env = await _env()
    await _migrate(env["BYOSMS_DATABASE_URL"])
    args.postmaster = await postmaster_pid(env["BYOSMS_DATABASE_URL"])
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    fx = Fixture.new()
    producer = AIOKafkaProducer(bootstrap_servers=env["BYOSMS_KAFKA_BOOTSTRAP"], acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic, key, value in fx.state_records():
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()

    drains: list[Drain] = []
    try:
        for kind in args.kinds:
            for count in args.processes:
                result = await drain(kind, count, args.events, fx, args, env)
                drains.append(result)
                print(_row(result), flush=True)
    finally:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            conn = await asyncpg.connect(env["BYOSMS_DATABASE_URL"])
            try:
                await delete_fixture_rows(conn, fx)
            finally:
                await conn.close()
    text = report(drains, args, started)
    write_results(RESULTS, text, args.earlier)
    print(text)
    return 0 if all(d.drained > 0 for d in drains) else 1


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _kinds(text: str) -> list[str]:
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(kinds) - {"inbound", "reports"}
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown kind(s): {', '.join(sorted(unknown))}")
    return kinds


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events per backlog")
    parser.add_argument("--processes", type=_ints, default=[1, 2, 4], help="routing process counts, e.g. 1,2,4")
    parser.add_argument("--kinds", type=_kinds, default=["inbound", "reports"], help="inbound,reports")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a drain may take after readiness")
    parser.add_argument(
        "--routing",
        default=str(Path(sys.executable).parent / "byosms-routing"),
        help="the routing console script to run (default: this workspace's; another checkout's for a before figure)",
    )
    parser.add_argument(
        "--earlier",
        metavar="HEADING",
        help='file this run under "Earlier figures" with this heading (e.g. a before figure) instead of as current',
    )
    parser.add_argument("--log-dir", default=None, help="where routing's logs go (default: a temporary folder)")
    parsed = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp:
        parsed.log_dir = parsed.log_dir or tmp
        sys.exit(asyncio.run(main(parsed)))

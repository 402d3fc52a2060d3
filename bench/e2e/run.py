"""End-to-end benchmark: signed webhooks through ingress → Kafka → routing → the routed event read back.

    uv run python bench/e2e/run.py [--rates 250,500,1000] [--seconds 60] [--drain-timeout 30]

``byosms-ingress`` and ``byosms-routing`` run as their own processes (console scripts) on the test
stack's broker and PostgreSQL. This script posts Twilio-signed inbound webhooks (signed before the
clock starts, like bench/ingress) at each fixed rate for ``--seconds`` in an open loop, and reads
``byosms.sms.message-events.v1`` (read_committed, like a platform consumer) for the
``InboundMessageRouted`` of each MessageSid. Latency is from just before the POST to the moment the
routed event is read back here; a message not routed within ``--drain-timeout`` after the last send
counts as slower than every routed one. Also reported: the achieved send rate, non-200 answers, and
CPU time (utime + stime from /proc) of the ingress and routing processes per message. The PNG plots
p50/p95/p99 against the rate. Results go to bench/results/e2e.md and e2e.png.

Load goes to 127.0.0.1 only and stops by itself. Routing gets a database of its own on the same
PostgreSQL server (see bench/routing/run.py for why) and a fresh consumer group, committed at the
end of its input topics before the first webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import math
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlencode

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.crypto import Keyring, associated_data, seal
from byosms_common.regions import DEFAULT_REGIONS
from byosms_common.testing import start_group_at_end

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/shared.py
from shared import bench_database, cpu_seconds, write_results

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "e2e.md"
PLOT = REPO / "bench" / "results" / "e2e.png"
REGION = DEFAULT_REGIONS["us-east-1"]
ROUTING_INPUTS = [topics.INBOUND_MESSAGES.name, topics.OUTBOUND_COMMANDS.name, topics.DELIVERY_REPORTS.name]
TARGET_RATE, TARGET_P99_MS = 500, 100.0
INBOUND_SID = re.compile(rb'^\{"id":"(SM[0-9a-f]{32})"')
ROUTED_SID = re.compile(rb'"type":"sms\.inbound_routed".*?"message_sid":"(SM[0-9a-f]{32})"')
READY_TIMEOUT_S = 120.0
WARM_UP = 100
SEND_SLACK = 1.5  # a rate's sending stops at 1.5 times its planned length, sent or not


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------------ fixture


@dataclass(frozen=True)
class Tenant:
    """One tenant with an active integration (its auth token sealed) and a few active numbers."""

    organization_id: str
    integration_id: str
    account_sid: str
    auth_token: str
    numbers: tuple[str, ...]

    @classmethod
    def new(cls, count: int = 24) -> Tenant:
        tag = uuid.uuid4().hex[:8]
        base = secrets.randbelow(9_000_000 - count) + 1_000_000
        return cls(
            organization_id=f"org-bench-e2e-{tag}",
            integration_id=f"int-bench-e2e-{tag}",
            account_sid="AC" + uuid.uuid4().hex,
            auth_token=secrets.token_hex(16),
            numbers=tuple(f"+1415{base + i:07d}" for i in range(count)),
        )

    def state_records(self, keyring: Keyring) -> list[tuple[str, bytes, bytes]]:
        sealed = seal(
            keyring, self.auth_token, associated_data(self.organization_id, self.integration_id, "auth_token")
        )
        state = m.IntegrationState(
            organization_id=self.organization_id,
            payload=m.IntegrationStatePayload(
                integration_id=self.integration_id,
                account_sid=self.account_sid,
                auth_token=sealed,
                region=REGION.id,
                status=m.IntegrationStatus.ACTIVE,
                version=1,
                default_routing_target="queue-bench",
            ),
        )
        records = [(topics.INTEGRATION_STATE.name, self.integration_id.encode(), m.encode(state))]
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
            records.append((topics.NUMBER_STATE.name, number.encode(), m.encode(record)))
        return records


@dataclass(frozen=True)
class Webhook:
    sid: str
    body: bytes
    headers: dict[str, str]


def sign_webhooks(tenant: Tenant, n: int) -> list[Webhook]:
    """``n`` inbound-message webhooks, signed as Twilio signs them (over the region's public URL)."""
    from multidict import MultiDict
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(tenant.auth_token)
    webhooks = []
    for i in range(n):
        sid = "SM" + uuid.uuid4().hex
        to, sender = tenant.numbers[i % len(tenant.numbers)], f"+1646{secrets.randbelow(10**7):07d}"
        params = [
            ("ToCountry", "US"), ("SmsMessageSid", sid), ("NumMedia", "0"), ("SmsSid", sid),
            ("SmsStatus", "received"), ("Body", f"bench message {i}"), ("To", to), ("NumSegments", "1"),
            ("MessageSid", sid), ("AccountSid", tenant.account_sid), ("From", sender), ("ApiVersion", "2010-04-01"),
        ]  # fmt: skip
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(REGION.inbound_url, MultiDict(params)),
        }
        webhooks.append(Webhook(sid, urlencode(params).encode(), headers))
    return webhooks


# ------------------------------------------------------------------------------------------ processes


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


def start_service(name: str, binary: str, env: dict[str, str], log_dir: str) -> Service:
    port = _free_port()
    prefix = "BYOSMS_INGRESS_" if name == "ingress" else "BYOSMS_ROUTING_"
    log = (Path(log_dir) / f"{name}-{port}.log").open("wb")  # closed in Service.stop
    process = subprocess.Popen(  # noqa: S603 - our console script
        [binary], env={**env, prefix + "PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
    )
    return Service(name, process, port, log)


async def wait_ready(services: list[Service]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = list(services)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
        while waiting:
            for service in list(waiting):
                if service.process.poll() is not None:
                    raise RuntimeError(
                        f"{service.name} exited with {service.process.returncode}; see {service.log.name}"
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(service.base + "/readyz") as response:
                        if response.status == 200:
                            waiting.remove(service)
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready within {READY_TIMEOUT_S:.0f}s: {', '.join(s.name for s in waiting)}")
            await asyncio.sleep(0.2)


async def start_routing(bin_dir: Path, env: dict[str, str], log_dir: str) -> Service:
    group = f"bench-e2e-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(env["BYOSMS_KAFKA_BOOTSTRAP"], group, ROUTING_INPUTS)
    return start_service(
        "routing", str(bin_dir / "byosms-routing"), {**env, "BYOSMS_ROUTING_CONSUMER_GROUP": group}, log_dir
    )


# ------------------------------------------------------------------------------------------ measuring


class RoutedReader:
    """Reads, from their current ends, the inbound topic and message-events and notes for each awaited
    MessageSid the timestamps (CreateTime, set by the producing service) of its inbound record and of
    its routed event, and when the routed event was read here."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, isolation_level="read_committed"
        )
        self.awaited: set[bytes] = set()
        self.arrived: dict[bytes, float] = {}  # perf_counter when read
        self.inbound_at: dict[bytes, float] = {}  # epoch seconds: the ingress produced the inbound record
        self.routed_at: dict[bytes, float] = {}  # epoch seconds: routing produced the routed event
        self.arrived_wall: dict[bytes, float] = {}
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        partitions = [
            TopicPartition(spec.name, p)
            for spec in (topics.MESSAGE_EVENTS, topics.INBOUND_MESSAGES)
            for p in range(spec.partitions)
        ]
        self._consumer.assign(partitions)
        for tp, offset in (await self._consumer.end_offsets(partitions)).items():
            self._consumer.seek(tp, offset)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            now, wall = time.perf_counter(), time.time()
            for tp, records in batches.items():
                inbound = tp.topic == topics.INBOUND_MESSAGES.name
                for record in records:
                    match = (INBOUND_SID.match if inbound else ROUTED_SID.search)(record.value or b"")
                    if not match or match.group(1) not in self.awaited:
                        continue
                    sid = match.group(1)
                    if inbound:
                        self.inbound_at.setdefault(sid, record.timestamp / 1000)
                    elif sid not in self.arrived:
                        self.arrived[sid], self.arrived_wall[sid] = now, wall
                        self.routed_at[sid] = record.timestamp / 1000
                        self._progress.set()

    async def wait_for(self, sids: list[bytes], timeout_s: float) -> None:
        """Until every one of ``sids`` arrived, or ``timeout_s``."""
        missing = [sid for sid in sids if sid not in self.arrived]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while missing:
                    await self._progress.wait()
                    self._progress.clear()
                    missing = [sid for sid in missing if sid not in self.arrived]


@dataclass
class Phase:
    rate: int
    sent: int = 0
    seconds: float = 0.0
    non_200: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # inf for a message never routed
    stages_ms: dict[str, list[float]] = field(default_factory=dict)  # of the routed messages
    cpu_us: dict[str, float] = field(default_factory=dict)

    @property
    def achieved(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def routed(self) -> int:
        return sum(1 for latency in self.latencies_ms if math.isfinite(latency))

    def pct(self, p: float, stage: str | None = None) -> float:
        ordered = sorted(self.latencies_ms if stage is None else self.stages_ms.get(stage, []))
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else math.inf


async def run_phase(
    rate: int, webhooks: list[Webhook], url: str, reader: RoutedReader, services: list[Service], drain_s: float
) -> Phase:
    phase = Phase(rate)
    sent_at: dict[bytes, float] = {}
    sent_wall: dict[bytes, float] = {}
    reader.awaited.update(w.sid.encode() for w in webhooks)
    cpu_before = {s.name: s.cpu() for s in services}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as session:

        async def post(webhook: Webhook) -> None:
            sid = webhook.sid.encode()
            sent_at[sid], sent_wall[sid] = time.perf_counter(), time.time()
            try:
                async with session.post(url, data=webhook.body, headers=webhook.headers) as response:
                    await response.read()
                    phase.non_200 += response.status != 200
            except aiohttp.ClientError:
                phase.errors += 1

        tasks = []
        started = time.perf_counter()
        stop_at = started + len(webhooks) / rate * SEND_SLACK
        for i, webhook in enumerate(webhooks):  # bounded by len(webhooks) and by stop_at
            now = time.perf_counter()
            if now > stop_at:
                break  # the machine cannot send this fast: what was sent is reported
            delay = started + i / rate - now
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(webhook)))
        await asyncio.gather(*tasks)
        phase.seconds = time.perf_counter() - started
    # The ingress is done with the last answer, routing with the last routed event.
    cpu_after = {s.name: s.cpu() for s in services}
    phase.sent = len(sent_at)
    sids = list(sent_at)
    await reader.wait_for(sids, drain_s)
    cpu_after.update({s.name: s.cpu() for s in services if s.name != "ingress"})
    phase.cpu_us = {name: (cpu_after[name] - cpu_before[name]) / phase.sent * 1e6 for name in cpu_after}
    phase.latencies_ms = [
        (reader.arrived[sid] - sent_at[sid]) * 1000 if sid in reader.arrived else math.inf for sid in sids
    ]
    routed = [sid for sid in sids if sid in reader.arrived and sid in reader.inbound_at]
    phase.stages_ms = {
        "ingress": [(reader.inbound_at[sid] - sent_wall[sid]) * 1000 for sid in routed],
        "routing": [(reader.routed_at[sid] - reader.inbound_at[sid]) * 1000 for sid in routed],
        "read back": [(reader.arrived_wall[sid] - reader.routed_at[sid]) * 1000 for sid in routed],
    }
    reader.awaited.difference_update(webhook.sid.encode() for webhook in webhooks)
    return phase


# ------------------------------------------------------------------------------------------ report


def _ms(value: float, drain_s: float) -> str:
    return f"> {drain_s * 1000:,.0f}" if math.isinf(value) else f"{value:,.1f}"


def _row(p: Phase, drain_s: float) -> str:
    cpu = " / ".join(f"{p.cpu_us.get(name, math.nan):,.0f}" for name in ("ingress", "routing"))
    return (
        f"| {p.rate:,} | {p.sent:,} | {p.achieved:,.0f} | {p.non_200 + p.errors} | {p.routed:,} | "
        f"{_ms(p.pct(50), drain_s)} | {_ms(p.pct(95), drain_s)} | {_ms(p.pct(99), drain_s)} | {cpu} |"
    )


def _stage_row(p: Phase) -> str:
    cells = [f"{p.pct(50, stage):,.1f} / {p.pct(99, stage):,.1f}" for stage in ("ingress", "routing", "read back")]
    return f"| {p.rate:,} | " + " | ".join(cells) + " |"


def report(phases: list[Phase], args: argparse.Namespace, started: str) -> str:
    command = f"uv run python bench/e2e/run.py {shlex.join(sys.argv[1:])}".strip()
    lines = [
        "# End-to-end benchmark: webhook → ingress → Kafka → routing → routed event",
        "",
        f"Command: `{command}` (from the repository root, Kafka at {os.environ.get('BYOSMS_KAFKA_BOOTSTRAP')},"
        " the test stack).",
        f"Date: {started}; machine: {os.cpu_count()} cores, loopback only; ingress, routing, Kafka, PostgreSQL"
        " and this load generator share the machine.",
        "",
        "| target rate /s | sent | achieved /s | non-200 | routed | p50 ms | p95 ms | p99 ms | "
        "CPU µs/message ingress / routing |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(_row(p, args.drain_timeout) for p in phases),
        "",
        "Where the time goes, for the routed messages (p50 / p99 ms; from the record timestamps the services set):",
        "",
        "| target rate /s | send → inbound record (ingress) | → routed event (routing) | → read back here |",
        "| ---: | ---: | ---: | ---: |",
        *(_stage_row(p) for p in phases),
        "",
    ]
    at_target = next((p for p in phases if p.rate == TARGET_RATE), None)
    if at_target is not None:
        met = "met" if at_target.pct(99) < TARGET_P99_MS else "**not met**"
        lines.append(
            f"- p99 at {TARGET_RATE}/s: **{_ms(at_target.pct(99), args.drain_timeout)} ms** "
            f"(target < {TARGET_P99_MS:.0f} ms: {met})."
        )
    lines += [
        f"- {args.seconds:g} s per rate, open loop (sending stops at {SEND_SLACK:g}× that if the machine cannot keep"
        " the rate; achieved /s says what it kept); latency from just before the POST to the routed event read back"
        " (read_committed) by this script; a message not routed within"
        f" {args.drain_timeout:g} s after the last send counts as slower than all others (shown as > that).",
        "- CPU µs/message: utime + stime of the process over the messages sent, from the first send of the rate"
        " to the last answer (ingress) or to the last routed event or the drain timeout (routing).",
        f"- Plot: [{PLOT.name}]({PLOT.name}).",
        "",
    ]
    return "\n".join(lines)


def plot(phases: list[Phase], path: Path, drain_s: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    rates = [p.rate for p in phases]
    finite = [v for p in phases for q in (50, 95, 99) if math.isfinite(v := p.pct(q))]
    # A percentile that fell among the never-routed messages is drawn above every measured one.
    ceiling = max([drain_s * 1000, *finite]) * 1.5
    for pct, style in ((50, "o-"), (95, "s-"), (99, "^-")):
        values = [p.pct(pct) if math.isfinite(p.pct(pct)) else ceiling for p in phases]
        ax.plot(rates, values, style, label=f"p{pct}")
    if len(finite) < 3 * len(phases):
        ax.axhline(ceiling, color="red", linestyle=":", linewidth=1, label="not routed within the drain timeout")
    for p in phases:
        ax.annotate(f"{p.achieved:,.0f}/s sent", (p.rate, min(p.pct(50), ceiling)), textcoords="offset points",
                    xytext=(0, -14), ha="center", fontsize=8)  # fmt: skip
    ax.axhline(TARGET_P99_MS, color="grey", linestyle="--", linewidth=1, label=f"target p99 at {TARGET_RATE}/s")
    ax.set_xlabel("webhooks per second (target rate)")
    ax.set_ylabel("send → routed event read back (ms)")
    ax.set_yscale("log")
    ax.set_xticks(rates)
    ax.set_title("byosms end to end: ingress → Kafka → routing")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------------------------------------------------ main


async def main(args: argparse.Namespace) -> int:
    if not os.environ.get("BYOSMS_KAFKA_BOOTSTRAP") or not os.environ.get("BYOSMS_DATABASE_URL"):
        raise SystemExit('set BYOSMS_KAFKA_BOOTSTRAP and BYOSMS_DATABASE_URL: eval "$(uv run byosms-stack up --test)"')
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    key = secrets.token_bytes(32)
    keyring = Keyring.from_config('{"bench": "' + base64.b64encode(key).decode() + '"}', "bench")
    env = {
        **{k: v for k, v in os.environ.items() if k != "BYOSMS_OTLP_ENDPOINT"},
        "BYOSMS_DATABASE_URL": await bench_database(os.environ["BYOSMS_DATABASE_URL"]),
        "BYOSMS_KEKS": '{"bench": "' + base64.b64encode(key).decode() + '"}',
        "BYOSMS_ACTIVE_KEK": "bench",
        "BYOSMS_INGRESS_REGION": REGION.id,
        # Nothing leaves loopback: a send routing might attempt goes to a closed local port.
        "BYOSMS_TWILIO_API_BASE": "http://127.0.0.1:9",
        "BYOSMS_ROUTING_SEND_RETRY_SECONDS": "0",
        "BYOSMS_LOG_LEVEL": "WARNING",
        "BYOSMS_LOG_FORMAT": "json",
    }
    bootstrap = env["BYOSMS_KAFKA_BOOTSTRAP"]
    tenant = Tenant.new()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic, record_key, value in tenant.state_records(keyring):
            await producer.send_and_wait(topic, value, key=record_key)
    finally:
        await producer.stop()

    phases: list[Phase] = []
    reader = RoutedReader(bootstrap)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        log_dir = args.log_dir or tmp
        env["BYOSMS_INGRESS_SPOOL_DIR"] = str(Path(tmp) / "spool")
        ingress = start_service("ingress", str(args.bin_dir / "byosms-ingress"), env, log_dir)
        routing = await start_routing(args.bin_dir, env, log_dir)
        await reader.start()
        try:
            await wait_ready([ingress, routing])
            url = ingress.base + REGION.inbound_path
            warm = await run_phase(50, sign_webhooks(tenant, WARM_UP), url, reader, [ingress, routing], 60)
            if warm.routed == 0:
                raise RuntimeError("no warm-up webhook was routed within 60 s")
            for rate in args.rates:
                webhooks = sign_webhooks(tenant, max(1, int(rate * args.seconds)))
                phase = await run_phase(rate, webhooks, url, reader, [ingress, routing], args.drain_timeout)
                phases.append(phase)
                print(_row(phase, args.drain_timeout), flush=True)
                if phase.routed < phase.sent and rate != args.rates[-1]:
                    # A backlog left behind would be the next rate's: start over with a fresh group.
                    routing.stop()
                    routing = await start_routing(args.bin_dir, env, log_dir)
                    await wait_ready([routing])
        finally:
            await reader.stop()
            routing.stop()
            ingress.stop()
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                conn = await asyncpg.connect(env["BYOSMS_DATABASE_URL"])
                try:
                    await conn.execute(
                        "DELETE FROM routing.inbound_decisions WHERE organization_id = $1", tenant.organization_id
                    )
                finally:
                    await conn.close()
    text = report(phases, args, started)
    if args.earlier is None:
        plot(phases, PLOT, args.drain_timeout)
    write_results(RESULTS, text, args.earlier)
    print(text)
    return 0 if phases and all(p.sent for p in phases) else 1


def _ints(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError("give positive rates, e.g. 250,500,1000")
    return values


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=_ints, default=[250, 500, 1000], help="webhooks per second, e.g. 250,500,1000")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each rate is held")
    parser.add_argument("--drain-timeout", type=float, default=30.0, help="seconds to wait for the last routed events")
    parser.add_argument(
        "--earlier",
        metavar="HEADING",
        help='file this run under "Earlier figures" with this heading (e.g. a before figure) instead of as current',
    )
    parser.add_argument(
        "--bin-dir",
        type=Path,
        default=Path(sys.executable).parent,
        help="where byosms-ingress and byosms-routing are (default: this workspace's; another checkout's for a "
        "before figure)",
    )
    parser.add_argument("--log-dir", default=None, help="where the services' logs go (default: a temporary folder)")
    sys.exit(asyncio.run(main(parser.parse_args())))

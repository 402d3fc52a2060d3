"""Benchmark of the ingress against a bare aiohttp server, over loopback, with the real broker.

    uv run python bench/ingress/run.py [--requests 20000] [--concurrency 32] [--rate 1000] [--seconds 5]
                                       [--rounds 3] [--producer-records 20000] [--no-aiokafka]
                                       [--before DIR] [--results FILE]

Each server runs in its own process; the load generator runs in this one, with every request
signed before the clock starts. Three servers, in turn, ``--rounds`` times (their figures are the
median over the rounds): the bare aiohttp baseline, the ingress with its librdkafka producer, and
the ingress with the aiokafka producer it had before (the same app; only the producer differs).
Two phases per server:
- throughput: a fixed number of requests with fixed concurrency, as fast as answered;
- paced: an open loop at a fixed rate for a fixed time, for the latency under that load.
CPU time per request is the server process's utime + stime (/proc/<pid>/stat, every thread,
librdkafka's included) over the phase, divided by its requests: on this shared, noisy machine it is
steadier than requests/s. The ratio "ingress / baseline" is the baseline's CPU per request over the
ingress's, i.e. the share of the baseline's throughput the ingress would reach on the same CPU.
``--before DIR`` adds a fourth server, the ingress of an earlier checkout (``git archive <commit>
services/ingress-webhook/src libs/byosms-common/src | tar -x -C DIR``), so a change is measured
against what it replaces in the same run. Before the servers, the two producers are measured
alone (producers.py: the ingress's send pattern, CPU per record).

The ingress publishes with acks=all to BYOSMS_KAFKA_BOOTSTRAP (``make bench`` points it at the
test stack, ``uv run byosms-stack up --test``; not at the stack of ``make up``, whose services would
otherwise find the benchmark's events as a backlog). Its /metrics are read before and after each
phase, so the report says how many 200s were published directly (``accepted``) and how many went to
the disk spool (``spooled``). The baseline reads the request body like a real server before
answering. Results go to bench/results/ingress.md; the figures found there before move to its
"Earlier runs" section, so every figure stays next to the one it replaces.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "ingress.md"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------------ servers


def _run_baseline(port: int) -> None:
    async def ok(request: web.Request) -> web.Response:
        await request.read()  # like any real server: the body is received before the answer
        return web.Response(text='<?xml version="1.0" encoding="UTF-8"?><Response></Response>', content_type="text/xml")

    app = web.Application()
    app.router.add_post("/vendors/v1/twilio/{key}/mo", ok)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class AiokafkaProducer:
    """The ingress's producer before issue 10 (aiokafka, same settings), to compare in the same run."""

    def __init__(self, config: dict[str, Any], signals: Any) -> None:
        self.failure: str | None = None
        self._config = config
        self._producer: Any = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._config["bootstrap.servers"],
            client_id=self._config["client.id"],
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            request_timeout_ms=15_000,
        )
        await self._producer.start()

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Any:
        return await self._producer.send(topic, value, key, headers=headers)

    async def probe(self, timeout: float) -> str | None:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout)
        except Exception as exc:  # noqa: BLE001 - any failure means unreachable
            return type(exc).__name__
        return None

    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self._producer.stop(), timeout)


def _run_ingress(port: int, spool_dir: str, producer: str, sources: str = "") -> None:
    """The ingress; ``sources``: the root of an earlier checkout whose ingress and common library
    run instead of this one's (its tracing as its benchmark ran it: no provider set, no-op spans)."""
    import logging

    if sources:
        sys.path[:0] = [f"{sources}/services/ingress-webhook/src", f"{sources}/libs/byosms-common/src"]

    from byosms_common.crypto import Keyring
    from byosms_common.settings import KafkaSettings, KeyringSettings, TelemetrySettings
    from byosms_ingress.app import SERVICE, Ingress
    from byosms_ingress.settings import IngressSettings

    logging.basicConfig(level=logging.WARNING)
    provider = None
    if not sources:
        from byosms_common.telemetry import setup_tracing_if_exported

        # As byosms-ingress does: without an OTLP endpoint, no spans.
        provider = setup_tracing_if_exported(TelemetrySettings(), SERVICE)
    keyring: Keyring = KeyringSettings().keyring()
    settings = IngressSettings(region="us-east-1", host="127.0.0.1", port=port, spool_dir=Path(spool_dir))
    factory = AiokafkaProducer if producer == "aiokafka" else None
    ingress = Ingress(settings, KafkaSettings(), keyring, producer_factory=factory, tracer_provider=provider)
    web.run_app(ingress.web_app(), host="127.0.0.1", port=port, print=None, access_log=None)


SERVERS = (
    ("baseline", _run_baseline, ()),
    ("ingress (librdkafka)", _run_ingress, ("librdkafka",)),
    ("ingress (aiokafka)", _run_ingress, ("aiokafka",)),
)
BEFORE = "ingress (before)"


def _cpu_seconds(pid: int, thread: int | None = None) -> float:
    """utime + stime of every thread of ``pid`` so far (of one thread: ``thread``)."""
    stat = f"/proc/{pid}/task/{thread}/stat" if thread is not None else f"/proc/{pid}/stat"
    fields = Path(stat).read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------ load


@dataclass
class Result:
    requests: int
    seconds: float
    latencies_ms: list[float]
    failures: int
    cpu_seconds: float = 0.0
    loop_cpu_seconds: float = 0.0  # the main thread's: the event loop, which one process cannot spread
    outcomes: dict[str, float] | None = field(default=None)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        """Server CPU time per request, in microseconds."""
        return self.cpu_seconds / self.requests * 1e6

    @property
    def loop_cpu_us(self) -> float:
        """CPU time of the server's event-loop thread per request, in microseconds."""
        return self.loop_cpu_seconds / self.requests * 1e6

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


Prepared = list[tuple[bytes, dict[str, str]]]


async def _one(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> tuple[float, bool]:
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        ok = response.status == 200
    return (time.perf_counter() - started) * 1000, ok


async def throughput(url: str, prepared: Prepared, concurrency: int) -> Result:
    latencies: list[float] = []
    failures = 0
    queue = iter(prepared)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            nonlocal failures
            for body, headers in queue:  # bounded: the shared iterator runs out
                ms, ok = await _one(session, url, body, headers)
                latencies.append(ms)
                failures += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Result(len(prepared), elapsed, latencies, failures)


async def paced(url: str, prepared: Prepared, rate: int) -> Result:
    latencies: list[float] = []
    failures = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def fire(body: bytes, headers: dict[str, str]) -> None:
            nonlocal failures
            ms, ok = await _one(session, url, body, headers)
            latencies.append(ms)
            failures += not ok

        tasks = []
        started = time.perf_counter()
        for i, (body, headers) in enumerate(prepared):  # bounded by len(prepared)
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(fire(body, headers)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return Result(len(prepared), elapsed, latencies, failures)


# ------------------------------------------------------------------------------------------ main


def _prepare(n: int, account: str, token: str, url: str) -> Prepared:
    from multidict import MultiDict
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(token)
    prepared: Prepared = []
    for i in range(n):
        sid = "SM" + uuid.uuid4().hex
        params = [
            ("ToCountry", "US"), ("SmsMessageSid", sid), ("NumMedia", "0"), ("FromZip", ""), ("SmsSid", sid),
            ("SmsStatus", "received"), ("Body", f"bench message {i}"), ("To", "+15005550006"), ("NumSegments", "1"),
            ("MessageSid", sid), ("AccountSid", account), ("From", f"+1415555{i % 10000:04d}"),
            ("ApiVersion", "2010-04-01"),
        ]  # fmt: skip
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(url, MultiDict(params)),
        }
        prepared.append((urlencode(params).encode(), headers))
    return prepared


async def _wait_ready(url: str, probe: tuple[bytes, dict[str, str]], deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.post(url, data=probe[0], headers=probe[1]) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not answer 200 within {deadline_s}s")


async def _seed(account: str, token: str, keyring: object) -> None:
    from aiokafka import AIOKafkaProducer

    from byosms_common.crypto import associated_data, seal
    from byosms_common.messages import IntegrationState, IntegrationStatePayload, IntegrationStatus, encode
    from byosms_common.settings import KafkaSettings
    from byosms_common.topics import INTEGRATION_STATE

    org, integration = "org-bench", "int-bench-" + account[-8:]
    state = IntegrationState(
        organization_id=org,
        payload=IntegrationStatePayload(
            integration_id=integration,
            account_sid=account,
            auth_token=seal(keyring, token, associated_data(org, integration, "auth_token")),  # type: ignore[arg-type]
            region="us-east-1",
            status=IntegrationStatus.ACTIVE,
            version=1,
        ),
    )
    producer = AIOKafkaProducer(bootstrap_servers=KafkaSettings().kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(INTEGRATION_STATE.name, encode(state), integration.encode())
    finally:
        await producer.stop()


TABLE_HEADER = (
    "| server | phase | requests | requests/s | CPU µs/request | of it event loop | p50 ms | p99 ms | non-200 |"
    " 200 direct | 200 spooled |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def _row(name: str, phase: str, r: Result) -> str:
    outcomes = r.outcomes
    direct = f"{outcomes.get('accepted', 0):.0f}" if outcomes is not None else "-"
    spooled = f"{outcomes.get('spooled', 0):.0f}" if outcomes is not None else "-"
    return (
        f"| {name} | {phase} | {r.requests} | {r.rps:,.0f} | {r.cpu_us:.0f} | {r.loop_cpu_us:.0f} | "
        f"{statistics.median(r.latencies_ms):.2f} | {r.pct(99):.2f} | {r.failures} | {direct} | {spooled} |"
    )


async def _outcomes(base_url: str) -> dict[str, float]:
    """``byosms_ingress_requests_total`` summed by outcome, from the ingress's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    async with aiohttp.ClientSession() as session, session.get(base_url + "/metrics") as response:
        text = await response.text()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "byosms_ingress_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                outcome = sample.labels.get("outcome", "")
                totals[outcome] = totals.get(outcome, 0.0) + sample.value
    return totals


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}


async def _measure(
    name: str, target: Any, extra: tuple[str, ...], prepared: Prepared, args: argparse.Namespace, spool_root: str
) -> tuple[Result, Result]:
    """Start one server process, run both phases against it, stop it."""
    from byosms_common.regions import DEFAULT_REGIONS

    region = DEFAULT_REGIONS["us-east-1"]
    ctx = multiprocessing.get_context("spawn")
    port = _free_port()
    is_ingress = target is _run_ingress
    spool = tempfile.mkdtemp(dir=spool_root)
    proc = ctx.Process(target=target, args=(port, spool, *extra) if is_ingress else (port,), daemon=True)
    proc.start()
    assert proc.pid is not None
    try:
        base = f"http://127.0.0.1:{port}"
        url = base + region.inbound_path
        await _wait_ready(url, prepared[0])
        # Warm-up with already-used payloads (the ingress dedupe is downstream; harmless).
        await throughput(url, prepared[:200], args.concurrency)
        before = await _outcomes(base) if is_ingress else {}
        cpu, loop_cpu = _cpu_seconds(proc.pid), _cpu_seconds(proc.pid, proc.pid)
        tp = await throughput(url, prepared[1 : 1 + args.requests], args.concurrency)
        tp.cpu_seconds = _cpu_seconds(proc.pid) - cpu
        tp.loop_cpu_seconds = _cpu_seconds(proc.pid, proc.pid) - loop_cpu
        middle = await _outcomes(base) if is_ingress else {}
        cpu, loop_cpu = _cpu_seconds(proc.pid), _cpu_seconds(proc.pid, proc.pid)
        pc = await paced(url, prepared[1 + args.requests :], args.rate)
        pc.cpu_seconds = _cpu_seconds(proc.pid) - cpu
        pc.loop_cpu_seconds = _cpu_seconds(proc.pid, proc.pid) - loop_cpu
        after = await _outcomes(base) if is_ingress else {}
        if is_ingress:
            tp.outcomes, pc.outcomes = _delta(middle, before), _delta(after, middle)
    finally:
        proc.terminate()
        proc.join(15)
    print(
        _row(name, f"throughput (c={args.concurrency})", tp),
        _row(name, f"paced {args.rate}/s", pc),
        sep="\n",
        flush=True,
    )
    return tp, pc


def _median_of(results: list[Result], key: Any) -> Result:
    """The round whose ``key`` is the median (an actual run, so its other figures belong together)."""
    ordered = sorted(results, key=key)
    return ordered[(len(ordered) - 1) // 2]


async def main(args: argparse.Namespace) -> None:
    import producers

    from byosms_common.crypto import Keyring
    from byosms_common.regions import DEFAULT_REGIONS

    bootstrap = os.environ.get("BYOSMS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    print(producers.HEADER, flush=True)
    producer_rows = []
    # The webhooks' concurrency, and the spool drain's (a batch of BYOSMS_INGRESS_DRAIN_BATCH in flight).
    for concurrency in (args.concurrency, 500) if args.producer_records else ():
        for figures in producers.measure(bootstrap, records=args.producer_records, concurrency=concurrency):
            producer_rows.append(figures.row())
            print(producer_rows[-1], flush=True)

    region = DEFAULT_REGIONS["us-east-1"]
    keyring = Keyring.from_config(f'{{"bench": "{Keyring.generate_key()}"}}', "bench")
    os.environ["BYOSMS_KEKS"] = '{"bench": "' + __import__("base64").b64encode(keyring.keys["bench"]).decode() + '"}'
    os.environ["BYOSMS_ACTIVE_KEK"] = "bench"
    account, token = "AC" + uuid.uuid4().hex, uuid.uuid4().hex
    await _seed(account, token, keyring)

    total = args.requests + int(args.rate * args.seconds) + 1
    prepared = _prepare(total, account, token, region.inbound_url)
    servers: list[tuple[str, Any, tuple[str, ...]]] = [s for s in SERVERS if args.aiokafka or "aiokafka" not in s[0]]
    if args.before:
        servers.append((BEFORE, _run_ingress, ("librdkafka", str(args.before.resolve()))))
    runs: dict[str, list[tuple[Result, Result]]] = {name: [] for name, _, _ in servers}
    print(TABLE_HEADER.splitlines()[0])
    with tempfile.TemporaryDirectory() as spool_root:
        for _ in range(args.rounds):
            for name, target, extra in servers:
                runs[name].append(await _measure(name, target, extra, prepared, args, spool_root))

    rows: list[str] = []
    summary: dict[str, tuple[Result, Result]] = {}
    for name, results in runs.items():
        tp = _median_of([r[0] for r in results], lambda r: r.cpu_us)
        pc = _median_of([r[1] for r in results], lambda r: r.pct(99))
        summary[name] = (tp, pc)
        rows += [_row(name, f"throughput (c={args.concurrency})", tp), _row(name, f"paced {args.rate}/s", pc)]
    every_round = [
        f"| {name} | " + " | ".join(f"{tp.cpu_us:.0f} µs, {tp.rps:,.0f}/s" for tp, _ in results) + " |"
        for name, results in runs.items()
    ]
    baseline = summary["baseline"][0]
    lines = []
    for name in ("ingress (librdkafka)", "ingress (aiokafka)", BEFORE):
        if name not in summary:
            continue
        tp, pc = summary[name]
        lines.append(
            f"- {name}: **{baseline.cpu_us / tp.cpu_us:.0%}** of the baseline by CPU per request"
            f" ({tp.cpu_us:.0f} vs {baseline.cpu_us:.0f} µs, event loop {tp.loop_cpu_us:.0f}; target ≥ 50%),"
            f" {tp.rps / baseline.rps:.0%} by"
            f" requests/s ({tp.rps:,.0f} vs {baseline.rps:,.0f}); p99 at {args.rate} requests/s"
            f" **{pc.pct(99):.1f} ms** (target < 50 ms)."
        )
    command = "uv run python bench/ingress/run.py " + " ".join(sys.argv[1:])
    current = "\n".join(
        [
            f"Command: `BYOSMS_KAFKA_BOOTSTRAP=... {command.strip()}` (from the repository root, Kafka at "
            f"{bootstrap}, acks=all, idempotent producer).",
            f"Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; machine: {os.cpu_count()} cores, loopback only; "
            "servers and load generator in separate processes; shared with other work, so figures are noisy.",
            "",
            *(
                [
                    f"The producers alone (producers.py: {args.producer_records} records of 600 bytes, senders each"
                    " waiting for its acknowledgement, acks=all, idempotent, each with the settings the ingress"
                    " gives it):",
                    "",
                    producers.HEADER,
                    *producer_rows,
                    "",
                ]
                if producer_rows
                else ["The producers alone: not measured in this run (--producer-records 0).", ""]
            ),
            f"The servers (median round of {args.rounds}: by CPU per request for throughput, by p99 for paced):",
            "",
            TABLE_HEADER,
            *rows,
            "",
            *lines,
            "- CPU µs/request: utime + stime of the server process (all threads) over the phase, per request;"
            " of it event loop: the main thread's share (librdkafka's broker thread is the rest).",
            "- 200 direct / spooled: webhooks answered after Kafka's ack vs. after the fsync to the disk spool"
            " (from the ingress's byosms_ingress_requests_total before and after each phase).",
            "",
            "Throughput phase, every round:",
            "",
            "| server | " + " | ".join(f"round {n + 1}" for n in range(args.rounds)) + " |",
            "| --- |" + " ---: |" * args.rounds,
            *every_round,
            "",
        ]
    )
    earlier = _earlier_runs(args.results)
    text = "# Ingress benchmark\n\n" + current + "\n## Earlier runs\n\n" + earlier
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text.rstrip() + "\n", encoding="utf-8")
    print(text)


def _earlier_runs(results: Path, keep: int = 5) -> str:
    """The previous results file's current run on top of its earlier ones (the last ``keep`` runs)."""
    if not results.exists():
        return ""
    text = results.read_text(encoding="utf-8").removeprefix("# Ingress benchmark").strip()
    current, _, earlier = text.partition("## Earlier runs")
    runs = [run.strip() for run in earlier.split("### ") if run.strip()]
    title = current.split("Date: ", 1)[1].split(";", 1)[0] if "Date: " in current else "before"
    runs.insert(0, f"{title}\n\n{current.strip()}")
    return "".join(f"### {run}\n\n" for run in runs[:keep])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000, help="requests in the throughput phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=int, default=1000, help="requests per second in the paced phase")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the paced phase")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the three servers (median reported)")
    parser.add_argument(
        "--producer-records", type=int, default=20000, help="records per producer measured alone (0: skip)"
    )
    parser.add_argument(
        "--no-aiokafka", dest="aiokafka", action="store_false", help="skip the ingress with the aiokafka producer"
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="root of an earlier checkout (e.g. from git archive) whose ingress is measured in the same run",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results file (a trial run: elsewhere)")
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # producers.py beside this file
    asyncio.run(main(parser.parse_args()))

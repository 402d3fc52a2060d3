"""Benchmark of the ingress against a bare aiohttp server, over loopback, with the real broker.

    uv run python bench/ingress/run.py [--requests 20000] [--concurrency 32] [--rate 1000] [--seconds 5]

Each server runs in its own process; the load generator runs in this one, with every request
signed before the clock starts. Two phases per server:
- throughput: a fixed number of requests with fixed concurrency, as fast as answered;
- paced: an open loop at a fixed rate for a fixed time, for the latency under that load.
The ingress publishes with acks=all to BYOSMS_KAFKA_BOOTSTRAP (``make bench`` points it at the
test stack, ``uv run byosms-stack up --test``; not at the stack of ``make up``, whose services would
otherwise find the benchmark's events as a backlog). Its /metrics are read before and after each
phase, so the report says how many 200s were published directly (``accepted``) and how many went to the disk spool
(``spooled``). The baseline reads the request body like a real server before answering. Results go
to bench/results/ingress.md.
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
from dataclasses import dataclass
from pathlib import Path
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


def _run_ingress(port: int, spool_dir: str) -> None:
    import logging

    from byosms_common.crypto import Keyring
    from byosms_common.settings import KafkaSettings, KeyringSettings
    from byosms_ingress.app import Ingress
    from byosms_ingress.settings import IngressSettings

    logging.basicConfig(level=logging.WARNING)
    keyring: Keyring = KeyringSettings().keyring()
    settings = IngressSettings(region="us-east-1", host="127.0.0.1", port=port, spool_dir=Path(spool_dir))
    ingress = Ingress(settings, KafkaSettings(), keyring)
    web.run_app(ingress.web_app(), host="127.0.0.1", port=port, print=None, access_log=None)


# ------------------------------------------------------------------------------------------ load


@dataclass
class Result:
    requests: int
    seconds: float
    latencies_ms: list[float]
    failures: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

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


def _row(name: str, phase: str, r: Result, outcomes: dict[str, float] | None) -> str:
    direct = f"{outcomes.get('accepted', 0):.0f}" if outcomes is not None else "-"
    spooled = f"{outcomes.get('spooled', 0):.0f}" if outcomes is not None else "-"
    return (
        f"| {name} | {phase} | {r.requests} | {r.rps:,.0f} | {statistics.median(r.latencies_ms):.2f} | "
        f"{r.pct(99):.2f} | {r.failures} | {direct} | {spooled} |"
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


async def main(args: argparse.Namespace) -> None:
    from byosms_common.crypto import Keyring
    from byosms_common.regions import DEFAULT_REGIONS

    region = DEFAULT_REGIONS["us-east-1"]
    keyring = Keyring.from_config(f'{{"bench": "{Keyring.generate_key()}"}}', "bench")
    os.environ["BYOSMS_KEKS"] = '{"bench": "' + __import__("base64").b64encode(keyring.keys["bench"]).decode() + '"}'
    os.environ["BYOSMS_ACTIVE_KEK"] = "bench"
    account, token = "AC" + uuid.uuid4().hex, uuid.uuid4().hex
    await _seed(account, token, keyring)

    total = args.requests + int(args.rate * args.seconds) + 1
    prepared = _prepare(total, account, token, region.inbound_url)
    ctx = multiprocessing.get_context("spawn")
    rows: list[str] = []
    summary: dict[str, tuple[Result, Result]] = {}
    with tempfile.TemporaryDirectory() as spool_dir:
        for name, target, extra in (("baseline", _run_baseline, ()), ("ingress", _run_ingress, (spool_dir,))):
            port = _free_port()
            proc = ctx.Process(target=target, args=(port, *extra), daemon=True)
            proc.start()
            try:
                base = f"http://127.0.0.1:{port}"
                url = base + region.inbound_path
                await _wait_ready(url, prepared[0])
                # Warm-up with already-used payloads (the ingress dedupe is downstream; harmless).
                await throughput(url, prepared[:200], args.concurrency)
                counted = name == "ingress"
                before = await _outcomes(base) if counted else {}
                tp = await throughput(url, prepared[1 : 1 + args.requests], args.concurrency)
                middle = await _outcomes(base) if counted else {}
                pc = await paced(url, prepared[1 + args.requests :], args.rate)
                after = await _outcomes(base) if counted else {}
                summary[name] = (tp, pc)
                rows += [
                    _row(name, f"throughput (c={args.concurrency})", tp, _delta(middle, before) if counted else None),
                    _row(name, f"paced {args.rate}/s", pc, _delta(after, middle) if counted else None),
                ]
                print(rows[-2], rows[-1], sep="\n", flush=True)
            finally:
                proc.terminate()
                proc.join(15)
    ratio = summary["ingress"][0].rps / summary["baseline"][0].rps
    p99 = summary["ingress"][1].pct(99)
    command = "uv run python bench/ingress/run.py " + " ".join(sys.argv[1:])
    text = "\n".join(
        [
            "# Ingress benchmark",
            "",
            f"Command: `BYOSMS_KAFKA_BOOTSTRAP=... {command.strip()}` (from the repository root, Kafka at "
            f"{os.environ.get('BYOSMS_KAFKA_BOOTSTRAP', '127.0.0.1:9092')}, acks=all, idempotent producer).",
            f"Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; machine: {os.cpu_count()} cores, loopback only; "
            "server and load generator in separate processes.",
            "",
            "| server | phase | requests | requests/s | p50 ms | p99 ms | non-200 | 200 direct | 200 spooled |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            f"- Ingress throughput / baseline throughput: **{ratio:.0%}** (target ≥ 50%).",
            f"- Ingress p99 at {args.rate} requests/s: **{p99:.1f} ms** (target < 50 ms).",
            "- 200 direct / spooled: webhooks answered after Kafka's ack vs. after the fsync to the disk spool"
            " (from the ingress's byosms_ingress_requests_total before and after each phase).",
            "",
        ]
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000, help="requests in the throughput phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=int, default=1000, help="requests per second in the paced phase")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the paced phase")
    asyncio.run(main(parser.parse_args()))

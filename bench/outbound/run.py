"""Benchmark of outbound sends through routing to the Twilio emulator, with delivery reports back.

    uv run python bench/outbound/run.py [--senders 100] [--per-sender 30] [--rate 20] [--emulator-requests 3000]

Starts, as their own processes, the Twilio emulator (``twilio-emulator serve``) and one
``byosms-routing`` (its consumer group starts at the end of the shared topics). This process seeds
``--senders`` numbers (10 tenants, each its own Twilio account), holds every sender to ``--rate``
messages/s through ``BYOSMS_ROUTING_SENDER_RATES``, publishes ``--senders * --per-sender`` SendMessage
commands at once (a backlog) and reads ``sms.message-events.v1`` until every message is accepted and
reported delivered. The emulator's status callbacks come to a small receiver here that publishes them
as ``DeliveryReportReceived``, as the ingress does (the ingress has its own benchmark).

Reported: sends/s for the whole service (first command published → last acceptance read), the time to
the last ``delivered``, per sender the most acceptances seen in any 1 s window against what its bucket
allows (burst + rate), and, in the same run, the emulator alone: creates/s posted straight to it at
concurrency 64, so its own limit shows. Kafka and PostgreSQL are those of BYOSMS_KAFKA_BOOTSTRAP /
BYOSMS_DATABASE_URL, else the test stack (``byosms-stack up --test``). Results go to
bench/results/outbound.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.crypto import Keyring, associated_data, seal
from byosms_common.testing import start_group_at_end
from byosms_routing.pacing import burst_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/shared.py
from shared import cpu_seconds
from twilio_emulator.testing import EmulatorControl

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "outbound.md"
REGION = "eu-central-1"
TENANTS = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _servers() -> tuple[str, str]:
    kafka, database = os.environ.get("BYOSMS_KAFKA_BOOTSTRAP"), os.environ.get("BYOSMS_DATABASE_URL")
    if kafka and database:
        return kafka, database
    from byosms_devstack import ensure_stack
    from byosms_devstack.settings import test_stack_settings

    info = ensure_stack(test_stack_settings())
    return kafka or info.kafka_bootstrap, database or info.database_url


async def _wait_http(url: str, within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} not ready within {within:.0f}s")


@dataclass(frozen=True)
class Tenant:
    org: str
    integration_id: str
    account_sid: str
    auth_token: str
    senders: tuple[str, ...]


async def _seed(control: EmulatorControl, producer: AIOKafkaProducer, keyring: Keyring, senders: int) -> list[Tenant]:
    run = uuid.uuid4().hex[:6]
    tenants: list[Tenant] = []
    per_tenant = max(1, senders // TENANTS)
    made = 0
    for t in range(TENANTS):
        count = per_tenant if t < TENANTS - 1 else senders - made
        if count <= 0:
            break
        org, integration = f"bench-org-{run}-{t}", f"bench-int-{run}-{t}"
        account = await control.create_account()
        numbers = tuple(f"+4930{run_digits(run)}{t:02d}{n:03d}" for n in range(count))
        for number in numbers:
            await control.add_phone_number(account.sid, number)
        token = seal(keyring, account.auth_token, associated_data(org, integration, "auth_token"))
        state = m.IntegrationState(
            organization_id=org,
            payload=m.IntegrationStatePayload(
                integration_id=integration,
                account_sid=account.sid,
                auth_token=token,
                region=REGION,
                status=m.IntegrationStatus.ACTIVE,
                version=1,
            ),
        )
        await producer.send_and_wait(topics.INTEGRATION_STATE.name, m.encode(state), key=integration.encode())
        for number in numbers:
            record = m.NumberStateRecord(
                organization_id=org,
                payload=m.NumberStatePayload(
                    number=m.ImportedNumber(
                        address=number,
                        number_type=m.NumberType.LOCAL,
                        country="DE",
                        twilio_sid="PN" + uuid.uuid4().hex,
                        integration_id=integration,
                    ),
                    state=m.NumberState.ACTIVE,
                    version=1,
                ),
            )
            await producer.send_and_wait(topics.NUMBER_STATE.name, m.encode(record), key=number.encode())
        tenants.append(Tenant(org, integration, account.sid, account.auth_token, numbers))
        made += count
    return tenants


def run_digits(run: str) -> str:
    return str(int(run, 16) % 1000).zfill(3)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        # Our own console scripts, from this virtualenv.
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


async def _emulator_alone(base: str, tenant: Tenant, requests: int, concurrency: int = 64) -> float:
    """Creates per second posted straight to the emulator (no routing), as fast as it answers."""
    credentials = base64.b64encode(f"{tenant.account_sid}:{tenant.auth_token}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}"}
    url = f"{base}/2010-04-01/Accounts/{tenant.account_sid}/Messages.json"
    left = list(range(requests))
    ok = 0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal ok
        while left:
            n = left.pop()
            form = {"From": tenant.senders[n % len(tenant.senders)], "To": f"+49151{n:08d}", "Body": "bench"}
            async with http.post(url, data=form, headers=headers) as answer:
                await answer.read()
                ok += answer.status == 201

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        started = time.monotonic()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    if ok != requests:
        raise RuntimeError(f"emulator alone: {requests - ok} creates failed")
    return requests / elapsed


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def bench(args: argparse.Namespace) -> str:
    kafka, database = _servers()
    logs = REPO / ".run" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    emulator_port, routing_port, receiver_port = _free_port(), _free_port(), _free_port()
    emulator_base = f"http://127.0.0.1:{emulator_port}"
    kek = base64.b64encode(os.urandom(32)).decode()
    keyring = Keyring.from_config(json.dumps({"bench-1": kek}), "bench-1")

    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    accounts: dict[str, Tenant] = {}

    async def status_callback(request: web.Request) -> web.Response:
        # Stands in for the ingress: the status callback becomes a DeliveryReportReceived on Kafka.
        form = await request.post()
        sid, status = str(form["MessageSid"]), str(form["MessageStatus"])
        tenant = accounts[str(form["AccountSid"])]
        report = m.DeliveryReportReceived(
            id=f"{sid}:{status}",
            organization_id=tenant.org,
            payload=m.DeliveryReportPayload.model_validate(
                {
                    "message_sid": sid,
                    "account_sid": tenant.account_sid,
                    "status": status,
                    "region": REGION,
                    "integration_id": tenant.integration_id,
                    "received_at": datetime.now(UTC),
                    "raw": {},
                }
            ),
        )
        await producer.send_and_wait(topics.DELIVERY_REPORTS.name, m.encode(report), key=sid.encode())
        return web.Response(text="")

    receiver = web.Application()
    receiver.router.add_post("/vendors/v1/twilio/{key}/status", status_callback)
    runner = web.AppRunner(receiver, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver_port).start()

    emulator = _start(
        [
            str(bin_dir / "twilio-emulator"),
            "serve",
            "--port",
            str(emulator_port),
            "--status-step-delay",
            "0.05",
            "--log-level",
            "WARNING",
        ],
        dict(os.environ),
        logs / "bench-outbound-emulator.log",
    )
    routing: subprocess.Popen[bytes] | None = None
    try:
        await _wait_http(f"{emulator_base}/_emulator/health")
        async with EmulatorControl(emulator_base) as control:
            tenants = await _seed(control, producer, keyring, args.senders)
            for tenant in tenants:
                accounts[tenant.account_sid] = tenant
            senders = [s for t in tenants for s in t.senders]
            emulator_alone_before = await _emulator_alone(emulator_base, tenants[0], args.emulator_requests)

            group = f"bench-routing-{uuid.uuid4().hex[:8]}"
            await start_group_at_end(
                kafka,
                group,
                [topics.OUTBOUND_COMMANDS.name, topics.DELIVERY_REPORTS.name, topics.INBOUND_MESSAGES.name],
            )
            env = {
                **os.environ,
                "BYOSMS_KAFKA_BOOTSTRAP": kafka,
                "BYOSMS_DATABASE_URL": database,
                "BYOSMS_KEKS": json.dumps({"bench-1": kek}),
                "BYOSMS_ACTIVE_KEK": "bench-1",
                "BYOSMS_TWILIO_API_BASE": emulator_base,
                "BYOSMS_REGIONS_OVERRIDES": json.dumps(
                    {REGION: {"public_base_url": f"http://127.0.0.1:{receiver_port}"}}
                ),
                "BYOSMS_ROUTING_PORT": str(routing_port),
                "BYOSMS_ROUTING_CONSUMER_GROUP": group,
                "BYOSMS_ROUTING_SENDER_RATES": json.dumps(dict.fromkeys(senders, float(args.rate))),
                "BYOSMS_LOG_LEVEL": "WARNING",
                "BYOSMS_LOG_FORMAT": "json",
            }
            routing = _start([str(bin_dir / "byosms-routing")], env, logs / "bench-outbound-routing.log")
            await _wait_http(f"http://127.0.0.1:{routing_port}/readyz")

            tenant_of = {s: t for t in tenants for s in t.senders}
            commands = [
                m.SendMessage(
                    organization_id=tenant_of[sender].org,
                    payload=m.SendMessagePayload.model_validate(
                        {"from": sender, "to": f"+49151{i:04d}{n:04d}", "body": "Ihr Termin ist morgen"}
                    ),
                )
                for n in range(args.per_sender)
                for i, sender in enumerate(senders)
            ]
            wanted = {c.payload.message_id: c.payload.from_ for c in commands}
            accepted_at: dict[str, float] = {}
            delivered_at: dict[str, float] = {}
            failed: dict[str, str] = {}

            watch = AIOKafkaConsumer(topics.MESSAGE_EVENTS.name, bootstrap_servers=kafka, auto_offset_reset="latest")
            await watch.start()
            await watch.seek_to_end()
            await watch.getmany(timeout_ms=500)  # positions fixed before the first command goes out

            cpu_from = {
                "routing": cpu_seconds(routing.pid),
                "emulator": cpu_seconds(emulator.pid),
                "bench": _own_cpu_seconds(),
            }
            started = time.monotonic()
            for command in commands:
                key = command.payload.from_
                await producer.send(topics.OUTBOUND_COMMANDS.name, m.encode(command), key=key.encode())
            await producer.flush()
            published = time.monotonic() - started
            deadline = time.monotonic() + args.timeout
            while (len(accepted_at) + len(failed) < len(wanted) or len(delivered_at) < len(accepted_at)) and (
                time.monotonic() < deadline
            ):
                batches = await watch.getmany(timeout_ms=500, max_records=5000)
                for records in batches.values():
                    for record in records:
                        event = m.decode(record.value or b"")
                        payload = getattr(event, "payload", None)
                        message_id = getattr(payload, "message_id", None)
                        if message_id not in wanted:
                            continue
                        seen = record.timestamp / 1000 - (time.time() - time.monotonic())
                        if isinstance(event, m.OutboundMessageAccepted):
                            accepted_at.setdefault(message_id, seen)
                        elif isinstance(event, m.OutboundMessageFailed):
                            failed[message_id] = str(event.payload.code)
                        elif isinstance(event, m.MessageStatusChanged) and event.payload.status == "delivered":
                            delivered_at.setdefault(message_id, seen)
            cpu_used = {
                "routing": cpu_seconds(routing.pid) - cpu_from["routing"],
                "emulator": cpu_seconds(emulator.pid) - cpu_from["emulator"],
                "bench": _own_cpu_seconds() - cpu_from["bench"],
            }
            await watch.stop()
            emulator_alone_after = await _emulator_alone(emulator_base, tenants[0], args.emulator_requests)
    finally:
        if routing is not None:
            _stop(routing)
        _stop(emulator)
        await runner.cleanup()
        await producer.stop()

    total = len(wanted)
    if not accepted_at:
        raise RuntimeError(f"nothing accepted; failures: {dict(list(failed.items())[:5])}")
    last_accept = max(accepted_at.values()) - started
    last_delivered = max(delivered_at.values()) - started if delivered_at else float("nan")
    by_sender: dict[str, list[float]] = defaultdict(list)
    for message_id, at in accepted_at.items():
        by_sender[wanted[message_id]].append(at)
    allowed = burst_for(args.rate) + args.rate * 1.0
    worst = max(_max_in_window(times) for times in by_sender.values())
    over = sum(1 for times in by_sender.values() if _max_in_window(times) > allowed)
    paced_floor = (args.per_sender - burst_for(args.rate)) / args.rate
    return "\n".join(
        [
            f"- senders: {len(by_sender)} of {args.senders}, {args.per_sender} messages each, each held to "
            f"{args.rate:g}/s (`BYOSMS_ROUTING_SENDER_RATES`); {total} sends",
            f"- accepted: {len(accepted_at)}, failed: {len(failed)}"
            + (f" ({sorted(set(failed.values()))})" if failed else "")
            + f", delivered: {len(delivered_at)}",
            f"- commands published in {published:.2f} s",
            f"- **{len(accepted_at) / last_accept:,.0f} sends/s** for the whole service "
            f"(last acceptance after {last_accept:.2f} s; the pace alone allows it after {paced_floor:.2f} s, "
            f"that is at most {total / max(paced_floor, 1e-9):,.0f} sends/s)",
            f"- last `delivered` after {last_delivered:.2f} s",
            f"- per sender, most acceptances in any 1 s window: {worst} (bucket allows burst + rate = {allowed:g}); "
            f"senders above it: {over}",
            "- CPU per send, from the first command to the last event read (utime + stime from /proc): "
            + ", ".join(f"{name} {used / max(len(accepted_at), 1) * 1e6:,.0f} µs" for name, used in cpu_used.items())
            + " (bench: this script, which also receives the status callbacks and publishes them as reports)",
            f"- emulator alone (creates posted straight to it, concurrency 64, {args.emulator_requests} each): "
            f"{emulator_alone_before:,.0f}/s before, {emulator_alone_after:,.0f}/s after",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--senders", type=int, default=100)
    parser.add_argument("--per-sender", type=int, default=30)
    parser.add_argument("--rate", type=float, default=20.0, help="messages/s each sender is held to")
    parser.add_argument("--emulator-requests", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--no-write", action="store_true", help="print, do not write bench/results/outbound.md")
    args = parser.parse_args()
    figures = asyncio.run(bench(args))
    command = "uv run python bench/outbound/run.py " + " ".join(sys.argv[1:])
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
    report = (
        "# Outbound sends through routing (issue 10)\n\n"
        f"- command: `{command.strip()}`\n- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n- machine: {machine}\n\n"
        f"{figures}\n"
    )
    print(report)
    if not args.no_write:
        RESULTS.write_text(report + "\n" + _previous(), encoding="utf-8")


def _previous() -> str:
    return (
        "Before (one consumer handling one message at a time): 300 sends from one sender to 300 customers "
        "took 9 s, 32 sends/s for the whole service.\n"
    )


if __name__ == "__main__":
    main()

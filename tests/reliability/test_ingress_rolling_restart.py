"""Rollout drill: two ingress processes behind a small load balancer get a steady stream of signed
webhooks while they are restarted one after the other, as a StatefulSet rollout replaces its pods.

The load balancer behaves like a Kubernetes Service: it sends each request to one of the backends it
currently lists as ready (round robin), learns readiness only by polling ``/readyz`` (so a pod that
went not-ready is still sent requests until the next poll, as while an endpoint removal propagates),
and does not retry: a refused connection or a 5xx reaches the caller, as it reaches Twilio, which
does not retry a webhook either. Each restart is SIGTERM, wait for the exit, start again on the same
port and spool directory, wait until ready, then the next one.

Expected: nothing refused and no 5xx during the whole rollout, and every webhook answered 200 is on
the inbound topic. The same drill with a pre-stop delay of 0 (the listener closes at SIGTERM) shows
the refusals the delay prevents; it is asserted too, so the test shows that the delay is what helps.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.crypto import Keyring, associated_data, seal
from byosms_common.regions import DEFAULT_REGIONS
from byosms_common.testing import TopicWatcher, eventually, free_port

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
REGION = DEFAULT_REGIONS["us-east-1"]
RATE_PER_S = 40
# The load balancer's readiness poll: a removal takes up to this long to be noticed (kube-proxy and
# cloud load balancers take seconds; the pre-stop delay below must outlast it).
POLL_EVERY_S = 1.0
PRESTOP_DELAY_S = 3.0
# Between the old process's exit and the new one's start (a pod replaced under the same name).
REPLACEMENT_S = 1.0


@dataclass
class Backend:
    name: str
    port: int
    spool: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    ready: bool = False


@dataclass
class Tally:
    answers: Counter[str] = field(default_factory=Counter)
    accepted: list[str] = field(default_factory=list)


class LoadBalancer:
    """Round robin over the backends whose last ``/readyz`` poll answered 200; no retries."""

    def __init__(self, backends: list[Backend], session: aiohttp.ClientSession) -> None:
        self.backends = backends
        self._session = session
        self._next = 0
        self._poller: asyncio.Task[None] | None = None
        self.rounds = 0  # readiness poll rounds done

    async def start(self) -> None:
        self._poller = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()

    async def _poll(self) -> None:
        while True:
            for backend in self.backends:
                backend.ready = await self._ready(backend)
            self.rounds += 1
            await asyncio.sleep(POLL_EVERY_S)

    async def _ready(self, backend: Backend) -> bool:
        try:
            async with self._session.get(f"http://127.0.0.1:{backend.port}/readyz", timeout=_timeout(1)) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> str:
        """The answer as the caller sees it: the status code, or "refused"/"no backend"."""
        ready = [b for b in self.backends if b.ready]
        if not ready:
            return "no backend"
        backend = ready[self._next % len(ready)]
        self._next += 1
        url = f"http://127.0.0.1:{backend.port}{path}"
        try:
            async with self._session.post(url, data=body, headers=headers, timeout=_timeout(10)) as response:
                await response.read()
                return str(response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"refused ({type(exc).__name__})"


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)


async def _seed(bootstrap: str) -> tuple[str, str, Keyring]:
    """An active integration of the region; its account sid, auth token and the keyring that seals it."""
    keyring = Keyring.from_config(json.dumps({"drill": Keyring.generate_key()}), "drill")
    suffix = uuid.uuid4().hex[:8]
    org, integration, account, token = f"org-{suffix}", f"int-{suffix}", "AC" + uuid.uuid4().hex, uuid.uuid4().hex
    state = m.IntegrationState(
        organization_id=org,
        payload=m.IntegrationStatePayload(
            integration_id=integration,
            account_sid=account,
            auth_token=seal(keyring, token, associated_data(org, integration, "auth_token")),
            region=REGION.id,
            status=m.IntegrationStatus.ACTIVE,
            version=1,
        ),
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topics.INTEGRATION_STATE.name, m.encode(state), integration.encode())
    finally:
        await producer.stop()
    return account, token, keyring


def _signed_sms(account: str, token: str, sid: str) -> tuple[bytes, dict[str, str]]:
    params = [
        ("SmsMessageSid", sid), ("NumMedia", "0"), ("SmsSid", sid), ("SmsStatus", "received"), ("Body", "Hi"),
        ("To", "+15005550006"), ("NumSegments", "1"), ("MessageSid", sid), ("AccountSid", account),
        ("From", "+15005550001"), ("ApiVersion", "2010-04-01"),
    ]  # fmt: skip
    signature = RequestValidator(token).compute_signature(REGION.inbound_url, MultiDict(params))
    return urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }


def _start(backend: Backend, env: dict[str, str]) -> None:
    with backend.log.open("ab") as out:
        backend.process = subprocess.Popen(
            [str(BIN / "byosms-ingress")],
            env={**env, "BYOSMS_INGRESS_PORT": str(backend.port), "BYOSMS_INGRESS_SPOOL_DIR": str(backend.spool)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def _stop(backend: Backend) -> None:
    assert backend.process is not None
    backend.process.send_signal(signal.SIGTERM)
    await eventually(lambda: backend.process is not None and backend.process.poll() is not None, within=60, what="exit")
    assert backend.process.returncode == 0, backend.log.read_text()[-2000:]


async def _drill(tmp_path: Path, bootstrap: str, prestop_delay_s: float) -> tuple[Tally, set[str]]:
    """Stream webhooks through the balancer while both backends restart in turn; the tally and the
    MessageSids that reached the inbound topic."""
    account, token, keyring = await _seed(bootstrap)
    [(kek_id, key)] = keyring.keys.items()
    env = {
        **os.environ,
        "BYOSMS_KEKS": json.dumps({kek_id: base64.b64encode(key).decode()}),
        "BYOSMS_ACTIVE_KEK": kek_id,
        "BYOSMS_INGRESS_REGION": REGION.id,
        "BYOSMS_INGRESS_PRESTOP_DELAY_S": str(prestop_delay_s),
        "BYOSMS_LOG_FORMAT": "json",
    }
    backends = [Backend(n, free_port(), tmp_path / f"{n}-spool", tmp_path / f"{n}.log") for n in ("a", "b")]
    tally = Tally()
    path = f"/vendors/v1/twilio/{REGION.key}/mo"
    async with (
        aiohttp.ClientSession() as session,
        TopicWatcher(bootstrap, [topics.INBOUND_MESSAGES.name], from_end=True) as watcher,
    ):
        for backend in backends:
            _start(backend, env)
        balancer = LoadBalancer(backends, session)
        await balancer.start()
        try:
            await eventually(lambda: all(b.ready for b in backends), within=60, what="both ingresses ready")
            streaming = asyncio.Event()
            streaming.set()

            async def one(sid: str) -> None:
                body, headers = _signed_sms(account, token, sid)
                answer = await balancer.post(path, body, headers)
                tally.answers[answer] += 1
                if answer == "200":
                    tally.accepted.append(sid)

            async def stream() -> None:
                inflight: set[asyncio.Task[None]] = set()
                while streaming.is_set():
                    task = asyncio.create_task(one("SM" + uuid.uuid4().hex))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                    await asyncio.sleep(1 / RATE_PER_S)
                await asyncio.gather(*inflight)

            streamer = asyncio.create_task(stream())
            await asyncio.sleep(2)
            for backend in backends:  # one at a time, as a StatefulSet rollout does
                # SIGTERM right after a poll: the balancer learns of it only a poll interval later,
                # as an endpoint removal reaches a load balancer only after a while.
                polled = balancer.rounds
                await eventually(lambda polled=polled: balancer.rounds > polled, within=10, what="a poll")
                await _stop(backend)
                await asyncio.sleep(REPLACEMENT_S)
                _start(backend, env)
                await eventually(lambda b=backend: b.ready, within=60, what=f"{backend.name} ready again")
                await asyncio.sleep(2)
            streaming.clear()
            await streamer
            wanted = set(tally.accepted)

            def arrived() -> set[str]:
                found = set()
                for record in watcher.on(topics.INBOUND_MESSAGES.name):
                    value = record.value or b""
                    found.update(sid for sid in wanted if sid.encode() in value)
                return found

            await eventually(lambda: arrived() >= wanted, within=60, what="every accepted webhook on the topic")
            return tally, arrived()
        finally:
            await balancer.stop()
            for backend in backends:
                if backend.process is not None and backend.process.poll() is None:
                    os.killpg(backend.process.pid, signal.SIGKILL)
                    backend.process.wait(10)


async def test_a_rolling_restart_under_a_steady_webhook_stream_refuses_nothing(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    tally, arrived = await _drill(tmp_path, kafka_bootstrap, PRESTOP_DELAY_S)
    print(f"\nrolling restart with a {PRESTOP_DELAY_S}s pre-stop delay: {dict(tally.answers)}")  # noqa: T201
    assert set(tally.answers) == {"200"}, dict(tally.answers)
    assert tally.answers["200"] > RATE_PER_S * 5  # the stream ran through both restarts
    assert arrived == set(tally.accepted)


async def test_without_the_pre_stop_delay_the_same_rollout_refuses_webhooks(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """The control run: the listener closes at SIGTERM while the balancer still lists the pod."""
    tally, arrived = await _drill(tmp_path, kafka_bootstrap, 0.0)
    print(f"\nrolling restart without a pre-stop delay: {dict(tally.answers)}")  # noqa: T201
    assert sum(n for answer, n in tally.answers.items() if answer != "200") > 0, dict(tally.answers)
    assert arrived == set(tally.accepted)  # what was answered 200 still reached Kafka

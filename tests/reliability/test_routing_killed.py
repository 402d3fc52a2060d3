"""Fault drill: routing is SIGKILLed while it drains a backlog of inbound messages, then started again.

Nothing may be lost and nothing published twice: every message ends in exactly one committed
``sms.inbound_routed`` event. The counts (sent, routed, duplicates, lost) are printed for the report.
Run it on a stack where no other routing consumes (another consumer group would route the same
messages too: ``make test`` runs one test at a time).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.testing import eventually, free_port, start_group_at_end

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
MESSAGES = 3000


def _states(org: str, integration: str, numbers: list[str]) -> list[tuple[str, bytes, bytes]]:
    records = [
        (
            topics.INTEGRATION_STATE.name,
            integration.encode(),
            m.encode(
                m.IntegrationState(
                    organization_id=org,
                    payload=m.IntegrationStatePayload(
                        integration_id=integration,
                        region="eu-central-1",
                        status=m.IntegrationStatus.ACTIVE,
                        version=1,
                        default_routing_target="queue-drill",
                    ),
                )
            ),
        )
    ]
    for number in numbers:
        record = m.NumberStateRecord(
            organization_id=org,
            payload=m.NumberStatePayload(
                number=m.ImportedNumber(
                    address=number,
                    number_type=m.NumberType.LOCAL,
                    country="DE",
                    twilio_sid="PN" + "3" * 32,
                    integration_id=integration,
                ),
                state=m.NumberState.ACTIVE,
                version=1,
            ),
        )
        records.append((topics.NUMBER_STATE.name, number.encode(), m.encode(record)))
    return records


def _inbound(org: str, integration: str, to: str, customer: str) -> m.InboundMessageReceived:
    sid = "SM" + uuid.uuid4().hex
    return m.InboundMessageReceived(
        id=sid,
        organization_id=org,
        payload=m.InboundMessagePayload.model_validate(
            {
                "message_sid": sid,
                "account_sid": "AC" + "4" * 32,
                "from": customer,
                "to": to,
                "body": "drill",
                "region": "eu-central-1",
                "integration_id": integration,
                "received_at": datetime.now(UTC),
                "raw": {},
            }
        ),
    )


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(BIN / "byosms-routing")], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


async def test_routing_killed_mid_drain_loses_nothing_and_publishes_nothing_twice(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    integration = f"int-{uuid.uuid4().hex[:8]}"
    numbers = ["+4930" + str(uuid.uuid4().int)[:8] for _ in range(20)]
    group = f"drill-routing-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(
        kafka_bootstrap,
        group,
        [topics.INBOUND_MESSAGES.name, topics.DELIVERY_REPORTS.name, topics.OUTBOUND_COMMANDS.name],
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic, key, value in _states(org, integration, numbers):
            await producer.send_and_wait(topic, value, key)
        sent: list[m.InboundMessageReceived] = []
        for i in range(MESSAGES):
            to, customer = numbers[i % len(numbers)], f"+49151{i % 300:08d}"
            event = _inbound(org, integration, to, customer)
            sent.append(event)
            await producer.send(topics.INBOUND_MESSAGES.name, m.encode(event), f"{to}|{customer}".encode())
        await producer.flush()
    finally:
        await producer.stop()
    wanted = {e.id for e in sent}

    routed: Counter[str] = Counter()
    watcher = AIOKafkaConsumer(
        topics.MESSAGE_EVENTS.name,
        bootstrap_servers=kafka_bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        isolation_level="read_committed",
    )
    await watcher.start()
    await watcher.getmany(timeout_ms=100)  # position at the end before routing starts

    async def collect() -> None:
        while True:
            batch = await watcher.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    event = m.decode(record.value or b"")
                    if isinstance(event, m.InboundMessageRouted) and event.payload.message_sid in wanted:
                        routed[event.payload.message_sid] += 1

    collecting = asyncio.create_task(collect())
    env = {
        **os.environ,
        "BYOSMS_ROUTING_PORT": str(free_port()),
        "BYOSMS_ROUTING_CONSUMER_GROUP": group,
        "BYOSMS_CONSUMER_BATCH_MAX": "50",  # many transactions, so the kill lands inside one
        "BYOSMS_LOG_FORMAT": "json",
        "BYOSMS_KEKS": json.dumps({"drill": base64.b64encode(secrets.token_bytes(32)).decode()}),
        "BYOSMS_ACTIVE_KEK": "drill",
    }
    log = tmp_path / "routing.log"
    process = _start(env, log)
    try:

        def under_way() -> bool:
            assert process.poll() is None, log.read_text()[-2000:]
            return len(routed) >= MESSAGES // 5

        await eventually(under_way, within=120, what="routing under way")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        at_kill = len(routed)
        process = _start(env, log)
        began = time.monotonic()
        await eventually(lambda: len(routed) == MESSAGES, within=180, what="every message routed after restart")
        await asyncio.sleep(2)  # duplicates, if any, would show up now
        drained_in = time.monotonic() - began
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        collecting.cancel()
        await watcher.stop()
    duplicates = sum(count - 1 for count in routed.values() if count > 1)
    lost = len(wanted - routed.keys())
    print(  # noqa: T201 - the drill's report
        f"\ndrill: sent {MESSAGES}, routed before SIGKILL {at_kill}, routed {len(routed)}, "
        f"duplicates {duplicates}, lost {lost}; rest drained in {drained_in:.1f}s after restart"
    )
    assert lost == 0
    assert duplicates == 0
    conn = await asyncpg.connect(database_url)
    try:
        decided = await conn.fetchval(
            "SELECT count(*) FROM routing.inbound_decisions WHERE message_sid = ANY($1::text[])", list(wanted)
        )
    finally:
        await conn.close()
    assert decided == MESSAGES

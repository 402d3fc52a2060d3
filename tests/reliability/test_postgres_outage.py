"""Fault drill: PostgreSQL goes away under routing for a few seconds, then comes back.

Meanwhile routing routes nothing and commits nothing, says so on ``/readyz`` (``consumers`` false),
and logs the outage once when it starts and once when it ends, not once per retry. Once the database
answers again, the waiting message is routed within about a second and a half (the retry backoff is
capped at ``BYOSMS_CONSUMER_RETRY_MAX_DELAY_S``, 1 s), not after a backoff that grew during the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.testing import TopicWatcher, eventually, free_port, start_group_at_end, tcp_forwarding
from byosms_routing.app import run
from byosms_routing.settings import RoutingSettings

pytestmark = pytest.mark.integration

OUTAGE_S = 6.0


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)
    netloc = (host[0] + "@" if len(host) == 2 else "") + f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _inbound(org: str, integration: str, to: str, customer: str) -> m.InboundMessageReceived:
    sid = "SM" + uuid.uuid4().hex
    return m.InboundMessageReceived(
        id=sid,
        organization_id=org,
        payload=m.InboundMessagePayload.model_validate(
            {
                "message_sid": sid,
                "account_sid": "AC" + "5" * 32,
                "from": customer,
                "to": to,
                "body": "outage",
                "region": "eu-central-1",
                "integration_id": integration,
                "received_at": datetime.now(UTC),
                "raw": {},
            }
        ),
    )


async def test_routing_waits_out_a_postgres_outage_and_resumes_at_once(
    kafka_bootstrap: str, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    org, integration = f"org-{uuid.uuid4().hex[:8]}", f"int-{uuid.uuid4().hex[:8]}"
    number, customer = "+4930" + str(uuid.uuid4().int)[:8], "+49151" + str(uuid.uuid4().int)[:8]
    conversation = f"{number}|{customer}"
    pg = urlsplit(database_url)
    pg_target = f"{pg.hostname}:{pg.port or 5432}"
    pg_port, http_port = free_port(), free_port()
    settings = RoutingSettings(port=http_port, consumer_group=f"outage-{uuid.uuid4().hex[:8]}")
    await start_group_at_end(
        kafka_bootstrap,
        settings.consumer_group,
        [topics.INBOUND_MESSAGES.name, topics.DELIVERY_REPORTS.name, topics.OUTBOUND_COMMANDS.name],
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    state = m.IntegrationState(
        organization_id=org,
        payload=m.IntegrationStatePayload(
            integration_id=integration,
            region="eu-central-1",
            status=m.IntegrationStatus.ACTIVE,
            version=1,
            default_routing_target="queue-drill",
        ),
    )
    record = m.NumberStateRecord(
        organization_id=org,
        payload=m.NumberStatePayload(
            number=m.ImportedNumber(
                address=number,
                number_type=m.NumberType.LOCAL,
                country="DE",
                twilio_sid="PN" + "5" * 32,
                integration_id=integration,
            ),
            state=m.NumberState.ACTIVE,
            version=1,
        ),
    )
    await producer.send_and_wait(topics.INTEGRATION_STATE.name, m.encode(state), integration.encode())
    await producer.send_and_wait(topics.NUMBER_STATE.name, m.encode(record), number.encode())
    stop = asyncio.Event()
    database = DatabaseSettings(database_url=_through(database_url, pg_port))  # type: ignore[arg-type]
    forwarding = tcp_forwarding(pg_port, pg_target)
    await forwarding.__aenter__()
    task = asyncio.create_task(run(settings, KafkaSettings(kafka_bootstrap=kafka_bootstrap), database, stop=stop))
    try:
        async with (
            aiohttp.ClientSession() as http,
            TopicWatcher(kafka_bootstrap, [topics.MESSAGE_EVENTS.name], {conversation}, from_end=True) as watch,
        ):

            async def readiness() -> dict[str, bool]:
                async with http.get(f"http://127.0.0.1:{http_port}/readyz") as response:
                    return dict((await response.json())["checks"])

            def routed(sid: str) -> bool:
                return any(
                    isinstance(e, m.InboundMessageRouted) and e.payload.message_sid == sid
                    for e in (m.decode(r.value or b"") for r in watch.records)
                )

            first = _inbound(org, integration, number, customer)
            await producer.send_and_wait(topics.INBOUND_MESSAGES.name, m.encode(first), conversation.encode())
            await eventually(lambda: routed(first.id), within=40, what="routed before the outage")

            await forwarding.__aexit__(None, None, None)  # PostgreSQL is away from here
            second = _inbound(org, integration, number, customer)
            await producer.send_and_wait(topics.INBOUND_MESSAGES.name, m.encode(second), conversation.encode())
            await asyncio.sleep(OUTAGE_S)
            assert not routed(second.id)
            checks = await readiness()
            assert checks["consumers"] is False, checks

            forwarding = tcp_forwarding(pg_port, pg_target)
            await forwarding.__aenter__()  # back
            back = time.monotonic()
            await eventually(lambda: routed(second.id), within=20, interval=0.02, what="routed after the outage")
            resumed_after = time.monotonic() - back
            print(f"\ndrill: PostgreSQL away {OUTAGE_S:.0f}s; routing resumed {resumed_after:.2f}s after it was back")  # noqa: T201
            assert resumed_after < 5.0
            await eventually(lambda: readiness(), within=10, what="ready again")
            assert (await readiness())["consumers"] is True
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)
        await producer.stop()
        with contextlib.suppress(Exception):
            await forwarding.__aexit__(None, None, None)
    said = [r.getMessage() for r in caplog.records if "dependency" in r.getMessage()]
    inbound = [line for line in said if line.startswith(f"routing:{topics.INBOUND_MESSAGES.name}")]
    # Each consumer says it once when the database went and once when it was back, not once per retry.
    assert len(inbound) == 2, said
    assert "waits for a dependency" in inbound[0]
    assert "dependency back after" in inbound[1]
    assert len(said) <= 2 * 3, said

"""Routing of what the ingress publishes for MMS and other channels, through real Kafka and PostgreSQL:
every media item and the dropped count copied onto the routed event; ``whatsapp:``/``rcs:`` messages
discarded as ``unsupported_channel`` (recorded in ``routing.inbound_decisions``, counted in
``byosms_routing_inbound_decisions_total``) even to an active, routable number."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.testing import TopicWatcher, eventually, free_port, start_group_at_end
from byosms_routing.app import run
from byosms_routing.settings import RoutingSettings

pytestmark = pytest.mark.integration

ACCOUNT = "AC" + "1" * 32


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def routing_port(kafka_bootstrap: str, database_url: str) -> AsyncIterator[int]:
    stop = asyncio.Event()
    settings = RoutingSettings(port=free_port(), consumer_group=f"test-routing-{uuid.uuid4().hex}")
    await start_group_at_end(kafka_bootstrap, settings.consumer_group, [topics.INBOUND_MESSAGES.name])
    task = asyncio.create_task(
        run(
            settings,
            KafkaSettings(kafka_bootstrap=kafka_bootstrap),
            DatabaseSettings(database_url=database_url),  # type: ignore[arg-type]
            stop=stop,
        )
    )
    yield settings.port
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)


def _inbound(org: str, integration: str, from_: str, to: str, media: int, dropped: int) -> m.InboundMessageReceived:
    sid = ("MM" if media else "SM") + uuid.uuid4().hex
    items = [
        {"url": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}/Media/ME{n:032x}",
         "content_type": f"image/t{n}"}
        for n in range(media)
    ]  # fmt: skip
    return m.InboundMessageReceived(
        id=sid,
        organization_id=org,
        payload=m.InboundMessagePayload.model_validate(
            {"message_sid": sid, "account_sid": ACCOUNT, "from": from_, "to": to, "body": "", "media": items,
             "media_dropped": dropped, "region": "eu-central-1", "integration_id": integration,
             "received_at": datetime.now(UTC), "raw": {}}
        ),
    )  # fmt: skip


async def test_media_copied_and_other_channels_discarded(
    routing_port: int, producer: AIOKafkaProducer, kafka_bootstrap: str, database_url: str
) -> None:
    org, integration = f"org-{uuid.uuid4().hex[:8]}", f"int-{uuid.uuid4().hex[:8]}"
    number = "+4930" + str(uuid.uuid4().int)[:8]
    customer = "+49151" + str(uuid.uuid4().int)[:8]
    state = m.IntegrationState(
        organization_id=org,
        payload=m.IntegrationStatePayload(integration_id=integration, region="eu-central-1",
                                          status=m.IntegrationStatus.ACTIVE, version=1,
                                          default_routing_target="queue-mms"),
    )  # fmt: skip
    record = m.NumberStateRecord(
        organization_id=org,
        payload=m.NumberStatePayload(
            number=m.ImportedNumber(address=number, number_type=m.NumberType.LOCAL, country="DE",
                                    twilio_sid="PN" + "2" * 32, integration_id=integration),
            state=m.NumberState.ACTIVE, version=1),
    )  # fmt: skip
    await producer.send_and_wait(topics.INTEGRATION_STATE.name, m.encode(state), key=integration.encode())
    await producer.send_and_wait(topics.NUMBER_STATE.name, m.encode(record), key=number.encode())
    cases = {
        "sms": (customer, number, 10, 1),
        "whatsapp": (f"whatsapp:{customer}", f"whatsapp:{number}", 0, 0),
        "rcs": (customer, f"rcs:{number}", 2, 0),
    }
    keys = {f"{to}|{from_}" for from_, to, _, _ in cases.values()}
    async with TopicWatcher(kafka_bootstrap, [topics.MESSAGE_EVENTS.name], keys, from_end=True) as watch:
        decided: dict[str, m.AnyMessage] = {}
        sent: dict[str, m.InboundMessageReceived] = {}

        async def all_decided() -> bool:
            for record in watch.records:
                event = m.decode(record.value or b"")
                if isinstance(event, m.InboundMessageRouted | m.InboundMessageDiscarded):
                    for label, message in sent.items():
                        if event.payload.message_sid == message.id:
                            decided[label] = event
            # The number's state reaches routing's cache on its own path: send again until routed.
            for label, (from_, to, media, dropped) in cases.items():
                earlier = decided.get(label)
                if earlier is None or (label == "sms" and not isinstance(earlier, m.InboundMessageRouted)):
                    decided.pop(label, None)
                    sent[label] = message = _inbound(org, integration, from_, to, media, dropped)
                    await producer.send_and_wait(topics.INBOUND_MESSAGES.name, m.encode(message),
                                                 key=f"{to}|{from_}".encode())  # fmt: skip
            return len(decided) == len(cases)

        await eventually(all_decided, within=60, interval=0.5, what="every message decided")

    routed = decided["sms"]
    assert isinstance(routed, m.InboundMessageRouted)
    assert routed.payload.media == sent["sms"].payload.media
    assert [item.content_type for item in routed.payload.media] == [f"image/t{n}" for n in range(10)]
    assert routed.payload.media_dropped == 1
    for label in ("whatsapp", "rcs"):
        discarded = decided[label]
        assert isinstance(discarded, m.InboundMessageDiscarded), label
        assert discarded.payload.reason == "unsupported_channel"

    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT message_sid, decision, reason FROM routing.inbound_decisions WHERE message_sid = ANY($1::text[])",
            [sent["whatsapp"].id, sent["rcs"].id],
        )
    finally:
        await connection.close()
    assert sorted((r["decision"], r["reason"]) for r in rows) == [("discarded", "unsupported_channel")] * 2

    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{routing_port}/metrics") as response:
        metrics = await response.text()
    line = 'byosms_routing_inbound_decisions_total{decision="discarded",reason="unsupported_channel"}'
    assert any(row.startswith(line) and float(row.split()[-1]) >= 2 for row in metrics.splitlines()), metrics[-2000:]

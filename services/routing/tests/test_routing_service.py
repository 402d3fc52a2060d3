"""Routing through real Kafka and PostgreSQL: inbound messages routed, or discarded with a reason."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.settings import DatabaseSettings, KafkaSettings
from byosms_common.testing import TopicWatcher, eventually, free_port, start_group_at_end
from byosms_routing.app import run
from byosms_routing.settings import RoutingSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def routing(kafka_bootstrap: str, database_url: str) -> AsyncIterator[None]:
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
    yield
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)


def _inbound(org: str, integration: str, to: str, sender: str) -> m.InboundMessageReceived:
    sid = "SM" + uuid.uuid4().hex
    return m.InboundMessageReceived(
        id=sid,
        organization_id=org,
        payload=m.InboundMessagePayload.model_validate(
            {
                "message_sid": sid,
                "account_sid": "AC" + "1" * 32,
                "from": sender,
                "to": to,
                "body": "Hallo",
                "region": "eu-central-1",
                "integration_id": integration,
                "received_at": datetime.now(UTC),
                "raw": {},
            }
        ),
    )


async def test_inbound_routed_for_active_number_and_discarded_after_deactivation(
    routing: None, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    integration = f"int-{uuid.uuid4().hex[:8]}"
    to = "+4930" + str(uuid.uuid4().int)[:8]
    sender = "+49151" + str(uuid.uuid4().int)[:8]
    conversation = f"{to}|{sender}"

    def integration_state(status: m.IntegrationStatus, version: int) -> bytes:
        return m.encode(
            m.IntegrationState(
                organization_id=org,
                payload=m.IntegrationStatePayload(
                    integration_id=integration,
                    region="eu-central-1",
                    status=status,
                    version=version,
                    default_routing_target="queue-integration",
                ),
            )
        )

    number = m.NumberStateRecord(
        organization_id=org,
        payload=m.NumberStatePayload(
            number=m.ImportedNumber(
                address=to,
                number_type=m.NumberType.LOCAL,
                country="DE",
                twilio_sid="PN" + "2" * 32,
                integration_id=integration,
            ),
            state=m.NumberState.ACTIVE,
            version=1,
            routing_target="queue-number",
        ),
    )
    await producer.send_and_wait(
        topics.INTEGRATION_STATE.name, integration_state(m.IntegrationStatus.ACTIVE, 1), key=integration.encode()
    )
    await producer.send_and_wait(topics.NUMBER_STATE.name, m.encode(number), key=to.encode())

    async with TopicWatcher(kafka_bootstrap, [topics.MESSAGE_EVENTS.name], {conversation}, from_end=True) as watch:
        first = _inbound(org, integration, to, sender)
        await producer.send_and_wait(topics.INBOUND_MESSAGES.name, m.encode(first), key=conversation.encode())
        await eventually(lambda: len(watch.records) == 1, within=30, what="first message decided")
        routed = m.decode(watch.records[0].value or b"")
        assert isinstance(routed, m.InboundMessageRouted)
        assert routed.payload.message_sid == first.id
        assert routed.payload.body == "Hallo"
        assert routed.payload.queue == "queue-number"  # the number's own target wins over its integration's

        await producer.send_and_wait(
            topics.INTEGRATION_STATE.name, integration_state(m.IntegrationStatus.INACTIVE, 2), key=integration.encode()
        )
        second = _inbound(org, integration, to, sender)

        async def discarded() -> bool:
            # The state change and the message travel on different topics: resend until the cache has it.
            decided = [m.decode(r.value or b"") for r in watch.records]
            if any(isinstance(d, m.InboundMessageDiscarded) for d in decided):
                return True
            await producer.send_and_wait(
                topics.INBOUND_MESSAGES.name,
                m.encode(second.model_copy(update={"id": "SM" + uuid.uuid4().hex})),
                key=conversation.encode(),
            )
            return False

        await eventually(discarded, within=30, interval=0.3, what="message discarded")
        last = m.decode(watch.records[-1].value or b"")
        assert isinstance(last, m.InboundMessageDiscarded)
        assert last.payload.reason == "integration_inactive"

"""The FastStream publisher and the state-topic follower against the real broker (the consumer engine
has its own tests: ``test_consumer_engine``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from byosms_common import messages as m
from byosms_common.kafka import (
    Publisher,
    build_broker,
)
from byosms_common.settings import KafkaSettings
from byosms_common.state_cache import StateTopicFollower
from byosms_common.testing import eventually
from byosms_common.topics import TopicSpec

pytestmark = pytest.mark.integration


@pytest.fixture
async def scratch_topic(kafka_bootstrap: str) -> AsyncIterator[Callable[..., Awaitable[TopicSpec]]]:
    """Creates uniquely named topics (with dead-letter topics) for one test and deletes them after."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    created: list[str] = []

    async def make(compacted: bool = False) -> TopicSpec:
        spec = TopicSpec(
            name=f"test.{uuid.uuid4().hex[:12]}",
            key="test",
            partitions=2,
            compacted=compacted,
            producer="test",
            consumers=("test",),
            description="scratch",
        )
        config = {"cleanup.policy": "compact"} if compacted else {}
        topics = [NewTopic(spec.name, 2, 1, topic_configs=config), NewTopic(spec.dead_letter, 1, 1)]
        await admin.create_topics(topics)
        created.extend(t.name for t in topics)
        return spec

    yield make
    await admin.delete_topics(created)
    await admin.close()


def _send(organization: str, body: str) -> m.SendMessage:
    return m.SendMessage(
        organization_id=organization,
        payload=m.SendMessagePayload.model_validate({"from": "+4930123456", "to": "+4915112345678", "body": body}),
    )


async def test_publisher_waits_for_ack_and_state_follower_applies_tombstones(
    kafka_bootstrap: str, scratch_topic: Callable[..., Awaitable[TopicSpec]]
) -> None:
    topic = await scratch_topic(compacted=True)
    settings = KafkaSettings(kafka_bootstrap=kafka_bootstrap)
    broker = build_broker(settings, "test")
    async with broker:
        await broker.start()
        publisher = Publisher(broker)
        await publisher.publish(topic, _send("org", "a"), "key-a")
        await publisher.publish(topic, _send("org", "b"), "key-b")
        await publisher.publish_tombstone(topic, "key-a")

        follower: StateTopicFollower[m.SendMessage] = StateTopicFollower(
            settings, topic, m.SendMessage, client_id="test"
        )
        await follower.start()
        try:
            await asyncio.wait_for(follower.loaded.wait(), 20)
            assert set(follower.values) == {"key-b"}
            await publisher.publish(topic, _send("org", "c"), "key-c")
            await eventually(lambda: "key-c" in follower.values, what="live update followed")
            assert follower.values["key-c"].payload.body == "c"
        finally:
            await follower.stop()


async def test_state_follower_that_fails_reports_not_loaded_and_recovers(
    kafka_bootstrap: str, scratch_topic: Callable[..., Awaitable[TopicSpec]]
) -> None:
    topic = await scratch_topic(compacted=True)
    settings = KafkaSettings(kafka_bootstrap=kafka_bootstrap)
    broken = False
    changes: list[str] = []

    def on_change(key: str, _value: m.SendMessage | None) -> None:
        if broken:
            raise RuntimeError("cache consumer bug")
        changes.append(key)

    broker = build_broker(settings, "test")
    async with broker:
        await broker.start()
        publisher = Publisher(broker)
        await publisher.publish(topic, _send("org", "a"), "key-a")
        follower: StateTopicFollower[m.SendMessage] = StateTopicFollower(
            settings, topic, m.SendMessage, client_id="test", on_change=on_change, restart_first_delay=0.05
        )
        await follower.start()
        try:
            await asyncio.wait_for(follower.loaded.wait(), 20)
            broken = True
            await publisher.publish(topic, _send("org", "b"), "key-b")
            await eventually(lambda: not follower.loaded.is_set(), what="follower reports not loaded")
            assert follower.restarts >= 1
            broken = False
            await asyncio.wait_for(follower.loaded.wait(), 20)
            await publisher.publish(topic, _send("org", "c"), "key-c")
            await eventually(lambda: "key-c" in follower.values, what="live updates followed again")
            assert set(follower.values) == {"key-a", "key-b", "key-c"}
            assert "key-b" in changes
        finally:
            await follower.stop()

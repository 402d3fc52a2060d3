"""``byosms-topics ensure`` (the chart's topic Job) on the real broker: creates what is missing with
the wanted configs, fails on an existing topic that breaks a guarantee (a state topic without
compaction), only warns about one with fewer partitions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

pytestmark = pytest.mark.integration


def _run(bootstrap: str, plan: list[dict[str, object]], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BYOSMS_KAFKA_", "BYOSMS_TOPICS_"))}
    settings = {
        "BYOSMS_KAFKA_BOOTSTRAP": bootstrap,
        "BYOSMS_TOPICS_REPLICATION_FACTOR": "1",
        "BYOSMS_TOPICS_MIN_INSYNC_REPLICAS": "1",
        "BYOSMS_TOPICS_PLAN": json.dumps(plan),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "byosms_common.topics_cli", "ensure"],
        env={**clean, **settings},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
async def admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await client.start()
    yield client
    await client.close()


def _name() -> str:
    return f"test.topics.{uuid.uuid4().hex[:10]}"


async def _config(admin: AIOKafkaAdminClient, topic: str) -> dict[str, str]:
    (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    ((_, _, _, _, entries),) = response.resources
    return {e[0]: e[1] for e in entries}


async def test_missing_topics_are_created_with_their_configs(kafka_bootstrap: str, admin: AIOKafkaAdminClient) -> None:
    state, events = _name(), _name()
    plan = [
        {"name": state, "partitions": 2, "compacted": True, "deadLetter": False},
        {"name": events, "partitions": 3, "compacted": False, "deadLetter": True},
    ]
    try:
        result = _run(kafka_bootstrap, plan, BYOSMS_TOPICS_DEAD_LETTER_RETENTION_MS="86400000")
        assert result.returncode == 0, result.stderr
        assert {f"created {state}", f"created {events}", f"created {events}.dlt"} <= set(result.stdout.splitlines())
        assert (await _config(admin, state))["cleanup.policy"] == "compact"
        dead = await _config(admin, f"{events}.dlt")
        assert dead["retention.ms"] == "86400000"
        assert dead["cleanup.policy"] == "delete"
        again = _run(kafka_bootstrap, plan, BYOSMS_TOPICS_DEAD_LETTER_RETENTION_MS="86400000")
        assert again.returncode == 0, again.stderr
        assert "warning" not in again.stderr
    finally:
        await admin.delete_topics([state, events, f"{events}.dlt"])


async def test_a_state_topic_without_compaction_fails_the_job(kafka_bootstrap: str, admin: AIOKafkaAdminClient) -> None:
    state = _name()
    await admin.create_topics([NewTopic(state, 2, 1, topic_configs={"cleanup.policy": "delete"})])
    try:
        result = _run(kafka_bootstrap, [{"name": state, "partitions": 2, "compacted": True, "deadLetter": False}])
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"error: {state}: cleanup.policy is delete, must include compact" in result.stderr
        assert "break a guarantee" in result.stderr
    finally:
        await admin.delete_topics([state])


async def test_fewer_partitions_only_warn_unless_told_to_fail(kafka_bootstrap: str, admin: AIOKafkaAdminClient) -> None:
    events = _name()
    await admin.create_topics([NewTopic(events, 1, 1, topic_configs={"min.insync.replicas": "1"})])
    plan: list[dict[str, object]] = [{"name": events, "partitions": 3, "compacted": False, "deadLetter": False}]
    try:
        result = _run(kafka_bootstrap, plan)
        assert result.returncode == 0, result.stderr
        assert f"warning: {events}: 1 partitions, fewer than 3" in result.stderr
        strict = _run(kafka_bootstrap, plan, BYOSMS_TOPICS_FAIL_ON_WARNING="true")
        assert strict.returncode == 1
    finally:
        await admin.delete_topics([events])


def test_unreachable_kafka_exits_3_in_english_and_german() -> None:
    result = _run("127.0.0.1:1", [], BYOSMS_TOPICS_TIMEOUT_S="5")
    assert result.returncode == 3
    assert "Kafka unavailable / nicht erreichbar" in result.stderr

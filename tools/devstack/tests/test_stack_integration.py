"""Lifecycle of a real stack. It runs in its own state dir on free ports, so it never stops or changes
the shared stack other tests and developers use (default ports, <repo>/.run/stack)."""

import asyncio
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from typer.testing import CliRunner

from byosms_common.topics import all_topic_names
from byosms_devstack import StackError, StackInfo, StackSettings, ensure_stack, stack_status, stop_stack
from byosms_devstack.cli import app
from byosms_devstack.settings import find_repo_root

pytestmark = pytest.mark.integration


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture
def isolated_settings() -> Iterator[StackSettings]:
    # Under the repo, not pytest's tmp dir: as root, postgres runs as the postgres OS user, which
    # cannot enter /tmp/pytest-of-root (mode 0700).
    state = find_repo_root() / ".run" / f"test-devstack-{uuid.uuid4().hex[:8]}"
    kafka, controller, pg = _free_ports(3)
    settings = StackSettings(dir=state, kafka_port=kafka, controller_port=controller, pg_port=pg)
    try:
        yield settings
    finally:
        stop_stack(settings, say=lambda _m: None)
        shutil.rmtree(state, ignore_errors=True)


async def _roundtrip(bootstrap: str) -> bytes:
    topic = f"devstack-test-{uuid.uuid4().hex}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        assert set(all_topic_names()) <= set(await admin.list_topics())
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"g-{uuid.uuid4().hex}", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert record.value is not None
    return record.value


async def _select_one(url: str) -> int:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


def _up(settings: StackSettings) -> StackInfo:
    return ensure_stack(settings, say=lambda _m: None)


async def test_up_roundtrip_second_up_noop_down_up_again(isolated_settings: StackSettings) -> None:
    # Called straight from a running event loop on purpose: ensure_stack must cope (async fixtures).
    info = _up(isolated_settings)
    assert info.started == ("kafka", "postgres")
    assert info.kafka_bootstrap == f"127.0.0.1:{isolated_settings.kafka_port}"
    assert info.database_url == f"postgresql://byosms@127.0.0.1:{isolated_settings.pg_port}/byosms"

    assert await _roundtrip(info.kafka_bootstrap) == b"hello"
    assert await _select_one(info.database_url) == 1
    assert await _select_one(info.database_url_for("byosms_routing")) == 1

    began = time.monotonic()
    again = await asyncio.to_thread(_up, isolated_settings)
    assert again.started == ()
    assert (again.kafka_pid, again.postgres_pid) == (info.kafka_pid, info.postgres_pid)
    assert time.monotonic() - began < 15

    assert await asyncio.to_thread(stop_stack, isolated_settings, say=lambda _m: None) == ["kafka", "postgres"]
    stopped = stack_status(isolated_settings)
    assert (stopped.kafka_pid, stopped.postgres_pid) == (None, None)

    # Restart on the same data: topics and databases survive, nothing is reformatted.
    restarted = await asyncio.to_thread(_up, isolated_settings)
    assert restarted.started == ("kafka", "postgres")
    assert await _roundtrip(restarted.kafka_bootstrap) == b"hello"
    assert await _select_one(restarted.database_url) == 1


def test_cli_status_and_env_follow_the_stack(isolated_settings: StackSettings) -> None:
    runner = CliRunner()
    state = str(isolated_settings.dir)
    assert runner.invoke(app, ["status", "--dir", state]).exit_code == 1

    up = runner.invoke(
        app,
        [
            "up",
            "--dir",
            state,
            "--kafka-port",
            str(isolated_settings.kafka_port),
            "--controller-port",
            str(isolated_settings.controller_port),
            "--pg-port",
            str(isolated_settings.pg_port),
            "--db",
            "byosms_extra",
        ],
    )
    assert up.exit_code == 0, up.output
    exports = f"export BYOSMS_KAFKA_BOOTSTRAP=127.0.0.1:{isolated_settings.kafka_port}\n"
    assert exports in up.stdout

    # status/env/down find the running stack's ports from the state dir, without repeating options.
    assert runner.invoke(app, ["status", "--dir", state]).exit_code == 0
    env = runner.invoke(app, ["env", "--dir", state])
    assert env.stdout.startswith(exports)
    assert asyncio.run(_select_one(f"postgresql://byosms@127.0.0.1:{isolated_settings.pg_port}/byosms_extra")) == 1

    assert runner.invoke(app, ["down", "--dir", state]).exit_code == 0
    assert runner.invoke(app, ["status", "--dir", state]).exit_code == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands PostgreSQL to the postgres OS user")
def test_failed_up_reports_why_and_leaves_nothing_running(tmp_path: Path) -> None:
    # pytest's base temp dir is private to root, so the postgres OS user cannot reach a cluster there.
    kafka, controller, pg = _free_ports(3)
    settings = StackSettings(dir=tmp_path / "stack", kafka_port=kafka, controller_port=controller, pg_port=pg)
    try:
        with pytest.raises(StackError, match="cannot reach"):
            _up(settings)
        status = stack_status(settings)
        assert (status.kafka_pid, status.postgres_pid) == (None, None)
    finally:
        stop_stack(settings, say=lambda _m: None)

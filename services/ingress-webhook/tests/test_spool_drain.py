"""``byosms-ingress drain``: a spool directory no ingress opens any more (the claim of a scaled-down
pod) is moved into Kafka by the command, which then exits 0; a directory an ingress still holds is
left alone (exit 3); with Kafka unreachable the records stay on disk (exit 1)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from byosms_common.testing import TopicWatcher
from byosms_common.topics import INBOUND_MESSAGES
from byosms_ingress.spool import Spool, SpoolRecord

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


async def _spool(directory: Path, count: int) -> list[str]:
    spool = Spool(directory, 16 * 1024 * 1024)
    await spool.open()
    ids = [f"ev-{uuid.uuid4().hex}" for _ in range(count)]
    for event_id in ids:
        await spool.append(SpoolRecord(event_id, INBOUND_MESSAGES.name, "k", event_id.encode(), "sms.inbound"))
    await spool.close()
    return ids


def _drain(directory: Path, bootstrap: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BYOSMS_KAFKA_BOOTSTRAP": bootstrap, "BYOSMS_LOG_FORMAT": "text"}
    command = [str(BIN / "byosms-ingress"), "drain", f"--spool-dir={directory}", *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


async def test_drain_moves_an_orphaned_spool_into_kafka_and_exits(tmp_path: Path, kafka_bootstrap: str) -> None:
    directory = tmp_path / "byosms-ingress-us-east-1-3"
    ids = await _spool(directory, 25)
    async with TopicWatcher(kafka_bootstrap, [INBOUND_MESSAGES.name], {"k"}, from_end=True) as watcher:
        done = await asyncio.to_thread(_drain, directory, kafka_bootstrap)
        assert done.returncode == 0, done.stderr
        for _ in range(100):
            values = {r.value for r in watcher.on(INBOUND_MESSAGES.name)}
            if {i.encode() for i in ids} <= values:
                break
            await asyncio.sleep(0.1)
        assert {i.encode() for i in ids} <= {r.value for r in watcher.on(INBOUND_MESSAGES.name)}
    spool = Spool(directory, 16 * 1024 * 1024)
    await spool.open()
    assert spool.pending_records == 0
    await spool.close()


async def test_drain_leaves_a_spool_that_an_ingress_holds(tmp_path: Path, kafka_bootstrap: str) -> None:
    directory = tmp_path / "held"
    await _spool(directory, 3)
    holder = Spool(directory, 16 * 1024 * 1024)
    await holder.open()
    try:
        done = await asyncio.to_thread(_drain, directory, kafka_bootstrap)
    finally:
        await holder.close()
    assert done.returncode == 3
    assert "open in another process" in done.stderr


async def test_drain_without_kafka_keeps_the_records(tmp_path: Path) -> None:
    directory = tmp_path / "no-kafka"
    await _spool(directory, 4)
    done = await asyncio.to_thread(_drain, directory, "127.0.0.1:1", "--timeout-s=3")
    assert done.returncode == 1, done.stderr
    spool = Spool(directory, 16 * 1024 * 1024)
    await spool.open()
    assert spool.pending_records == 4
    await spool.close()

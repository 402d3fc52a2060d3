"""The disk spool: durable appends, order, bounds, crash consistency."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from byosms_ingress.spool import (
    HEADER_SIZE,
    Spool,
    SpoolFullError,
    SpoolLockedError,
    SpoolRecord,
    SpoolWriteError,
)

pytestmark = pytest.mark.unit


def record(n: int, size: int = 10) -> SpoolRecord:
    return SpoolRecord(
        event_id=f"SM{n}", topic="t", key=f"k{n}", value=b"v" * size, message_type="sms.inbound_received"
    )


async def opened(directory: Path, max_bytes: int = 1024 * 1024) -> Spool:
    spool = Spool(directory, max_bytes)
    await spool.open()
    return spool


async def drain_all(spool: Spool) -> list[str]:
    batch = await spool.peek(1000)
    if batch.records:
        await spool.ack(batch, len(batch.records))
    return [r.event_id for r in batch.records]


async def test_appends_survive_a_restart_in_order(tmp_path: Path) -> None:
    spool = await opened(tmp_path)
    for n in range(5):
        await spool.append(record(n))
    assert not spool.empty
    assert spool.pending_records == 5
    await spool.close()

    again = await opened(tmp_path)
    batch = await again.peek(2)
    assert [r.event_id for r in batch.records] == ["SM0", "SM1"]
    await again.ack(batch, 2)
    await again.close()

    third = await opened(tmp_path)
    assert await drain_all(third) == ["SM2", "SM3", "SM4"]
    assert third.empty
    assert third.pending_bytes == 0
    await third.close()
    assert (await opened(tmp_path)).empty


@pytest.mark.parametrize(
    ("label", "tail"),
    [
        ("record cut short", lambda data: data[:-3]),
        ("header cut short", lambda data: data + b"\x00\x00"),
        ("checksum mismatch", lambda data: data[:-1] + bytes([data[-1] ^ 0xFF])),
        ("length beyond the end", lambda data: data + b"\x00\x00\x10\x00\x00\x00\x00\x00abc"),
    ],
)
async def test_torn_tail_is_cut_off(tmp_path: Path, label: str, tail: object) -> None:
    spool = await opened(tmp_path)
    for n in range(3):
        await spool.append(record(n))
    await spool.close()
    path = tmp_path / "spool.log"
    data = path.read_bytes()
    assert callable(tail)
    path.write_bytes(tail(data))

    recovered = await opened(tmp_path)
    expected = ["SM0", "SM1"] if label in ("record cut short", "checksum mismatch") else ["SM0", "SM1", "SM2"]
    assert recovered.pending_records == len(expected), label
    await recovered.append(record(9))
    assert await drain_all(recovered) == [*expected, "SM9"]
    await recovered.close()


async def test_full_spool_refuses(tmp_path: Path) -> None:
    size = len(record(0, 1000).encode())
    spool = await opened(tmp_path, max_bytes=HEADER_SIZE + 2 * size)
    await spool.append(record(0, 1000))
    await spool.append(record(1, 1000))
    with pytest.raises(SpoolFullError):
        await spool.append(record(2, 1000))
    assert await drain_all(spool) == ["SM0", "SM1"]
    await spool.append(record(3, 1000))  # room again once drained
    await spool.close()


async def test_compaction_keeps_the_undrained_tail(tmp_path: Path) -> None:
    size = len(record(0, 1000).encode())
    spool = await opened(tmp_path, max_bytes=HEADER_SIZE + 4 * size)
    for n in range(4):
        await spool.append(record(n, 1000))
    batch = await spool.peek(3)
    await spool.ack(batch, 3)  # past half the limit: the file is rewritten with SM3 only
    assert (tmp_path / "spool.log").stat().st_size == HEADER_SIZE + size
    await spool.close()
    again = await opened(tmp_path, max_bytes=HEADER_SIZE + 4 * size)
    assert await drain_all(again) == ["SM3"]
    await again.close()


async def test_stale_offset_of_an_older_generation_means_from_the_start(tmp_path: Path) -> None:
    spool = await opened(tmp_path)
    await spool.append(record(0))
    await spool.close()
    # A crash after the new file was renamed in but before the offset file was: offset names gen 0.
    (tmp_path / "spool.offset").write_bytes((0).to_bytes(8, "big") + (10_000).to_bytes(8, "big"))
    again = await opened(tmp_path)
    assert await drain_all(again) == ["SM0"]
    await again.close()


async def test_files_are_private(tmp_path: Path) -> None:
    spool = await opened(tmp_path / "spool")
    await spool.append(record(0))
    await spool.close()
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "spool" / "spool.log").stat().st_mode) == 0o600


async def test_compaction_during_a_drain_loses_nothing(tmp_path: Path) -> None:
    """An append compacts the file while the drain holds a batch: acking that batch afterwards
    must mark exactly its records, not bytes of the rewritten file."""
    size = len(record(0, 1000).encode())
    limit = HEADER_SIZE + 10 * size + size // 2
    spool = await opened(tmp_path, max_bytes=limit)
    for n in range(10):
        await spool.append(record(n, 1000))
    first = await spool.peek(3)
    await spool.ack(first, 3)  # SM0-SM2 in Kafka; below half the limit, so no compaction yet
    in_flight = await spool.peek(3)  # SM3-SM5 on their way to Kafka
    assert [r.event_id for r in in_flight.records] == ["SM3", "SM4", "SM5"]
    await spool.append(record(10, 1000))  # does not fit behind SM9: the file is compacted first
    assert (tmp_path / "spool.log").stat().st_size == HEADER_SIZE + 7 * size + len(record(10, 1000).encode())
    await spool.ack(in_flight, 3)
    assert spool.pending_records == 5
    assert await drain_all(spool) == ["SM6", "SM7", "SM8", "SM9", "SM10"]
    await spool.close()
    again = await opened(tmp_path, max_bytes=limit)
    assert again.empty
    await again.close()


async def test_compaction_during_a_drain_survives_a_restart(tmp_path: Path) -> None:
    size = len(record(0, 1000).encode())
    limit = HEADER_SIZE + 10 * size + size // 2
    spool = await opened(tmp_path, max_bytes=limit)
    for n in range(10):
        await spool.append(record(n, 1000))
    await spool.ack(await spool.peek(3), 3)
    in_flight = await spool.peek(3)
    await spool.append(record(10, 1000))
    await spool.ack(in_flight, 2)  # only SM3 and SM4 made it
    await spool.close()
    again = await opened(tmp_path, max_bytes=limit)
    assert await drain_all(again) == ["SM5", "SM6", "SM7", "SM8", "SM9", "SM10"]
    await again.close()


async def test_one_process_per_directory(tmp_path: Path) -> None:
    spool = await opened(tmp_path)
    with pytest.raises(SpoolLockedError):
        await opened(tmp_path)
    await spool.close()
    again = await opened(tmp_path)  # the lock goes with the spool
    await again.close()


async def test_a_failed_compaction_answers_every_append_and_the_spool_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = len(record(0, 1000).encode())
    spool = await opened(tmp_path, max_bytes=HEADER_SIZE + 4 * size + 16)
    for n in range(4):
        await spool.append(record(n, 1000))
    await spool.ack(await spool.peek(1), 1)  # room only after a compaction

    def broken_compaction() -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(spool, "_compact_sync", broken_compaction)
        results = await asyncio.wait_for(
            asyncio.gather(*(spool.append(record(n, 1000)) for n in (10, 11)), return_exceptions=True), 5
        )
        assert all(isinstance(r, SpoolWriteError) for r in results), results
        assert not spool.accepting(1)
    await asyncio.wait_for(spool.append(record(12, 1000)), 5)  # the next append works again
    assert spool.accepting(1)
    assert await drain_all(spool) == ["SM1", "SM2", "SM3", "SM12"]
    await spool.close()


async def test_an_unexpected_error_in_a_write_does_not_leave_appends_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = await opened(tmp_path)

    def bug(_: bytes) -> None:
        raise RuntimeError("unexpected")

    with monkeypatch.context() as patch:
        patch.setattr(spool, "_append_sync", bug)
        with pytest.raises(SpoolWriteError):
            await asyncio.wait_for(spool.append(record(0)), 5)
    assert spool.empty  # nothing counted as pending, so new events are not queued behind a ghost
    await asyncio.wait_for(spool.append(record(1)), 5)
    assert await drain_all(spool) == ["SM1"]
    await spool.close()

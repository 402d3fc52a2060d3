"""A bounded, append-only spool on local disk for events Kafka could not take in time.

File layout (``spool.log``)::

    header  "BYOSPOOL" + generation (8 bytes, big endian)
    record  length (4 bytes) + CRC-32 of the body (4 bytes) + body (JSON: id, topic, key, value, type,
            and traceparent / tracestate when the webhook's request had a trace context)

An append returns only after ``fsync``; concurrent appends share one write and one fsync (group
commit). ``spool.offset`` holds ``(generation, offset)`` of the first record not yet in Kafka; it
is replaced atomically after each drained batch. When everything is drained, or the drained part
grows past half the limit, the undrained tail is copied into a new file with the next generation
and renamed over the old one; an offset file naming an older generation then means "from the
start", so a crash between the two renames never skips a record.

A drain holds a :class:`Batch` between :meth:`Spool.peek` and :meth:`Spool.ack` while appends go on,
and an append may compact the file meanwhile. Batches therefore carry *logical* offsets (the byte
position in the stream of everything ever appended since open), which stay valid across
compactions; ``ack`` translates them to the current file.

On open, a torn tail (a record cut short or failing its checksum, left by a crash mid-write) is cut
off: it was never acknowledged to Twilio. Files are created 0600 in a 0700 directory: they hold
message bodies. One process per directory: ``spool.lock`` is held with ``flock`` while the spool is
open, and a second process opening the same directory fails (:class:`SpoolLockedError`).

Any failure while writing (disk full, I/O error, a failed compaction) answers every waiting append
with :class:`SpoolWriteError` (the webhook gets 503); the spool stays usable for the next append.

Delivery is at least once: after a crash, records drained but not yet marked may be sent again;
consumers drop duplicates by event id.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MAGIC = b"BYOSPOOL"
_HEADER = struct.Struct(">8sQ")
_RECORD = struct.Struct(">II")
_OFFSET = struct.Struct(">QQ")
HEADER_SIZE = _HEADER.size
MAX_RECORD_BYTES = 64 * 1024 * 1024


class SpoolFullError(Exception):
    """The spool has no room for the event; the webhook is answered with 503."""


class SpoolWriteError(Exception):
    """The disk refused the write (full, read-only, I/O error); the webhook is answered with 503."""


class SpoolLockedError(Exception):
    """Another process has the spool directory open: a spool assumes one process per directory."""


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """An event ready for Kafka: topic, key, encoded value, message type, its event id, and the W3C
    trace context of the webhook's request (sent as record headers, so consumers continue the trace)."""

    event_id: str
    topic: str
    key: str
    value: bytes
    message_type: str
    traceparent: str | None = None
    tracestate: str | None = None

    def encode(self) -> bytes:
        fields = {
            "id": self.event_id,
            "topic": self.topic,
            "key": self.key,
            "type": self.message_type,
            "value": base64.b64encode(self.value).decode("ascii"),
        }
        # Optional keys: spool files written before trace headers existed still decode.
        if self.traceparent:
            fields["traceparent"] = self.traceparent
        if self.tracestate:
            fields["tracestate"] = self.tracestate
        body = json.dumps(fields, separators=(",", ":")).encode()
        return _RECORD.pack(len(body), zlib.crc32(body)) + body

    @classmethod
    def decode(cls, body: bytes) -> SpoolRecord:
        data = json.loads(body)
        return cls(
            event_id=data["id"],
            topic=data["topic"],
            key=data["key"],
            value=base64.b64decode(data["value"]),
            message_type=data["type"],
            traceparent=data.get("traceparent"),
            tracestate=data.get("tracestate"),
        )


@dataclass(frozen=True, slots=True)
class Batch:
    """Records read from the drained position; ``ends[i]`` is the logical offset after record ``i``
    (valid across compactions, see the module docstring)."""

    records: tuple[SpoolRecord, ...]
    ends: tuple[int, ...]


class Spool:
    """See the module docstring. Use :meth:`open` before anything else; one process per directory."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self._dir = directory
        self._path = directory / "spool.log"
        self._offset_path = directory / "spool.offset"
        self._max_bytes = max_bytes
        self._generation = 0
        self._end = HEADER_SIZE  # bytes durably written
        self._drained = HEADER_SIZE  # first byte not yet in Kafka
        self._count = 0  # records between drained and end
        self._base = 0  # logical offset of byte 0 of the current file (grows with each compaction)
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._failed = False  # the last write failed (cleared by the next successful one)
        self._lock = asyncio.Lock()
        self._queue: list[tuple[bytes, asyncio.Future[None]]] = []
        self._appending = 0  # appends not yet answered: they count as pending for ordering
        self._flusher: asyncio.Task[None] | None = None
        self.not_empty = asyncio.Event()

    # ------------------------------------------------------------------ state
    @property
    def pending_records(self) -> int:
        return self._count

    @property
    def pending_bytes(self) -> int:
        return self._end - self._drained

    @property
    def empty(self) -> bool:
        return self._count == 0 and self._appending == 0

    @property
    def free_bytes(self) -> int:
        """Room left for new records (drained bytes count as free: a compaction reclaims them)."""
        return self._max_bytes - HEADER_SIZE - self.pending_bytes

    def accepting(self, headroom: int) -> bool:
        """True when the spool is open, its last write succeeded and ``headroom`` bytes fit."""
        return self._fd is not None and not self._failed and self.free_bytes >= headroom

    # ------------------------------------------------------------------ open / close
    async def open(self) -> None:
        """Create or recover the spool: cut a torn tail, find the drained position, count what is left."""
        await asyncio.to_thread(self._open_sync)
        if self._count:
            self.not_empty.set()
            log.warning("spool holds %d undelivered events (%d bytes)", self._count, self.pending_bytes)

    def _open_sync(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        self._dir.chmod(0o700)
        self._take_lock()
        try:
            self._recover()
        except BaseException:
            self._release_lock()
            raise

    def _take_lock(self) -> None:
        fd = os.open(self._dir / "spool.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolLockedError(f"{self._dir} is in use by another process (one process per spool)") from None
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _recover(self) -> None:
        if not self._path.exists():
            self._write_new_file(1, b"")
        fd = os.open(self._path, os.O_RDWR)
        try:
            magic, generation = _HEADER.unpack(os.pread(fd, HEADER_SIZE, 0).ljust(HEADER_SIZE, b"\0"))
            if magic != MAGIC:
                raise SpoolWriteError(f"{self._path} is not a spool file")
            self._generation = generation
            drained = self._read_offset()
            size = os.fstat(fd).st_size
            position, count = HEADER_SIZE, 0
            start = drained if HEADER_SIZE <= drained <= size else HEADER_SIZE
            while True:
                parsed = self._parse_at(fd, position, size)
                if parsed is None:
                    break
                if position >= start:
                    count += 1
                position = parsed[1]
            if position < size:
                log.warning("spool: cutting %d bytes of a torn or corrupt tail", size - position)
                os.ftruncate(fd, position)
                os.fsync(fd)
            self._end = position
            self._drained = min(start, position)
            self._count = count
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    async def close(self) -> None:
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._release_lock()

    # ------------------------------------------------------------------ append (group commit)
    async def append(self, record: SpoolRecord) -> None:
        """Write ``record`` durably (fsync) after everything appended before it."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((record.encode(), future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        self._appending += 1
        try:
            await future
        finally:
            self._appending -= 1

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._flush_batch(batch)
            except BaseException as exc:
                # Whatever went wrong (a failed compaction, a bug, cancellation), nobody waits forever:
                # every append of this batch not yet answered is told the spool could not take it.
                self._failed = True
                log.error("spool write failed: %s", type(exc).__name__)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(SpoolWriteError(type(exc).__name__))
                if not isinstance(exc, Exception):
                    for _, future in self._queue:
                        if not future.done():
                            future.set_exception(SpoolWriteError(type(exc).__name__))
                    self._queue = []
                    raise

    async def _flush_batch(self, batch: list[tuple[bytes, asyncio.Future[None]]]) -> None:
        async with self._lock:
            if self._end + sum(len(d) for d, _ in batch) > self._max_bytes and self._drained > HEADER_SIZE:
                await asyncio.to_thread(self._compact_sync)
            accepted: list[tuple[bytes, asyncio.Future[None]]] = []
            size = self._end
            for data, future in batch:
                if size + len(data) > self._max_bytes:
                    future.set_exception(SpoolFullError())
                    continue
                accepted.append((data, future))
                size += len(data)
            if not accepted:
                return
            await asyncio.to_thread(self._append_sync, b"".join(d for d, _ in accepted))
            self._failed = False
            self._count += len(accepted)
            self.not_empty.set()
        for _, future in accepted:
            if not future.done():
                future.set_result(None)

    def _append_sync(self, data: bytes) -> None:
        if self._fd is None:
            raise SpoolWriteError("spool is closed")
        try:
            written = 0
            while written < len(data):
                written += os.pwrite(self._fd, data[written:], self._end + written)
            os.fsync(self._fd)
        except OSError:
            # Leave no partial record behind for the next append to follow.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._end)
            raise
        self._end += len(data)

    # ------------------------------------------------------------------ drain
    async def peek(self, max_records: int) -> Batch:
        """Up to ``max_records`` records from the drained position, oldest first."""
        async with self._lock:
            return await asyncio.to_thread(self._peek_sync, max_records)

    def _peek_sync(self, max_records: int) -> Batch:
        assert self._fd is not None
        records: list[SpoolRecord] = []
        ends: list[int] = []
        position = self._drained
        while len(records) < max_records:
            parsed = self._parse_at(self._fd, position, self._end)
            if parsed is None:
                break
            records.append(SpoolRecord.decode(parsed[0]))
            position = parsed[1]
            ends.append(self._base + position)
        return Batch(tuple(records), tuple(ends))

    async def ack(self, batch: Batch, count: int) -> None:
        """Mark the first ``count`` records of ``batch`` (the oldest pending ones) as delivered to Kafka."""
        if count <= 0:
            return
        async with self._lock:
            end = batch.ends[count - 1] - self._base  # the logical offset in the current file
            if not self._drained < end <= self._end:
                raise ValueError(f"ack of {end} outside the pending range {self._drained}..{self._end}")
            self._drained = end
            self._count -= count
            if self._count == 0 and self._appending == 0:
                await asyncio.to_thread(self._compact_sync)
                self.not_empty.clear()
            elif self._drained - HEADER_SIZE > self._max_bytes // 2:
                await asyncio.to_thread(self._compact_sync)
            else:
                await asyncio.to_thread(self._write_offset, self._generation, self._drained)

    async def set_aside(self, record: SpoolRecord) -> None:
        """Keep a record Kafka refused for good in ``spool-rejected.log`` for an operator."""
        await asyncio.to_thread(self._set_aside_sync, record.encode())

    def _set_aside_sync(self, data: bytes) -> None:
        fd = os.open(self._dir / "spool-rejected.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ file helpers (sync, run in threads)
    @staticmethod
    def _parse_at(fd: int, position: int, limit: int) -> tuple[bytes, int] | None:
        """The record body at ``position`` and the offset after it; None at the end or a torn record."""
        if position + _RECORD.size > limit:
            return None
        length, crc = _RECORD.unpack(os.pread(fd, _RECORD.size, position))
        if length > MAX_RECORD_BYTES or position + _RECORD.size + length > limit:
            return None
        body = os.pread(fd, length, position + _RECORD.size)
        if len(body) != length or zlib.crc32(body) != crc:
            return None
        return body, position + _RECORD.size + length

    def _compact_sync(self) -> None:
        """Replace the file by one holding only the undrained tail, under the next generation.

        A failure before the rename changes nothing; after it, the in-memory state follows the new
        file even if the directory fsync or the offset write fails (an offset file naming the older
        generation means "from the start" of the new file, which is the undrained tail).
        """
        assert self._fd is not None
        tail = os.pread(self._fd, self._end - self._drained, self._drained) if self._end > self._drained else b""
        generation = self._generation + 1
        scratch = self._write_scratch(generation, tail)
        new_fd = os.open(scratch, os.O_RDWR)  # the same inode after the rename
        try:
            scratch.replace(self._path)
        except BaseException:
            os.close(new_fd)
            raise
        old_fd, self._fd = self._fd, new_fd
        os.close(old_fd)
        self._base += self._drained - HEADER_SIZE
        self._generation = generation
        self._end = HEADER_SIZE + len(tail)
        self._drained = HEADER_SIZE
        self._fsync_dir()
        self._write_offset(generation, HEADER_SIZE)

    def _write_new_file(self, generation: int, tail: bytes) -> None:
        self._write_scratch(generation, tail).replace(self._path)
        self._fsync_dir()

    def _write_scratch(self, generation: int, tail: bytes) -> Path:
        scratch = self._path.with_name(self._path.name + ".tmp")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, _HEADER.pack(MAGIC, generation) + tail)
            os.fsync(fd)
        finally:
            os.close(fd)
        return scratch

    def _read_offset(self) -> int:
        try:
            generation, offset = _OFFSET.unpack(self._offset_path.read_bytes())
        except (OSError, struct.error):
            return HEADER_SIZE
        return offset if generation == self._generation else HEADER_SIZE

    def _write_offset(self, generation: int, offset: int) -> None:
        scratch = self._offset_path.with_name(self._offset_path.name + ".tmp")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, _OFFSET.pack(generation, offset))
            os.fsync(fd)
        finally:
            os.close(fd)
        scratch.replace(self._offset_path)
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a single call may write less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]

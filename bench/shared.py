"""What the benchmarks share: CPU time read from /proc, the benchmark's own database, and writing a
results file that keeps its earlier figures.

Each ``bench/<name>/run.py`` puts this folder on ``sys.path`` and imports from here.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_DATABASE = "byosms_bench"


def proc_stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the parenthesised name (utime is [11], stime [12])."""
    return Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_cpu_seconds(postmaster: int) -> float:
    """CPU of a PostgreSQL server: the postmaster with its reaped children (cutime + cstime) and every
    live child (backends, WAL writer, checkpointer...)."""
    total = sum(int(f) for f in proc_stat(postmaster)[11:15]) / CLK_TCK
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = proc_stat(int(entry.name))
        except OSError:
            continue  # exited meanwhile
        if int(child[1]) == postmaster:
            total += (int(child[11]) + int(child[12])) / CLK_TCK
    return total


async def postmaster_pid(url: str) -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine (None otherwise)."""
    conn = await asyncpg.connect(url)
    try:
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        # Read while the connection (its backend process) is still there.
        fields = proc_stat(backend)
    except OSError:
        return None
    finally:
        await conn.close()
    return int(fields[1])


async def bench_database(url: str) -> str:
    """The URL of a database of its own on the same PostgreSQL server, created when missing.

    Other engineers' tests and benchmarks share the test stack's Kafka: routing's consumer group
    also takes whatever SendMessage commands they publish while a benchmark runs. In a database of its
    own, what the benchmark's routing does with them (it cannot open their credentials) is never
    recorded where their routing would find it, so their messages are still sent by their routing."""
    conn = await asyncpg.connect(url)
    try:
        if not await conn.fetchval("SELECT true FROM pg_database WHERE datname = $1", BENCH_DATABASE):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # another run created it meanwhile
                await conn.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    finally:
        await conn.close()
    return urlunsplit(urlsplit(url)._replace(path="/" + BENCH_DATABASE))


EARLIER = "\n## Earlier figures\n"


def write_results(path: Path, text: str, earlier: str | None) -> None:
    """Write this run's figures, keeping the file's "Earlier figures" section (the figures a change
    replaced). With ``earlier``, this run goes into that section under that heading instead."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    current, _, kept = old.partition(EARLIER)
    sections = [s for s in re.split(r"\n(?=### )", kept.strip()) if s.strip()]
    if earlier is None:
        current = text
    else:
        heading = f"### {earlier}"
        body = text.split("\n", 2)[2].strip()  # without the title
        sections = [s for s in sections if not s.startswith(heading + "\n")] + [f"{heading}\n\n{body}\n"]
        current = current or text.split("\n", 1)[0] + "\n\nNo current figures yet.\n"
    out = current.rstrip() + "\n"
    if sections:
        out += EARLIER + "\n" + "\n".join(s.rstrip() + "\n" for s in sections)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out, encoding="utf-8")

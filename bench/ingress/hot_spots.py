"""Where the ingress spends its CPU: py-spy on one ingress process under the benchmark's load.

    uv pip install py-spy   # once, into the project's venv (not a dependency of the project)
    uv run python bench/ingress/hot_spots.py [--requests 20000] [--concurrency 32] [--rate 0] [--top 25]
    uv run python bench/ingress/hot_spots.py --summarize PROFILE   # the tables of an earlier raw profile

Starts the ingress as ``run.py`` does (its own process, librdkafka producer, the tracing set-up of
``byosms-ingress``), seeds an integration, then records the process with ``py-spy record --format
raw`` (every thread, native frames off) while signed webhooks are posted (``--rate 0``: as fast as
answered at ``--concurrency``; else paced at that rate). Prints the hottest functions by own samples
and by samples including callees, as shares of all samples of the event-loop thread; the raw
profile stays in ``--out`` (load it in speedscope or flamegraph.pl).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run


def _top(raw: Path, top: int) -> str:
    """Own sample shares per function, and inclusive shares of the project's and OpenTelemetry's
    functions, of the event-loop thread, from py-spy's raw (collapsed stack) output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or "MainThread" not in stack.split(";", 1)[0]:
            continue
        count = int(count_text)
        frames = stack.split(";")[1:]
        total += count
        if frames:
            own[_function(frames[-1])] += count
        for frame in {_function(f) for f in frames if _OURS in f or _OTEL in f}:
            inclusive[frame] += count
    lines = [f"event-loop thread samples: {total}", "", "| own % | function |", "| ---: | --- |"]
    lines += [f"| {n / total:.1%} | `{name}` |" for name, n in own.most_common(top)]
    lines += ["", "| incl. % | function (byosms and OpenTelemetry only) |", "| ---: | --- |"]
    lines += [f"| {n / total:.1%} | `{name}` |" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


_OURS, _OTEL = "byosms_", "opentelemetry/"


def _function(frame: str) -> str:
    """``name (path/file.py:line)`` as ``name (file.py)``: samples add up per function, not per line."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1].split(':', 1)[0]})" if where else name


async def main(args: argparse.Namespace) -> None:
    from byosms_common.crypto import Keyring
    from byosms_common.regions import DEFAULT_REGIONS

    region = DEFAULT_REGIONS["us-east-1"]
    keyring = Keyring.from_config(f'{{"bench": "{Keyring.generate_key()}"}}', "bench")
    os.environ["BYOSMS_KEKS"] = '{"bench": "' + base64.b64encode(keyring.keys["bench"]).decode() + '"}'
    os.environ["BYOSMS_ACTIVE_KEK"] = "bench"
    account, token = "AC" + uuid.uuid4().hex, uuid.uuid4().hex
    await run._seed(account, token, keyring)
    prepared = run._prepare(args.requests + 1, account, token, region.inbound_url)

    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    port = run._free_port()
    with tempfile.TemporaryDirectory() as spool:
        proc = multiprocessing.get_context("spawn").Process(
            target=run._run_ingress, args=(port, spool, "librdkafka"), daemon=True
        )
        proc.start()
        try:
            url = f"http://127.0.0.1:{port}{region.inbound_path}"
            await run._wait_ready(url, prepared[0])
            await run.throughput(url, prepared[:200], args.concurrency)  # warm-up
            command = [py_spy, "record", "--pid", str(proc.pid), "--format", "raw", "--output", str(args.out)]
            spy = subprocess.Popen(  # noqa: ASYNC220, S603 - py-spy beside the load, waited for below
                [*command, "--rate", "200", "--threads"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            await asyncio.sleep(1.0)  # py-spy attached
            if args.rate:
                result = await run.paced(url, prepared[1:], args.rate)
            else:
                result = await run.throughput(url, prepared[1:], args.concurrency)
            spy.send_signal(2)  # SIGINT: py-spy writes the profile and exits
            spy.wait(30)
        finally:
            proc.terminate()
            proc.join(15)
    print(f"{result.requests} requests, {result.rps:,.0f}/s, p50 {result.pct(50):.1f} ms, p99 {result.pct(99):.1f} ms")
    print(_top(args.out, args.top))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=int, default=0, help="paced requests per second (0: as fast as answered)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "ingress-profile.txt")
    parser.add_argument("--summarize", type=Path, help="only print the tables of this raw profile")
    arguments = parser.parse_args()
    if arguments.summarize:
        print(_top(arguments.summarize, arguments.top))
    else:
        asyncio.run(main(arguments))

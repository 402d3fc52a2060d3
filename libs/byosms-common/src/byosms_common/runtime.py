"""Running a service: start-up with retries and backoff, readiness, graceful shutdown.

A service that cannot reach Kafka or PostgreSQL at start keeps retrying with backoff and reports
not ready through ``/readyz``; it does not crash-loop with a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from byosms_common.backoff import Backoff
from byosms_common.health import Readiness

log = logging.getLogger(__name__)


async def retry_forever(
    what: str,
    attempt: Callable[[], Awaitable[None]],
    *,
    first_delay: float = 0.5,
    max_delay: float = 15.0,
    stop: asyncio.Event | None = None,
) -> bool:
    """Call ``attempt`` until it succeeds (True) or ``stop`` is set (False), backing off between tries."""
    pacing = Backoff(first_delay, max_delay)
    tries = 0
    while stop is None or not stop.is_set():
        tries += 1
        try:
            await attempt()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - start-up failures are retried, not fatal
            delay = pacing.delay(tries + 1)
            log.warning("%s failed (try %d: %s: %s); retrying in %.1fs", what, tries, type(exc).__name__, exc, delay)
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        else:
            if tries > 1:
                log.info("%s succeeded after %d tries", what, tries)
            return True
    return False


async def supervise(
    what: str,
    run: Callable[[], Awaitable[None]],
    *,
    stop: asyncio.Event,
    first_delay: float = 0.5,
    max_delay: float = 30.0,
) -> None:
    """Run the background job ``run`` until ``stop`` is set.

    A job that dies (raises) or ends while ``stop`` is not set is logged and started again after a
    backoff, so it never stops silently. The backoff starts over once a run lasted ``max_delay``.
    """
    loop = asyncio.get_running_loop()
    pacing = Backoff(first_delay, max_delay)
    failures = 0
    while not stop.is_set():
        began = loop.time()
        failures += 1
        delay = pacing.delay(failures + 1)
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s died; restarting in %.1fs", what, delay)
        else:
            if stop.is_set():
                return
            log.error("%s ended unexpectedly; restarting in %.1fs", what, delay)
        if loop.time() - began >= max_delay:
            failures, delay = 0, pacing.delay(1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


async def serve_http(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start ``app`` on host:port; the caller cleans up the returned runner."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    log.info("listening on http://%s:%d", host, port)
    return runner


def install_stop_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGTERM and SIGINT."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


@dataclass(frozen=True)
class StartStep:
    """One start-up step (connect a pool, start a broker, load a cache); retried until it succeeds."""

    name: str
    run: Callable[[], Awaitable[None]]


async def run_service(
    *,
    http: web.Application,
    host: str,
    port: int,
    readiness: Readiness,
    steps: Sequence[StartStep],
    cleanups: Sequence[Callable[[], Awaitable[None]]] = (),
    stop: asyncio.Event | None = None,
) -> None:
    """Serve ``http`` (health endpoints answer at once), run ``steps`` in order with retries, then
    report ready and wait for SIGTERM/SIGINT (or ``stop``); finally run ``cleanups`` in reverse."""
    stop = stop or asyncio.Event()
    install_stop_signals(stop)
    readiness.set_flag("started", False)
    runner = await serve_http(http, host, port)
    try:
        for step in steps:
            if not await retry_forever(step.name, step.run, stop=stop):
                return
        readiness.set_flag("started", True)
        log.info("service started")
        await stop.wait()
        log.info("stopping")
    finally:
        readiness.set_flag("started", False)
        for cleanup in reversed(cleanups):
            try:
                await cleanup()
            except Exception:
                log.warning("cleanup %s failed", getattr(cleanup, "__qualname__", cleanup), exc_info=True)
        await runner.cleanup()

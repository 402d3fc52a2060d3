"""Health, readiness and metrics endpoints every service exposes.

- ``GET /healthz``: the process is alive (always 200 while the event loop runs).
- ``GET /readyz``: 200 when every readiness check passes, else 503 with the failing checks named.
- ``GET /metrics``: Prometheus text format of the service's registry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]
# When the named conditions make the service ready; the default is "all of them".
Rule = Callable[[Mapping[str, bool]], bool]


def all_pass(checks: Mapping[str, bool]) -> bool:
    return bool(checks) and all(checks.values())


class Readiness:
    """Named readiness checks; a check that raises or exceeds its deadline counts as not ready."""

    def __init__(self, timeout: float = 2.0) -> None:
        self._checks: dict[str, Check] = {}
        self._flags: dict[str, bool] = {}
        self._timeout = timeout

    def add_check(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def set_flag(self, name: str, ready: bool) -> None:
        """A readiness condition that the service sets itself (e.g. "cache loaded")."""
        self._flags[name] = ready

    async def evaluate(self) -> dict[str, bool]:
        results = dict(self._flags)
        for name, check in self._checks.items():
            try:
                results[name] = bool(await asyncio.wait_for(check(), self._timeout))
            except Exception:
                log.debug("readiness check %s failed", name, exc_info=True)
                results[name] = False
        return results


def add_health_routes(
    app: web.Application,
    readiness: Readiness | Callable[[], Awaitable[dict[str, bool]]],
    registry: CollectorRegistry,
    *,
    rule: Rule = all_pass,
    rule_text: str | None = None,
    metrics: bool = True,
) -> None:
    """Mount /healthz, /readyz and /metrics (unless ``metrics`` is false: served elsewhere) on ``app``.

    ``readiness`` names the conditions (a :class:`Readiness`, or a coroutine function returning
    them); ``rule`` decides from them (``rule_text`` explains it in the /readyz body).
    """
    evaluate = readiness.evaluate if isinstance(readiness, Readiness) else readiness

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = await evaluate()
        ready = rule(checks)
        body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
        if rule_text is not None:
            body["rule"] = rule_text
        return web.json_response(body, status=200 if ready else 503)

    serve_metrics = metrics

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if serve_metrics:
        app.router.add_get("/metrics", metrics_view)

"""Log lines for what any client can trigger at will (malformed bodies, refused tokens), rate limited.

A refused request is the caller's business, not an incident: the first refusal of each kind is logged
at WARNING, then at most one line per kind every ``interval_s`` seconds, saying how many were left
out in between. Lines name the kind, the method and the route template (never the raw path, which
the caller chooses, and never the body).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage

log = logging.getLogger(__name__)

INTERVAL_S = 60.0


class RefusalLog:
    """One WARNING per kind, then at most one per ``interval_s``; pure apart from the logger."""

    def __init__(self, interval_s: float = INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget every kind (tests)."""
        with self._lock:
            self._last.clear()
            self._left_out.clear()

    def note(self, kind: str, request: web.Request | None = None) -> bool:
        """Record one refusal of ``kind``; True when a line was written."""
        now = self._clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self._interval:
                self._left_out[kind] = self._left_out.get(kind, 0) + 1
                return False
            self._last[kind] = now
            left_out = self._left_out.pop(kind, 0)
        where = route_of(request) if request is not None else "-"
        log.warning("refused request: %s on %s (%d more of this kind not logged)", kind, where, left_out)
        return True


def route_of(request: web.Request) -> str:
    """``METHOD /route/{template}``: the route the request matched, not the path it sent."""
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else "(no route)"
    return f"{request.method[:16]} {template}"


REFUSALS = RefusalLog()
"""The process's refusal log (the problem middleware and the token check write to it)."""


class ProtocolErrorFilter(logging.Filter):
    """Turns aiohttp's ERROR line with traceback for a malformed HTTP message (a request line or header
    too long, bad framing: answered 400 by aiohttp before any handler runs) into a rate-limited
    refusal. Everything else passes unchanged."""

    def __init__(self, refusals: RefusalLog) -> None:
        super().__init__()
        self._refusals = refusals

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, BadHttpMessage):
            self._refusals.note(f"malformed HTTP message ({type(error).__name__})")
            return False
        return True


_PROTOCOL_FILTER = ProtocolErrorFilter(REFUSALS)


def quiet_protocol_errors() -> None:
    """Install :class:`ProtocolErrorFilter` on aiohttp's server logger (once per process)."""
    server_log = logging.getLogger("aiohttp.server")
    if _PROTOCOL_FILTER not in server_log.filters:
        server_log.addFilter(_PROTOCOL_FILTER)

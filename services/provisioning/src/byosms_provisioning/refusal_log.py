"""Provisioning's refusal lines: what any client can trigger at will (malformed bodies, refused
tokens), rate limited by :mod:`byosms_common.refusal_log`.

A refused request is the caller's business, not an incident: the first refusal of each kind is logged
at WARNING, then at most one line per kind every ``interval_s`` seconds, saying how many were left
out in between. Lines name the kind, the method and the route template (never the raw path, which
the caller chooses, and never the body).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from byosms_common.refusal_log import EVERY_S, QuietHttpErrors, RefusalLog

INTERVAL_S = EVERY_S


def _left_out(held: int, _every_s: float) -> str:
    return f" ({held} more of this kind not logged)"


class RequestRefusals(RefusalLog):
    """``refused request: <kind> on <METHOD /route>`` lines, on this module's logger."""

    def __init__(self, interval_s: float = INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(__name__, interval_s, clock, held_text=_left_out)

    def note(self, kind: str, request: web.Request | None = None) -> bool:
        """Record one refusal of ``kind``; True when a line was written."""
        held = self.admit(kind)
        if held is None:
            return False
        where = route_of(request) if request is not None else "-"
        self.logger.warning("refused request: %s on %s%s", kind, where, held)
        return True


def route_of(request: web.Request) -> str:
    """``METHOD /route/{template}``: the route the request matched, not the path it sent."""
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else "(no route)"
    return f"{request.method[:16]} {template}"


REFUSALS = RequestRefusals()
"""The process's refusal log (the problem middleware, the token check and media fetches write to it)."""

_PROTOCOL_ERRORS = QuietHttpErrors(REFUSALS, "refused request: malformed HTTP message (%s) on -")


def quiet_protocol_errors() -> None:
    """aiohttp's ERROR line with traceback for a malformed HTTP message (answered 400 by aiohttp before
    any handler runs) becomes a rate-limited refusal line (once per process)."""
    _PROTOCOL_ERRORS.install()

"""Log lines for what any client can cause at will: once per kind, then at most once a minute.

A malformed request, a body that does not match its Content-Encoding, a connection dropped mid-body,
a forged media link: each is counted in the metrics every time, but logged at WARNING only the first
time per kind and then once per interval with the number held back, so no client can flood the log.
Nothing of the request's body or of a media URL is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from byosms_ingress.kafka_state import RateLimiter

log = logging.getLogger(__name__)

EVERY_S = 60.0


class RefusalLog:
    def __init__(self, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = RateLimiter(every_s, clock)
        self._every = every_s

    def refused(self, status: int, reason: str, endpoint: str) -> None:
        """A webhook request answered with a 4xx for ``reason``."""
        held = self._limit.allow(("refused", status, reason))
        if held is None:
            return
        log.warning(
            "refused a webhook request on /%s with %d: %s%s", endpoint, status, reason, _held(held, self._every)
        )

    def media_dropped(self, integration_id: str, message_sid: str, reasons: Iterable[str]) -> None:
        """Media items left off an inbound message (the URLs themselves are not logged)."""
        kinds = sorted(set(reasons))
        held = self._limit.allow(("media", integration_id, tuple(kinds)))
        if held is None:
            return
        log.warning(
            "inbound %s of integration %s: media items dropped (%s)%s",
            message_sid,
            integration_id,
            ", ".join(kinds),
            _held(held, self._every),
        )


def _held(count: int, every_s: float) -> str:
    return f" (and {count} more like it in the last {every_s:.0f}s)" if count else ""

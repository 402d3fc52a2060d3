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

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import RequestPayloadError

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


class QuietHttpErrors(logging.Filter):
    """For ``aiohttp.server``: requests its HTTP parser refuses (malformed request line or headers, a
    Content-Encoding the body does not match at its end) are answered 400 by aiohttp and logged by it at
    ERROR with a traceback, once per request; so is a body that turns out malformed while aiohttp reads
    what is left of it after the answer (an early 404/405/415). Any client can send those: this filter
    lets one WARNING per kind of error through (then one a minute, with the number held back), without
    the traceback or the error's text (which quotes request bytes). Other records pass unchanged."""

    def __init__(self, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._limit = RateLimiter(every_s, clock)
        self._every = every_s

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError | RequestPayloadError):
            return True
        kind = type(error).__name__
        held = self._limit.allow(kind)
        if held is None:
            return False
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg, record.args = "refused a malformed HTTP request with 400: %s%s", (kind, _held(held, self._every))
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True

    def install(self) -> None:
        logging.getLogger(SERVER_LOGGER).addFilter(self)

    def remove(self) -> None:
        logging.getLogger(SERVER_LOGGER).removeFilter(self)


SERVER_LOGGER = "aiohttp.server"

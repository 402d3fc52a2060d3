"""Log lines for what any client can cause at will, rate limited: once per kind, then once a minute.

A malformed request, a refused token, a body that does not match its Content-Encoding, a forged media
link: each service counts them in its metrics every time, but logs one at WARNING only the first time
per kind and then once per interval, saying how many were held back in between, so no client can
flood the log. Callers log only the kind and where (never a body, a token or a media URL).

- :class:`RateLimiter`: at most one event per key per interval (also used for other noisy lines, e.g.
  the ingress's Kafka client logs).
- :class:`RefusalLog`: the WARNING lines of one service's refusals, written to the logger it is given
  (each service keeps its own logger name and texts).
- :class:`QuietHttpErrors`: for ``aiohttp.server``, whose HTTP parser answers malformed requests with
  a 400 itself and logs each at ERROR with a traceback (whose text quotes request bytes): it turns
  them into the refusal log's rate-limited WARNING, without the traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import RequestPayloadError

EVERY_S = 60.0
SERVER_LOGGER = "aiohttp.server"
"""The logger aiohttp's server writes its parser errors to."""


class RateLimiter:
    """At most one event per key per ``interval_s``; safe to call from several threads."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval_s
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    @property
    def interval_s(self) -> float:
        return self._interval

    def allow(self, key: Hashable) -> int | None:
        """None when ``key`` had its event within the interval; else how many were suppressed since."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._suppressed.pop(key, 0)

    def reset(self) -> None:
        """Forget every key."""
        with self._lock:
            self._last.clear()
            self._suppressed.clear()


HeldText = Callable[[int, float], str]
"""What a line says of the ``held`` lines left out in the last ``every_s`` seconds (appended to it)."""


def and_more_like_it(held: int, every_s: float) -> str:
    """`` (and 99 more like it in the last 60s)``; nothing when none were held back."""
    return f" (and {held} more like it in the last {every_s:.0f}s)" if held else ""


class RefusalLog:
    """One WARNING per kind, then at most one per ``every_s``, on ``logger``; pure apart from it."""

    def __init__(
        self,
        logger: logging.Logger | str,
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        *,
        held_text: HeldText = and_more_like_it,
    ) -> None:
        self.logger = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger)
        self._limit = RateLimiter(every_s, clock)
        self._held_text = held_text

    def reset(self) -> None:
        """Forget every kind (tests)."""
        self._limit.reset()

    def admit(self, kind: Hashable) -> str | None:
        """None when a line of ``kind`` was written within the interval (this one is held back);
        else the text to append to the line about the ones held back since."""
        held = self._limit.allow(kind)
        return None if held is None else self._held_text(held, self._limit.interval_s)

    def warn(self, kind: Hashable, msg: str, *args: object) -> bool:
        """Log ``msg % args`` at WARNING, unless ``kind`` had its line within the interval; True when
        written. The line ends with what :func:`admit` says of the lines held back."""
        held = self.admit(kind)
        if held is None:
            return False
        template = f"{msg}%s"  # the held-back text is an argument too: nothing is formatted in early
        self.logger.warning(template, *args, held)
        return True


class QuietHttpErrors(logging.Filter):
    """For ``aiohttp.server``: requests its HTTP parser refuses (malformed request line or headers, a
    line too long, a Content-Encoding the body does not match) are answered 400 by aiohttp and logged
    by it at ERROR with a traceback, once per request; so is a body that turns out malformed while
    aiohttp reads what is left of it after an early answer. Any client can send those: this filter
    turns the record into ``refusals``' WARNING ``msg % <error class>`` (rate limited per error class,
    under the refusal log's logger name), without the traceback or the error's text (which quotes
    request bytes), and drops the ones held back. Other records pass unchanged."""

    def __init__(self, refusals: RefusalLog, msg: str) -> None:
        super().__init__()
        self._refusals = refusals
        self._msg = msg

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError | RequestPayloadError):
            return True
        kind = type(error).__name__
        held = self._refusals.admit(("malformed HTTP", kind))
        if held is None or not self._refusals.logger.isEnabledFor(logging.WARNING):
            return False  # held back, or the refusal log's level leaves out warnings
        record.name = self._refusals.logger.name
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg, record.args = self._msg + "%s", (kind, held)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True

    def install(self) -> None:
        """Attach to aiohttp's server logger (once, however often it is called)."""
        server_log = logging.getLogger(SERVER_LOGGER)
        if self not in server_log.filters:
            server_log.addFilter(self)

    def remove(self) -> None:
        logging.getLogger(SERVER_LOGGER).removeFilter(self)

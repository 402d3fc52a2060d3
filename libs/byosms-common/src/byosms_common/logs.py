"""JSON structured logging with the current trace and span ids on every line.

Log with arguments (``log.info("imported %s", sid)``), never with tokens or message bodies.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from byosms_common.settings import TelemetrySettings

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, trace ids and extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self._service,
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RepeatFilter(logging.Filter):
    """Lets one record per logger and message template through every ``every_s`` seconds; the next
    one that passes says how many were held back. For client libraries that log every failed
    reconnect (aiokafka logs an ERROR per refused connection: thousands a minute while a broker is
    down) — our own code says once when a dependency goes, every so often while it stays away, and
    once when it is back."""

    def __init__(self, every_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._every = every_s
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._every:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {now - (last or now):.0f}s)"
        return True


def configure_logging(settings: TelemetrySettings, service: str) -> None:
    """Send all logs to stderr, as JSON lines unless text is asked for."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # aiokafka reports every refused connection at ERROR while a broker is down, and every heartbeat
    # during a rebalance: at most one line per kind and 30 s. Our consumers say when Kafka goes and
    # comes back (``byosms_common.consumer.OutageLog``).
    quiet = RepeatFilter()
    handler.addFilter(_ForLoggers(("aiokafka",), quiet))
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))


class _ForLoggers(logging.Filter):
    """Applies ``inner`` only to records of the named loggers (and their children)."""

    def __init__(self, prefixes: tuple[str, ...], inner: logging.Filter) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._inner = inner

    def filter(self, record: logging.LogRecord) -> bool:
        if any(record.name == p or record.name.startswith(p + ".") for p in self._prefixes):
            return bool(self._inner.filter(record))
        return True

"""The ingress's refusal lines: what any client can cause at will, logged once per kind, then at most
once a minute (the mechanism is :mod:`byosms_common.refusal_log`).

A malformed request, a body that does not match its Content-Encoding, a connection dropped mid-body,
a forged media link: each is counted in the metrics every time, but logged at WARNING only the first
time per kind and then once per interval with the number held back. Nothing of the request's body or
of a media URL is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from byosms_common import refusal_log
from byosms_common.refusal_log import EVERY_S, SERVER_LOGGER

__all__ = ["SERVER_LOGGER", "QuietHttpErrors", "RefusalLog"]

log = logging.getLogger(__name__)


class RefusalLog(refusal_log.RefusalLog):
    """The webhook routes' lines, on this module's logger."""

    def __init__(self, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(log, every_s, clock)

    def refused(self, status: int, reason: str, endpoint: str) -> None:
        """A webhook request answered with a 4xx for ``reason``."""
        self.warn(("refused", status, reason), "refused a webhook request on /%s with %d: %s", endpoint, status, reason)

    def media_dropped(self, integration_id: str, message_sid: str, reasons: Iterable[str]) -> None:
        """Media items left off an inbound message (the URLs themselves are not logged)."""
        kinds = sorted(set(reasons))
        self.warn(
            ("media", integration_id, tuple(kinds)),
            "inbound %s of integration %s: media items dropped (%s)",
            message_sid,
            integration_id,
            ", ".join(kinds),
        )


class QuietHttpErrors(refusal_log.QuietHttpErrors):
    """aiohttp's parser errors as ``refused a malformed HTTP request with 400: <error class>``."""

    def __init__(self, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(RefusalLog(every_s, clock), "refused a malformed HTTP request with 400: %s")

"""What any client can cause is logged once per kind, then at most once per interval, saying how many
lines were held back; aiohttp's parser errors become such a line, without traceback or request bytes."""

from __future__ import annotations

import logging
import threading

import pytest
from aiohttp.http_exceptions import BadStatusLine, ContentEncodingError, LineTooLong
from aiohttp.web import RequestPayloadError

from byosms_common.refusal_log import SERVER_LOGGER, QuietHttpErrors, RateLimiter, RefusalLog

pytestmark = pytest.mark.unit

LOGGER = "byosms_test.refusals"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limiter_counts_what_it_held_back() -> None:
    clock = Clock()
    limiter = RateLimiter(60.0, clock)
    assert limiter.allow("FAIL") == 0
    assert [limiter.allow("FAIL") for _ in range(3)] == [None, None, None]
    assert limiter.allow("OTHER") == 0  # per key
    clock.now = 59.9
    assert limiter.allow("FAIL") is None
    clock.now = 60.0
    assert limiter.allow("FAIL") == 4
    assert limiter.allow("FAIL") is None
    limiter.reset()
    assert limiter.allow("FAIL") == 0


def test_the_rate_limiter_loses_no_count_across_threads() -> None:
    clock = Clock()
    limiter = RateLimiter(60.0, clock)
    assert limiter.allow("k") == 0

    def hammer() -> None:
        for _ in range(5000):
            limiter.allow("k")

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clock.now = 60.0
    assert limiter.allow("k") == 20000


def test_one_line_per_kind_then_one_per_interval_with_the_number_held_back(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    refusals = RefusalLog(LOGGER, 60.0, clock)
    with caplog.at_level(logging.DEBUG, LOGGER):
        written = [refusals.warn("bad_body", "refused %s on /%s", "bad_body", "mo") for _ in range(100)]
        written.append(refusals.warn("other", "refused %s on /%s", "other", "mo"))
        clock.now = 61.0
        written.append(refusals.warn("bad_body", "refused %s on /%s", "bad_body", "mo"))
        written.append(refusals.warn("other", "refused %s on /%s", "other", "mo"))
    assert written == [True] + [False] * 99 + [True, True, True]
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (LOGGER, logging.WARNING, "refused bad_body on /mo"),
        (LOGGER, logging.WARNING, "refused other on /mo"),
        (LOGGER, logging.WARNING, "refused bad_body on /mo (and 99 more like it in the last 60s)"),
        (LOGGER, logging.WARNING, "refused other on /mo"),
    ]


def test_a_service_words_what_was_held_back_its_own_way(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    refusals = RefusalLog(LOGGER, 30.0, clock, held_text=lambda held, every: f" [{held} in {every:.0f}s left out]")
    with caplog.at_level(logging.WARNING, LOGGER):
        refusals.warn("k", "refused")
        refusals.warn("k", "refused")
        clock.now = 30.0
        refusals.warn("k", "refused")
    assert [r.getMessage() for r in caplog.records] == ["refused [0 in 30s left out]", "refused [1 in 30s left out]"]


def test_reset_forgets_every_kind(caplog: pytest.LogCaptureFixture) -> None:
    refusals = RefusalLog(LOGGER, 60.0, Clock())
    with caplog.at_level(logging.WARNING, LOGGER):
        assert refusals.warn("k", "refused")
        assert not refusals.warn("k", "refused")
        refusals.reset()
        assert refusals.warn("k", "refused")
    assert len(caplog.records) == 2


def _aiohttp_error_record(error: Exception, msg: str = "Error handling request from %s") -> logging.LogRecord:
    exc_info = (type(error), error, None)
    return logging.LogRecord(SERVER_LOGGER, logging.ERROR, "web_protocol.py", 1, msg, ("127.0.0.1",), exc_info)


def test_aiohttp_parser_errors_become_one_warning_of_the_refusal_log_without_the_request_bytes() -> None:
    clock = Clock()
    quiet = QuietHttpErrors(RefusalLog(LOGGER, 60.0, clock), "refused a malformed request: %s")
    first = _aiohttp_error_record(BadStatusLine("GET /secret-path?token=abc"))
    assert quiet.filter(first)
    assert (first.name, first.levelno, first.levelname) == (LOGGER, logging.WARNING, "WARNING")
    assert (first.exc_info, first.exc_text) == (None, None)
    assert first.getMessage() == "refused a malformed request: BadStatusLine"
    assert not quiet.filter(_aiohttp_error_record(BadStatusLine("again")))
    for other_kind in (ContentEncodingError("deflate"), LineTooLong("x" * 9000, 8190), RequestPayloadError("cut")):
        record = _aiohttp_error_record(other_kind)
        assert quiet.filter(record)
        assert "x" * 100 not in record.getMessage()
    clock.now = 120.0
    later = _aiohttp_error_record(BadStatusLine("later"))
    assert quiet.filter(later)
    assert later.getMessage() == "refused a malformed request: BadStatusLine (and 1 more like it in the last 60s)"


def test_other_server_errors_pass_unchanged() -> None:
    quiet = QuietHttpErrors(RefusalLog(LOGGER), "refused: %s")
    record = _aiohttp_error_record(RuntimeError("a bug"), "Unhandled exception")
    assert quiet.filter(record)
    assert (record.name, record.levelno) == (SERVER_LOGGER, logging.ERROR)
    assert record.exc_info is not None
    plain = logging.LogRecord(SERVER_LOGGER, logging.INFO, "web_protocol.py", 1, "no error", (), None)
    assert quiet.filter(plain)


def test_installed_once_on_aiohttps_server_logger_however_often_asked(caplog: pytest.LogCaptureFixture) -> None:
    quiet = QuietHttpErrors(RefusalLog(LOGGER), "refused a malformed request: %s")
    server_log = logging.getLogger(SERVER_LOGGER)
    quiet.install()
    quiet.install()
    try:
        assert server_log.filters.count(quiet) == 1
        with caplog.at_level(logging.DEBUG):
            for _ in range(3):
                try:
                    raise BadStatusLine("GET /token=abc")
                except BadStatusLine:
                    server_log.exception("Error handling request from %s", "127.0.0.1")
        assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
            (LOGGER, logging.WARNING, "refused a malformed request: BadStatusLine")
        ]
    finally:
        quiet.remove()
    assert quiet not in server_log.filters


def test_a_refusal_log_set_above_warning_drops_the_parser_errors_too() -> None:
    quiet = QuietHttpErrors(RefusalLog(LOGGER), "refused a malformed request: %s")
    logger = logging.getLogger(LOGGER)
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        assert not quiet.filter(_aiohttp_error_record(BadStatusLine("GET /")))
    finally:
        logger.setLevel(before)
    assert quiet.filter(_aiohttp_error_record(ContentEncodingError("deflate")))

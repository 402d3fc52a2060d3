"""What any client can cause is logged once per kind, then at most once a minute, at WARNING."""

from __future__ import annotations

import logging

import pytest
from aiohttp.http_exceptions import BadStatusLine, ContentEncodingError

from byosms_ingress.refusals import SERVER_LOGGER, QuietHttpErrors, RefusalLog

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_refusals_once_per_kind_then_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    refusals = RefusalLog(60.0, clock)
    with caplog.at_level(logging.DEBUG, "byosms_ingress.refusals"):
        for _ in range(100):
            refusals.refused(400, "malformed_encoding", "mo")
        refusals.refused(400, "connection_lost", "mo")
        clock.now = 61.0
        refusals.refused(400, "malformed_encoding", "mo")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "refused a webhook request on /mo with 400: malformed_encoding",
        "refused a webhook request on /mo with 400: connection_lost",
        "refused a webhook request on /mo with 400: malformed_encoding (and 99 more like it in the last 60s)",
    ]
    assert {r.levelno for r in caplog.records} == {logging.WARNING}


def _aiohttp_error_record(error: Exception, msg: str = "Error handling request from %s") -> logging.LogRecord:
    exc_info = (type(error), error, None)
    return logging.LogRecord(SERVER_LOGGER, logging.ERROR, "web_protocol.py", 1, msg, ("127.0.0.1",), exc_info)


def test_aiohttp_parser_errors_become_one_warning_without_the_request_bytes() -> None:
    clock = Clock()
    quiet = QuietHttpErrors(60.0, clock)
    first = _aiohttp_error_record(BadStatusLine("GET /secret-path?token=abc"))
    assert quiet.filter(first)
    assert (first.levelno, first.exc_info) == (logging.WARNING, None)
    assert first.getMessage() == "refused a malformed HTTP request with 400: BadStatusLine"
    assert not quiet.filter(_aiohttp_error_record(BadStatusLine("again")))
    other_kind = _aiohttp_error_record(ContentEncodingError("deflate"))
    assert quiet.filter(other_kind)
    clock.now = 120.0
    later = _aiohttp_error_record(BadStatusLine("later"))
    assert quiet.filter(later)
    assert later.getMessage().endswith("(and 1 more like it in the last 60s)")


def test_other_server_errors_pass_unchanged() -> None:
    record = _aiohttp_error_record(RuntimeError("a bug"), "Unhandled exception")
    assert QuietHttpErrors().filter(record)
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None

"""Which handler failures wait for a dependency and which dead-letter; supervised background jobs."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

import asyncpg
import pytest
from aiokafka.errors import (
    IllegalArgumentError,
    KafkaConfigurationError,
    KafkaConnectionError,
    KafkaTimeoutError,
    RecordTooLargeError,
)

from byosms_common.kafka import PermanentError, RetryableError, RetryPolicy, is_transient
from byosms_common.runtime import supervise
from byosms_common.testing import eventually


def _pg(cls: type[asyncpg.PostgresError], message: str = "x") -> asyncpg.PostgresError:
    return cls(message)


@pytest.mark.parametrize(
    "exc",
    [
        _pg(asyncpg.ConnectionDoesNotExistError, "connection was closed in the middle of operation"),
        _pg(asyncpg.CannotConnectNowError, "the database system is starting up"),
        _pg(asyncpg.AdminShutdownError, "terminating connection due to administrator command"),
        _pg(asyncpg.TooManyConnectionsError, "sorry, too many clients already"),
        _pg(asyncpg.SerializationError, "could not serialize access"),
        _pg(asyncpg.DeadlockDetectedError, "deadlock detected"),
        asyncpg.InterfaceError("pool is closing"),
        ConnectionRefusedError(111, "Connection refused"),
        OSError(errno.ENETUNREACH, "Network is unreachable"),
        socket.gaierror(-3, "Temporary failure in name resolution"),
        TimeoutError(),
        KafkaConnectionError("Unable to bootstrap"),
        KafkaTimeoutError(),
        RetryableError("the vendor is down"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_faults_of_a_dependency_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("bug"),
        ValueError("bad value"),
        KeyError("missing"),
        PermanentError("never"),
        _pg(asyncpg.UniqueViolationError, "duplicate key"),
        _pg(asyncpg.DataError, "invalid input syntax"),
        RecordTooLargeError(),
        # Bugs that asyncpg, the OS or aiokafka report with the same classes as outages:
        asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        FileNotFoundError(errno.ENOENT, "No such file or directory"),
        PermissionError(errno.EACCES, "Permission denied"),
        KafkaConfigurationError("bad setting"),
        IllegalArgumentError("bad argument"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_other_failures_are_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_a_fault_raised_from_a_connection_error_is_transient() -> None:
    wrapped = LookupError("could not read the number")
    wrapped.__cause__ = ConnectionResetError("reset by peer")
    assert is_transient(wrapped)
    refused = PermanentError("refused for good")
    refused.__cause__ = ConnectionResetError("reset by peer")
    assert not is_transient(refused)


def test_transient_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(first_delay=0.2, max_delay=5.0, transient_max_delay=30.0)
    assert 0.1 <= policy.transient_delay(2) <= 0.2
    assert 15.0 <= policy.transient_delay(50) <= 30.0
    assert 15.0 <= policy.transient_delay(10_000) <= 30.0
    assert 2.5 <= policy.delay(10_000) <= 5.0


async def test_a_background_job_that_dies_is_logged_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    runs = 0
    finished = asyncio.Event()

    async def job() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("relay crashed")
        if runs == 2:
            return  # ended without being asked to
        await stop.wait()
        finished.set()

    with caplog.at_level(logging.WARNING):
        task = asyncio.create_task(supervise("outbox relay", job, stop=stop, first_delay=0.01, max_delay=0.05))
        await eventually(lambda: runs == 3, within=5, what="the job restarted twice")
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 5)
    assert finished.is_set()
    messages = [r.getMessage() for r in caplog.records]
    assert any("outbox relay died" in msg for msg in messages)
    assert any("outbox relay ended unexpectedly" in msg for msg in messages)

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from byosms_devstack import procs

pytestmark = pytest.mark.unit


def test_markers_match_whole_arguments_or_binary_paths() -> None:
    args = ["/usr/lib/postgresql/15/bin/postgres", "-D", "/s/data"]
    assert procs.matches(args, ("postgres", "/s/data"))
    assert not procs.matches(args, ("postgres", "/other/data"))
    assert not procs.matches(["/usr/bin/java", "kafka.KafkaX"], ("kafka.Kafka",))


def test_our_own_process_is_recognised_and_a_dead_pid_is_not() -> None:
    me = procs.cmdline(os.getpid())
    assert me is not None
    assert procs.is_ours(os.getpid(), (me[0],))
    assert not procs.is_ours(os.getpid(), ("definitely-not-an-argument",))
    assert not procs.is_ours(None, ())
    assert not procs.is_ours(2**22 + 12345, ())


def test_read_pid_tolerates_missing_and_garbage(tmp_path: Path) -> None:
    path = tmp_path / "x.pid"
    assert procs.read_pid(path) is None
    path.write_text("nope")
    assert procs.read_pid(path) is None
    path.write_text("42\n")
    assert procs.read_pid(path) == 42


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert procs.tail(log, 2) == "line 98\nline 99"
    assert "no log" in procs.tail(tmp_path / "missing.log")


def test_port_open_sees_a_listening_socket() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert procs.port_open("127.0.0.1", port)
    assert not procs.port_open("127.0.0.1", port)


def test_spawned_process_is_detached_and_terminated(tmp_path: Path) -> None:
    marker = f"devstack-test-{os.getpid()}"
    argv = [sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)", marker]
    pid = procs.spawn_detached(argv, tmp_path / "out.log")
    try:
        # Right after the fork the child may not have exec'd yet (its command line is still ours).
        deadline = time.monotonic() + 10
        while not procs.is_ours(pid, (marker,)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert procs.is_ours(pid, (marker,))
        assert os.getsid(pid) == pid
        assert procs.terminate(pid, (marker,), grace_s=10)
        assert not procs.is_ours(pid, (marker,))
    finally:
        if procs.is_ours(pid, (marker,)):
            os.kill(pid, 9)
    assert not procs.terminate(pid, (marker,))


def test_a_spawned_server_counts_as_alive_from_the_spawn_until_it_exits(tmp_path: Path) -> None:
    """Right after the spawn the child's command line may still be ours (not exec'd yet): the
    readiness wait must not take that for an exit. Its real exit is seen."""
    marker = f"devstack-test-{os.getpid()}-alive"
    argv = [sys.executable, "-c", "import time; time.sleep(0.5)", marker]
    pid = procs.spawn_detached(argv, tmp_path / "out.log")
    assert procs.spawned_alive(pid, (marker,))  # at once, exec'd or not
    deadline = time.monotonic() + 10
    while procs.spawned_alive(pid, (marker,)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not procs.spawned_alive(pid, (marker,))
    assert not procs.spawned_alive(1, (marker,))  # not our child: judged by its command line

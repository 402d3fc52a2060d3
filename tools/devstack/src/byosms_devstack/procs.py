"""Process management: spawn detached servers, recognise our own processes, stop them to a deadline."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

POLL_INTERVAL_S = 0.1


def cmdline(pid: int) -> list[str] | None:
    """Arguments of a live, non-zombie process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # The state letter follows the parenthesised command name, which itself may contain spaces.
    state = stat.rpartition(")")[2].split()[:1]
    if state == ["Z"] or not raw:
        return None
    return [part.decode("utf-8", errors="replace") for part in raw.rstrip(b"\0").split(b"\0")]


def matches(args: list[str], markers: tuple[str, ...]) -> bool:
    """True when every marker is one of the arguments or the end of one (binary paths)."""
    return all(any(arg == m or arg.endswith("/" + m) for arg in args) for m in markers)


def is_ours(pid: int | None, markers: tuple[str, ...]) -> bool:
    """Whether ``pid`` is alive and its command line carries all ``markers``."""
    if pid is None or pid <= 0:
        return False
    args = cmdline(pid)
    return args is not None and matches(args, markers)


def spawned_alive(pid: int, markers: tuple[str, ...]) -> bool:
    """Whether a server this process spawned (:func:`spawn_detached`) still runs: for our own child the
    kernel's word (``waitpid``), which no reading of /proc can get wrong while the child starts; for
    one another process started, :func:`is_ours`."""
    try:
        exited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return is_ours(pid, markers)
    return exited == 0


def read_pid(path: Path) -> int | None:
    """The pid recorded in ``path``, or None when missing or garbage."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def spawn_detached(argv: list[str], log_file: Path) -> int:
    """Start ``argv`` in its own session with stdout/stderr appended to ``log_file``; return its pid.

    posix_spawn rather than subprocess.Popen: the server must outlive us, and a Popen object that is
    garbage-collected while its child runs raises ResourceWarning (an error under pytest -W error).
    """
    log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, log_fd, 1),
            (os.POSIX_SPAWN_DUP2, log_fd, 2),
            (os.POSIX_SPAWN_CLOSE, log_fd),
        ]
        return os.posix_spawnp(argv[0], argv, dict(os.environ), file_actions=actions, setsid=True)
    finally:
        os.close(log_fd)


def wait_gone(pid: int, markers: tuple[str, ...], deadline: float) -> bool:
    """Poll until the process is gone or the monotonic ``deadline`` passes; True if it is gone."""
    while True:
        _reap(pid)
        if not is_ours(pid, markers):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL_S)


def terminate(pid: int, markers: tuple[str, ...], grace_s: float = 30.0) -> bool:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL. Refuses (returns False) if ``pid`` is not ours."""
    if not is_ours(pid, markers):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_gone(pid, markers, time.monotonic() + grace_s):
        return True
    if is_ours(pid, markers):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return wait_gone(pid, markers, time.monotonic() + 10.0)


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 40) -> str:
    """Last ``lines`` lines of a log file, or a note that there is none."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(data.splitlines()[-lines:])


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Serialise `up`/`down` across processes (parallel test workers may all call ensure_stack)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def run(
    argv: list[str], *, env: dict[str, str] | None = None, capture: bool = True
) -> subprocess.CompletedProcess[str]:
    """The one place that runs a short-lived command and waits for it.

    Arguments come from our own settings and paths as a list, never through a shell."""
    return subprocess.run(argv, capture_output=capture, text=True, check=False, env=env)  # noqa: S603

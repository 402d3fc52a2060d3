"""The PostgreSQL server process: a throwaway cluster in the state directory, started with pg_ctl."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from byosms_devstack import pg_config as pc
from byosms_devstack import procs
from byosms_devstack.settings import LOOPBACK, StackSettings
from byosms_devstack.system import Say, postgres_os_user, require_pg_bin


class PostgresError(RuntimeError):
    """The cluster could not be created, started or stopped."""


@dataclass(frozen=True, slots=True)
class PgLayout:
    root: Path
    data_dir: Path
    log_file: Path
    port: int

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"


def layout(settings: StackSettings) -> PgLayout:
    root = settings.state_dir() / "postgres"
    return PgLayout(root=root, data_dir=root / "data", log_file=root / "postgres.log", port=settings.pg_port)


def running_pid(lay: PgLayout) -> int | None:
    """Pid of our live postmaster (from postmaster.pid, checked against /proc), or None."""
    try:
        text = lay.pid_file.read_text(encoding="utf-8")
    except OSError:
        return None
    pid = pc.parse_postmaster_pid(text)
    return pid if procs.is_ours(pid, pc.postmaster_markers(lay.data_dir)) else None


def is_alive(lay: PgLayout, pid: int) -> bool:
    return procs.is_ours(pid, pc.postmaster_markers(lay.data_dir))


def _run(command: list[str], what: str) -> None:
    result = procs.run(command)
    if result.returncode != 0:
        raise PostgresError(f"{what} failed / fehlgeschlagen:\n" + (result.stdout + result.stderr)[-4000:])


def _prepare_root(lay: PgLayout, user: str | None) -> None:
    """Create the cluster's directory owned by the OS user that runs postgres."""
    lay.root.mkdir(parents=True, exist_ok=True)
    if user is None:
        return
    # initdb and postgres refuse to run as root; the postgres OS user must own the cluster and be able
    # to reach it through every parent directory.
    _run(["chown", "-R", f"{user}:{user}", str(lay.root)], "chown")
    probe = procs.run(pc.as_user(["test", "-w", str(lay.root)], user))
    if probe.returncode != 0:
        raise PostgresError(
            f"OS user {user} cannot reach {lay.root}; choose a state dir outside private homes "
            f"(BYOSMS_STACK_DIR) / Benutzer {user} erreicht {lay.root} nicht; BYOSMS_STACK_DIR ändern"
        )


def ensure_cluster(bin_dir: Path, lay: PgLayout, user: str | None, say: Say) -> None:
    """initdb once; an existing cluster is reused."""
    if (lay.data_dir / "PG_VERSION").is_file():
        return
    _prepare_root(lay, user)
    say(f"creating PostgreSQL cluster in {lay.data_dir}")
    _run(pc.as_user(pc.initdb_command(bin_dir, lay.data_dir), user), "initdb")


def _clear_stale_pid_file(lay: PgLayout, say: Say) -> None:
    """Remove postmaster.pid left by a postmaster that died without shutting down.

    PostgreSQL removes stale lock files itself, but it probes the old pid with kill(pid, 0), which
    succeeds on a zombie; where init reaps orphans only every few seconds (as on the CI VMs) a
    restart right after a crash then fails with "lock file already exists"."""
    try:
        pid = pc.parse_postmaster_pid(lay.pid_file.read_text(encoding="utf-8"))
    except OSError:
        return
    if pid is None:
        return
    args = procs.cmdline(pid)
    # Only when no live process could own it: dead, a zombie, or clearly not a postgres at all.
    if args is None or not any("postgres" in a for a in args):
        say(f"removing stale {lay.pid_file.name} (pid {pid} is gone)")
        lay.pid_file.unlink(missing_ok=True)


def start(settings: StackSettings, say: Say) -> tuple[int, bool]:
    """Start the postmaster unless ours already runs. Returns (pid, started_now)."""
    lay = layout(settings)
    pid = running_pid(lay)
    if pid is not None:
        return pid, False
    if procs.port_open(LOOPBACK, lay.port):
        raise PostgresError(f"port {LOOPBACK}:{lay.port} is taken / Port {LOOPBACK}:{lay.port} ist belegt")
    bin_dir = require_pg_bin(settings.pg_bin, say)
    user = postgres_os_user()
    ensure_cluster(bin_dir, lay, user, say)
    _prepare_root(lay, user)
    _clear_stale_pid_file(lay, say)
    say(f"starting PostgreSQL ({bin_dir.parent.name}) on {LOOPBACK}:{lay.port}")
    _run(
        pc.as_user(pc.pg_ctl_start_command(bin_dir, lay.data_dir, lay.log_file, LOOPBACK, lay.port), user),
        "pg_ctl start",
    )
    pid = running_pid(lay)
    if pid is None:
        raise PostgresError("PostgreSQL exited right after start / PostgreSQL hat sich sofort beendet")
    return pid, True


def stop(settings: StackSettings, say: Say) -> bool:
    """pg_ctl stop -m fast; SIGKILL the postmaster only if that does not end it. True if one ran."""
    lay = layout(settings)
    pid = running_pid(lay)
    if pid is None:
        return False
    say(f"stopping PostgreSQL (pid {pid})")
    bin_dir = require_pg_bin(settings.pg_bin, say)
    user = postgres_os_user()
    markers = pc.postmaster_markers(lay.data_dir)
    result = procs.run(pc.as_user(pc.pg_ctl_stop_command(bin_dir, lay.data_dir), user))
    if result.returncode != 0 and procs.is_ours(pid, markers):
        say("pg_ctl stop did not finish; killing the postmaster")
        procs.terminate(pid, markers, grace_s=5.0)
    if not procs.wait_gone(pid, markers, time.monotonic() + 10.0):
        raise PostgresError(f"PostgreSQL pid {pid} did not stop / PostgreSQL-Prozess {pid} hält nicht an")
    return True

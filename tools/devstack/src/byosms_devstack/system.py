"""Finding (and, as root, installing) the machine's tools: java, mvn, PostgreSQL server binaries."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from byosms_devstack import procs

PG_LIB_ROOT = Path("/usr/lib/postgresql")
PG_SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")

Say = Callable[[str], None]


class MissingToolError(RuntimeError):
    """A required program is missing and we cannot install it."""


def is_root() -> bool:
    return os.geteuid() == 0


def apt_install(packages: list[str], say: Say) -> None:
    """Install Debian packages; only as root, otherwise fail with what to run."""
    if not is_root():
        raise MissingToolError(
            f"missing tools; run as root: apt-get install -y {' '.join(packages)} "
            f"/ Werkzeuge fehlen; als root ausführen: apt-get install -y {' '.join(packages)}"
        )
    if shutil.which("apt-get") is None:
        raise MissingToolError(
            f"apt-get not found; install {' '.join(packages)} yourself / apt-get fehlt; "
            f"{' '.join(packages)} bitte selbst installieren"
        )
    say(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = shutil.which("apt-get") or "apt-get"
    for argv in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", *packages]):
        # Output goes to the terminal: an install takes a while and the user should see it move.
        if procs.run(argv, env=env, capture=False).returncode != 0:
            raise MissingToolError(f"{' '.join(argv)} failed / fehlgeschlagen")


def require_java(say: Say, *, need_maven: bool) -> tuple[str, str | None]:
    """Paths of java and (when asked) mvn, installing them via apt as root if missing."""
    java, mvn = shutil.which("java"), shutil.which("mvn")
    missing = []
    if java is None:
        missing.append("default-jdk-headless")
    if need_maven and mvn is None:
        missing.append("maven")
    if missing:
        apt_install(missing, say)
        java, mvn = shutil.which("java"), shutil.which("mvn")
    if java is None or (need_maven and mvn is None):
        raise MissingToolError("java/mvn still not found after install / java/mvn nach Installation nicht gefunden")
    return java, mvn


def _has_server(bin_dir: Path) -> bool:
    return all((bin_dir / name).is_file() for name in PG_SERVER_BINARIES)


def find_pg_bin(explicit: Path | None = None) -> Path | None:
    """The configured directory, else the newest /usr/lib/postgresql/<major>/bin with a server."""
    if explicit is not None:
        return explicit if _has_server(explicit) else None
    if not PG_LIB_ROOT.is_dir():
        return None
    majors = sorted((p for p in PG_LIB_ROOT.iterdir() if p.name.isdigit()), key=lambda p: int(p.name), reverse=True)
    # Prefer 15, the version the project targets, when several are installed.
    majors.sort(key=lambda p: p.name != "15")
    for major in majors:
        if _has_server(major / "bin"):
            return major / "bin"
    return None


def require_pg_bin(explicit: Path | None, say: Say) -> Path:
    """Server binaries, installing Debian's postgresql as root if none are present."""
    found = find_pg_bin(explicit)
    if found is None and explicit is None:
        apt_install(["postgresql"], say)
        found = find_pg_bin(None)
    if found is None:
        raise MissingToolError(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found "
            "/ PostgreSQL-Serverprogramme (initdb, pg_ctl, postgres) nicht gefunden"
        )
    return found


def postgres_os_user() -> str | None:
    """As root, the OS user that runs initdb/postgres; None means: run as ourselves."""
    return "postgres" if is_root() else None

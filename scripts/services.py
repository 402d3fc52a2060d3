"""Start and stop the byosms services in the background for `make up` / `make down`.

Each service runs from its console script with the stack's connection settings, logs to
``.run/logs/<service>.log`` and records its pid in ``.run/pids/<service>.pid``. `up` waits until
every readiness endpoint answers 200 and prints where each service listens, the admin console last.

Ports are the services' defaults unless their own variables say otherwise (``BYOSMS_INGRESS_PORT``,
``BYOSMS_PROVISIONING_PORT``, ``BYOSMS_INVENTORY_PORT``, ``BYOSMS_ROUTING_PORT``,
``BYOSMS_CONSOLE_PORT``, and ``BYOSMS_EMULATOR_PORT`` for the Twilio emulator), so a second system
can run beside the first; the URLs between the services follow them. ``demo-args`` prints the
options that point `byosms-stack demo` at them.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from byosms_cli.devkeys import default_key_dir, ensure_keypair
from byosms_common.regions import DEFAULT_REGIONS
from byosms_devstack import procs

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / ".run"
LOGS = RUN / "logs"
PIDS = RUN / "pids"
DEV_ENV = RUN / "dev-kek.json"


@dataclass(frozen=True)
class Service:
    name: str
    command: tuple[str, ...]
    port: int
    health_path: str = "/readyz"

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.health_path}"


DEMO_REGION = "eu-central-1"
PORT_VARIABLES = {
    "twilio-emulator": ("BYOSMS_EMULATOR_PORT", 8099),
    "ingress-webhook": ("BYOSMS_INGRESS_PORT", 8080),
    "provisioning": ("BYOSMS_PROVISIONING_PORT", 8081),
    "inventory": ("BYOSMS_INVENTORY_PORT", 8083),
    "routing": ("BYOSMS_ROUTING_PORT", 8084),
    "console": ("BYOSMS_CONSOLE_PORT", 8085),
}


def ports_from(environ: Mapping[str, str]) -> dict[str, int]:
    """Each service's port: its variable when set, else its default."""
    ports = {}
    for name, (variable, default) in PORT_VARIABLES.items():
        raw = environ.get(variable, "")
        if raw and not (raw.isdigit() and 0 < int(raw) < 65536):
            raise SystemExit(f"{variable}={raw!r} is not a port")
        ports[name] = int(raw) if raw else default
    return ports


def services_on(ports: dict[str, int]) -> tuple[Service, ...]:
    emulator = ports["twilio-emulator"]
    return (
        Service(
            "twilio-emulator",
            ("twilio-emulator", "serve", "--host", "127.0.0.1", "--port", str(emulator)),
            emulator,
            "/_emulator/health",
        ),
        Service("ingress-webhook", ("byosms-ingress",), ports["ingress-webhook"]),
        Service("provisioning", ("byosms-provisioning", "serve"), ports["provisioning"]),
        Service("inventory", ("byosms-inventory",), ports["inventory"]),
        Service("routing", ("byosms-routing",), ports["routing"]),
        Service("console", ("byosms-console",), ports["console"], "/healthz"),
    )


PORTS = ports_from(os.environ)
SERVICES: tuple[Service, ...] = services_on(PORTS)


def _dev_env(ports: dict[str, int] = PORTS) -> dict[str, str]:
    """Development-only settings. The random key-encryption key is kept under .run/ (never committed)
    so credentials sealed in one `make up` still open in the next."""
    RUN.mkdir(parents=True, exist_ok=True)
    if not DEV_ENV.exists():
        kek = {"BYOSMS_KEKS": json.dumps({"dev-1": base64.b64encode(secrets.token_bytes(32)).decode()})}
        DEV_ENV.write_text(json.dumps(kek))
        DEV_ENV.chmod(0o600)
    private_key, public_key = ensure_keypair(default_key_dir())
    return {
        **json.loads(DEV_ENV.read_text()),
        "BYOSMS_ACTIVE_KEK": "dev-1",
        "BYOSMS_PROVISIONING_JWT_PUBLIC_KEY_FILE": str(public_key),
        # Locally, Twilio is the emulator and the region's public ingress URL is the local ingress.
        "BYOSMS_TWILIO_API_BASE": f"http://127.0.0.1:{ports['twilio-emulator']}",
        "BYOSMS_INGRESS_REGION": DEMO_REGION,
        "BYOSMS_REGIONS_OVERRIDES": json.dumps(
            {DEMO_REGION: {"public_base_url": f"http://127.0.0.1:{ports['ingress-webhook']}"}}
        ),
        "BYOSMS_INGRESS_PORT": str(ports["ingress-webhook"]),
        "BYOSMS_PROVISIONING_PORT": str(ports["provisioning"]),
        "BYOSMS_INVENTORY_PORT": str(ports["inventory"]),
        "BYOSMS_ROUTING_PORT": str(ports["routing"]),
        # The console signs in with development tokens, signed by the key provisioning trusts here.
        "BYOSMS_CONSOLE_PORT": str(ports["console"]),
        "BYOSMS_CONSOLE_API_URL": f"http://127.0.0.1:{ports['provisioning']}",
        "BYOSMS_CONSOLE_DEV_LOGIN_KEY_FILE": str(private_key),
    }


def demo_args(ports: dict[str, int] = PORTS) -> list[str]:
    """`byosms-stack demo` options for the services on ``ports``."""
    inbound = f"http://127.0.0.1:{ports['ingress-webhook']}{DEFAULT_REGIONS[DEMO_REGION].inbound_path}"
    return [
        "--provisioning-url",
        f"http://127.0.0.1:{ports['provisioning']}",
        "--emulator-url",
        f"http://127.0.0.1:{ports['twilio-emulator']}",
        "--inbound-url",
        inbound,
        "--region",
        DEMO_REGION,
    ]


def _recorded_pid(service: Service) -> int | None:
    return procs.read_pid(PIDS / f"{service.name}.pid")


def _pid(service: Service) -> int | None:
    """The service's pid when the pid file names a live process running that service's command.

    A pid alone proves nothing: after a reboot or a crash the number may belong to another process."""
    pid = _recorded_pid(service)
    return pid if procs.is_ours(pid, service.command) else None


def _signal_group(pid: int, signum: signal.Signals) -> bool:
    """Signal the service's process group (it leads its own session); False when it is already gone."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        return False
    return True


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL we built
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def up(stack_env: dict[str, str], timeout: float = 120.0) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **_dev_env(), **stack_env, "BYOSMS_LOG_FORMAT": "json"}
    bin_dir = Path(sys.executable).parent
    started: dict[str, subprocess.Popen[bytes]] = {}
    for service in SERVICES:
        if _pid(service) is not None:
            print(f"{service.name:<12} already running (pid {_pid(service)})")
            continue
        command = [str(bin_dir / service.command[0]), *service.command[1:]]
        with (LOGS / f"{service.name}.log").open("ab") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
            )
        (PIDS / f"{service.name}.pid").write_text(str(process.pid))
        started[service.name] = process
    deadline = time.monotonic() + timeout
    waiting = list(SERVICES)
    while waiting and time.monotonic() < deadline:
        waiting = [s for s in waiting if not _ready(s.ready_url)]
        for service in waiting:
            child = started.get(service.name)
            if child is not None and child.poll() is not None:
                print(f"{service.name} exited; see {LOGS / (service.name + '.log')}", file=sys.stderr)
                return 1
        if waiting:
            time.sleep(0.5)
    if waiting:
        for service in waiting:
            print(
                f"{service.name} not ready after {timeout:.0f}s; see {LOGS / (service.name + '.log')}", file=sys.stderr
            )
        return 1
    for service in SERVICES:
        print(f"{service.name:<12} ready  http://127.0.0.1:{service.port}  (log: .run/logs/{service.name}.log)")
    return 0


def _wait_gone(service: Service, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid(service) is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def down(timeout: float = 20.0) -> int:
    """Stop every service whose pid file names one of our processes; never signal anything else."""
    failed = 0
    for service in SERVICES:
        pid_file = PIDS / f"{service.name}.pid"
        recorded = _recorded_pid(service)
        pid = _pid(service)
        if pid is None:
            if recorded is not None:
                print(f"{service.name:<12} not running (pid {recorded} is gone or another program's)")
            pid_file.unlink(missing_ok=True)
            continue
        if _signal_group(pid, signal.SIGTERM) and not _wait_gone(service, timeout):
            _signal_group(pid, signal.SIGKILL)
            if not _wait_gone(service, 10.0):
                print(f"{service.name:<12} pid {pid} did not stop", file=sys.stderr)
                failed += 1
                continue
        pid_file.unlink(missing_ok=True)
        print(f"{service.name:<12} stopped")
    return 1 if failed else 0


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "up":
        stack_env = dict(arg.split("=", 1) for arg in sys.argv[2:])
        return up(stack_env)
    if command == "down":
        return down()
    if command == "demo-args":
        print(" ".join(demo_args()))
        return 0
    print("usage: services.py up [KEY=VALUE ...] | down | demo-args", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

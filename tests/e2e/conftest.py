"""Runs the whole system as a user would: every service as its own process, real Kafka and PostgreSQL,
the Twilio emulator as a separate server. Tests talk to it only over HTTP and Kafka."""

from __future__ import annotations

import asyncio
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
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from byosms_cli.devkeys import ensure_keypair
from byosms_common import topics
from byosms_common.regions import DEFAULT_REGIONS
from byosms_common.testing import free_port, start_group_at_end
from byosms_devstack.demo import Endpoints

BIN = Path(sys.executable).parent
REGION = "eu-central-1"


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL we built
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


# Module scope: the system stops when its tests are done. Its routing consumes the shared topics in
# a group of its own, so left running it would also route what later tests (the fault drills)
# publish, behind their backs.
@pytest.fixture(scope="module")
def system_env() -> dict[str, str]:
    """Settings of one module's system only (a module overrides this fixture)."""
    return {}


@pytest.fixture(scope="module")
def system(
    servers: object, tmp_path_factory: pytest.TempPathFactory, system_env: dict[str, str]
) -> Iterator[tuple[Endpoints, bytes]]:
    root = tmp_path_factory.mktemp("e2e")
    private_key, public_key = ensure_keypair(root / "jwt")
    run_id = uuid.uuid4().hex[:8]
    ports = {name: free_port() for name in ("emulator", "ingress", "provisioning", "inventory", "routing")}
    region = DEFAULT_REGIONS[REGION]
    public_base = f"http://127.0.0.1:{ports['ingress']}"
    env = {
        **os.environ,
        "BYOSMS_LOG_FORMAT": "json",
        "BYOSMS_KEKS": json.dumps({"e2e": base64.b64encode(secrets.token_bytes(32)).decode()}),
        "BYOSMS_ACTIVE_KEK": "e2e",
        "BYOSMS_TWILIO_API_BASE": f"http://127.0.0.1:{ports['emulator']}",
        "BYOSMS_REGIONS_OVERRIDES": json.dumps({REGION: {"public_base_url": public_base}}),
        "BYOSMS_INGRESS_REGION": REGION,
        "BYOSMS_INGRESS_PORT": str(ports["ingress"]),
        "BYOSMS_INGRESS_SPOOL_DIR": str(root / "spool"),
        "BYOSMS_PROVISIONING_PORT": str(ports["provisioning"]),
        "BYOSMS_PROVISIONING_JWT_PUBLIC_KEY_FILE": str(public_key),
        "BYOSMS_PROVISIONING_COMMAND_GROUP_ID": f"e2e-provisioning-{run_id}",
        "BYOSMS_INVENTORY_PORT": str(ports["inventory"]),
        "BYOSMS_INVENTORY_CONSUMER_GROUP": f"e2e-inventory-{run_id}",
        "BYOSMS_ROUTING_PORT": str(ports["routing"]),
        "BYOSMS_ROUTING_CONSUMER_GROUP": f"e2e-routing-{run_id}",
        **system_env,
    }
    commands = {
        "emulator": (
            [str(BIN / "twilio-emulator"), "serve", "--port", str(ports["emulator"])],
            "/_emulator/health",
        ),
        "ingress": ([str(BIN / "byosms-ingress")], "/readyz"),
        "provisioning": ([str(BIN / "byosms-provisioning"), "serve"], "/readyz"),
        "inventory": ([str(BIN / "byosms-inventory")], "/readyz"),
        "routing": ([str(BIN / "byosms-routing")], "/readyz"),
    }
    # Fresh consumer groups start at the end of the shared topics: the test sees only its own traffic,
    # not the backlog that other tests (or earlier runs) left there.
    provisioning_group = env["BYOSMS_PROVISIONING_COMMAND_GROUP_ID"]
    groups = {
        provisioning_group: [topics.INTEGRATION_COMMANDS.name],
        f"{provisioning_group}-imports": [topics.NUMBER_COMMANDS.name],
        f"{provisioning_group}-number-claims": [topics.NUMBER_EVENTS.name],
        f"{provisioning_group}-inventory-records": [topics.NUMBER_STATE.name],
        f"{provisioning_group}-inventory-events": [topics.NUMBER_EVENTS.name],
        f"{provisioning_group}-message-trace": [topics.MESSAGE_EVENTS.name],
        env["BYOSMS_INVENTORY_CONSUMER_GROUP"]: [
            topics.NUMBER_EVENTS.name,
            topics.INTEGRATION_EVENTS.name,
            topics.NUMBER_COMMANDS.name,
        ],
        env["BYOSMS_ROUTING_CONSUMER_GROUP"]: [
            topics.INBOUND_MESSAGES.name,
            topics.OUTBOUND_COMMANDS.name,
            topics.DELIVERY_REPORTS.name,
        ],
    }
    for group, names in groups.items():
        asyncio.run(start_group_at_end(os.environ["BYOSMS_KAFKA_BOOTSTRAP"], group, names))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, (command, _) in commands.items():
            with (root / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
                processes[name] = subprocess.Popen(
                    command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
        deadline = time.monotonic() + 90
        waiting = set(commands)
        while waiting and time.monotonic() < deadline:
            for name in list(waiting):
                if processes[name].poll() is not None:
                    raise AssertionError(f"{name} exited: {(root / f'{name}.log').read_text()[-2000:]}")
                if _ready(f"http://127.0.0.1:{ports[name]}{commands[name][1]}"):
                    waiting.discard(name)
            time.sleep(0.2)
        assert not waiting, f"not ready in 90 s: {sorted(waiting)}"
        endpoints = Endpoints(
            provisioning_url=f"http://127.0.0.1:{ports['provisioning']}",
            emulator_url=f"http://127.0.0.1:{ports['emulator']}",
            kafka_bootstrap=os.environ["BYOSMS_KAFKA_BOOTSTRAP"],
            inbound_url=public_base + region.inbound_path,
            region=REGION,
        )
        yield endpoints, private_key.read_bytes()
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

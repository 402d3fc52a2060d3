"""docker-compose.yml's topic-init, run as compose would run it (its entrypoint, command and
environment, with the broker's address of this test run) against a real single broker: it passes,
checking every byosms topic, with the one-replica settings it gives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOPIC_INIT = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["topic-init"]


def test_topic_init_passes_on_a_single_broker(kafka_bootstrap: str) -> None:
    script, *args = TOPIC_INIT["entrypoint"] + TOPIC_INIT["command"]
    executable = shutil.which(script, path=str(Path(sys.executable).parent))
    assert executable, f"{script} is a console script of the workspace"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BYOSMS_")}
    env.update({k: str(v) for k, v in TOPIC_INIT["environment"].items()})
    env["BYOSMS_KAFKA_BOOTSTRAP"] = kafka_bootstrap  # compose's kafka:29092 is this run's broker
    result = subprocess.run([executable, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "byosms-topics: every byosms topic exists" in result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()

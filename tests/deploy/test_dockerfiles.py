"""Every service image is built the same way: python:3.11-slim, uv from the lock file, the service's
own console script, a numeric non-root user and a health check on /readyz."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIRS = sorted(p.parent for p in ROOT.glob("services/*/pyproject.toml"))
DOCKERFILES = [*(d / "Dockerfile" for d in SERVICE_DIRS), ROOT / "deploy" / "docker" / "twilio-emulator.Dockerfile"]


def test_every_service_has_a_dockerfile() -> None:
    assert {d.name for d in SERVICE_DIRS} >= {"ingress-webhook", "provisioning", "inventory", "routing"}
    for directory in SERVICE_DIRS:
        assert (directory / "Dockerfile").is_file(), directory


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_image_recipe(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert text.count("FROM ${PYTHON_IMAGE}") == 2, "a build stage and a slim runtime stage"
    assert re.search(r'pip install --no-cache-dir "uv==\$\{UV_VERSION\}"', text)
    assert "uv sync --locked --no-dev --no-editable --package " in text
    assert "USER 10001:10001" in text, "numeric, so runAsNonRoot can verify it"
    assert "HEALTHCHECK" in text
    assert "bitnami" not in text.lower()


@pytest.mark.parametrize("directory", SERVICE_DIRS, ids=lambda p: p.name)
def test_service_image_runs_its_console_script_and_checks_readyz(directory: Path) -> None:
    text = (directory / "Dockerfile").read_text()
    project = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
    (script,) = project["scripts"]
    assert f"--package {project['name']}\n" in text
    assert f'ENTRYPOINT ["{script}"' in text
    port = re.search(r"^EXPOSE (\d+)$", text, re.MULTILINE)
    assert port
    assert f"http://127.0.0.1:{port.group(1)}/readyz" in text
    # The services bind to loopback by default; in a container that would be unreachable.
    assert re.search(r"BYOSMS_[A-Z]+_HOST=0\.0\.0\.0", text)

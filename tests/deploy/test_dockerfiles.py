"""Every image is a target of the one Dockerfile at the repository root, built the same way:
python:3.11-slim, uv from the lock file, only its own package, its own console script, a numeric
non-root user and a health check on /readyz. No Docker engine runs here, so the file is parsed (with
Docker's own parser) and each target resolved as Docker would: what it inherits from the stages it is
built FROM, and the ``uv sync`` of the stage its venv comes from."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
Image = Any  # conftest.Image

SERVICE_DIRS = sorted(p.parent for p in ROOT.glob("services/*/pyproject.toml"))
# target -> the package directory it is built from
TARGETS = {**{d.name: d for d in SERVICE_DIRS}, "twilio-emulator": ROOT / "tools" / "twilio-emulator"}
SHARED = {"workspace", "runtime"}
DEFAULT = "no-target-given"


def _project(directory: Path) -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
    return project


def test_no_service_keeps_a_dockerfile_of_its_own() -> None:
    assert {d.name for d in SERVICE_DIRS} == {"ingress-webhook", "provisioning", "inventory", "routing", "console"}
    others = [p for p in ROOT.rglob("*Dockerfile*") if ".venv" not in p.parts and ".run" not in p.parts]
    assert [p.relative_to(ROOT) for p in others] == [Path("Dockerfile")]


def test_the_stages_are_the_shared_ones_one_venv_and_one_image_a_target_and_a_default_that_fails(
    images: dict[str, Image],
) -> None:
    assert set(images) == SHARED | set(TARGETS) | {f"{t}-venv" for t in TARGETS} | {DEFAULT}
    # The last stage is what `docker build .` builds without --target: it refuses, naming the targets.
    assert list(images)[-1] == DEFAULT
    (refusal,) = images[DEFAULT].runs[1:]
    assert refusal.rstrip().endswith("exit 1")
    for target in TARGETS:
        assert target in refusal


def test_the_recipe(images: dict[str, Image], dockerfile_head: list[Any]) -> None:
    head = dockerfile_head
    assert [c.original for c in head] == ["ARG PYTHON_IMAGE=python:3.11-slim"]
    assert images["workspace"].base == images["runtime"].base == "${PYTHON_IMAGE}"
    assert images["workspace"].runs == ['pip install --no-cache-dir "uv==${UV_VERSION}"']
    assert images["workspace"].env["UV_PROJECT_ENVIRONMENT"] == "/app/.venv", "built where it runs"
    assert images["runtime"].runs[0].startswith("groupadd --system --gid 10001 byosms")
    assert "bitnami" not in DOCKERFILE.read_text().lower()


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_each_image_holds_only_its_own_package_and_runs_its_console_script(
    target: str, images: dict[str, Image]
) -> None:
    image = images[target]
    project = _project(TARGETS[target])
    (script,) = project["scripts"]  # type: ignore[misc]
    assert image.stages == [target, "runtime"]
    assert image.venv_from == f"{target}-venv"
    assert images[f"{target}-venv"].stages == [f"{target}-venv", "workspace"]
    assert image.venv_sync == f"uv sync --locked --no-dev --no-editable --package {project['name']}"
    assert image.entrypoint[0] == script
    assert image.env["PATH"].startswith("/app/.venv/bin:")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_each_image_runs_as_the_numeric_user_and_checks_its_health_on_its_port(
    target: str, images: dict[str, Image]
) -> None:
    image = images[target]
    assert image.user == "10001:10001", "numeric, so runAsNonRoot can verify it"
    (port,) = image.expose
    assert "--interval=10s --timeout=3s --start-period=30s --retries=3" in image.healthcheck
    assert "os.environ['HEALTHCHECK_URL']" in image.healthcheck
    path = "/_emulator/health" if target == "twilio-emulator" else "/readyz"
    assert image.env["HEALTHCHECK_URL"] == f"http://127.0.0.1:{port}{path}"


@pytest.mark.parametrize("target", sorted(d.name for d in SERVICE_DIRS))
def test_services_listen_on_all_interfaces_on_the_port_they_expose(target: str, images: dict[str, Image]) -> None:
    # The services bind to loopback by default; in a container that would be unreachable.
    env = images[target].env
    prefix = {"ingress-webhook": "INGRESS"}.get(target, target.upper())
    assert env[f"BYOSMS_{prefix}_HOST"] == "0.0.0.0"
    assert [env[f"BYOSMS_{prefix}_PORT"]] == images[target].expose


def test_entrypoints_and_commands(images: dict[str, Image]) -> None:
    assert {t: (images[t].entrypoint, images[t].cmd) for t in TARGETS} == {
        "ingress-webhook": (["byosms-ingress"], []),
        "provisioning": (["byosms-provisioning", "serve"], []),
        "inventory": (["byosms-inventory"], []),
        "routing": (["byosms-routing"], []),
        "console": (["byosms-console"], []),
        "twilio-emulator": (["twilio-emulator"], ["serve", "--host", "0.0.0.0", "--port", "8099"]),
    }


def test_the_ingress_spool_is_a_volume_its_user_may_write(images: dict[str, Image]) -> None:
    ingress = images["ingress-webhook"]
    spool = ingress.env["BYOSMS_INGRESS_SPOOL_DIR"]
    assert ingress.volumes == [spool]
    assert f"mkdir -p {spool} && chown 10001:10001 {spool}" in ingress.runs
    assert not [t for t in TARGETS if t != "ingress-webhook" and images[t].volumes]


def test_make_images_builds_every_target() -> None:
    makefile = (ROOT / "Makefile").read_text()
    listed = re.search(r"^IMAGES := (.+)$", makefile, re.MULTILINE)
    assert listed
    assert sorted(listed.group(1).split()) == sorted(TARGETS)
    assert "docker build --target $$target -t byosms/$$target:dev ." in makefile


def _repositories(node: object) -> list[str]:
    if isinstance(node, dict):
        image = node.get("image")
        found = [image["repository"]] if isinstance(image, dict) and "repository" in image else []
        return found + [r for value in node.values() for r in _repositories(value)]
    if isinstance(node, list):
        return [r for value in node for r in _repositories(value)]
    return []


def test_the_charts_image_repositories_are_the_dockerfiles_targets(images: dict[str, Image]) -> None:
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "byosms" / "values.yaml").read_text())
    repositories = _repositories(values)
    assert sorted(repositories) == sorted(d.name for d in SERVICE_DIRS)
    for repository in repositories:
        assert images[repository].entrypoint, repository

"""Fixtures for the deployment checks: the repository paths and a Helm renderer.

The helm binary comes from ``scripts/helm_check.sh --helm-path`` (the static binary inside a PyPI
wheel, cached under ~/.cache/byosms/helm). When it cannot be had the tests fail: a chart nobody
rendered is not a tested chart.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import subprocess
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "byosms"
DOCKERFILE = ROOT / "Dockerfile"
KUBE_VERSION = "1.33.0"


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that rejects duplicate mapping keys, which PyYAML would silently overwrite
    but the Kubernetes API server's strict decoding refuses."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_all(text: str) -> list[dict[str, Any]]:
    """Every non-empty YAML document of ``text``."""
    return [doc for doc in yaml.load_all(text, Loader=UniqueKeyLoader) if doc]


@dataclass(frozen=True)
class RenderResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def documents(self) -> list[dict[str, Any]]:
        assert self.returncode == 0, self.stderr
        return load_all(self.stdout)


Renderer = Callable[..., RenderResult]

# The package (or module) whose settings each component reads (compose service / chart component).
SERVICE_PACKAGES: dict[str, str] = {
    "ingress-webhook": "byosms_ingress",
    "provisioning": "byosms_provisioning",
    "inventory": "byosms_inventory",
    "routing": "byosms_routing",
    "console": "byosms_console",
    # The chart's topic Job runs `byosms-topics ensure`.
    "kafka-topics": "byosms_common.topics_cli",
}


def settings_classes(package: str) -> tuple[type[BaseSettings], ...]:
    """Every settings class a service's modules define or import (its own and the shared ones from
    byosms_common.settings), found by importing each module of the package: a class added to a
    service is picked up without anyone updating a list here."""
    root = importlib.import_module(package)
    modules = [root]
    if hasattr(root, "__path__"):
        modules += [importlib.import_module(m.name) for m in pkgutil.walk_packages(root.__path__, f"{package}.")]
    found: dict[str, type[BaseSettings]] = {}
    for module in modules:
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseSettings) and value is not BaseSettings:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return tuple(found[name] for name in sorted(found))


# The settings classes each service reads, by component name.
SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    component: settings_classes(package) for component, package in SERVICE_PACKAGES.items()
}


def env_names(*classes: type[BaseSettings]) -> set[str]:
    """Every environment variable the given settings classes read."""
    names: set[str] = set()
    for cls in classes:
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field_name, field in cls.model_fields.items():
            # An alias replaces the prefixed name (environment names are case-insensitive).
            alias = field.validation_alias or field.alias
            if isinstance(alias, str):
                names.add(alias.upper())
            elif isinstance(alias, AliasChoices):
                names.update(str(choice).upper() for choice in alias.choices)
            else:
                names.add((prefix + field_name).upper())
    return names


@pytest.fixture(scope="session")
def service_settings() -> dict[str, tuple[type[BaseSettings], ...]]:
    """Component name -> the settings classes its service reads."""
    return SETTINGS


@pytest.fixture(scope="session")
def settings_env_names() -> dict[str, set[str]]:
    """Component name -> the BYOSMS_* variables its settings classes read. Since the classes ignore
    unknown variables, a misspelt name in a deployment file would otherwise go unnoticed."""
    return {component: env_names(*classes) for component, classes in SETTINGS.items()}


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "helm_check.sh"), "--helm-path"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"could not obtain helm:\n{result.stderr}"
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def render_chart(helm_binary: Path) -> Renderer:
    """``render_chart(values_file, *extra_args)``: ``helm template`` of the chart."""

    def render(values: Path | None = None, *extra: str) -> RenderResult:
        command = [str(helm_binary), "template", "byosms", str(CHART), "--namespace", "byosms"]
        command += ["--kube-version", KUBE_VERSION]
        if values is not None:
            command += ["-f", str(values)]
        command += list(extra)
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        return RenderResult(result.returncode, result.stdout, result.stderr)

    return render


@dataclass
class Image:
    """What one target of the Dockerfile is, with what its stage inherits from the stages it is built
    FROM (as Docker resolves it): base, user, environment, ports, entrypoint, health check, and the
    ``uv sync`` of the stage its /app/.venv is copied from."""

    target: str
    base: str
    stages: list[str]  # this target and the stages it is built FROM, nearest first
    user: str | None = None
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    expose: list[str] = dataclasses.field(default_factory=list)
    volumes: list[str] = dataclasses.field(default_factory=list)
    entrypoint: list[str] = dataclasses.field(default_factory=list)
    cmd: list[str] = dataclasses.field(default_factory=list)
    healthcheck: str = ""
    venv_from: str | None = None
    venv_sync: str = ""
    runs: list[str] = dataclasses.field(default_factory=list)


def _stages(path: Path) -> tuple[list[dockerfile.Command], dict[str, tuple[str, list[dockerfile.Command]]]]:
    """(instructions before the first FROM, {stage: (its FROM image or stage, its instructions)})."""
    head: list[dockerfile.Command] = []
    stages: dict[str, tuple[str, list[dockerfile.Command]]] = {}
    current: list[dockerfile.Command] | None = None
    for command in dockerfile.parse_file(str(path)):
        if command.cmd.upper() == "FROM":
            base, _as, name = command.value
            assert _as.upper() == "AS", f"every stage is named: {command.original}"
            assert name not in stages, f"stage {name} twice"
            current = []
            stages[name] = (base, current)
        elif current is None:
            head.append(command)
        else:
            current.append(command)
    return head, stages


def dockerfile_images(path: Path = DOCKERFILE) -> tuple[list[dockerfile.Command], dict[str, Image]]:
    """The instructions before the first FROM, and every stage of ``path`` resolved as an image."""
    head, stages = _stages(path)
    images: dict[str, Image] = {}
    for name in stages:
        chain = [name]
        while stages[chain[-1]][0] in stages:
            chain.append(stages[chain[-1]][0])
        image = Image(target=name, base=stages[chain[-1]][0], stages=chain)
        for stage in reversed(chain):
            for command in stages[stage][1]:
                _apply(image, command, stages)
        images[name] = image
    return head, images


def _apply(image: Image, command: dockerfile.Command, stages: dict[str, tuple[str, list[dockerfile.Command]]]) -> None:
    match command.cmd.upper():
        case "USER":
            image.user = command.value[0]
        case "ENV":
            image.env.update(zip(command.value[::2], command.value[1::2], strict=True))
        case "EXPOSE":
            image.expose.extend(command.value)
        case "VOLUME":
            image.volumes.extend(command.value)
        case "ENTRYPOINT":
            assert command.json, f"exec form, so signals reach the service: {command.original}"
            image.entrypoint, image.cmd = list(command.value), []
        case "CMD":
            image.cmd = list(command.value)
        case "HEALTHCHECK":
            image.healthcheck = command.original
        case "RUN":
            image.runs.append(command.value[0])
        case "COPY":
            sources = [flag.split("=", 1)[1] for flag in command.flags if flag.startswith("--from=")]
            if sources and command.value[-1] == "/app/.venv":
                image.venv_from = sources[0]
                runs = [c.value[0] for c in stages[sources[0]][1] if c.cmd.upper() == "RUN"]
                syncs = [run for run in runs if "uv sync" in run]
                assert len(syncs) == 1, f"one uv sync in {sources[0]}"
                image.venv_sync = syncs[0]


@pytest.fixture(scope="session")
def images() -> dict[str, Image]:
    """Every stage of the repository's Dockerfile, by name (the image targets among them)."""
    return dockerfile_images()[1]


@pytest.fixture(scope="session")
def dockerfile_head() -> list[dockerfile.Command]:
    """The Dockerfile's instructions before its first FROM (global build arguments)."""
    return dockerfile_images()[0]

"""docker-compose.yml describes the local stack correctly. No Docker engine runs here, so the file is
checked structurally: services and images, health checks, start order, topics created and checked by
the chart's own ``byosms-topics ensure``, and no secret value written into the file."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from byosms_common.settings import KafkaSettings, TelemetrySettings
from byosms_common.topics_cli import TopicSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]

# compose service -> (package directory, console script, port)
APPS = {
    "ingress-webhook": ("services/ingress-webhook", "byosms-ingress", 8080),
    "provisioning": ("services/provisioning", "byosms-provisioning", 8081),
    "inventory": ("services/inventory", "byosms-inventory", 8083),
    "routing": ("services/routing", "byosms-routing", 8084),
    "console": ("services/console", "byosms-console", 8085),
}
# The console talks to provisioning's admin API only: no Kafka, database or key settings.
KAFKA_APPS = {name: app for name, app in APPS.items() if name != "console"}
SECRET_NAMES = ("BYOSMS_DATABASE_URL", "BYOSMS_KEKS", "BYOSMS_ACTIVE_KEK", "POSTGRES_PASSWORD")


def _healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_the_stack_has_every_piece() -> None:
    assert set(SERVICES) == {"kafka", "postgres", "topic-init", "twilio-emulator", *APPS}


def test_images_are_the_official_ones() -> None:
    assert SERVICES["kafka"]["image"] == "apache/kafka:4.1.1"
    assert SERVICES["postgres"]["image"] == "postgres:15"
    assert "bitnami" not in COMPOSE_TEXT.lower()


def test_kafka_is_a_single_kraft_node_without_auto_created_topics() -> None:
    env = SERVICES["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_NODE_ID"] == 1
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "INTERNAL://kafka:29092" in env["KAFKA_ADVERTISED_LISTENERS"]


@pytest.mark.parametrize("name", sorted(APPS))
def test_services_are_built_from_their_target_of_the_dockerfile(name: str, images: dict[str, Any]) -> None:
    directory, script, port = APPS[name]
    build = SERVICES[name]["build"]
    assert build["context"] == "."
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == ROOT / "Dockerfile"
    image = images[build["target"]]
    assert image.entrypoint[0] == script
    project = tomllib.loads((ROOT / directory / "pyproject.toml").read_text())["project"]
    assert script in project["scripts"]
    assert image.venv_sync == f"uv sync --locked --no-dev --no-editable --package {project['name']}"
    assert image.expose == [str(port)]
    assert f"127.0.0.1:{port}:{port}" in SERVICES[name]["ports"]
    assert SERVICES[name]["image"] == f"byosms/{build['target']}:dev", "as make images tags it"


def test_every_build_names_an_existing_dockerfile_and_target(images: dict[str, Any]) -> None:
    built = {name: service["build"] for name, service in SERVICES.items() if "build" in service}
    assert set(built) == {*APPS, "twilio-emulator", "topic-init"}
    for name, build in built.items():
        assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name
        assert build["target"] in images, name
        assert images[build["target"]].entrypoint, f"{name}: {build['target']} is an image, not a build stage"
    assert images[built["twilio-emulator"]["target"]].entrypoint == ["twilio-emulator"]


@pytest.mark.parametrize("name", sorted(APPS))
def test_services_are_healthchecked_on_readyz(name: str) -> None:
    _, _, port = APPS[name]
    assert f"http://127.0.0.1:{port}/readyz" in _healthcheck_text(SERVICES[name])


@pytest.mark.parametrize("name", ["kafka", "postgres", "twilio-emulator"])
def test_infrastructure_is_healthchecked(name: str) -> None:
    assert _healthcheck_text(SERVICES[name])


@pytest.mark.parametrize("name", sorted(KAFKA_APPS))
def test_services_start_after_kafka_postgres_and_topics(name: str) -> None:
    depends = SERVICES[name]["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["topic-init"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("name", sorted(KAFKA_APPS))
def test_services_listen_on_all_interfaces_and_reach_kafka(name: str) -> None:
    env = SERVICES[name]["environment"]
    assert env["BYOSMS_KAFKA_BOOTSTRAP"] == "kafka:29092"
    prefix = {"ingress-webhook": "INGRESS"}.get(name, name.upper())
    assert env[f"BYOSMS_{prefix}_HOST"] == "0.0.0.0"
    assert env[f"BYOSMS_{prefix}_PORT"] == APPS[name][2]


def test_twilio_calls_go_to_the_emulator() -> None:
    emulator = SERVICES["twilio-emulator"]
    assert emulator["command"] == ["serve", "--host", "0.0.0.0", "--port", "8099"]
    # Provisioning is the only service calling Twilio so far (routing's send path is planned).
    assert SERVICES["provisioning"]["environment"]["BYOSMS_TWILIO_API_BASE"] == "http://twilio-emulator:8099"
    assert SERVICES["provisioning"]["depends_on"]["twilio-emulator"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_variable_is_read_by_the_service(name: str, settings_env_names: dict[str, set[str]]) -> None:
    byosms_env = {k for k in SERVICES[name]["environment"] if k.startswith("BYOSMS_")}
    assert byosms_env <= settings_env_names[name]


def test_ingress_spool_is_a_volume() -> None:
    ingress = SERVICES["ingress-webhook"]
    spool = ingress["environment"]["BYOSMS_INGRESS_SPOOL_DIR"]
    assert any(v.endswith(":" + spool) for v in ingress["volumes"])


def test_topic_init_runs_what_the_charts_topic_job_runs(render_chart: Any, images: dict[str, Any]) -> None:
    """``byosms-topics ensure``: the topics of byosms_common.topics created and checked, not a list of
    its own; a topic that breaks a guarantee fails it, and then no service starts."""
    docs = render_chart(ROOT / "deploy" / "helm" / "byosms" / "ci" / "production-values.yaml").documents
    (job,) = [d for d in docs if d["kind"] == "Job" and d["metadata"]["name"].endswith("-kafka-topics")]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    init = SERVICES["topic-init"]
    assert (
        init["entrypoint"] + init["command"] == container["command"] + container["args"] == ["byosms-topics", "ensure"]
    )
    # From the image the chart takes it from, whose venv has byosms-common and so the console script.
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "byosms" / "values.yaml").read_text())
    assert init["build"]["target"] == values["kafka"]["topics"]["imageService"] == "provisioning"
    common = tomllib.loads((ROOT / "libs" / "byosms-common" / "pyproject.toml").read_text())["project"]
    assert "byosms-topics" in common["scripts"]
    assert images["provisioning"].venv_sync.endswith("--package byosms-provisioning")
    provisioning = tomllib.loads((ROOT / "services" / "provisioning" / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("byosms-common") for d in provisioning["dependencies"])
    assert init["restart"] == "no"
    assert init["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert init["healthcheck"] == {"disable": True}, "the image's check is provisioning's /readyz"


def test_topic_init_settings_are_read_by_the_topic_tool() -> None:
    env = SERVICES["topic-init"]["environment"]
    assert env["BYOSMS_KAFKA_BOOTSTRAP"] == "kafka:29092"
    # One broker: one replica; the tool fails on fewer replicas or min.insync.replicas than asked.
    assert (env["BYOSMS_TOPICS_REPLICATION_FACTOR"], env["BYOSMS_TOPICS_MIN_INSYNC_REPLICAS"]) == (1, 1)
    assert "BYOSMS_TOPICS_PLAN" not in env, "the code's topics, so compose cannot drift from them"
    read = {f"BYOSMS_TOPICS_{name}".upper() for name in TopicSettings.model_fields}
    read |= {f"BYOSMS_{name}".upper() for cls in (KafkaSettings, TelemetrySettings) for name in cls.model_fields}
    assert {k for k in env if k.startswith("BYOSMS_")} <= read


def test_secrets_come_only_from_ignored_env_files() -> None:
    ignore = (ROOT / "deploy" / "compose" / ".gitignore").read_text().split()
    for name, service in SERVICES.items():
        for env_name in service.get("environment", {}):
            assert env_name not in SECRET_NAMES, f"{name} inlines {env_name}"
        for entry in service.get("env_file", []):
            path = Path(entry["path"] if isinstance(entry, dict) else entry)
            assert path.parent == Path("deploy/compose"), path
            assert any(fnmatch.fnmatch(path.name, pattern) for pattern in ignore), f"{path} is not git-ignored"
    for name in KAFKA_APPS:
        assert SERVICES[name]["env_file"], f"{name} gets its secrets from the env file"


def test_no_secret_value_is_written_into_the_file() -> None:
    assert not re.search(r"[A-Za-z0-9+/]{40,}={0,2}", COMPOSE_TEXT), "looks like an inlined key"
    assert not re.search(r"postgres(ql)?://[^/\s:@]+:[^@\s]+@", COMPOSE_TEXT), "a database URL with a password"
    assert not re.search(r"(?i)(password|secret|token|keks?)\s*[:=]\s*\S", COMPOSE_TEXT), "a secret setting"


def test_make_env_writes_what_compose_reads() -> None:
    script = (ROOT / "deploy" / "compose" / "make-env.sh").read_text()
    for name in SECRET_NAMES:
        assert name in script
    assert "jwt-public.pem" in script
    mounted = SERVICES["provisioning"]["volumes"]
    assert "./deploy/compose/secrets/jwt-public.pem:/run/byosms/jwt-public.pem:ro" in mounted


def test_the_console_reaches_only_the_admin_api_and_holds_no_secret() -> None:
    console = SERVICES["console"]
    env = console["environment"]
    assert env["BYOSMS_CONSOLE_API_URL"] == "http://provisioning:8081"
    assert env["BYOSMS_CONSOLE_HOST"] == "0.0.0.0"
    assert console["depends_on"] == {"provisioning": {"condition": "service_healthy"}}
    assert "env_file" not in console
    assert not [name for name in env if name.startswith(("BYOSMS_KAFKA", "BYOSMS_DATABASE", "BYOSMS_KEK"))]

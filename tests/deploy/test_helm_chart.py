"""The byosms Helm chart, rendered by the real helm binary with every scenario in ci/, keeps its rules:
probes and resources on every workload, non-root containers, secrets only referenced, one ingress
workload per region, enough ingress replicas and PDBs in production, every topic created, and the
Kafka consumer services as StatefulSets whose pod name is their static group member id."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from byosms_common.settings import ConsumerSettings
from byosms_common.topic_check import plan
from byosms_common.topics import ALL_TOPICS, all_topic_names
from byosms_common.topics_cli import TopicSettings
from byosms_console.settings import ConsoleSettings
from byosms_ingress.settings import IngressSettings
from byosms_inventory.settings import InventorySettings
from byosms_provisioning.settings import ProvisioningSettings
from byosms_routing.settings import RoutingSettings

pytestmark = pytest.mark.integration

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "byosms"
SCENARIOS = sorted(CHART.glob("ci/*-values.yaml"))
SECRET_ENV = {"BYOSMS_DATABASE_URL", "BYOSMS_KEKS", "BYOSMS_ACTIVE_KEK"}
SERVICES = ("provisioning", "inventory", "routing")


def _enabled(path: Path) -> list[str]:
    """The consumer services the scenario deploys (a release may leave them to another one)."""
    values = _values(path)
    return [c for c in SERVICES if values[c]["enabled"]]


def _ids(paths: list[Path]) -> list[str]:
    return [p.name.removesuffix("-values.yaml") for p in paths]


def _values(scenario: Path) -> dict[str, Any]:
    """Chart defaults with the scenario on top (maps merge, lists replace, as helm does)."""

    def merge(base: Any, top: Any) -> Any:
        if isinstance(base, dict) and isinstance(top, dict):
            return {k: merge(base.get(k), top[k]) if k in base else top[k] for k in top} | {
                k: v for k, v in base.items() if k not in top
            }
        return top

    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    return dict(merge(defaults, yaml.safe_load(scenario.read_text())))


def _kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            specs.append((f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "Pod":
            specs.append((f"Pod/{doc['metadata']['name']}", doc["spec"]))
    return specs


def _workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deployments and StatefulSets (the ingress is a StatefulSet with a persistent spool)."""
    return _kind(docs, "Deployment") + _kind(docs, "StatefulSet")


def _ingress_deployments(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d
        for d in _workloads(docs)
        if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "ingress-webhook"
    ]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.fixture(scope="module", params=SCENARIOS, ids=_ids(SCENARIOS))
def scenario(request: pytest.FixtureRequest, render_chart: Any) -> tuple[Path, list[dict[str, Any]]]:
    path: Path = request.param
    return path, render_chart(path).documents


def test_scenarios_exist() -> None:
    assert {"minimal", "production"} <= set(_ids(SCENARIOS))


def test_every_object_is_well_formed(scenario: tuple[Path, list[dict[str, Any]]]) -> None:
    _, docs = scenario
    names = set()
    for doc in docs:
        assert doc.get("apiVersion"), doc
        assert doc.get("kind"), doc
        assert doc["metadata"].get("name"), doc
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in names, f"{key} rendered twice"
        names.add(key)


def test_every_deployment_has_probes_and_resources(scenario: tuple[Path, list[dict[str, Any]]]) -> None:
    path, docs = scenario
    deployments = _workloads(docs)
    assert len(deployments) >= len(_enabled(path)) + len(_values(path)["ingressWebhook"]["regions"])
    for deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            where = f"{deployment['metadata']['name']}/{container['name']}"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", where
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", where
            resources = container["resources"]
            assert resources["requests"]["cpu"], where
            assert resources["requests"]["memory"], where
            assert resources["limits"]["memory"], where


def test_every_container_runs_as_non_root(scenario: tuple[Path, list[dict[str, Any]]]) -> None:
    _, docs = scenario
    specs = _pod_specs(docs)
    assert any(name.startswith("Job/") for name, _ in specs), "the topic Job is rendered"
    assert any(name.startswith("Pod/") for name, _ in specs), "the helm test pod is rendered"
    for name, spec in specs:
        pod_level = spec.get("securityContext", {}).get("runAsNonRoot")
        for container in spec["containers"]:
            context = container.get("securityContext", {})
            assert context.get("runAsNonRoot", pod_level) is True, f"{name}/{container['name']}"
            assert context.get("allowPrivilegeEscalation") is False, f"{name}/{container['name']}"
            assert context.get("readOnlyRootFilesystem") is True, f"{name}/{container['name']}"
            assert context["capabilities"]["drop"] == ["ALL"], f"{name}/{container['name']}"


def test_no_secret_values_in_the_chart(scenario: tuple[Path, list[dict[str, Any]]]) -> None:
    _, docs = scenario
    assert _kind(docs, "Secret") == [], "the chart must only reference existing Secrets"
    for name, spec in _pod_specs(docs):
        for container in spec["containers"]:
            for env in container.get("env", []):
                if env["name"] in SECRET_ENV:
                    assert "value" not in env, f"{name}: {env['name']} inlined"
                    assert env["valueFrom"]["secretKeyRef"]["name"], f"{name}: {env['name']}"
    for config_map in _kind(docs, "ConfigMap"):
        assert not SECRET_ENV & set(config_map["data"]), config_map["metadata"]["name"]


def test_services_get_their_secrets_from_secret_refs(scenario: tuple[Path, list[dict[str, Any]]]) -> None:
    path, docs = scenario
    values = _values(path)
    wanted = {
        "ingress-webhook": {"BYOSMS_KEKS", "BYOSMS_ACTIVE_KEK"},
        "provisioning": SECRET_ENV,
        "inventory": {"BYOSMS_DATABASE_URL"},
        # Routing opens tenants' Twilio credentials (in memory) to send their messages.
        "routing": {"BYOSMS_DATABASE_URL", "BYOSMS_KEKS", "BYOSMS_ACTIVE_KEK"},
        # The console only calls the admin API with its users' tokens.
        "console": set(),
    }
    for deployment in _workloads(docs):
        component = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", []) if e["name"] in SECRET_ENV}
        assert set(refs) == wanted[component], deployment["metadata"]["name"]
        for env_name, ref in refs.items():
            owner = values["database"] if env_name == "BYOSMS_DATABASE_URL" else values["keks"]
            assert ref["name"] == owner["existingSecret"]


def _config_of(docs: list[dict[str, Any]], deployment: dict[str, Any]) -> dict[str, str]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (source,) = container["envFrom"]
    config_maps = {c["metadata"]["name"]: c["data"] for c in _kind(docs, "ConfigMap")}
    return dict(config_maps[source["configMapRef"]["name"]])


def test_services_accept_their_configuration(
    scenario: tuple[Path, list[dict[str, Any]]],
    settings_env_names: dict[str, set[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every variable the chart sets is one the service reads, and the service's own settings class
    accepts the rendered values (region overrides, ports, JWT key source, consumer settings, ...)."""
    path, docs = scenario
    classes = {
        "ingress-webhook": IngressSettings,
        "provisioning": ProvisioningSettings,
        "inventory": InventorySettings,
        "routing": RoutingSettings,
        "console": ConsoleSettings,
    }
    for deployment in _workloads(docs):
        component = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        config = _config_of(docs, deployment)
        assert set(config) <= settings_env_names[component], deployment["metadata"]["name"]
        with monkeypatch.context() as patch:
            # Only the rendered configuration counts, not what the test runner's shell exports.
            for name in [n for n in os.environ if n.startswith("BYOSMS_")]:
                patch.delenv(name)
            for name, value in config.items():
                patch.setenv(name, value)
            settings = classes[component]()
            consumer = ConsumerSettings() if component in SERVICES else None
        assert settings.port == deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        if isinstance(settings, IngressSettings):
            region = settings.region_config()
            assert deployment["metadata"]["name"] == f"byosms-ingress-{region.id}"
        if consumer is not None:
            consumers = _values(path)["consumers"]
            assert consumer.consumer_session_timeout_ms == consumers["sessionTimeoutMs"]
            assert consumer.consumer_stop_grace_s == consumers["stopGraceSeconds"]
            # The instance id is the pod's own name (downward API), never a shared ConfigMap value.
            assert consumer.kafka_instance_id is None


def test_one_ingress_deployment_per_region(scenario: tuple[Path, list[dict[str, Any]]]) -> None:
    path, docs = scenario
    regions = _values(path)["ingressWebhook"]["regions"]
    deployments = {d["metadata"]["name"]: d for d in _ingress_deployments(docs)}
    assert sorted(deployments) == sorted(f"byosms-ingress-{r['id']}" for r in regions)
    config_maps = {c["metadata"]["name"]: c["data"] for c in _kind(docs, "ConfigMap")}
    services = {s["metadata"]["name"]: s for s in _kind(docs, "Service")}
    for region in regions:
        name = f"byosms-ingress-{region['id']}"
        pod = deployments[name]["spec"]["template"]
        assert pod["metadata"]["labels"]["byosms.io/region"] == region["id"]
        (container,) = pod["spec"]["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": name}}]
        assert config_maps[name]["BYOSMS_INGRESS_REGION"] == region["id"]
        if region.get("publicBaseUrl"):
            overrides = yaml.safe_load(config_maps[name]["BYOSMS_REGIONS_OVERRIDES"])
            assert overrides[region["id"]]["public_base_url"] == region["publicBaseUrl"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        env = {e["name"]: e for e in container["env"]}
        # One spool directory per pod (the spool is one process per directory), on the spool volume.
        assert env["BYOSMS_INGRESS_SPOOL_DIR"]["value"] == mounts["spool"] + "/$(BYOSMS_POD_NAME)"
        assert env["BYOSMS_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert [e["name"] for e in container["env"]].index("BYOSMS_POD_NAME") < list(env).index(
            "BYOSMS_INGRESS_SPOOL_DIR"
        )
        assert _selects(services[name]["spec"]["selector"], pod["metadata"]["labels"])


def test_production_ingress_is_redundant(render_chart: Any) -> None:
    docs = render_chart(CHART / "ci" / "production-values.yaml").documents
    ingress = _ingress_deployments(docs)
    assert len(ingress) >= 2, "production runs several regions"
    pdbs = _kind(docs, "PodDisruptionBudget")
    for deployment in ingress:
        assert deployment["spec"]["replicas"] >= 2, deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [p for p in pdbs if _selects(p["spec"]["selector"]["matchLabels"], labels)]
        assert len(covering) == 1, deployment["metadata"]["name"]
        assert covering[0]["spec"]["maxUnavailable"] < deployment["spec"]["replicas"]
    assert _kind(docs, "ServiceMonitor"), "production scrapes metrics"


def test_autoscaled_ingress_keeps_two_replicas(render_chart: Any) -> None:
    docs = render_chart(CHART / "ci" / "autoscaling-values.yaml").documents
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in _kind(docs, "HorizontalPodAutoscaler")}
    for deployment in _ingress_deployments(docs):
        # The HPA owns the replica count; a fixed one in the Deployment would fight it on every upgrade.
        assert "replicas" not in deployment["spec"]
        assert hpas[deployment["metadata"]["name"]]["spec"]["minReplicas"] >= 2


def test_topic_job_creates_every_topic(scenario: tuple[Path, list[dict[str, Any]]]) -> None:
    path, docs = scenario
    (job,) = [j for j in _kind(docs, "Job") if j["metadata"]["labels"]["app.kubernetes.io/component"] == "kafka-topics"]
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert [*container["command"], *container["args"]] == ["byosms-topics", "ensure"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    wanted = TopicSettings.model_validate(
        {"plan": json.loads(env["BYOSMS_TOPICS_PLAN"]), "replication_factor": env["BYOSMS_TOPICS_REPLICATION_FACTOR"]}
    )
    assert wanted.plan is not None
    planned = {
        p.name: (p.partitions, p.compacted)
        for p in plan(wanted.plan, min_insync_replicas=1, dead_letter_retention_ms=1)
    }
    assert sorted(planned) == sorted(all_topic_names())
    for spec in ALL_TOPICS:
        assert planned[spec.name] == (spec.partitions, spec.compacted)
        if spec.has_dead_letter:
            assert planned[spec.dead_letter] == (spec.partitions, False)
    topics = _values(path)["kafka"]["topics"]
    assert wanted.replication_factor == topics["replicationFactor"]
    assert env["BYOSMS_TOPICS_MIN_INSYNC_REPLICAS"] == str(topics["minInsyncReplicas"])
    assert env["BYOSMS_TOPICS_DEAD_LETTER_RETENTION_MS"] == str(topics["deadLetterRetentionMs"])


def test_helm_test_pod_checks_readiness_of_every_service(scenario: tuple[Path, list[dict[str, Any]]]) -> None:
    path, docs = scenario
    (pod,) = _kind(docs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    urls = pod["spec"]["containers"][0]["args"][1:]
    services = {s["metadata"]["name"]: s["spec"]["ports"][0]["port"] for s in _kind(docs, "Service")}
    assert len(urls) == len(services)
    for name, port in services.items():
        assert f"http://{name}:{port}/readyz" in urls
    regions = _values(path)["ingressWebhook"]["regions"]
    console = 1 if _values(path).get("console", {}).get("enabled") else 0
    assert len(services) == len(regions) + len(_enabled(path)) + console


def test_default_values_refuse_to_render_without_secrets(render_chart: Any) -> None:
    result = render_chart(None)
    assert result.returncode != 0
    assert "is required" in result.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (["--set", "kafka.topics.replicationFactor=1"], "replicationFactor below 3"),
        (["--set", "kafka.topics.minInsyncReplicas=4"], "must not exceed"),
        (["--set", "database.existingSecret="], "database.existingSecret is required"),
        (["--set", "keks.existingSecret="], "keks.existingSecret is required"),
        (["--set", "ingressWebhook.replicaz=3"], "replicaz"),
        (["--set", "provisioning.jwt.jwksUrl=https://auth.example.com/jwks"], "exactly one of"),
        (["--set", "ingressWebhook.regions[1].id=us-east-1"], "twice"),
    ],
    ids=["single-replica", "min-isr", "no-database-secret", "no-kek-secret", "unknown-key", "two-jwt", "dup-region"],
)
def test_unsafe_or_wrong_values_fail(render_chart: Any, override: list[str], message: str) -> None:
    result = render_chart(CHART / "ci" / "production-values.yaml", *override)
    assert result.returncode != 0
    assert message in result.stderr


def test_ingress_spool_outlives_its_pod_by_default(render_chart: Any) -> None:
    """Answered-200 events in the spool survive pod replacement: by default every ingress pod is part
    of a StatefulSet with its own ReadWriteOnce claim, kept on scale-down, and autoscaling targets it."""
    minimal = CHART / "ci" / "minimal-values.yaml"
    docs = render_chart(minimal).documents
    (ingress,) = _ingress_deployments(docs)
    assert ingress["kind"] == "StatefulSet"
    (claim,) = ingress["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "spool"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert ingress["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Retain"
    volumes = {v["name"] for v in ingress["spec"]["template"]["spec"]["volumes"]}
    assert "spool" not in volumes  # comes from the claim template, not a pod-lifetime volume
    autoscaled = render_chart(minimal, "--set", "ingressWebhook.autoscaling.enabled=true").documents
    (hpa,) = [h for h in _kind(autoscaled, "HorizontalPodAutoscaler") if "ingress" in h["metadata"]["name"]]
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"


def test_a_shared_spool_claim_is_refused(render_chart: Any) -> None:
    result = render_chart(
        CHART / "ci" / "minimal-values.yaml", "--set", "ingressWebhook.spool.type=persistentVolumeClaim"
    )
    assert result.returncode != 0


# -- the Kafka consumer services: stable identity, static membership, rollouts, shutdown ----------


def _component_workloads(docs: list[dict[str, Any]], component: str) -> list[dict[str, Any]]:
    return [
        d
        for d in _workloads(docs)
        if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]


def _env(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container.get("env", [])}


def test_consumer_services_have_a_stable_identity(scenario: tuple[Path, list[dict[str, Any]]]) -> None:
    """Provisioning, inventory and routing are StatefulSets: a replica keeps its pod name across
    restarts and rollouts, and that name is its Kafka group instance id (BYOSMS_KAFKA_INSTANCE_ID),
    so a restarted replica gets its partitions back without a rebalance."""
    path, docs = scenario
    values = _values(path)
    assert values["consumers"]["staticMembership"] is True
    services = {s["metadata"]["name"]: s for s in _kind(docs, "Service")}
    for component in _enabled(path):
        (workload,) = _component_workloads(docs, component)
        name = workload["metadata"]["name"]
        assert workload["kind"] == "StatefulSet", name
        spec = workload["spec"]
        # The governing Service exists and selects exactly these pods.
        assert _selects(services[spec["serviceName"]]["spec"]["selector"], spec["template"]["metadata"]["labels"])
        # Controller-revision-hash is <name>-<10 characters>, a label value (63 at most).
        assert len(name) <= 52, name
        instance = _env(workload)["BYOSMS_KAFKA_INSTANCE_ID"]
        assert instance == {
            "name": "BYOSMS_KAFKA_INSTANCE_ID",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
        }, name
        config = _config_of(docs, workload)
        assert "BYOSMS_KAFKA_INSTANCE_ID" not in config, name
        # Static members outlive a replacement: well above the engine's 10 s default.
        timeout = int(config["BYOSMS_CONSUMER_SESSION_TIMEOUT_MS"])
        assert timeout == values["consumers"]["sessionTimeoutMs"] >= 30_000, name
        assert timeout > ConsumerSettings.model_fields["consumer_session_timeout_ms"].default


def test_consumer_rollouts_replace_one_pod_at_a_time(scenario: tuple[Path, list[dict[str, Any]]]) -> None:
    path, docs = scenario
    values = _values(path)
    pdbs = _kind(docs, "PodDisruptionBudget")
    for component in _enabled(path):
        (workload,) = _component_workloads(docs, component)
        spec = workload["spec"]
        assert "strategy" not in spec  # a Deployment's field; a StatefulSet would be refused with it
        assert spec["podManagementPolicy"] == "Parallel"
        assert spec["updateStrategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"partition": values[component]["updatePartition"]},
        }
        assert "volumeClaimTemplates" not in spec  # nothing on disk: a consumer's state is in Kafka and PostgreSQL
        if values[component]["pdb"]["enabled"]:
            labels = spec["template"]["metadata"]["labels"]
            covering = [p for p in pdbs if _selects(p["spec"]["selector"]["matchLabels"], labels)]
            assert len(covering) == 1, component


def test_consumer_shutdown_fits_the_grace_period(scenario: tuple[Path, list[dict[str, Any]]]) -> None:
    """The kubelet waits terminationGracePeriodSeconds after SIGTERM: enough for the background jobs
    (5 s), the consumers' work in hand (BYOSMS_CONSUMER_STOP_GRACE_S) and closing the clients."""
    path, docs = scenario
    for component in _enabled(path):
        (workload,) = _component_workloads(docs, component)
        stop_grace = float(_config_of(docs, workload)["BYOSMS_CONSUMER_STOP_GRACE_S"])
        grace = workload["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace >= stop_grace + 20, component


def test_the_ingress_is_no_consumer_group_member(scenario: tuple[Path, list[dict[str, Any]]]) -> None:
    """The ingress only follows the integration state (no consumer group), so it gets no instance id
    and no consumer group settings."""
    _, docs = scenario
    for workload in _ingress_deployments(docs):
        assert "BYOSMS_KAFKA_INSTANCE_ID" not in _env(workload)
        config = _config_of(docs, workload)
        assert not [k for k in config if k.startswith("BYOSMS_CONSUMER_") or k == "BYOSMS_KAFKA_INSTANCE_ID"]


def test_autoscaled_provisioning_targets_its_statefulset(render_chart: Any) -> None:
    docs = render_chart(CHART / "ci" / "autoscaling-values.yaml").documents
    (workload,) = _component_workloads(docs, "provisioning")
    hpas = {h["metadata"]["name"]: h for h in _kind(docs, "HorizontalPodAutoscaler")}
    target = hpas[workload["metadata"]["name"]]["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "byosms-provisioning"}
    assert "replicas" not in workload["spec"]  # the HPA owns the count


def test_static_membership_can_be_turned_off(render_chart: Any) -> None:
    docs = render_chart(CHART / "ci" / "production-values.yaml", "--set", "consumers.staticMembership=false").documents
    for component in SERVICES:
        (workload,) = _component_workloads(docs, component)
        assert workload["kind"] == "StatefulSet"
        assert "BYOSMS_KAFKA_INSTANCE_ID" not in _env(workload)
        assert set(_env(workload)) >= {"BYOSMS_DATABASE_URL"}


def test_update_partition_is_honoured(render_chart: Any) -> None:
    overrides = ["--set", "routing.updatePartition=2", "--set", "inventory.updatePartition=1"]
    docs = render_chart(CHART / "ci" / "production-values.yaml", *overrides).documents
    partitions = {
        component: _component_workloads(docs, component)[0]["spec"]["updateStrategy"]["rollingUpdate"]["partition"]
        for component in SERVICES
    }
    assert partitions == {"provisioning": 0, "inventory": 1, "routing": 2}


def test_consumer_settings_change_rolls_the_pods(render_chart: Any) -> None:
    """The session timeout is ConfigMap data, hashed into the pod template: changing it rolls the pods."""
    production = CHART / "ci" / "production-values.yaml"
    before = render_chart(production).documents
    after = render_chart(production, "--set", "consumers.sessionTimeoutMs=60000").documents
    for component in SERVICES:
        (old,) = _component_workloads(before, component)
        (new,) = _component_workloads(after, component)
        assert _config_of(after, new)["BYOSMS_CONSUMER_SESSION_TIMEOUT_MS"] == "60000"
        checksums = [w["spec"]["template"]["metadata"]["annotations"]["checksum/config"] for w in (old, new)]
        assert checksums[0] != checksums[1], component


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (["--set", "routing.terminationGracePeriodSeconds=25"], "routing.terminationGracePeriodSeconds (25)"),
        (["--set", "consumers.stopGraceSeconds=30"], "must cover consumers.stopGraceSeconds"),
        (["--set", "consumers.sessionTimeoutMs=1000"], "sessionTimeoutMs"),
        (["--set", "inventory.updatePartition=-1"], "updatePartition"),
        (["--set", "consumers.instanceId=x"], "instanceId"),
        (["--set", "fullnameOverride=" + "b" * 45], "longer than 52 characters"),
    ],
    ids=["grace-too-short", "stop-grace-too-long", "session-timeout", "negative-partition", "unknown-key", "long-name"],
)
def test_consumer_values_that_cannot_work_fail(render_chart: Any, override: list[str], message: str) -> None:
    result = render_chart(CHART / "ci" / "production-values.yaml", *override)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_console_is_opt_in_and_calls_only_the_release_admin_api(render_chart: Any) -> None:
    minimal = render_chart(CHART / "ci" / "minimal-values.yaml").documents
    assert _component_workloads(minimal, "console") == []
    docs = render_chart(CHART / "ci" / "production-values.yaml").documents
    (workload,) = _component_workloads(docs, "console")
    assert workload["kind"] == "Deployment"
    assert workload["spec"]["replicas"] == 2
    config = _config_of(docs, workload)
    assert config["BYOSMS_CONSOLE_API_URL"] == "http://byosms-provisioning:8081"
    assert config["BYOSMS_CONSOLE_COOKIE_SECURE"] == "true"
    assert "BYOSMS_CONSOLE_DEV_LOGIN_KEY_FILE" not in config  # never a development login in a cluster
    assert not _env(workload)  # no secret of any kind
    custom = render_chart(
        CHART / "ci" / "production-values.yaml", "--set", "console.apiUrl=https://admin.example.com"
    ).documents
    (workload,) = _component_workloads(custom, "console")
    assert _config_of(custom, workload)["BYOSMS_CONSOLE_API_URL"] == "https://admin.example.com"

"""The chart's operational rules, rendered by the real helm binary: no scale-down strands a spool
claim, the ingress's grace period covers its pre-stop delay, requests in flight and the spool drain,
rollouts keep the wanted ingress pods ready, pods spread over zones then hosts, each component can be
left out, NetworkPolicies, metrics on their own port with a region label, alerts with runbooks, the
webhook path as the only public route, migrations as hook Jobs, and the StatefulSet name limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from byosms_common.kafka_reachability import GAUGE as KAFKA_REACHABLE

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "byosms"
PRODUCTION = CHART / "ci" / "production-values.yaml"
SCENARIOS = sorted(CHART.glob("ci/*-values.yaml"))
CONSUMERS = ("provisioning", "inventory", "routing")
RUNBOOK_BASE = "https://git.example.com/byosms/byosms/blob/main/docs/runbooks"


def _kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _component(doc: dict[str, Any]) -> str:
    return str(doc["metadata"]["labels"].get("app.kubernetes.io/component", ""))


def _workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]


def _by_name(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _kind(docs, kind)}


def _config(docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    return dict(_by_name(docs, "ConfigMap")[name]["data"])


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _ingress_sets(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [w for w in _workloads(docs) if _component(w) == "ingress-webhook"]


def _render(render_chart: Any, values: Path, *sets: str) -> list[dict[str, Any]]:
    args: list[str] = []
    for item in sets:
        args += ["--set", item]
    return list(render_chart(values, *args).documents)


def _fails(render_chart: Any, values: Path, *sets: str) -> str:
    args: list[str] = []
    for item in sets:
        args += ["--set", item]
    result = render_chart(values, *args)
    assert result.returncode != 0, "rendered although it should not"
    return str(result.stderr)


@pytest.fixture(scope="module")
def production(render_chart: Any) -> list[dict[str, Any]]:
    return _render(render_chart, PRODUCTION)


# ------------------------------------------------------------------------------------ spool lifecycle


@pytest.mark.parametrize(("replicas", "spare", "claims"), [(2, 1, 3), (2, 1, 6), (4, 0, 7), (1, 1, 0), (3, 1, 2)])
def test_a_scale_down_never_strands_a_claim(render_chart: Any, replicas: int, spare: int, claims: int) -> None:
    """Every claim 0 .. spoolClaims-1 is either the claim of a pod of the StatefulSet or drained by a
    Job that mounts exactly that claim and drains the directory its pod wrote."""
    docs = _render(
        render_chart,
        CHART / "ci" / "minimal-values.yaml",
        f"ingressWebhook.regions[0].replicas={replicas}",
        f"ingressWebhook.regions[0].spoolClaims={claims}",
        f"ingressWebhook.rolloutSpareReplicas={spare}",
    )
    (sts,) = _ingress_sets(docs)
    name, pods = sts["metadata"]["name"], sts["spec"]["replicas"]
    assert pods == replicas + spare
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    (template,) = sts["spec"]["volumeClaimTemplates"]
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BYOSMS_INGRESS_SPOOL_DIR"]["value"] == "/var/spool/byosms/$(BYOSMS_POD_NAME)"

    drained: dict[int, dict[str, Any]] = {}
    for job in _kind(docs, "Job"):
        if _component(job) != "ingress-spool-drain":
            continue
        spec = job["spec"]["template"]["spec"]
        (volume,) = [v for v in spec["volumes"] if v["name"] == "spool"]
        claim = volume["persistentVolumeClaim"]["claimName"]
        ordinal = int(claim.rsplit("-", 1)[1])
        assert claim == f"{template['metadata']['name']}-{name}-{ordinal}"
        (container,) = spec["containers"]
        assert container["args"][0] == "drain"
        assert f"--spool-dir=/var/spool/byosms/{name}-{ordinal}" in container["args"]
        assert container["envFrom"] == [{"configMapRef": {"name": name}}]
        assert "post-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]
        drained[ordinal] = job
    assert set(drained) == set(range(pods, claims))
    assert set(range(pods)) | set(drained) >= set(range(claims))


def test_without_drain_jobs_a_scale_down_that_strands_claims_fails(render_chart: Any) -> None:
    message = _fails(
        render_chart,
        CHART / "ci" / "minimal-values.yaml",
        "ingressWebhook.regions[0].spoolClaims=4",
        "ingressWebhook.spool.drainJob.enabled=false",
    )
    assert "would strand the spool claims of ordinals [2 3]" in message


def test_the_hpa_never_scales_a_persistent_spool_down(render_chart: Any) -> None:
    docs = _render(render_chart, CHART / "ci" / "autoscaling-values.yaml")
    hpas = _by_name(docs, "HorizontalPodAutoscaler")
    for sts in _ingress_sets(docs):
        hpa = hpas[sts["metadata"]["name"]]["spec"]
        assert hpa["behavior"]["scaleDown"]["selectPolicy"] == "Disabled"
        assert hpa["minReplicas"] == 2 + 1  # autoscaling.minReplicas + the rollout spare
    # The consumers' HPA (provisioning) may scale down: it has no spool.
    assert "behavior" not in hpas["byosms-provisioning"]["spec"]


def test_drain_jobs_report_their_claims_depth(production: list[dict[str, Any]]) -> None:
    (monitor,) = _kind(production, "PodMonitor")
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "ingress-spool-drain"
    jobs = [j for j in _kind(production, "Job") if _component(j) == "ingress-spool-drain"]
    assert [j["metadata"]["name"] for j in jobs] == [
        "byosms-ingress-us-east-1-drain-5",
        "byosms-ingress-us-east-1-drain-6",
    ]
    for job in jobs:
        labels = job["spec"]["template"]["metadata"]["labels"]
        assert _selects(monitor["spec"]["selector"]["matchLabels"], labels)
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert [p["name"] for p in container["ports"]] == ["metrics"]
        assert any(a.startswith("--linger-s=") and int(a.split("=")[1]) > 0 for a in container["args"])


# --------------------------------------------------------------------------------- rollouts, grace


def test_ingress_grace_covers_pre_stop_requests_in_flight_and_drain(production: list[dict[str, Any]]) -> None:
    for sts in _ingress_sets(production):
        config = _config(production, sts["metadata"]["name"])
        prestop = float(config["BYOSMS_INGRESS_PRESTOP_DELAY_S"])
        in_flight = float(config["BYOSMS_INGRESS_PUBLISH_DEADLINE_S"]) + 3
        drain = float(config["BYOSMS_INGRESS_SHUTDOWN_GRACE_S"])
        assert prestop >= 5  # longer than an endpoint removal takes to reach kube-proxy
        assert sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= prestop + in_flight + drain + 6


@pytest.mark.parametrize(
    "override",
    [
        "ingressWebhook.preStopDelaySeconds=30",
        "ingressWebhook.shutdownGraceSeconds=40",
        "ingressWebhook.terminationGracePeriodSeconds=20",
    ],
)
def test_a_grace_period_shorter_than_pre_stop_and_drain_fails(render_chart: Any, override: str) -> None:
    message = _fails(render_chart, PRODUCTION, override)
    assert "ingressWebhook.terminationGracePeriodSeconds" in message
    assert "preStopDelaySeconds" in message


def test_rollouts_keep_the_wanted_ingress_pods_ready(production: list[dict[str, Any]]) -> None:
    """A StatefulSet rollout takes one pod away at a time (no surge): one spare pod per region keeps
    the wanted count ready, each new pod counts only after minReadySeconds, and a voluntary
    disruption (PDB) may not take more than the spare."""
    values = yaml.safe_load(PRODUCTION.read_text())["ingressWebhook"]
    wanted = {r["id"]: r.get("replicas", values["replicas"]) for r in values["regions"]}
    pdbs = _kind(production, "PodDisruptionBudget")
    for sts in _ingress_sets(production):
        region = sts["spec"]["template"]["metadata"]["labels"]["byosms.io/region"]
        spec = sts["spec"]
        assert spec["updateStrategy"] == {"type": "RollingUpdate"}  # one pod at a time
        unavailable_in_rollout = 1
        assert spec["replicas"] - unavailable_in_rollout >= wanted[region]
        assert spec["minReadySeconds"] >= 5
        (pdb,) = [
            p for p in pdbs if _selects(p["spec"]["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
        ]
        assert spec["replicas"] - pdb["spec"]["maxUnavailable"] >= wanted[region]


def test_readme_claims_rollouts_keep_the_wanted_replicas() -> None:
    readme = (CHART / "README.md").read_text()
    assert "rolloutSpareReplicas" in readme
    assert "preStopDelaySeconds" in readme


# ------------------------------------------------------------------------------- placement, enabled


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_workload_spreads_over_zones_then_hosts(render_chart: Any, scenario: Path) -> None:
    docs = _render(render_chart, scenario)
    assert _workloads(docs)
    for workload in _workloads(docs):
        spec = workload["spec"]["template"]["spec"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        constraints = spec["topologySpreadConstraints"]
        keys = [c["topologyKey"] for c in constraints]
        assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"], workload["metadata"]["name"]
        for constraint in constraints:
            selector = constraint["labelSelector"]["matchLabels"]
            # Its own pods, and for the ingress only those of its region.
            assert selector == workload["spec"]["selector"]["matchLabels"]
            assert _selects(selector, labels)


def test_a_components_own_spread_and_priority_win(render_chart: Any) -> None:
    own = [{"topologyKey": "kubernetes.io/hostname", "maxSkew": 2, "whenUnsatisfiable": "DoNotSchedule"}]
    docs = render_chart(
        PRODUCTION,
        "--set-json",
        f"routing.topologySpreadConstraints={json.dumps(own)}",
        "--set",
        "routing.priorityClassName=low",
    ).documents
    by_component = {_component(w): w["spec"]["template"]["spec"] for w in _workloads(docs)}
    assert by_component["routing"]["topologySpreadConstraints"] == own
    assert by_component["routing"]["priorityClassName"] == "low"
    assert by_component["inventory"]["priorityClassName"] == "byosms-services"  # the global one
    assert by_component["ingress-webhook"]["priorityClassName"] == "byosms-webhooks"


@pytest.mark.parametrize("component", ["ingressWebhook", "provisioning", "inventory", "routing"])
def test_each_component_can_be_left_to_another_release(render_chart: Any, component: str) -> None:
    label = "ingress-webhook" if component == "ingressWebhook" else component
    # What belongs to the component: its objects, its migration Job; the ingress's drain Jobs and their PodMonitor.
    owned = {label, f"migrate-{label}"} | ({"ingress-spool-drain"} if label == "ingress-webhook" else set())
    full = _render(render_chart, PRODUCTION)
    docs = _render(render_chart, PRODUCTION, f"{component}.enabled=false")
    gone = {
        (d["kind"], d["metadata"]["name"])
        for d in full
        if _component(d) in owned or (label == "ingress-webhook" and d["kind"] == "PodMonitor")
    }
    assert gone
    left = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert not gone & left
    assert {(d["kind"], d["metadata"]["name"]) for d in full} - gone == left  # everything else is still there
    (test_pod,) = _kind(docs, "Pod")
    called = {url.split("/")[2].split(":")[0] for url in test_pod["spec"]["containers"][0]["args"][1:]}
    assert called == {name for kind, name in left if kind == "Service"}


def test_a_release_knows_every_regions_url_not_only_its_own(render_chart: Any) -> None:
    docs = _render(render_chart, CHART / "ci" / "split-values.yaml")
    assert {_component(w) for w in _workloads(docs)} == {"ingress-webhook"}
    config = _config(docs, "byosms-ingress-eu-west-1")
    overrides = json.loads(config["BYOSMS_REGIONS_OVERRIDES"])
    assert overrides["us-east-1"]["public_base_url"] == "https://sms-use1.example.com"  # served elsewhere
    production = _render(render_chart, PRODUCTION)
    provisioning = json.loads(_config(production, "byosms-provisioning")["BYOSMS_REGIONS_OVERRIDES"])
    assert provisioning["sa-east-1"]["public_base_url"] == "https://sms-sae1.example.com"
    assert provisioning["eu-west-1"]["public_base_url"] == "https://sms-euw1.example.com"


def test_a_statefulset_name_over_52_characters_fails_with_a_clear_message(render_chart: Any) -> None:
    message = _fails(render_chart, PRODUCTION, f"fullnameOverride={'x' * 30}")
    assert f"StatefulSet name {'x' * 30}-ingress-ap-southeast-2 is longer than 52 characters" in message
    message = _fails(render_chart, CHART / "ci" / "split-values.yaml", f"fullnameOverride={'y' * 45}")
    assert f"StatefulSet name {'y' * 45}-ingress-eu-west-1 is longer than 52 characters" in message
    # A consumer StatefulSet alone is checked too (the ingress left out).
    message = _fails(render_chart, PRODUCTION, f"fullnameOverride={'z' * 42}", "ingressWebhook.enabled=false")
    assert f"StatefulSet name {'z' * 42}-provisioning is longer than 52 characters" in message


# ------------------------------------------------------------------------------ exposure, policies


def test_metrics_are_on_their_own_port_and_scraped_with_the_region(production: list[dict[str, Any]]) -> None:
    services = _by_name(production, "Service")
    for sts in _ingress_sets(production):
        name = sts["metadata"]["name"]
        config = _config(production, name)
        assert config["BYOSMS_INGRESS_METRICS_PORT"] != config["BYOSMS_INGRESS_PORT"]
        (container,) = sts["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == int(config["BYOSMS_INGRESS_METRICS_PORT"])
        by_name = {p["name"]: p for p in services[name]["spec"]["ports"]}
        assert by_name["metrics"]["targetPort"] == "metrics"
        assert by_name["http"]["targetPort"] == "http"
    (monitor,) = _kind(production, "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["relabelings"] == [
        {"sourceLabels": ["__meta_kubernetes_pod_label_byosms_io_region"], "targetLabel": "region", "action": "replace"}
    ]
    for service in services.values():
        assert "metrics" in {p["name"] for p in service["spec"]["ports"]}, service["metadata"]["name"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_pod_carries_its_region(render_chart: Any, scenario: Path) -> None:
    docs = _render(render_chart, scenario)
    values = yaml.safe_load(scenario.read_text())
    home = values.get("clusterRegion") or values["ingressWebhook"]["regions"][0]["id"]
    for workload in _workloads(docs):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        expected = workload["spec"]["selector"]["matchLabels"].get("byosms.io/region", home)
        assert labels["byosms.io/region"] == expected, workload["metadata"]["name"]


def test_only_the_webhook_path_is_exposed(render_chart: Any, production: list[dict[str, Any]]) -> None:
    ingresses = _kind(production, "Ingress")
    assert {i["metadata"]["name"] for i in ingresses} == {s["metadata"]["name"] for s in _ingress_sets(production)}
    for ingress in ingresses:
        (rule,) = ingress["spec"]["rules"]
        (path,) = rule["http"]["paths"]
        assert (path["path"], path["pathType"]) == ("/vendors/v1/twilio/", "Prefix")
        assert path["backend"]["service"] == {"name": ingress["metadata"]["name"], "port": {"name": "http"}}
        assert rule["host"].startswith("sms-")
        assert rule["host"].endswith(".example.com")
        assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]
    routes = _kind(_render(render_chart, CHART / "ci" / "autoscaling-values.yaml"), "HTTPRoute")
    (route,) = routes
    assert route["spec"]["hostnames"] == ["sms-eun1.staging.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/vendors/v1/twilio/"}}]
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "gateways"}]


def test_network_policies_let_in_only_what_each_port_serves(production: list[dict[str, Any]]) -> None:
    policies = _kind(production, "NetworkPolicy")
    release = {
        "podSelector": {"matchLabels": {"app.kubernetes.io/instance": "byosms", "app.kubernetes.io/part-of": "byosms"}}
    }
    prometheus = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    for workload in _workloads(production):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        covering = []
        for p in policies:
            selector = p["spec"]["podSelector"]
            if "matchLabels" in selector and _selects(selector["matchLabels"], labels):
                covering.append(p)
            for expression in selector.get("matchExpressions", []):
                if labels.get(expression["key"]) not in expression["values"]:
                    break
            else:
                if "matchExpressions" in selector:
                    covering.append(p)
        (policy,) = covering
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        rules = policy["spec"]["ingress"]
        if _component(workload) == "ingress-webhook":
            webhook = [r for r in rules if r["ports"] == [{"port": "http", "protocol": "TCP"}]]
            assert webhook == [{"ports": [{"port": "http", "protocol": "TCP"}]}]  # from anywhere: Twilio
            (metrics,) = [r for r in rules if r["ports"] == [{"port": "metrics", "protocol": "TCP"}]]
            assert metrics["from"] == [release, prometheus]
        else:
            (rule,) = rules
            assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
            assert rule["from"] == [release, prometheus]


# ---------------------------------------------------------------------------------------- alerts


def test_alerts_cover_the_failure_modes_and_link_real_runbooks(production: list[dict[str, Any]]) -> None:
    (rule,) = _kind(production, "PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert set(alerts) >= {
        "ByosmsIngressSpoolAboveHalf",
        "ByosmsIngressSpoolOrphaned",
        "ByosmsKafkaUnreachable",
        "ByosmsIngressSpoolErrors",
        "ByosmsIngressSpoolRejections",
        "ByosmsDeadLettersGrowing",
        "ByosmsSignatureRejections",
        "ByosmsConsumerLagHigh",
        "ByosmsTargetDown",
    }
    assert alerts["ByosmsKafkaUnreachable"]["for"] == "2m"
    for gauge in ("byosms_ingress_kafka_reachable", KAFKA_REACHABLE):
        assert f"{gauge}{{namespace=" in alerts["ByosmsKafkaUnreachable"]["expr"], gauge
    assert "> 0.5" in alerts["ByosmsIngressSpoolAboveHalf"]["expr"]
    assert "byosms_consumer_lag" in alerts["ByosmsConsumerLagHigh"]["expr"]
    assert "> 1000" in alerts["ByosmsConsumerLagHigh"]["expr"]
    assert "by (namespace, region, integration_id)" in alerts["ByosmsSignatureRejections"]["expr"]
    for name, alert in alerts.items():
        url = alert["annotations"]["runbook_url"]
        assert url.startswith(RUNBOOK_BASE + "/"), name
        page = ROOT / "docs" / "runbooks" / url.removeprefix(RUNBOOK_BASE + "/")
        assert page.is_file(), f"{name}: {page} missing"
        text = page.read_text()
        assert name in text, f"{page} does not name {name}"
        assert len(text) > 600, f"{page} is no runbook"


def test_alerts_are_opt_in_and_need_a_runbook_location(render_chart: Any) -> None:
    assert not _kind(_render(render_chart, CHART / "ci" / "minimal-values.yaml"), "PrometheusRule")
    message = _fails(render_chart, PRODUCTION, "metrics.prometheusRule.runbookBaseUrl=")
    assert "metrics.prometheusRule.runbookBaseUrl is required" in message


# -------------------------------------------------------------------------------------- migrations


def test_migrations_run_as_hook_jobs_before_the_services(production: list[dict[str, Any]]) -> None:
    accounts = _by_name(production, "ServiceAccount")
    jobs = {_component(j): j for j in _kind(production, "Job") if _component(j).startswith("migrate-")}
    assert set(jobs) == {f"migrate-{c}" for c in CONSUMERS}
    release_account = accounts["byosms"]["metadata"]["name"]
    for component in CONSUMERS:
        job = jobs[f"migrate-{component}"]
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        spec = job["spec"]["template"]["spec"]
        account = accounts[spec["serviceAccountName"]]
        assert account["metadata"]["name"] != release_account  # its own account
        assert int(account["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
        (container,) = spec["containers"]
        # The program itself: provisioning's image ENTRYPOINT is "byosms-provisioning serve".
        assert (container["command"], container["args"]) == ([f"byosms-{component}"], ["migrate"])
        assert container["image"].endswith(f"/{component}:0.1.0")
        (url,) = [e for e in container["env"] if e["name"] == "BYOSMS_DATABASE_URL"]
        assert url["valueFrom"]["secretKeyRef"] == {"name": "byosms-database-owner", "key": "url"}
        assert job["spec"]["activeDeadlineSeconds"] > 0
        assert _config(production, f"byosms-{component}")["BYOSMS_DATABASE_MIGRATE_ON_START"] == "false"


def test_without_the_migration_job_the_services_migrate_at_start(render_chart: Any) -> None:
    docs = _render(render_chart, PRODUCTION, "migrations.job.enabled=false")
    assert not [j for j in _kind(docs, "Job") if _component(j).startswith("migrate-")]
    for component in CONSUMERS:
        assert "BYOSMS_DATABASE_MIGRATE_ON_START" not in _config(docs, f"byosms-{component}")


def test_a_public_ingress_service_does_not_publish_the_metrics_port(render_chart: Any) -> None:
    docs = _render(render_chart, PRODUCTION, "ingressWebhook.service.type=LoadBalancer")
    services = _by_name(docs, "Service")
    for sts in _ingress_sets(docs):
        name = sts["metadata"]["name"]
        public, private = services[name], services[f"{name}-metrics"]
        assert public["spec"]["type"] == "LoadBalancer"
        assert [p["name"] for p in public["spec"]["ports"]] == ["http"]
        assert "byosms.io/metrics" not in public["metadata"]["labels"]
        assert private["spec"]["type"] == "ClusterIP"
        assert private["spec"]["ports"] == [
            {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
        ]
        assert private["metadata"]["labels"]["byosms.io/metrics"] == "true"
        assert _selects(private["spec"]["selector"], sts["spec"]["template"]["metadata"]["labels"])


def test_provisioning_runs_serve_once(production: list[dict[str, Any]], images: dict[str, Any]) -> None:
    """Its image's ENTRYPOINT is ``byosms-provisioning serve``; args alone would append a second
    ``serve``, which the command line refuses."""
    (sts,) = [w for w in _workloads(production) if _component(w) == "provisioning"]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert (container["command"], container["args"]) == (["byosms-provisioning"], ["serve"])
    assert images["provisioning"].entrypoint == ["byosms-provisioning", "serve"]

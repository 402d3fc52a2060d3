"""Kafka client security in the chart: with SASL and TLS configured, every Kafka client container (the
ingress of each region, provisioning, inventory, routing and the topic Job) gets the protocol and
mechanism, the SASL user and password and the key password from their existing Secrets (never
inline), and the TLS Secret mounted where the settings point; the rendered settings are accepted by
``KafkaSettings``. PLAINTEXT renders none of it, and values that cannot work refuse to render."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from byosms_common.settings import KafkaSettings

pytestmark = pytest.mark.integration

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "byosms"
MANAGED = CHART / "ci" / "managed-kafka-values.yaml"
MINIMAL = CHART / "ci" / "minimal-values.yaml"
KAFKA_CLIENTS = {"ingress-webhook", "provisioning", "inventory", "routing", "kafka-topics"}
KAFKA_SECRETS = {"BYOSMS_KAFKA_SASL_USERNAME", "BYOSMS_KAFKA_SASL_PASSWORD", "BYOSMS_KAFKA_SSL_KEY_PASSWORD"}
MOUNT = "/etc/byosms/kafka-tls"


def _pods(docs: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind/name, component, pod spec) of every Deployment, StatefulSet and Job."""
    return [
        (
            f"{d['kind']}/{d['metadata']['name']}",
            d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"],
            d["spec"]["template"]["spec"],
        )
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet", "Job")
    ]


def _plain_config(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The container's plain settings: its ConfigMap (services) and its inline env values (the Job)."""
    config_maps = {c["metadata"]["name"]: c["data"] for c in docs if c["kind"] == "ConfigMap"}
    config: dict[str, str] = {}
    for source in container.get("envFrom", []):
        config.update(config_maps[source["configMapRef"]["name"]])
    config.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return config


def _secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container.get("env", [])
        if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
    }


def test_every_kafka_client_gets_sasl_and_tls_from_existing_secrets(render_chart: Any) -> None:
    docs = render_chart(MANAGED).documents
    values = yaml.safe_load(MANAGED.read_text())["kafka"]["security"]
    pods = _pods(docs)
    components = {component for _, component, _ in pods}
    assert components >= KAFKA_CLIENTS, components
    regions = [name for name, component, _ in pods if component == "ingress-webhook"]
    assert len(regions) == 2, "one ingress per region, each a Kafka client"
    for name, component, spec in pods:
        if component not in KAFKA_CLIENTS:
            continue
        (container,) = spec["containers"]
        config = _plain_config(docs, container)
        assert config["BYOSMS_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert config["BYOSMS_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", name
        assert config["BYOSMS_KAFKA_SSL_CAFILE"] == f"{MOUNT}/ca.pem", name
        assert config["BYOSMS_KAFKA_SSL_CERTFILE"] == f"{MOUNT}/client.pem", name
        assert config["BYOSMS_KAFKA_SSL_KEYFILE"] == f"{MOUNT}/client-key.pem", name
        assert not KAFKA_SECRETS & set(config), f"{name}: a Kafka secret inlined"
        refs = _secret_refs(container)
        assert refs["BYOSMS_KAFKA_SASL_USERNAME"] == (values["sasl"]["existingSecret"], "username"), name
        assert refs["BYOSMS_KAFKA_SASL_PASSWORD"] == (values["sasl"]["existingSecret"], "password"), name
        assert refs["BYOSMS_KAFKA_SSL_KEY_PASSWORD"] == (values["tls"]["existingSecret"], "key-password"), name
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == MOUNT]
        assert mount["readOnly"] is True, name
        (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == values["tls"]["existingSecret"], name
        assert {i["key"]: i["path"] for i in volume["secret"]["items"]} == {
            "ca.crt": "ca.pem",
            "tls.crt": "client.pem",
            "tls.key": "client-key.pem",
        }, name
        # What the service reads is valid as the one shared settings model (secrets as the kubelet injects them).
        env = {**config, **{k: "from-the-secret" for k in refs if k in KAFKA_SECRETS}}
        settings = KafkaSettings.model_validate(
            {k.removeprefix("BYOSMS_").lower(): v for k, v in env.items() if k.startswith("BYOSMS_KAFKA_")}
        )
        assert settings.kafka_security_protocol == "SASL_SSL"
        assert str(settings.kafka_ssl_keyfile) == f"{MOUNT}/client-key.pem"


def test_plaintext_renders_no_kafka_secrets_or_volumes(render_chart: Any) -> None:
    docs = render_chart(MINIMAL).documents
    for name, component, spec in _pods(docs):
        if component not in KAFKA_CLIENTS:
            continue
        (container,) = spec["containers"]
        config = _plain_config(docs, container)
        assert config["BYOSMS_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT", name
        assert not {k for k in config if k.startswith(("BYOSMS_KAFKA_SASL", "BYOSMS_KAFKA_SSL"))}, name
        assert not KAFKA_SECRETS & set(_secret_refs(container)), name
        assert all(m["mountPath"] != MOUNT for m in container["volumeMounts"]), name


def test_tls_with_the_system_cas_and_no_client_certificate(render_chart: Any) -> None:
    docs = render_chart(
        MINIMAL,
        "--set",
        "kafka.security.protocol=SASL_SSL",
        "--set",
        "kafka.security.sasl.mechanism=PLAIN",
        "--set",
        "kafka.security.sasl.existingSecret=confluent-api-key",
    ).documents
    for name, component, spec in _pods(docs):
        if component not in KAFKA_CLIENTS:
            continue
        (container,) = spec["containers"]
        config = _plain_config(docs, container)
        assert config["BYOSMS_KAFKA_SASL_MECHANISM"] == "PLAIN", name
        assert config["BYOSMS_KAFKA_SSL_CHECK_HOSTNAME"] == "true", name
        assert "BYOSMS_KAFKA_SSL_CAFILE" not in config, name
        assert set(_secret_refs(container)) & KAFKA_SECRETS == {
            "BYOSMS_KAFKA_SASL_USERNAME",
            "BYOSMS_KAFKA_SASL_PASSWORD",
        }
        assert all(v["name"] != "kafka-tls" for v in spec["volumes"]), name


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            ["kafka.security.protocol=SASL_SSL", "kafka.security.sasl.existingSecret=s"],
            "needs kafka.security.sasl.mechanism",
        ),
        (
            ["kafka.security.protocol=SASL_SSL", "kafka.security.sasl.mechanism=PLAIN"],
            "needs kafka.security.sasl.existingSecret",
        ),
        (["kafka.security.sasl.mechanism=PLAIN"], "protocol is not SASL_PLAINTEXT or SASL_SSL"),
        (["kafka.security.tls.existingSecret=tls"], "protocol is not SSL or SASL_SSL"),
        (
            [
                "kafka.security.protocol=SSL",
                "kafka.security.tls.existingSecret=tls",
                "kafka.security.tls.certKey=tls.crt",
            ],
            "certKey and kafka.security.tls.keyKey go together",
        ),
        (
            ["kafka.security.protocol=SSL", "kafka.security.tls.certKey=a", "kafka.security.tls.keyKey=b"],
            "need kafka.security.tls.existingSecret",
        ),
        (["kafka.security.protocol=TLS"], "protocol"),
        (["kafka.security.sasl.mechanism=GSSAPI"], "mechanism"),
    ],
)
def test_kafka_security_values_that_cannot_work_fail(render_chart: Any, override: list[str], message: str) -> None:
    args = [arg for item in override for arg in ("--set", item)]
    result = render_chart(MINIMAL, *args)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr

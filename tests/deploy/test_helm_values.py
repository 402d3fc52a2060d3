"""The chart's values without helm: the schema is valid and strict, every scenario satisfies it, the
topic list matches byosms_common.topics, no default holds a secret or a one-replica Kafka, and the
consumer defaults fit the engine's settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from byosms_common.regions import DEFAULT_REGIONS
from byosms_common.settings import ConsumerSettings
from byosms_common.topics import ALL_TOPICS

pytestmark = pytest.mark.unit

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "byosms"
SCHEMA: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
DEFAULTS: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
SCENARIOS = sorted(CHART.glob("ci/*-values.yaml"))


def _merge(base: Any, top: Any) -> Any:
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return top


def _validator() -> jsonschema.Draft7Validator:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    return jsonschema.Draft7Validator(SCHEMA)


def test_defaults_satisfy_the_schema() -> None:
    _validator().validate(DEFAULTS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_scenarios_satisfy_the_schema(scenario: Path) -> None:
    _validator().validate(_merge(DEFAULTS, yaml.safe_load(scenario.read_text())))


def test_schema_rejects_unknown_keys() -> None:
    validator = _validator()
    for path in (
        ("replicaz",),
        ("ingressWebhook", "replicaz"),
        ("kafka", "topics", "replicas"),
        ("consumers", "instanceId"),
        ("routing", "strategy"),
    ):
        values = json.loads(json.dumps(DEFAULTS))
        target = values
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = 2
        assert not validator.is_valid(values), path


def test_schema_rejects_root_containers() -> None:
    values = _merge(DEFAULTS, {"containerSecurityContext": {"runAsNonRoot": False}})
    assert not _validator().is_valid(values)


def test_topic_list_matches_the_code() -> None:
    items = {t["name"]: t for t in DEFAULTS["kafka"]["topics"]["items"]}
    assert list(items) == [t.name for t in ALL_TOPICS]
    for spec in ALL_TOPICS:
        item = items[spec.name]
        assert (item["partitions"], item["compacted"], item["deadLetter"]) == (
            spec.partitions,
            spec.compacted,
            spec.has_dead_letter,
        )


def test_production_kafka_is_replicated_by_default() -> None:
    topics = DEFAULTS["kafka"]["topics"]
    assert topics["replicationFactor"] >= 3
    assert topics["minInsyncReplicas"] >= 2
    assert topics["allowUnsafeReplicationFactor"] is False


def test_no_secret_defaults() -> None:
    assert DEFAULTS["database"]["existingSecret"] == ""
    assert DEFAULTS["keks"]["existingSecret"] == ""

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                lowered = key.lower()
                # "passwordKey" and the like name a key inside an existing Secret, not a secret.
                names_a_secret_key = key.endswith("Key") and lowered != "apikey"
                if not names_a_secret_key and any(
                    word in lowered for word in ("password", "token", "secretvalue", "apikey")
                ):
                    assert not value, f"{path}.{key} has a default"
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(DEFAULTS, "values")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_scenario_regions_are_known_or_fully_described(scenario: Path) -> None:
    values = _merge(DEFAULTS, yaml.safe_load(scenario.read_text()))
    for region in values["ingressWebhook"]["regions"]:
        if region["id"] not in DEFAULT_REGIONS:
            # byosms_common.regions needs host and key for a region it does not know.
            assert region.get("host"), region["id"]
            assert region.get("key"), region["id"]


def test_consumer_defaults_use_static_membership() -> None:
    """Static membership by default, with a session timeout that outlasts a pod's replacement and that
    ConsumerSettings accepts; the stop grace is the engine's own default."""
    consumers = DEFAULTS["consumers"]
    assert consumers["staticMembership"] is True
    fields = ConsumerSettings.model_fields
    settings = ConsumerSettings(
        consumer_session_timeout_ms=consumers["sessionTimeoutMs"],
        consumer_stop_grace_s=consumers["stopGraceSeconds"],
    )
    assert settings.consumer_session_timeout_ms >= 30_000 > fields["consumer_session_timeout_ms"].default
    assert consumers["stopGraceSeconds"] == fields["consumer_stop_grace_s"].default
    for component in ("provisioning", "inventory", "routing"):
        assert DEFAULTS[component]["terminationGracePeriodSeconds"] >= consumers["stopGraceSeconds"] + 20
        assert DEFAULTS[component]["updatePartition"] == 0


def test_schema_bounds_the_session_timeout_like_the_engine() -> None:
    bounds = SCHEMA["properties"]["consumers"]["properties"]["sessionTimeoutMs"]
    metadata = {type(m).__name__: m for m in ConsumerSettings.model_fields["consumer_session_timeout_ms"].metadata}
    assert bounds["maximum"] <= metadata["Le"].le
    # Brokers refuse less than group.min.session.timeout.ms (6 s by default).
    assert bounds["minimum"] >= max(6_000, metadata["Ge"].ge)

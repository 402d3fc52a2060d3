"""The chart keeps up with the settings: every ``BYOSMS_*`` variable a service's settings classes read
is set by the chart for that component's containers (a fixed value or a chart value), or is listed in
NOT_EXPOSED below with the reason the chart leaves it out. Every variable the chart sets is in the
chart README's settings table, which names the chart value behind it; that value exists in
values.yaml and values.schema.json, and the schema's bounds are the settings field's own bounds, so
an install fails on a value the service would refuse at start.

The variables are found by introspecting the settings classes (conftest.SETTINGS: every settings
class the service's modules use); the chart is rendered by the real helm binary with every ci/
scenario, among them ci/all-settings-values.yaml, which sets every optional value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import annotated_types
import pytest
import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

pytestmark = pytest.mark.integration

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "byosms"
SCENARIOS = sorted(CHART.glob("ci/*-values.yaml"))
README = (CHART / "README.md").read_text(encoding="utf-8")
DEFAULTS: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
VALUES_KEY = {  # component -> its section of values.yaml
    "ingress-webhook": "ingressWebhook",
    "provisioning": "provisioning",
    "inventory": "inventory",
    "routing": "routing",
    "console": "console",
}
# Every component whose variables are checked: the services and the topic Job.
COMPONENTS = (*VALUES_KEY, "kafka-topics")

# Variables the chart deliberately does not set, with the reason. Anything here can still be set
# through the component's `extraEnv` (a list of Kubernetes EnvVar), which is not counted as "set by
# the chart" above. "*": for every component that reads it.
NOT_EXPOSED: dict[str, dict[str, str]] = {
    "console": {
        # The development login signs tokens with a private key on a page anyone reaching the
        # console can open; the chart never enables it (users paste a token from the platform).
        "BYOSMS_CONSOLE_DEV_LOGIN_KEY_FILE": "development login only; never enabled by the chart",
        "BYOSMS_CONSOLE_DEV_LOGIN_ISSUER": "development login only (iss of its tokens)",
        "BYOSMS_CONSOLE_DEV_LOGIN_AUDIENCE": "development login only (aud of its tokens)",
    },
    "provisioning": {
        # The chart's key sources are a JWKS URL or a PEM public key from a ConfigMap; a JWKS
        # document on disk is for the local stack and tests.
        "BYOSMS_PROVISIONING_JWT_JWKS_FILE": "local stack and tests; the chart offers jwt.jwksUrl or a PEM ConfigMap",
        # Following media redirects to http:// would fetch customer media in clear text; only the
        # local Twilio emulator serves media over http.
        "BYOSMS_PROVISIONING_MEDIA_REDIRECT_ALLOW_HTTP": "Twilio emulator only (media over http://)",
    },
}

_ROW = re.compile(
    r"^\|\s*`(BYOSMS_[A-Z0-9_]+)`\s*\|(?P<components>[^|]*)\|(?P<value>[^|]*)\|(?P<notes>[^|]*)\|", re.MULTILINE
)
# In the notes column: the chart's default differs from the service's on purpose.
_OWN_DEFAULT = "chart default"
_VALUE_PATH = re.compile(r"`([a-zA-Z][a-zA-Z0-9]*(?:\.[a-zA-Z][a-zA-Z0-9]*)*)`")


def _component(doc: dict[str, Any]) -> str | None:
    labels = doc["spec"]["template"]["metadata"]["labels"]
    component = labels.get("app.kubernetes.io/component")
    return component if isinstance(component, str) else None


def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def _extra_env_names(scenario: Path) -> dict[str, set[str]]:
    """Component -> variables the scenario itself sets through extraEnv (not the chart's doing)."""
    values = yaml.safe_load(scenario.read_text()) or {}
    return {
        component: {item["name"] for item in (values.get(VALUES_KEY.get(component, "")) or {}).get("extraEnv", [])}
        for component in COMPONENTS
    }


def _is_workload_of(doc: dict[str, Any]) -> str | None:
    """The component a rendered object runs (services: Deployments and StatefulSets; the topic Job)."""
    if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
        component = _component(doc)
        if component in VALUES_KEY and doc["kind"] != "Job":
            return component
        if component == "kafka-topics" and doc["kind"] == "Job":
            return component
    return None


def _chart_env(docs: list[dict[str, Any]], scenario: Path) -> dict[str, set[str]]:
    """Component -> the variables the chart sets in its workloads' containers (env and the data
    of the ConfigMaps they take with envFrom), without the scenario's extraEnv."""
    config_maps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}
    extra = _extra_env_names(scenario)
    found: dict[str, set[str]] = {}
    for doc in docs:
        if (component := _is_workload_of(doc)) is None:
            continue
        names = found.setdefault(component, set())
        for container in _containers(doc):
            names.update(item["name"] for item in container.get("env", []))
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    names.update(config_maps[source["configMapRef"]["name"]])
        names -= extra[component]
    return found


@pytest.fixture(scope="module")
def chart_env(render_chart: Any) -> dict[str, set[str]]:
    """Component -> every variable the chart sets for it in at least one ci/ scenario."""
    union: dict[str, set[str]] = {component: set() for component in COMPONENTS}
    for scenario in SCENARIOS:
        for component, names in _chart_env(render_chart(scenario).documents, scenario).items():
            union[component] |= names
    return union


@pytest.fixture(scope="module")
def fields(service_settings: dict[str, tuple[type[BaseSettings], ...]]) -> dict[str, dict[str, FieldInfo]]:
    """Component -> {variable: the settings field that reads it}."""
    result: dict[str, dict[str, FieldInfo]] = {}
    for component, classes in service_settings.items():
        fields = result.setdefault(component, {})
        for cls in classes:
            prefix = str(cls.model_config.get("env_prefix", ""))
            for name, info in cls.model_fields.items():
                alias = info.validation_alias or info.alias
                fields[alias.upper() if isinstance(alias, str) else (prefix + name).upper()] = info
    return result


class Row(NamedTuple):
    """One row of the chart README's settings table."""

    components: set[str]
    paths: list[str]  # the chart values behind the variable (none: a fixed value)
    notes: str


def _readme_rows() -> dict[str, Row]:
    """The chart README's settings table by variable."""
    rows: dict[str, Row] = {}
    for match in _ROW.finditer(README):
        components = {c.strip() for c in match["components"].split(",") if c.strip()}
        rows[match[1]] = Row(components, _VALUE_PATH.findall(match["value"]), match["notes"].strip())
    return rows


def _not_exposed(component: str) -> dict[str, str]:
    return NOT_EXPOSED.get("*", {}) | NOT_EXPOSED.get(component, {})


def test_the_scenario_that_sets_everything_exists() -> None:
    assert CHART / "ci" / "all-settings-values.yaml" in SCENARIOS


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_every_setting_is_set_by_the_chart_or_deliberately_left_out(
    component: str, chart_env: dict[str, set[str]], fields: dict[str, dict[str, FieldInfo]]
) -> None:
    missing = sorted(set(fields[component]) - chart_env[component] - set(_not_exposed(component)))
    assert not missing, (
        f"{component} reads settings the chart neither sets nor lists in NOT_EXPOSED "
        f"(add a chart value, or an entry with its reason): {missing}"
    )


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_variables_left_out_are_read_and_really_left_out(
    component: str, chart_env: dict[str, set[str]], fields: dict[str, dict[str, FieldInfo]]
) -> None:
    """NOT_EXPOSED stays true: each entry is a variable the component reads and the chart does not set."""
    for name, reason in _not_exposed(component).items():
        assert reason.strip(), name
        assert name in fields[component], f"{name} is not read by {component} any more"
        assert name not in chart_env[component], f"{name} is set by the chart for {component}"


def test_the_chart_sets_only_what_the_services_read(
    chart_env: dict[str, set[str]], fields: dict[str, dict[str, FieldInfo]]
) -> None:
    # BYOSMS_POD_NAME only builds the ingress's spool directory (a dependent variable).
    helpers = {"ingress-webhook": {"BYOSMS_POD_NAME"}}
    for component, names in chart_env.items():
        assert names - helpers.get(component, set()) <= set(fields[component]), component


def test_every_variable_the_chart_sets_is_in_the_readme_table(
    chart_env: dict[str, set[str]], fields: dict[str, dict[str, FieldInfo]]
) -> None:
    rows = _readme_rows()
    for component, names in chart_env.items():
        for name in sorted(names & set(fields[component])):
            assert name in rows, f"{name} ({component}) is missing from the settings table of {CHART / 'README.md'}"
            assert component in rows[name].components, f"{name}: the README table does not name {component}"


def _lookup(tree: dict[str, Any], path: str) -> Any:
    node: Any = tree
    for key in path.split("."):
        assert isinstance(node, dict), f"{path} is not in values.yaml"
        assert key in node, f"{path} is not in values.yaml"
        node = node[key]
    return node


def _schema_of(path: str) -> dict[str, Any]:
    node = SCHEMA
    for key in path.split("."):
        properties = node.get("properties", {})
        assert key in properties, f"{path} is not in values.schema.json"
        node = properties[key]
    return node


def _field_bounds(info: FieldInfo) -> dict[str, float]:
    """The numeric bounds of a settings field as JSON Schema keywords."""
    keywords = {
        annotated_types.Ge: ("minimum", "ge"),
        annotated_types.Gt: ("exclusiveMinimum", "gt"),
        annotated_types.Le: ("maximum", "le"),
        annotated_types.Lt: ("exclusiveMaximum", "lt"),
    }
    bounds: dict[str, float] = {}
    for item in info.metadata:
        if type(item) in keywords:
            keyword, attribute = keywords[type(item)]
            bounds[keyword] = float(getattr(item, attribute))
    return bounds


def _schema_bounds(schema: dict[str, Any]) -> dict[str, float]:
    keys = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
    return {key: float(schema[key]) for key in keys if key in schema}


def _within(schema: dict[str, float], field: dict[str, float]) -> bool:
    """Whether every number the schema accepts is one the field accepts (the chart may be stricter,
    e.g. a session timeout the brokers allow, never looser)."""
    low = max(schema.get("minimum", float("-inf")), schema.get("exclusiveMinimum", float("-inf")))
    high = min(schema.get("maximum", float("inf")), schema.get("exclusiveMaximum", float("inf")))
    if "minimum" in field and low < field["minimum"]:
        return False
    if "exclusiveMinimum" in field and (
        low < field["exclusiveMinimum"] or (low == field["exclusiveMinimum"] and "exclusiveMinimum" not in schema)
    ):
        return False
    if "maximum" in field and high > field["maximum"]:
        return False
    return "exclusiveMaximum" not in field or not (
        high > field["exclusiveMaximum"] or (high == field["exclusiveMaximum"] and "exclusiveMaximum" not in schema)
    )


_SCHEMA_TYPES = {int: {"integer"}, float: {"number", "integer"}, bool: {"boolean"}, str: {"string"}}


def test_readme_table_names_real_values_with_the_settings_bounds(fields: dict[str, dict[str, FieldInfo]]) -> None:
    """Each chart value behind a variable exists in values.yaml and in the schema; a value that maps
    one to one onto a setting has its type, and the schema accepts no number the setting refuses."""
    rows = _readme_rows()
    assert rows, "the chart README has no settings table"
    for name, (components, paths, _) in rows.items():
        readers = [c for c in components if name in fields.get(c, {})]
        assert readers, f"README table: {name} is not read by {sorted(components)}"
        for path in paths:
            _lookup(DEFAULTS, path)
            _schema_of(path)
        if len(paths) != 1:
            continue
        schema, info = _schema_of(paths[0]), fields[readers[0]][name]
        wanted = _SCHEMA_TYPES.get(info.annotation) if isinstance(info.annotation, type) else None
        if wanted is not None and schema.get("type") in ("integer", "number", "boolean", "string"):
            assert schema["type"] in wanted, f"{paths[0]} ({name}): schema type {schema['type']}"
        if schema.get("type") in ("integer", "number"):
            bounds, field_bounds = _schema_bounds(schema), _field_bounds(info)
            assert _within(bounds, field_bounds), f"{paths[0]} ({name}): schema {bounds}, setting {field_bounds}"


def test_extra_env_reaches_every_component_and_is_validated(render_chart: Any, tmp_path: Path) -> None:
    """extraEnv (a list of EnvVar) of every component lands in its containers; the schema refuses
    an entry that is not an EnvVar."""
    base = CHART / "ci" / "all-settings-values.yaml"
    values = yaml.safe_load(base.read_text())
    for component, key in VALUES_KEY.items():
        values.setdefault(key, {})["extraEnv"] = [
            {"name": "BYOSMS_EXTRA_PROBE", "value": component},
            {"name": "BYOSMS_EXTRA_SECRET", "valueFrom": {"secretKeyRef": {"name": "extra", "key": "k"}}},
        ]
    path = tmp_path / "extra-values.yaml"
    path.write_text(yaml.safe_dump(values))
    docs = render_chart(path).documents
    seen: set[str] = set()
    for doc in docs:
        if (workload := _is_workload_of(doc)) is not None and workload in VALUES_KEY:
            env = {item["name"]: item for container in _containers(doc) for item in container.get("env", [])}
            assert env["BYOSMS_EXTRA_PROBE"]["value"] == workload
            assert env["BYOSMS_EXTRA_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "extra"
            seen.add(workload)
    assert seen == set(VALUES_KEY)

    values["routing"]["extraEnv"] = [{"value": "no name"}]
    path.write_text(yaml.safe_dump(values))
    result = render_chart(path)
    assert result.returncode != 0
    assert "extraEnv" in result.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("routing.recovery.requestsPerSecond=0", "requestsPerSecond"),
        ("provisioning.webhookChecks.intervalSeconds=5", "intervalSeconds"),
        ("routing.senderRates.+15005550006=0", "senderRates"),
        ("consumers.batchMax=0", "batchMax"),
        ("console.importPollIntervalMs=50", "importPollIntervalMs"),
        ("database.poolMin=20", "database.poolMin (20) must not exceed database.poolMax (10)"),
    ],
    ids=["recovery-rate", "check-interval", "sender-rate", "batch", "poll-interval", "pool"],
)
def test_values_the_services_would_refuse_fail_the_install(render_chart: Any, override: str, message: str) -> None:
    """A value outside a setting's bounds fails `helm install` with the value's name, instead of a
    pod that exits at start with "invalid settings"."""
    result = render_chart(CHART / "ci" / "production-values.yaml", "--set", override)
    assert result.returncode != 0
    assert message in result.stderr


def test_chart_defaults_are_the_services_defaults(fields: dict[str, dict[str, FieldInfo]]) -> None:
    """A chart value mapped one to one onto a setting defaults to the service's own default, unless
    the README's notes say the chart's default differs on purpose; an empty value means the same
    (the chart then leaves the variable out)."""
    compared = 0
    for name, (components, paths, notes) in _readme_rows().items():
        if len(paths) != 1 or _OWN_DEFAULT in notes:
            continue
        info = next(fields[c][name] for c in sorted(components) if name in fields.get(c, {}))
        default, chart = info.get_default(call_default_factory=True), _lookup(DEFAULTS, paths[0])
        if chart in ("", [], {}, None):
            continue
        if isinstance(default, tuple):
            default = list(default)
        numeric = (int, float)
        comparable = (isinstance(default, bool) and isinstance(chart, bool)) or (
            isinstance(default, numeric) and isinstance(chart, numeric) and not isinstance(chart, bool)
        )
        comparable = comparable or type(default) is type(chart)
        if comparable:
            compared += 1
            assert chart == default, f"{paths[0]} defaults to {chart!r}, {name} to {default!r}"
    assert compared > 50

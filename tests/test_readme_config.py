"""README's configuration table stays true: every variable it lists is read by exactly the services it names.

Which service reads what is found in the code: the settings classes a service's sources instantiate
(``KafkaSettings()``, ``KeyringSettings()``, ...) and the variable names those classes read
(``env_prefix`` + field name, or the field's alias).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SERVICES = {  # README's name -> (source folder, settings module)
    "ingress": ("services/ingress-webhook/src", "byosms_ingress.settings"),
    "provisioning": ("services/provisioning/src", "byosms_provisioning.settings"),
    "inventory": ("services/inventory/src", "byosms_inventory.settings"),
    "routing": ("services/routing/src", "byosms_routing.settings"),
    "console": ("services/console/src", "byosms_console.settings"),
}
# README's "all": every service on Kafka, i.e. all but the console (a client of the admin API only).
ALL = {"ingress", "provisioning", "inventory", "routing"}


def _settings_classes() -> dict[str, type[BaseSettings]]:
    found: dict[str, type[BaseSettings]] = {}
    for module_name in ("byosms_common.settings", *(module for _, module in SERVICES.values())):
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseSettings) and value is not BaseSettings:
                found[name] = value
    return found


def variables_of(cls: type[BaseSettings]) -> set[str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = set()
    for field_name, info in cls.model_fields.items():
        alias = info.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else (prefix + field_name).upper())
    return names


def readers() -> dict[str, set[str]]:
    """Variable -> services whose sources instantiate a settings class that reads it."""
    classes = _settings_classes()
    result: dict[str, set[str]] = {}
    for service, (src, _) in SERVICES.items():
        code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / src).rglob("*.py"))
        for class_name in set(re.findall(r"\b(\w+Settings)\(", code)) & classes.keys():
            for variable in variables_of(classes[class_name]):
                result.setdefault(variable, set()).add(service)
    return result


def _expand(cell: str, known: set[str]) -> list[str]:
    """`BYOSMS_INGRESS_HOST` / `_PORT` -> both names; a shorthand must expand to a known variable."""
    names = re.findall(r"`([A-Z0-9_*]+)`", cell)
    first, expanded = names[0], [names[0]]
    for short in names[1:]:
        if not short.startswith("_"):
            expanded.append(short)
            continue
        parts = first.split("_")
        candidates = ["_".join(parts[:cut]) + short for cut in range(len(parts) - 1, 0, -1)]
        matches = [c for c in candidates if c in known]
        assert matches, f"README shorthand {short} after {first} names no known variable"
        expanded.append(matches[0])
    return expanded


def config_rows() -> list[tuple[str, set[str]]]:
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    known = set(readers())
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`BYOSMS_") or "*" in cells[0]:
            continue
        used_by = ALL if cells[1] == "all" else {s.strip() for s in cells[1].split(",")}
        rows.extend((variable, used_by) for variable in _expand(cells[0], known))
    return rows


def test_the_table_is_found() -> None:
    variables = [v for v, _ in config_rows()]
    assert "BYOSMS_KAFKA_BOOTSTRAP" in variables
    assert "BYOSMS_INGRESS_PORT" in variables
    assert len(variables) > 20


@pytest.mark.parametrize(("variable", "used_by"), config_rows(), ids=lambda v: v if isinstance(v, str) else "")
def test_each_variable_is_read_by_the_services_the_readme_names(variable: str, used_by: set[str]) -> None:
    assert used_by <= set(SERVICES), f"unknown service in README row of {variable}: {used_by - set(SERVICES)}"
    assert readers().get(variable, set()) == used_by, f"{variable}: README says {sorted(used_by)}"

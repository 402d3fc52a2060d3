"""docs/architecture.md stays true: every topic and every table is listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from byosms_common.topics import ALL_TOPICS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()


@pytest.mark.parametrize("topic", [t.name for t in ALL_TOPICS])
def test_every_topic_is_documented(topic: str) -> None:
    assert f"`{topic}`" in ARCHITECTURE


def _tables() -> list[str]:
    found = []
    for migration in ROOT.glob("services/*/src/byosms_*/migrations/*.sql"):
        schema = migration.parents[1].name.removeprefix("byosms_")
        for name in re.findall(r"CREATE TABLE(?: IF NOT EXISTS)?\s+(\w+)", migration.read_text(), re.IGNORECASE):
            found.append(f"{schema}.{name}")
    return sorted(found)


def test_tables_are_found() -> None:
    assert "inventory.numbers" in _tables()


@pytest.mark.parametrize("table", _tables())
def test_every_table_is_documented(table: str) -> None:
    assert f"`{table}`" in ARCHITECTURE

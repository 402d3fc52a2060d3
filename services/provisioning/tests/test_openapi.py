"""The checked-in OpenAPI contract is the generated one, and it covers every route."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byosms_provisioning import openapi

pytestmark = pytest.mark.unit

CONTRACT = Path(__file__).resolve().parents[3] / openapi.CONTRACT_PATH


def test_checked_in_contract_matches_code() -> None:
    assert CONTRACT.exists(), "run: uv run byosms-provisioning write-openapi"
    assert CONTRACT.read_text(encoding="utf-8") == openapi.render(), (
        "contracts/openapi/provisioning.json is stale; run: uv run byosms-provisioning write-openapi"
    )


def test_document_covers_integration_operations() -> None:
    paths = openapi.document()["paths"]
    operations = {(m.upper(), p) for p, item in paths.items() for m in item}
    assert {
        ("POST", "/api/v2/integrations"),
        ("GET", "/api/v2/integrations"),
        ("GET", "/api/v2/integrations/{id}"),
        ("PATCH", "/api/v2/integrations/{id}"),
        ("DELETE", "/api/v2/integrations/{id}"),
        ("PUT", "/api/v2/integrations/{id}/credentials"),
        ("POST", "/api/v2/integrations/{id}/activate"),
        ("POST", "/api/v2/integrations/{id}/deactivate"),
    } <= operations
    text = json.dumps(openapi.document())
    assert "secondary auth tokens are not supported" in text


def test_write(tmp_path: Path) -> None:
    target = openapi.write(tmp_path / "x" / "provisioning.json")
    assert json.loads(target.read_text())["openapi"] == "3.1.0"

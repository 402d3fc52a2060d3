"""The checked-in OpenAPI contract is the generated one, and it covers every route."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from byosms_provisioning import app as service_app
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


def registered_operations() -> set[tuple[str, str]]:
    """(method, path template) of every route the service mounts, health routes aside."""
    application = web.Application()
    for register in service_app.ROUTE_REGISTRARS:
        register(application, None)  # type: ignore[arg-type]  # registrars only mount handlers
    operations = set()
    for route in application.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method in {"HEAD", "OPTIONS"} or path is None:
            continue
        operations.add((route.method, path))
    return operations


def test_every_registered_route_is_documented() -> None:
    paths = openapi.document()["paths"]
    documented = {(m.upper(), p) for p, item in paths.items() for m in item}
    mounted = registered_operations() - {("GET", "/api/v2/openapi.json")}
    assert ("POST", "/api/v2/sms/numbers/imports") in mounted
    assert mounted - documented == set(), "routes missing from the OpenAPI document"
    assert documented - mounted == set(), "documented operations that no route serves"


def test_import_operations_name_their_permission_and_schemas() -> None:
    document = openapi.document()
    create = document["paths"]["/api/v2/sms/numbers/imports"]["post"]
    assert "Requires permission `sms:phoneNumber:byoImport` (or `sms:phoneNumber:all`)" in create["description"]
    assert "202" in create["responses"]
    body = document["components"]["schemas"]["ImportBody"]
    assert {"integration_id", "type", "sender_id", "country", "compliance"} <= set(body["properties"])
    assert body["additionalProperties"] is False

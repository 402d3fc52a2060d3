"""Problem documents (RFC 9457) in English and German."""

from __future__ import annotations

import json

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel, ConfigDict, ValidationError

from byosms_common.errors import CATALOG, ByosmsError, NotFound, VendorError
from byosms_provisioning.problems import InvalidFields, nul_fields, problem, problem_middleware, validation_problem

pytestmark = pytest.mark.unit


def body_of(response: object) -> dict[str, object]:
    text = response.text  # type: ignore[attr-defined]
    assert isinstance(text, str)
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("language", ["en", "de"])
def test_problem_document_fields(language: str) -> None:
    response = problem(NotFound("integration_not_found"), language, instance="/api/v2/integrations/x")  # type: ignore[arg-type]
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    assert response.headers["Content-Language"] == language
    body = body_of(response)
    assert body["code"] == "integration_not_found"
    assert body["status"] == 404
    assert body["type"] == "https://byosms.dev/problems/integration_not_found"
    assert body["instance"] == "/api/v2/integrations/x"
    expected = CATALOG["integration_not_found"]
    assert body["detail"] == (expected.de if language == "de" else expected.en)
    assert body["title"] == ("Nicht gefunden" if language == "de" else "Not found")


def test_retryable_flag_is_reported() -> None:
    body = body_of(problem(VendorError("vendor_unavailable", retryable=True), "en"))
    assert body["status"] == 503
    assert body["retryable"] is True


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_every_code_renders_in_both_languages(code: str) -> None:
    params = {"detail": "x", "permission": "p", "status": "s", "region": "r", "expected_url": "u"}
    params |= {"twilio_code": "1", "since": "t"}
    params |= {"sender": "+4930123456", "recipient": "+4915112345678", "limit": "10"}
    params |= {"key_id": "SK" + "0" * 32, "address": "+4930123456", "service": "MG" + "0" * 32}
    params |= {"seconds": "60", "message_sid": "SM" + "0" * 32, "content_type": "text/html"}
    error = ByosmsError(code, **params)
    en, de = body_of(problem(error, "en")), body_of(problem(error, "de"))
    assert en["detail"]
    assert de["detail"]
    assert en["status"] == CATALOG[code].http_status


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    count: int = 0


def test_invalid_fields_name_each_field_in_both_languages() -> None:
    with pytest.raises(ValidationError) as caught:
        Body.model_validate({"name": 3, "count": "x", "colour": "red"})
    error = validation_problem(caught.value)
    assert isinstance(error, InvalidFields)
    fields = {e["field"]: e for e in error.field_errors("en")}
    assert fields["name"]["message"] == "must be a string"
    assert fields["colour"]["message"] == "unknown field"
    assert "count" in fields
    german = {e["field"]: e["message"] for e in error.field_errors("de")}
    assert german["colour"] == "unbekanntes Feld"
    body = body_of(problem(error, "de", errors=error.field_errors("de")))
    assert body["status"] == 400
    assert "colour: unbekanntes Feld" in str(body["detail"])
    assert body["errors"]


def test_nul_fields_finds_every_nested_string() -> None:
    data = {"a": "ok", "b": "x\x00", "c": {"d": ["fine", "bad\x00"]}, "k\x00": 1}
    assert sorted(nul_fields(data)) == ["b", "c.d.1", "k\\u0000"]
    assert list(nul_fields({"a": ["b", {"c": 1}]})) == []


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (ConnectionRefusedError("PostgreSQL is not connected yet"), 503, "service_unavailable"),
        (asyncpg.exceptions.CannotConnectNowError("starting up"), 503, "service_unavailable"),
        (asyncpg.exceptions.CharacterNotInRepertoireError("bad byte"), 400, "invalid_request"),
        (RuntimeError("a bug"), 500, "internal_error"),
    ],
)
async def test_middleware_maps_failures_without_leaking_them(raised: Exception, status: int, code: str) -> None:
    async def handler(_request: web.Request) -> web.Response:
        raise raised

    application = web.Application(middlewares=[problem_middleware])
    application.router.add_get("/x", handler)
    async with TestClient(TestServer(application)) as client:
        response = await client.get("/x", headers={"Accept-Language": "de"})
        body = await response.json()
    assert (response.status, body["code"]) == (status, code)
    assert str(raised) not in json.dumps(body)
    assert body["retryable"] is (status == 503)
    if status == 503:
        assert response.headers["Retry-After"]
        assert "Bitte versuchen Sie es gleich erneut" in body["detail"]

"""Malformed requests a client can send at will: a 4xx problem document in English and German, never a
500, and one rate-limited WARNING per kind without the body."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from byosms_provisioning.problems import MAX_JSON_DEPTH, json_depth
from byosms_provisioning.refusal_log import REFUSALS, RequestRefusals
from byosms_provisioning.settings import ProvisioningSettings

if TYPE_CHECKING:
    from conftest import Harness

    from twilio_emulator.testing import RunningEmulator

BASE = "/api/v2/integrations"
DEEP = "[" * 5000 + "]" * 5000
LONG_NUMBER = '{"name": "x", "region": "eu-central-1", "notes": ' + "7" * 4400 + "}"
JUST_TOO_DEEP = '{"name": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}"


@pytest.fixture
async def prov(
    prov_pool: asyncpg.Pool,
    prov_emulator: RunningEmulator,
    prov_signing_key: rsa.RSAPrivateKey,
    prov_service: Callable[..., Any],
) -> AsyncIterator[Harness]:
    """The service with the default body limit (64 KiB): room for bodies that break the parser."""
    settings = ProvisioningSettings.model_validate(
        {"jwt_jwks_url": "http://unused.invalid/jwks.json", "command_group_id": f"prov-test-{uuid.uuid4().hex[:8]}"}
    )
    async with prov_service(prov_pool, prov_emulator, prov_signing_key, settings=settings) as harness:
        yield harness


CASES = [
    # (what, body, English reason, German reason, logged kind)
    ("nested thousands deep", DEEP, "nested too deeply", "zu tief verschachtelt", "json_too_deep"),
    ("nested one level too deep", JUST_TOO_DEEP, "nested too deeply", "zu tief verschachtelt", "json_too_deep"),
    ("integer of 4,400 digits", LONG_NUMBER, "too many digits", "zu vielen Ziffern", "json_number_too_long"),
    ("not JSON", "{nope", "not valid JSON", "kein gültiges JSON", "invalid_json"),
    ("not UTF-8", b'{"name": "\xff"}', "not valid JSON", "kein gültiges JSON", "invalid_json"),
]


@pytest.mark.integration
@pytest.mark.parametrize(("what", "body", "en", "de", "kind"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_malformed_bodies_get_a_400_in_both_languages_and_one_warning(
    prov: Harness,
    caplog: pytest.LogCaptureFixture,
    what: str,
    body: str | bytes,
    en: str,
    de: str,
    kind: str,
    method: str,
) -> None:
    REFUSALS.reset()
    path = BASE if method == "POST" else f"{BASE}/some-id"
    raw = body.encode() if isinstance(body, str) else body
    with caplog.at_level(logging.DEBUG):
        for language, reason in (("en", en), ("de", de), ("en", en)):
            response = await prov.client.request(
                method,
                path,
                data=raw,
                headers={**prov.headers(language=language), "Content-Type": "application/json"},
            )
            assert response.status == 400, what
            problem = await response.json(content_type=None)
            assert problem["code"] == "invalid_request"
            assert response.headers["Content-Language"] == language
            assert reason in problem["detail"]
            assert problem["errors"][0]["field"] == "(body)"
    lines = [r for r in caplog.records if r.name == "byosms_provisioning.refusal_log"]
    assert [r.levelno for r in lines] == [logging.WARNING], "one line for three refusals of a kind"
    assert kind in lines[0].getMessage()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "7777777777" not in logged
    assert "[[[[" not in logged
    assert "nope" not in logged


@pytest.mark.integration
async def test_a_deep_cursor_is_refused_not_a_500(prov: Harness) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(("[" * 1500 + "]" * 1500).encode()).decode().rstrip("=")
    response = await prov.client.get(BASE, params={"cursor": cursor}, headers=prov.headers())
    assert response.status == 400
    assert (await response.json())["code"] == "invalid_request"


@pytest.mark.integration
async def test_an_overlong_request_line_is_a_400_logged_once_without_traceback(
    prov: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    REFUSALS.reset()
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            response = await prov.client.get(BASE, params={"cursor": "x" * 9000}, headers=prov.headers())
            assert response.status == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    lines = [r.getMessage() for r in caplog.records if r.name == "byosms_provisioning.refusal_log"]
    assert len(lines) == 1
    assert "LineTooLong" in lines[0]


@pytest.mark.unit
def test_the_refusal_log_writes_once_per_kind_then_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    refusals = RequestRefusals(interval_s=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        written = [refusals.note("json_too_deep") for _ in range(5)]
        written.append(refusals.note("invalid_json"))
        now[0] = 61.0
        written.append(refusals.note("json_too_deep"))
    assert written == [True, False, False, False, False, True, True]
    assert "4 more of this kind not logged" in caplog.records[-1].getMessage()


@pytest.mark.unit
@pytest.mark.parametrize(("value", "depth"), [(1, 0), ([], 1), ({"a": [1, {"b": []}]}, 4), ([[[[]]]], 4)])
def test_json_depth(value: object, depth: int) -> None:
    assert json_depth(value) == depth


@pytest.mark.integration
async def test_a_query_integer_of_5000_digits_is_refused_not_a_500(prov: Harness) -> None:
    response = await prov.client.get(BASE, params={"limit": "7" * 5000}, headers=prov.headers(language="de"))
    assert response.status == 400
    problem = await response.json()
    assert problem["code"] == "invalid_request"
    assert problem["errors"][0]["field"] == "query.limit"

"""Every endpoint's response validates against Twilio's official OpenAPI response schema.

OpenAPI 3.0 ``nullable: true`` is rewritten to JSON Schema type unions, and every object schema that lists
``properties`` is closed (``additionalProperties: false``) so a misspelled field name fails the test.
"""

from __future__ import annotations

import base64
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from twilio_emulator.testing import AccountInfo, RunningEmulator

# Twilio's official OpenAPI documents live beside the checkout (<repo root>/../shared/twilio-oai) or in
# the machine's shared folder; BYOSMS_TWILIO_OAI_DIR points elsewhere. Without them the test fails: it
# is never skipped silently.
REPO_ROOT = Path(__file__).resolve().parents[3]
OAI_ENV = "BYOSMS_TWILIO_OAI_DIR"
MACHINE_SHARED_OAI = Path("/work/shared/twilio-oai")
V2010 = "twilio_api_v2010.json"
V1 = "twilio_messaging_v1.json"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string", "pattern": "^https://www.twilio.com/docs/errors/[0-9]+$"},
        "status": {"type": "integer"},
    },
}


def to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k not in {"nullable", "example", "x-twilio"}}
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "$ref" in out:
            out = {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}], **out}
    if isinstance(out.get("properties"), dict) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def default_oai_dirs(repo_root: Path = REPO_ROOT) -> list[Path]:
    """Where the documents are looked for without an override: beside the checkout, then the shared
    folder of this kind of machine (CI checks out elsewhere)."""
    return [repo_root.parent / "shared" / "twilio-oai", MACHINE_SHARED_OAI]


def _holds_documents(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (V2010, V1))


def oai_dir(environ: dict[str, str] | None = None, repo_root: Path = REPO_ROOT) -> Path:
    """Where Twilio's OpenAPI documents are; fails the test with what to set when they are missing."""
    override = (os.environ if environ is None else environ).get(OAI_ENV)
    candidates = [Path(override).expanduser()] if override else default_oai_dirs(repo_root)
    for candidate in candidates:
        if _holds_documents(candidate):
            return candidate
    source = f"{OAI_ENV}={override}" if override else "the defaults " + ", ".join(map(str, candidates))
    pytest.fail(
        f"Twilio's OpenAPI documents ({V2010}, {V1}) not found in {source}; "
        f"put them there or set {OAI_ENV} to the folder that holds them",
        pytrace=False,
    )


@cache
def document(name: str) -> dict[str, Any]:
    raw = json.loads((oai_dir() / name).read_text(encoding="utf-8"))
    return to_json_schema(raw)  # type: ignore[no-any-return]


def response_schema(doc_name: str, path: str, method: str, status: int) -> dict[str, Any]:
    doc = document(doc_name)
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


def assert_valid(doc_name: str, path: str, method: str, status: int, body: Any) -> None:
    validator = Draft202012Validator(response_schema(doc_name, path, method, status))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{method.upper()} {path}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@pytest.mark.unit
def test_openapi_documents_are_found_without_configuration() -> None:
    assert oai_dir({}) in default_oai_dirs()
    assert default_oai_dirs()[0] == REPO_ROOT.parent / "shared" / "twilio-oai"


@pytest.mark.unit
def test_openapi_documents_follow_the_override(tmp_path: Path) -> None:
    for name in (V2010, V1):
        (tmp_path / name).write_text("{}", encoding="utf-8")
    assert oai_dir({OAI_ENV: str(tmp_path)}) == tmp_path


@pytest.mark.unit
def test_missing_openapi_documents_fail_with_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=OAI_ENV) as failed:
        oai_dir({OAI_ENV: str(tmp_path / "nowhere")})
    assert "twilio_api_v2010.json" in str(failed.value)
    if not _holds_documents(MACHINE_SHARED_OAI):
        with pytest.raises(pytest.fail.Exception, match=OAI_ENV):
            oai_dir({}, repo_root=tmp_path / "checkout")


@pytest.mark.integration
async def test_responses_match_official_schemas(twemu: RunningEmulator, twemu_account: AccountInfo) -> None:
    c = twemu.control
    ac = twemu_account.sid
    mg = await c.add_service(ac, inbound_request_url="https://svc.example/in", status_callback="https://s.example/cb")
    pn = (await c.add_phone_number(ac, "+15005550006", sms_url="https://h.example/mo"))["sid"]
    pn2 = (await c.add_phone_number(ac, "+15005550007", service_sid=mg))["sid"]
    sc = (await c.add_short_code(ac, "894546", sms_url="https://h.example/sc"))["sid"]
    auth = "Basic " + base64.b64encode(f"{ac}:{twemu_account.auth_token}".encode()).decode()
    base = twemu.base_url
    acct = f"/2010-04-01/Accounts/{ac}"

    async with aiohttp.ClientSession(headers={"Authorization": auth}) as http:

        async def call(method: str, path: str, status: int, form: dict[str, str] | None = None) -> Any:
            async with http.request(method, base + path, data=form) as response:
                body = await response.json()
                assert response.status == status, (path, body)
                return body

        cases: list[tuple[str, str, str, int, str, dict[str, str] | None]] = [
            (V2010, "/2010-04-01/Accounts.json", "get", 200, "/2010-04-01/Accounts.json", None),
            (V2010, "/2010-04-01/Accounts.json", "post", 201, "/2010-04-01/Accounts.json", {"FriendlyName": "sub"}),
            (V2010, "/2010-04-01/Accounts/{Sid}.json", "get", 200, f"{acct}.json", None),
            (V2010, "/2010-04-01/Accounts/{Sid}.json", "post", 200, f"{acct}.json", {"FriendlyName": "n"}),
            (
                V2010,
                "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json",
                "get",
                200,
                f"{acct}/IncomingPhoneNumbers.json?PhoneNumber=%2B1500&PageSize=1",
                None,
            ),
            (
                V2010,
                "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json",
                "get",
                200,
                f"{acct}/IncomingPhoneNumbers/{pn}.json",
                None,
            ),
            (
                V2010,
                "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json",
                "post",
                200,
                f"{acct}/IncomingPhoneNumbers/{pn}.json",
                {"SmsUrl": "https://n.example/mo", "SmsMethod": "POST"},
            ),
            (
                V2010,
                "/2010-04-01/Accounts/{AccountSid}/SMS/ShortCodes.json",
                "get",
                200,
                f"{acct}/SMS/ShortCodes.json?ShortCode=894",
                None,
            ),
            (
                V2010,
                "/2010-04-01/Accounts/{AccountSid}/SMS/ShortCodes/{Sid}.json",
                "get",
                200,
                f"{acct}/SMS/ShortCodes/{sc}.json",
                None,
            ),
            (
                V2010,
                "/2010-04-01/Accounts/{AccountSid}/SMS/ShortCodes/{Sid}.json",
                "post",
                200,
                f"{acct}/SMS/ShortCodes/{sc}.json",
                {"SmsUrl": "https://n.example/sc"},
            ),
            (
                V2010,
                "/2010-04-01/Accounts/{AccountSid}/Messages.json",
                "post",
                201,
                f"{acct}/Messages.json",
                {"To": "+14155550100", "From": "+15005550006", "Body": "hi"},
            ),
            (
                V2010,
                "/2010-04-01/Accounts/{AccountSid}/Messages.json",
                "post",
                201,
                f"{acct}/Messages.json",
                {"To": "+14155550100", "MessagingServiceSid": mg, "Body": "hi", "MediaUrl": "https://m.example/1.png"},
            ),
            (V2010, "/2010-04-01/Accounts/{AccountSid}/Messages.json", "get", 200, f"{acct}/Messages.json", None),
            (V1, "/v1/Services", "get", 200, "/v1/Services", None),
            (V1, "/v1/Services", "post", 201, "/v1/Services", {"FriendlyName": "svc2"}),
            (V1, "/v1/Services/{Sid}", "get", 200, f"/v1/Services/{mg}", None),
            (V1, "/v1/Services/{Sid}", "post", 200, f"/v1/Services/{mg}", {"UseInboundWebhookOnNumber": "true"}),
            (V1, "/v1/Services/{ServiceSid}/PhoneNumbers", "get", 200, f"/v1/Services/{mg}/PhoneNumbers", None),
            (
                V1,
                "/v1/Services/{ServiceSid}/PhoneNumbers",
                "post",
                201,
                f"/v1/Services/{mg}/PhoneNumbers",
                {"PhoneNumberSid": pn},
            ),
            (
                V1,
                "/v1/Services/{ServiceSid}/PhoneNumbers/{Sid}",
                "get",
                200,
                f"/v1/Services/{mg}/PhoneNumbers/{pn2}",
                None,
            ),
            (
                V1,
                "/v1/Services/{ServiceSid}/ShortCodes",
                "post",
                201,
                f"/v1/Services/{mg}/ShortCodes",
                {"ShortCodeSid": sc},
            ),
            (V1, "/v1/Services/{ServiceSid}/ShortCodes", "get", 200, f"/v1/Services/{mg}/ShortCodes", None),
            (V1, "/v1/Services/{ServiceSid}/ShortCodes/{Sid}", "get", 200, f"/v1/Services/{mg}/ShortCodes/{sc}", None),
        ]
        message_sid = ""
        for doc_name, template, method, status, path, form in cases:
            body = await call(method.upper(), path, status, form)
            assert_valid(doc_name, template, method, status, body)
            if template.endswith("/Messages.json") and method == "post":
                message_sid = body["sid"]
        fetched = await call("GET", f"{acct}/Messages/{message_sid}.json", 200)
        assert_valid(V2010, "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json", "get", 200, fetched)

        # Error bodies use Twilio's legacy shape.
        for method, path, form, status in [
            ("GET", f"{acct}/IncomingPhoneNumbers/PN{'0' * 32}.json", None, 404),
            ("POST", f"{acct}/Messages.json", {"To": "bad", "From": "+15005550006", "Body": "x"}, 400),
            ("GET", f"/v1/Services/{mg}/PhoneNumbers/PN{'0' * 32}", None, 404),
        ]:
            Draft202012Validator(ERROR_SCHEMA).validate(await call(method, path, status, form))

    async with aiohttp.ClientSession() as anonymous, anonymous.get(base + f"{acct}.json") as response:
        assert response.status == 401
        body = await response.json()
        Draft202012Validator(ERROR_SCHEMA).validate(body)
        assert body["code"] == 20003

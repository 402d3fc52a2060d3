"""The byosms CLI: development keys and tokens, and the admin API calls it makes."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from typer.testing import CliRunner

from byosms_cli import api, devkeys, main

pytestmark = pytest.mark.unit

runner = CliRunner()


def test_dev_keys_are_created_once_and_private_key_is_owner_only(tmp_path: Path) -> None:
    result = runner.invoke(main.cli, ["dev-keys", "--key-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"BYOSMS_PROVISIONING_JWT_PUBLIC_KEY_FILE={tmp_path / 'public.pem'}" in result.output
    private = tmp_path / "private.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    before = private.read_bytes()
    runner.invoke(main.cli, ["dev-keys", "--key-dir", str(tmp_path)])
    assert private.read_bytes() == before


def test_dev_token_carries_org_and_permissions(tmp_path: Path) -> None:
    result = runner.invoke(
        main.cli,
        [
            "dev-token",
            "--org",
            "org-42",
            "--permission",
            "integrations:integration:view",
            "-p",
            "integrations:integration:add",
            "--key-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    public = load_pem_public_key((tmp_path / "public.pem").read_bytes())
    claims = jwt.decode(
        token, public, algorithms=["RS256"], audience=devkeys.DEFAULT_AUDIENCE, issuer=devkeys.DEFAULT_ISSUER
    )  # type: ignore[arg-type]
    assert claims["org"] == "org-42"
    assert claims["permissions"] == ["integrations:integration:add", "integrations:integration:view"]
    assert claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


def test_dev_token_defaults_to_all_permissions(tmp_path: Path) -> None:
    result = runner.invoke(main.cli, ["dev-token", "--org", "o", "--key-dir", str(tmp_path)])
    claims = jwt.decode(result.output.strip(), options={"verify_signature": False})
    assert set(claims["permissions"]) == set(main.ALL_PERMISSIONS)


def test_repo_root_finds_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.uv.workspace]\nmembers = []\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert devkeys.repo_root(nested) == tmp_path


class Recorder:
    def __init__(self, status: int = 200, body: Any = None) -> None:
        self.calls: list[tuple[str, str, Any, str | None]] = []
        self.result = api.ApiResult(status, body if body is not None else {"ok": True})

    def __call__(
        self, base_url: str, token: str, method: str, path: str, body: Any = None, *, language: str | None = None
    ) -> api.ApiResult:
        assert token
        self.calls.append((method, base_url + path, body, language))
        return self.result


@pytest.mark.parametrize(
    ("args", "method", "path", "body"),
    [
        (["list", "--status", "active"], "GET", "/api/v2/integrations?limit=50&status=active", None),
        (["get", "i1"], "GET", "/api/v2/integrations/i1", None),
        (
            ["create", "--name", "Main", "--region", "eu-central-1"],
            "POST",
            "/api/v2/integrations",
            {"name": "Main", "region": "eu-central-1", "notes": ""},
        ),
        (["update", "i1", "--notes", "n"], "PATCH", "/api/v2/integrations/i1", {"notes": "n"}),
        (["activate", "i1"], "POST", "/api/v2/integrations/i1/activate", None),
        (["deactivate", "i1"], "POST", "/api/v2/integrations/i1/deactivate", None),
        (["delete", "i1"], "DELETE", "/api/v2/integrations/i1", None),
    ],
)
def test_integration_commands_call_the_api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], method: str, path: str, body: Any
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(api, "call", recorder)
    monkeypatch.setenv("BYOSMS_DEV_KEY_DIR", str(tmp_path))
    result = runner.invoke(main.cli, ["integrations", *args, "--org", "o1", "--api", "http://h:1", "--lang", "de"])
    assert result.exit_code == 0, result.output
    assert recorder.calls == [(method, "http://h:1" + path, body, "de")]


def test_set_credentials_reads_the_token_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    recorder = Recorder()
    monkeypatch.setattr(api, "call", recorder)
    monkeypatch.setenv("BYOSMS_DEV_KEY_DIR", str(tmp_path))
    monkeypatch.setenv("BYOSMS_TWILIO_AUTH_TOKEN", "tok" * 11)
    sid = "AC" + "1" * 32
    result = runner.invoke(main.cli, ["integrations", "set-credentials", "i1", "--account-sid", sid, "--org", "o"])
    assert result.exit_code == 0, result.output
    assert recorder.calls[0][2] == {"account_sid": sid, "auth_token": "tok" * 11}


def test_problem_answers_exit_non_zero(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(api, "call", Recorder(404, {"code": "integration_not_found"}))
    monkeypatch.setenv("BYOSMS_DEV_KEY_DIR", str(tmp_path))
    result = runner.invoke(main.cli, ["integrations", "get", "nope", "--org", "o"])
    assert result.exit_code == 1
    assert "integration_not_found" in result.output


def test_a_token_or_org_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BYOSMS_TOKEN", raising=False)
    monkeypatch.delenv("BYOSMS_ORG", raising=False)
    result = runner.invoke(main.cli, ["integrations", "list"])
    assert result.exit_code == 2


def test_an_unreachable_api_is_a_one_line_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("BYOSMS_DEV_KEY_DIR", str(tmp_path))
    result = runner.invoke(main.cli, ["integrations", "list", "--org", "o", "--api", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 2
    assert f"cannot reach http://127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output


def _invoke(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], **kwargs: Any) -> tuple[Any, Recorder]:
    recorder = Recorder()
    monkeypatch.setattr(api, "call", recorder)
    monkeypatch.setenv("BYOSMS_DEV_KEY_DIR", str(tmp_path))
    result = runner.invoke(main.cli, [*args, "--org", "o", "--api", "http://h:1"], **kwargs)
    return result, recorder


def test_create_sends_the_request_id_for_safe_retries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    args = ["integrations", "create", "--name", "M", "--region", "eu-central-1", "--request-id", "req-1"]
    result, recorder = _invoke(monkeypatch, tmp_path, args)
    assert result.exit_code == 0, result.output
    assert recorder.calls[0][2] == {"name": "M", "region": "eu-central-1", "notes": "", "request_id": "req-1"}


SID = "AC" + "1" * 32
SHARED = "shared-key-secret-0123456789"


def test_shared_key_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BYOSMS_TWILIO_AUTH_TOKEN", "tok" * 11)
    monkeypatch.setenv("BYOSMS_TWILIO_SHARED_KEY", SHARED)
    args = ["integrations", "set-credentials", "i1", "--account-sid", SID, "--shared-key"]
    result, recorder = _invoke(monkeypatch, tmp_path, args)
    assert result.exit_code == 0, result.output
    assert recorder.calls[0][2] == {"account_sid": SID, "auth_token": "tok" * 11, "shared_key": SHARED}
    assert SHARED not in result.output


def test_shared_key_is_read_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BYOSMS_TWILIO_AUTH_TOKEN", "tok" * 11)
    monkeypatch.delenv("BYOSMS_TWILIO_SHARED_KEY", raising=False)
    secret = tmp_path / "shared.key"
    secret.write_text(SHARED + "\n")
    args = ["integrations", "set-credentials", "i1", "--account-sid", SID, "--shared-key-file", str(secret)]
    result, recorder = _invoke(monkeypatch, tmp_path, args)
    assert result.exit_code == 0, result.output
    assert recorder.calls[0][2]["shared_key"] == SHARED


def test_shared_key_prompt_does_not_echo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BYOSMS_TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("BYOSMS_TWILIO_SHARED_KEY", raising=False)
    args = ["integrations", "set-credentials", "i1", "--account-sid", SID, "--shared-key"]
    result, recorder = _invoke(monkeypatch, tmp_path, args, input=f"{'tok' * 11}\n{SHARED}\n")
    assert result.exit_code == 0, result.output
    assert recorder.calls[0][2] == {"account_sid": SID, "auth_token": "tok" * 11, "shared_key": SHARED}
    assert "Twilio SharedKey" in result.output
    assert SHARED not in result.output
    assert "tok" * 11 not in result.output


def test_without_shared_key_none_is_sent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BYOSMS_TWILIO_AUTH_TOKEN", "tok" * 11)
    monkeypatch.setenv("BYOSMS_TWILIO_SHARED_KEY", SHARED)
    result, recorder = _invoke(monkeypatch, tmp_path, ["integrations", "set-credentials", "i1", "--account-sid", SID])
    assert result.exit_code == 0, result.output
    assert "shared_key" not in recorder.calls[0][2]


def test_numbers_import_posts_the_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    compliance = {
        "help": {"keywords": ["HELP"], "message": "Help text"},
        "opt_out": {"keywords": ["STOP"], "message": "Bye"},
        "re_opt_in": {"keywords": ["START"], "message": "Welcome back"},
    }
    blocks = tmp_path / "compliance.json"
    blocks.write_text(json.dumps(compliance))
    args = ["numbers", "import", "--integration", "i1", "--type", "shortcode", "--sender-id", "12345"]
    args += ["--country", "US", "--compliance-file", str(blocks)]
    result, recorder = _invoke(monkeypatch, tmp_path, args)
    assert result.exit_code == 0, result.output
    method, target, body, _ = recorder.calls[0]
    assert (method, target) == ("POST", "http://h:1/api/v2/sms/numbers/imports")
    assert body == {
        "integration_id": "i1",
        "type": "shortcode",
        "sender_id": "12345",
        "country": "US",
        "compliance": compliance,
    }


def test_numbers_import_refuses_bad_input_before_calling(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    args = ["numbers", "import", "--integration", "i1", "--type", "landline", "--sender-id", "+15550100"]
    result, recorder = _invoke(monkeypatch, tmp_path, args)
    assert result.exit_code == 2
    assert recorder.calls == []
    broken = tmp_path / "c.json"
    broken.write_text("{not json")
    args = ["numbers", "import", "--integration", "i1", "--type", "local", "--sender-id", "+1", "--compliance-file"]
    result, recorder = _invoke(monkeypatch, tmp_path, [*args, str(broken)])
    assert result.exit_code == 2
    assert "not JSON" in result.output
    assert recorder.calls == []


def test_numbers_import_status_gets_the_import(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, recorder = _invoke(monkeypatch, tmp_path, ["numbers", "import-status", "imp-1", "--lang", "de"])
    assert result.exit_code == 0, result.output
    assert recorder.calls == [("GET", "http://h:1/api/v2/sms/numbers/imports/imp-1", None, "de")]


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_dev_tokens_are_signed_for_the_kind_of_key(kind: str) -> None:
    """RS256 for the local stack's RSA key, ES256 for the docker-compose stack's P-256 key."""
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    token = devkeys.mint_token(pem, organization_id="acme", permissions=["b", "a"], subject="ann")
    algorithm = "RS256" if kind == "rsa" else "ES256"
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    claims = jwt.decode(token, key.public_key(), algorithms=[algorithm], audience="byosms-provisioning")
    assert (claims["org"], claims["sub"], claims["permissions"]) == ("acme", "ann", ["a", "b"])


NUMBER = {
    "id": "imp-1",
    "address": "+4930123456",
    "integration": {"id": "i1", "name": "Main"},
    "type": "local",
    "country": "DE",
    "twilio_sid": "PN" + "1" * 32,
    "routing_target": None,
    "effective_routing_target": {"target": "queue-int", "from": "integration"},
    "state": "active",
    "version": 3,
    "warnings": [{"code": "no_route", "message": "Eingehende Nachrichten werden verworfen", "since": None}],
    "latest_action": {"kind": "remove", "state": "failed", "error": {"code": "x", "message": "nicht erlaubt"}},
}


def _answering(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, status: int, body: Any) -> Recorder:
    recorder = Recorder(status, body)
    monkeypatch.setattr(api, "call", recorder)
    monkeypatch.setenv("BYOSMS_DEV_KEY_DIR", str(tmp_path))
    return recorder


def test_numbers_list_prints_a_table_with_filters_in_the_query(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    recorder = _answering(monkeypatch, tmp_path, 200, {"items": [NUMBER], "next_cursor": "abc"})
    args = ["numbers", "list", "--state", "inactive", "--prefix", "+4930", "--org", "o", "--api", "http://h:1"]
    result = runner.invoke(main.cli, args)
    assert result.exit_code == 0, result.output
    assert recorder.calls[0][1] == "http://h:1/api/v2/sms/numbers?limit=50&state=inactive&address_prefix=%2B4930"
    header, *rows = [line for line in result.output.splitlines() if line.strip()]
    assert header.split()[:5] == ["ID", "ADDRESS", "TYPE", "COUNTRY", "STATE"]
    assert rows[0].split()[:8] == ["imp-1", "+4930123456", "local", "DE", "active", "queue-int", "integration", "Main"]
    assert "no_route" in rows[0]
    assert "more: --cursor abc" in result.output
    raw = runner.invoke(main.cli, [*args, "--json"])
    assert json.loads(raw.output) == {"items": [NUMBER], "next_cursor": "abc"}


def test_numbers_show_prints_fields(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    recorder = _answering(monkeypatch, tmp_path, 200, NUMBER)
    result = runner.invoke(main.cli, ["numbers", "show", "imp-1", "--org", "o"])
    assert result.exit_code == 0, result.output
    assert recorder.calls[0][:2] == ("GET", "http://127.0.0.1:8081/api/v2/sms/numbers/imp-1")
    lines = {line.split(maxsplit=1)[0]: line for line in result.output.splitlines() if line.strip()}
    assert "+4930123456" in lines["address"]
    assert "remove failed: nicht erlaubt" in result.output


def test_numbers_route_reads_the_version_then_patches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    recorder = _answering(monkeypatch, tmp_path, 200, NUMBER)
    result = runner.invoke(main.cli, ["numbers", "route", "imp-1", "--target", "queue-9", "--org", "o"])
    assert result.exit_code == 0, result.output
    assert [(c[0], c[2]) for c in recorder.calls] == [
        ("GET", None),
        ("PATCH", {"version": 3, "routing_target": "queue-9"}),
    ]
    assert "routed to queue-int (from integration, version 3)" in result.output
    clear = runner.invoke(main.cli, ["numbers", "route", "imp-1", "--clear", "--version", "7", "--org", "o"])
    assert clear.exit_code == 0, clear.output
    assert recorder.calls[-1][2] == {"version": 7, "routing_target": None}
    neither = runner.invoke(main.cli, ["numbers", "route", "imp-1", "--org", "o"])
    assert neither.exit_code == 2


def test_numbers_remove_says_the_removal_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    body = {**NUMBER, "latest_action": {"kind": "remove", "state": "running"}}
    recorder = _answering(monkeypatch, tmp_path, 202, body)
    result = runner.invoke(main.cli, ["numbers", "remove", "imp-1", "--org", "o"])
    assert result.exit_code == 0, result.output
    assert recorder.calls[0][0] == "DELETE"
    assert "Removal of +4930123456: running" in result.output


def test_messages_trace_prints_the_steps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    trace = {
        "message_sid": "SM1",
        "message_id": None,
        "direction": "inbound",
        "steps": [
            {"step": "received", "at": "2026-12-01T10:00:00+00:00", "region": "eu-central-1", "spooled": False},
            {"step": "discarded", "at": "2026-12-01T10:00:01+00:00", "reason": "no_route"},
        ],
    }
    recorder = _answering(monkeypatch, tmp_path, 200, trace)
    result = runner.invoke(main.cli, ["messages", "trace", "SM1", "--org", "o"])
    assert result.exit_code == 0, result.output
    assert recorder.calls[0][1].endswith("/api/v2/sms/messages/SM1")
    assert "inbound message SM1" in result.output
    assert "region=eu-central-1, spooled=no" in result.output
    assert "reason=no_route" in result.output


def test_a_problem_is_one_line_in_the_callers_language(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    problem = {"code": "version_conflict", "detail": "Die Ressource wurde von jemand anderem geändert.", "status": 409}
    recorder = _answering(monkeypatch, tmp_path, 409, problem)
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    result = runner.invoke(main.cli, ["numbers", "route", "imp-1", "--target", "q", "--version", "1", "--org", "o"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "byosms: Die Ressource wurde von jemand anderem geändert. [version_conflict, HTTP 409]"
    ]
    assert recorder.calls[0][3] == "de"  # asked in the locale's language
    raw = runner.invoke(main.cli, ["numbers", "show", "imp-1", "--org", "o", "--json"])
    assert raw.exit_code == 1
    assert json.loads(raw.output) == problem

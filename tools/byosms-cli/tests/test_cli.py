"""The byosms CLI: development keys and tokens, and the admin API calls it makes."""

from __future__ import annotations

import socket
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest
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

"""`byosms-provisioning sealing-keys`: operators create sealing keys and hand out their public halves."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from byosms_provisioning.cli import cli
from byosms_provisioning.integrations import credential_sealing

pytestmark = pytest.mark.unit


def test_generated_key_is_usable_config_and_its_public_key_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    generated = CliRunner().invoke(cli, ["sealing-keys", "--generate", "s7"])
    assert generated.exit_code == 0, generated.output
    entry = json.loads(generated.stdout)
    assert list(entry) == ["s7"]
    monkeypatch.setenv("BYOSMS_PROVISIONING_SEALING_KEYS", generated.stdout.strip())
    shown = CliRunner().invoke(cli, ["sealing-keys"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data == {"active": "s7", "public_keys": {"s7": credential_sealing.public_key_b64(entry["s7"])}}
    assert entry["s7"] not in shown.stdout


@pytest.mark.parametrize("value", [None, "not json"])
def test_missing_or_bad_keys_are_one_line_errors(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is not None:
        monkeypatch.setenv("BYOSMS_PROVISIONING_SEALING_KEYS", value)
    result = CliRunner().invoke(cli, ["sealing-keys"])
    assert result.exit_code == 2
    assert "BYOSMS_PROVISIONING_SEALING_KEYS" in result.output
    assert "Traceback" not in result.output

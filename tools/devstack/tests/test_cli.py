"""byosms-stack answers bad settings with one line (English and German) and exit code 1."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from byosms_devstack import settings as stack_config  # (test_stack_settings is no test: no bare import)
from byosms_devstack import stack
from byosms_devstack.cli import app
from byosms_devstack.settings import StackSettings, stack_settings

pytestmark = pytest.mark.unit

STACK_VARS = ("DIR", "KAFKA_PORT", "CONTROLLER_PORT", "PG_PORT", "READY_TIMEOUT_S")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in STACK_VARS:
        monkeypatch.delenv(f"BYOSMS_STACK_{name}", raising=False)


def _one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("command", ["up", "down", "status", "env"])
@pytest.mark.parametrize("test_stack", [False, True])
def test_a_bad_environment_value_is_one_line(
    command: str, test_stack: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BYOSMS_STACK_KAFKA_PORT", "not-a-port")
    line = _one_line_error([command, "--dir", str(tmp_path), *(["--test"] if test_stack else [])])
    assert line.startswith("byosms-stack: invalid settings: BYOSMS_STACK_KAFKA_PORT / --kafka-port: ")
    assert "ungültige Einstellungen: BYOSMS_STACK_KAFKA_PORT" in line
    assert not (tmp_path / "kafka").exists()


@pytest.mark.parametrize("test_stack", [False, True])
def test_an_out_of_range_option_is_refused_before_anything_starts(test_stack: bool, tmp_path: Path) -> None:
    line = _one_line_error(["up", "--dir", str(tmp_path), "--kafka-port", "70000", *(["--test"] if test_stack else [])])
    assert "BYOSMS_STACK_KAFKA_PORT / --kafka-port: Input should be less than or equal to 65535" in line
    assert "ungültige Einstellungen" in line
    assert list(tmp_path.iterdir()) == []


def test_settings_builders_validate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        stack_settings(pg_port=0)
    with pytest.raises(ValidationError):
        stack_config.test_stack_settings(controller_port=65536)
    monkeypatch.setenv("BYOSMS_STACK_PG_PORT", "99999")
    with pytest.raises(ValidationError):
        stack_config.test_stack_settings()


def test_test_stack_defaults_env_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = stack_config.test_stack_settings()
    assert (settings.kafka_port, settings.controller_port, settings.pg_port) == (19092, 19093, 55433)
    assert settings.state_dir().name == "test-stack"
    monkeypatch.setenv("BYOSMS_STACK_PG_PORT", "55499")
    monkeypatch.setenv("BYOSMS_STACK_DIR", str(tmp_path))
    settings = stack_config.test_stack_settings(kafka_port=29092)
    assert (settings.kafka_port, settings.controller_port, settings.pg_port) == (29092, 19093, 55499)
    assert settings.state_dir() == tmp_path.resolve()


def test_a_damaged_stack_record_is_ignored(tmp_path: Path) -> None:
    settings = StackSettings(dir=tmp_path, kafka_port=29092)
    (tmp_path / "stack.json").write_text(json.dumps({"kafka_port": 70000, "pg_port": 55499}))
    assert stack._load_running_settings(settings) == settings
    (tmp_path / "stack.json").write_text(json.dumps({"pg_port": 55499}))
    assert stack._load_running_settings(settings).pg_port == 55499
    (tmp_path / "stack.json").write_text("[1, 2]")
    assert stack._load_running_settings(settings) == settings


def test_a_stack_error_is_one_line_in_english_and_german(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["up", "--dir", str(tmp_path), "--kafka-port", str(port)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"byosms-stack: port 127.0.0.1:{port} is taken by another process / Port 127.0.0.1:{port} ist belegt"


def test_an_unusable_state_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = _one_line_error(["up", "--dir", str(blocker / "state")])
    assert line.startswith("byosms-stack: system error (")
    assert " / Systemfehler (" in line

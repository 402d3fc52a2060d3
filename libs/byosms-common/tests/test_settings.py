"""load_or_exit: invalid settings stop a service with one line in English and German, no values."""

from __future__ import annotations

import pytest

from byosms_common.settings import DatabaseSettings, KafkaSettings, load_or_exit

pytestmark = pytest.mark.unit


def test_valid_settings_are_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYOSMS_KAFKA_BOOTSTRAP", "127.0.0.1:29092")
    assert load_or_exit("routing", KafkaSettings).kafka_bootstrap == "127.0.0.1:29092"


def test_invalid_settings_exit_2_with_one_line_in_english_and_german(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "mysql://admin:hunter2@db/x"
    monkeypatch.setenv("BYOSMS_DATABASE_URL", secret)
    monkeypatch.setenv("BYOSMS_DATABASE_POOL_MAX", "0")
    with pytest.raises(SystemExit) as exited:
        load_or_exit("inventory", DatabaseSettings)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("byosms-inventory: invalid settings: database_url: ")
    assert err.rstrip().endswith(" / ungültige Einstellungen: database_pool_max, database_url")
    assert "hunter2" not in err

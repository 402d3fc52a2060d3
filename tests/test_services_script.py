"""scripts/services.py down(): stops only the processes it started, whatever the pid files say."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("byosms_services_script", ROOT / "scripts" / "services.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "PIDS", tmp_path / "pids")
    (tmp_path / "pids").mkdir()
    # One service whose command is a script in tmp_path, so a test can start a process that is "ours".
    monkeypatch.setattr(module, "SERVICES", (module.Service("fake-svc", ("fake-svc", "serve"), 1),))
    return module


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process in a process group of its own (what a reused pid may point to)."""
    process = _spawn([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_a_reused_pid_is_left_alone(
    services: ModuleType, stranger: subprocess.Popen[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    (services.PIDS / "fake-svc.pid").write_text(str(stranger.pid))
    assert services.down(timeout=1.0) == 0
    assert stranger.poll() is None, "down() signalled a process it did not start"
    assert not (services.PIDS / "fake-svc.pid").exists()
    out = capsys.readouterr().out
    assert f"not running (pid {stranger.pid} is gone or another program's)" in out
    assert len(out.strip().splitlines()) == 1


def test_a_pid_that_is_gone_gives_one_line(services: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    gone = _spawn([sys.executable, "-c", "pass"])
    gone.wait()
    (services.PIDS / "fake-svc.pid").write_text(str(gone.pid))
    assert services.down(timeout=1.0) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.out.strip() == f"fake-svc     not running (pid {gone.pid} is gone or another program's)"


def test_our_service_is_stopped(tmp_path: Path, services: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "fake-svc"
    script.write_text("import time\ntime.sleep(60)\n")
    ours = _spawn([sys.executable, str(script), "serve"])
    try:
        deadline = time.monotonic() + 5
        while services._pid(services.SERVICES[0]) is None and time.monotonic() < deadline:
            (services.PIDS / "fake-svc.pid").write_text(str(ours.pid))
            time.sleep(0.05)
        assert services.down(timeout=5.0) == 0
        assert ours.wait(timeout=5) != 0
        assert capsys.readouterr().out.strip() == "fake-svc     stopped"
        assert not (services.PIDS / "fake-svc.pid").exists()
    finally:
        if ours.poll() is None:
            os.kill(ours.pid, 9)
            ours.wait()


def test_ports_follow_the_services_own_variables_and_the_urls_between_them_follow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = importlib.util.spec_from_file_location("byosms_services_ports", ROOT / "scripts" / "services.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    defaults = module.ports_from({})
    assert defaults["provisioning"] == 8081
    assert defaults["console"] == 8085
    ports = module.ports_from(
        {
            "BYOSMS_PROVISIONING_PORT": "48081",
            "BYOSMS_EMULATOR_PORT": "48099",
            "BYOSMS_INGRESS_PORT": "48080",
            "BYOSMS_CONSOLE_PORT": "48085",
        }
    )
    services = {s.name: s for s in module.services_on(ports)}
    assert services["twilio-emulator"].command[-2:] == ("--port", "48099")
    assert services["console"].ready_url == "http://127.0.0.1:48085/healthz"
    assert services["inventory"].port == 8083  # not overridden
    env = module._dev_env(ports)
    assert env["BYOSMS_TWILIO_API_BASE"] == "http://127.0.0.1:48099"
    assert env["BYOSMS_CONSOLE_API_URL"] == "http://127.0.0.1:48081"
    assert env["BYOSMS_PROVISIONING_PORT"] == "48081"
    assert "http://127.0.0.1:48080" in env["BYOSMS_REGIONS_OVERRIDES"]
    args = module.demo_args(ports)
    assert args[args.index("--inbound-url") + 1].startswith("http://127.0.0.1:48080/vendors/v1/twilio/")
    with pytest.raises(SystemExit):
        module.ports_from({"BYOSMS_ROUTING_PORT": "http"})

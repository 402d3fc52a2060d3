"""The ``twilio-emulator`` console script and its sub-commands."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from typer.testing import CliRunner

from twilio_emulator.cli import cli
from twilio_emulator.testing import RunningEmulator

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_seed_and_inbound_commands(twemu: RunningEmulator, twemu_receiver: Any, tmp_path: Path) -> None:
    account_sid = "AC" + "ab" * 16
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(
        json.dumps(
            {
                "accounts": [{"sid": account_sid, "auth_token": "f" * 32}],
                "phone_numbers": [
                    {"account_sid": account_sid, "phone_number": "+15005550006", "sms_url": twemu_receiver.url("/mo")}
                ],
                "rates": [{"sender": "*", "limit": 5}],
            }
        ),
        encoding="utf-8",
    )
    runner = CliRunner()
    seeded = await asyncio.to_thread(runner.invoke, cli, ["seed", str(seed_file), "--url", twemu.base_url])
    assert seeded.exit_code == 0, seeded.output
    assert json.loads(seeded.output)["accounts"][0]["sid"] == account_sid

    args = ["inbound", "--from", "+14155550100", "--to", "+15005550006", "--body", "hi", "--url", twemu.base_url]
    sent = await asyncio.to_thread(runner.invoke, cli, args)
    assert sent.exit_code == 0, sent.output
    result = json.loads(sent.output)
    assert result["status"] == 200
    assert result["message_sid"].startswith("SM")
    assert twemu_receiver.received[-1].form["Body"] == "hi"


async def test_serve_console_script(tmp_path: Path) -> None:
    executable = shutil.which("twilio-emulator")
    assert executable is not None
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(
        json.dumps({"accounts": [{"sid": "AC" + "cd" * 16, "auth_token": "e" * 32}]}), encoding="utf-8"
    )
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        executable,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--seed-file",
        str(seed_file),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/_emulator/accounts/AC{'cd' * 16}") as response:
                        if response.status == 200:
                            assert (await response.json())["auth_token"] == "e" * 32
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert loop.time() < deadline, "emulator did not start"
                await asyncio.sleep(0.05)
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), timeout=10)


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "seed", "inbound", "reset"):
        assert command in result.output

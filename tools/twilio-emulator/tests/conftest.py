"""Fixtures: an in-process emulator, a webhook receiver, and twilio clients pointed at the emulator."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from multidict import MultiDict
from twilio.rest import Client

from twilio_emulator.client_redirect import RedirectingAsyncHttpClient, async_http_client
from twilio_emulator.settings import EmulatorSettings
from twilio_emulator.testing import AccountInfo, RunningEmulator, running_emulator


@dataclass
class Received:
    method: str
    url: str
    headers: dict[str, str]
    form: MultiDict[str]


@dataclass
class Receiver:
    """A tiny webhook target; answers ``status`` (default 200 + empty TwiML) and records every request."""

    base_url: str = ""
    status: int = 200
    received: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture
async def twemu() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(EmulatorSettings(status_step_delay_s=0.005)) as emu:
        yield emu


@pytest.fixture
async def twemu_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()

    async def handle(request: web.Request) -> web.Response:
        form = MultiDict((k, str(v)) for k, v in (await request.post()).items())
        receiver.received.append(
            Received(
                method=request.method,
                url=f"{receiver.base_url}{request.path_qs}",
                headers=dict(request.headers),
                form=form,
            )
        )
        return web.Response(
            status=receiver.status,
            text='<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
            content_type="text/xml",
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@pytest.fixture
async def twemu_account(twemu: RunningEmulator) -> AccountInfo:
    return await twemu.control.create_account(auth_token=secrets.token_hex(16))


@pytest.fixture
async def twemu_http(twemu: RunningEmulator) -> AsyncIterator[RedirectingAsyncHttpClient]:
    http = async_http_client(twemu.base_url)
    yield http
    await http.close()


@pytest.fixture
def twemu_client(twemu_account: AccountInfo, twemu_http: RedirectingAsyncHttpClient) -> Client:
    """Async-capable twilio Client authenticated as ``twemu_account``."""
    return Client(twemu_account.sid, twemu_account.auth_token, http_client=twemu_http)


@pytest.fixture
def twemu_numbers() -> Callable[[], str]:
    """Factory of random US-shaped E.164 numbers so tests never share senders or recipients."""

    def make() -> str:
        return "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))

    return make

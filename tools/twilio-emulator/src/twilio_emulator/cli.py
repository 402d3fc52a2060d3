"""``twilio-emulator`` command line: serve, seed, inbound, reset."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from aiohttp import web

from twilio_emulator.app import create_app
from twilio_emulator.context import CTX
from twilio_emulator.control import SeedDocument, apply_seed
from twilio_emulator.settings import EmulatorSettings
from twilio_emulator.testing import EmulatorControl

log = logging.getLogger("twilio_emulator")

cli = typer.Typer(help="Twilio emulator for byosms (REST API subset + signed webhooks).", no_args_is_help=True)

UrlOption = Annotated[str, typer.Option("--url", envvar="TWILIO_EMULATOR_URL", help="Emulator base URL")]


def _load_seed(path: Path) -> SeedDocument:
    return SeedDocument.model_validate_json(path.read_text(encoding="utf-8"))


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8099,
    seed_file: Annotated[Path | None, typer.Option(help="JSON seed document applied at start")] = None,
    public_base_url: Annotated[str | None, typer.Option(help="Base URL for absolute links")] = None,
    status_step_delay: Annotated[float, typer.Option(help="Seconds between status changes")] = 0.02,
    log_level: Annotated[str, typer.Option(help="Python log level")] = "INFO",
) -> None:
    """Run the emulator until interrupted."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = EmulatorSettings(
        host=host, port=port, public_base_url=public_base_url, status_step_delay_s=status_step_delay
    )
    app = create_app(settings)
    if seed_file is not None:
        apply_seed(app[CTX], _load_seed(seed_file))
    log.info("twilio emulator listening on http://%s:%d", host, port)
    web.run_app(app, host=host, port=port, print=None)


@cli.command()
def seed(
    file: Annotated[Path, typer.Argument(help="JSON seed document (accounts, services, phone_numbers, ...)")],
    url: UrlOption = "http://127.0.0.1:8099",
) -> None:
    """Apply a seed document to a running emulator."""
    document = _load_seed(file)

    async def run() -> None:
        async with EmulatorControl(url) as control:
            typer.echo(json.dumps(await control.seed(document), indent=2))

    asyncio.run(run())


@cli.command()
def inbound(
    from_: Annotated[str, typer.Option("--from", help="Customer number (E.164)")],
    to: Annotated[str, typer.Option("--to", help="Twilio number or short code")],
    body: Annotated[str, typer.Option(help="Message text")] = "",
    media_url: Annotated[list[str] | None, typer.Option(help="Media URL (repeatable)")] = None,
    url: UrlOption = "http://127.0.0.1:8099",
) -> None:
    """Simulate a customer SMS/MMS; prints the MessageSid and the status the webhook target answered."""

    async def run() -> None:
        async with EmulatorControl(url) as control:
            media: list[tuple[str | None, str]] = [(m, "image/jpeg") for m in media_url or []]
            result = await control.inbound(from_, to, body, media=media)
            typer.echo(result.model_dump_json(indent=2))

    asyncio.run(run())


@cli.command()
def reset(url: UrlOption = "http://127.0.0.1:8099") -> None:
    """Clear all emulator state."""

    async def run() -> None:
        async with EmulatorControl(url) as control:
            await control.reset()

    asyncio.run(run())


def main() -> None:
    cli()

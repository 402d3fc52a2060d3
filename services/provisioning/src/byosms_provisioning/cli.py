"""``byosms-provisioning``: run the service, apply migrations, rotate KEKs, write the OpenAPI contract."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from byosms_common.crypto import CryptoError
from byosms_common.db import apply_migrations, create_pool, load_migrations
from byosms_common.logs import configure_logging
from byosms_common.migrate_cli import migrate_main
from byosms_common.settings import DatabaseSettings, KeyringSettings, TelemetrySettings, describe_settings_error
from byosms_provisioning import openapi
from byosms_provisioning.app import SCHEMA, SERVICE, load_settings, serve
from byosms_provisioning.integrations import credential_sealing, repo, rotation
from byosms_provisioning.settings import SealingKeySettings

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _fail(message: str) -> None:
    typer.echo(f"byosms-provisioning: {message}", err=True)
    raise typer.Exit(2)


@cli.command("serve")
def serve_command() -> None:
    """Run the admin API, the command consumer and the outbox relay."""
    try:
        settings = load_settings()
        settings.keyring.keyring()
        settings.sealing.keyring()
    except ValidationError as exc:
        _fail(f"invalid settings: {describe_settings_error(exc)}")
        return
    except CryptoError as exc:
        _fail(f"invalid key-encryption keys: {exc}")
        return
    except ValueError as exc:  # the sealing keys; the message names no key material
        _fail(f"invalid sealing keys (BYOSMS_PROVISIONING_SEALING_KEYS): {exc}")
        return
    configure_logging(settings.telemetry, SERVICE)
    asyncio.run(serve(settings))


@cli.command("migrate")
def migrate_command() -> None:
    """Apply the database migrations and exit."""

    migrate_main(SERVICE, SCHEMA, "byosms_provisioning")


@cli.command("rotate-keks")
def rotate_keks_command(
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="integrations per transaction")] = 200,
) -> None:
    """Re-wrap every data key under BYOSMS_ACTIVE_KEK (online; safe to re-run)."""
    configure_logging(TelemetrySettings(log_format="text"), SERVICE)

    async def run() -> tuple[int, dict[str, int]]:
        database = DatabaseSettings()
        keyring = KeyringSettings().keyring()
        pool = await create_pool(database.database_url.get_secret_value(), SCHEMA)
        try:
            await apply_migrations(pool, SCHEMA, load_migrations("byosms_provisioning"))
            changed = await rotation.rotate(pool, keyring, batch_size=batch_size)
            return changed, await repo.count_by_kek(pool)
        finally:
            await pool.close()

    try:
        changed, by_kek = asyncio.run(run())
    except ValidationError as exc:
        _fail(f"invalid settings: {describe_settings_error(exc)}")
        return
    except CryptoError as exc:
        _fail(f"cannot re-wrap: {exc}")
        return
    typer.echo(f"re-wrapped {changed} integrations; secrets per KEK now: {by_kek}")


@cli.command("sealing-keys")
def sealing_keys_command(
    generate: Annotated[
        str | None, typer.Option("--generate", metavar="KEY_ID", help="print a new private key as a config entry")
    ] = None,
) -> None:
    """Print the public keys platform services seal credential commands with (from
    BYOSMS_PROVISIONING_SEALING_KEYS), or with --generate a new private key to add there."""
    if generate is not None:
        private = credential_sealing.generate_private_key()
        typer.echo(json.dumps({generate: private}))
        typer.echo(f"public key of {generate}: {credential_sealing.public_key_b64(private)}", err=True)
        return
    try:
        settings = SealingKeySettings()
        keyring = settings.keyring()
    except (ValidationError, ValueError) as exc:
        _fail(f"invalid sealing keys (BYOSMS_PROVISIONING_SEALING_KEYS): {exc}")
        return
    if keyring is None:
        _fail("no sealing keys configured (BYOSMS_PROVISIONING_SEALING_KEYS)")
        return
    typer.echo(json.dumps({"active": keyring.active, "public_keys": keyring.public_keys()}, indent=2))


@cli.command("write-openapi")
def write_openapi_command(
    path: Annotated[Path, typer.Argument(help="where to write the document")] = openapi.CONTRACT_PATH,
) -> None:
    """Write the admin API's OpenAPI document (contracts/openapi/provisioning.json)."""
    typer.echo(f"wrote {openapi.write(path)}")


def main() -> None:
    cli(prog_name="byosms-provisioning")


if __name__ == "__main__":
    main()

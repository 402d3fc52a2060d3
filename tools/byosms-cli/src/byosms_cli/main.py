"""``byosms``: development tokens for the local stack, and the integrations admin API from a shell."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from byosms_cli import api, devkeys

ALL_PERMISSIONS = (
    "integrations:integration:add",
    "integrations:integration:view",
    "integrations:integration:edit",
    "integrations:integration:delete",
    "sms:phoneNumber:all",
)

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
integrations = typer.Typer(no_args_is_help=True, help="Manage Twilio integrations through the admin API.")
cli.add_typer(integrations, name="integrations")
numbers = typer.Typer(no_args_is_help=True, help="Import numbers into the SMS number inventory.")
cli.add_typer(numbers, name="numbers")

KeyDir = Annotated[Path | None, typer.Option(help="key pair directory (default: <repo>/.run/dev-jwt)")]
ApiUrl = Annotated[str, typer.Option("--api", envvar="BYOSMS_API_URL", help="admin API base URL")]
Token = Annotated[str | None, typer.Option(envvar="BYOSMS_TOKEN", help="bearer token; default: a dev token for --org")]
Org = Annotated[str | None, typer.Option(envvar="BYOSMS_ORG", help="organization for a minted dev token")]
Language = Annotated[str | None, typer.Option("--lang", help="Accept-Language, e.g. de")]
DEFAULT_API = "http://127.0.0.1:8081"


@cli.command("dev-keys")
def dev_keys(
    key_dir: KeyDir = None,
    force: Annotated[bool, typer.Option(help="replace an existing key pair")] = False,
) -> None:
    """Create the development key pair and print the setting that makes the service trust it."""
    _, public = devkeys.ensure_keypair(key_dir or devkeys.default_key_dir(), force=force)
    typer.echo(f"export BYOSMS_PROVISIONING_JWT_PUBLIC_KEY_FILE={public}")


@cli.command("dev-token")
def dev_token(
    org: Annotated[str, typer.Option(help="organization id (claim 'org')")],
    permission: Annotated[
        list[str] | None, typer.Option("--permission", "-p", help="permission to grant; repeat; default: all")
    ] = None,
    sub: Annotated[str, typer.Option(help="user the token acts for (claim 'sub')")] = "dev@localhost",
    ttl: Annotated[int, typer.Option(min=60, max=86_400, help="lifetime in seconds")] = 3600,
    issuer: Annotated[str, typer.Option()] = devkeys.DEFAULT_ISSUER,
    audience: Annotated[str, typer.Option()] = devkeys.DEFAULT_AUDIENCE,
    key_dir: KeyDir = None,
) -> None:
    """Print a signed development token (creates the key pair on first use)."""
    private, _ = devkeys.ensure_keypair(key_dir or devkeys.default_key_dir())
    typer.echo(
        devkeys.mint_token(
            private.read_bytes(),
            organization_id=org,
            permissions=permission or ALL_PERMISSIONS,
            subject=sub,
            ttl_seconds=ttl,
            issuer=issuer,
            audience=audience,
        )
    )


def _token(token: str | None, org: str | None) -> str:
    if token:
        return token
    if not org:
        typer.echo("byosms: pass --token (or BYOSMS_TOKEN), or --org to mint a dev token", err=True)
        raise typer.Exit(2)
    private, _ = devkeys.ensure_keypair(devkeys.default_key_dir())
    return devkeys.mint_token(private.read_bytes(), organization_id=org, permissions=ALL_PERMISSIONS, subject="cli")


def _run(
    url: str, token: str | None, org: str | None, method: str, path: str, body: Any = None, lang: str | None = None
) -> None:
    try:
        result = api.call(url, _token(token, org), method, path, body, language=lang)
    except api.ApiUnreachableError as exc:
        typer.echo(f"byosms: {exc} (is the stack up? `make up`)", err=True)
        raise typer.Exit(2) from None
    if result.body is not None:
        typer.echo(json.dumps(result.body, indent=2, ensure_ascii=False), err=not result.ok)
    if not result.ok:
        raise typer.Exit(1)


BASE = "/api/v2/integrations"


@integrations.command("list")
def list_(
    url: ApiUrl = DEFAULT_API,
    token: Token = None,
    org: Org = None,
    status: Annotated[str | None, typer.Option(help="active or inactive")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option()] = None,
    lang: Language = None,
) -> None:
    """List integrations."""
    query = f"?limit={limit}" + (f"&status={status}" if status else "") + (f"&cursor={cursor}" if cursor else "")
    _run(url, token, org, "GET", BASE + query, lang=lang)


@integrations.command("get")
def get(
    integration_id: str, url: ApiUrl = DEFAULT_API, token: Token = None, org: Org = None, lang: Language = None
) -> None:
    """Show one integration."""
    _run(url, token, org, "GET", f"{BASE}/{integration_id}", lang=lang)


@integrations.command("create")
def create(
    name: Annotated[str, typer.Option()],
    region: Annotated[str, typer.Option(help="home region id, e.g. eu-central-1")],
    notes: Annotated[str, typer.Option()] = "",
    request_id: Annotated[
        str | None, typer.Option(help="idempotency key: repeating the create with it returns the same integration")
    ] = None,
    url: ApiUrl = DEFAULT_API,
    token: Token = None,
    org: Org = None,
    lang: Language = None,
) -> None:
    """Create an integration (inactive until credentials are set and it is activated); the service picks its id."""
    body = {"name": name, "region": region, "notes": notes}
    if request_id:
        body["request_id"] = request_id
    _run(url, token, org, "POST", BASE, body, lang)


@integrations.command("update")
def update(
    integration_id: str,
    name: Annotated[str | None, typer.Option()] = None,
    notes: Annotated[str | None, typer.Option()] = None,
    url: ApiUrl = DEFAULT_API,
    token: Token = None,
    org: Org = None,
    lang: Language = None,
) -> None:
    """Edit name and/or notes."""
    body = {k: v for k, v in {"name": name, "notes": notes}.items() if v is not None}
    _run(url, token, org, "PATCH", f"{BASE}/{integration_id}", body, lang)


@integrations.command("set-credentials")
def set_credentials(
    integration_id: str,
    account_sid: Annotated[str, typer.Option()],
    shared_key: Annotated[
        bool,
        typer.Option(
            "--shared-key",
            help="also set a Twilio SharedKey secret, read from BYOSMS_TWILIO_SHARED_KEY, --shared-key-file "
            "or a hidden prompt (never from the command line)",
        ),
    ] = False,
    shared_key_file: Annotated[
        Path | None,
        typer.Option(help="file holding the SharedKey secret (implies --shared-key)", exists=True, dir_okay=False),
    ] = None,
    url: ApiUrl = DEFAULT_API,
    token: Token = None,
    org: Org = None,
    lang: Language = None,
) -> None:
    """Set the Twilio Account SID and primary Auth Token (read from BYOSMS_TWILIO_AUTH_TOKEN or a prompt,
    never from the command line, where other users could see it). Secondary auth tokens are not supported."""
    auth_token = os.environ.get("BYOSMS_TWILIO_AUTH_TOKEN") or typer.prompt("Twilio Auth Token", hide_input=True)
    body = {"account_sid": account_sid, "auth_token": auth_token}
    if shared_key or shared_key_file is not None:
        body["shared_key"] = _read_shared_key(shared_key_file)
    _run(url, token, org, "PUT", f"{BASE}/{integration_id}/credentials", body, lang)


def _read_shared_key(path: Path | None) -> str:
    """The SharedKey secret from a file, the environment, or a prompt that does not echo it."""
    if path is not None:
        value = path.read_text().strip()
        if not value:
            typer.echo(f"byosms: {path} is empty", err=True)
            raise typer.Exit(2)
        return value
    return os.environ.get("BYOSMS_TWILIO_SHARED_KEY") or typer.prompt("Twilio SharedKey", hide_input=True)


@integrations.command("activate")
def activate(
    integration_id: str, url: ApiUrl = DEFAULT_API, token: Token = None, org: Org = None, lang: Language = None
) -> None:
    """Activate an integration."""
    _run(url, token, org, "POST", f"{BASE}/{integration_id}/activate", lang=lang)


@integrations.command("deactivate")
def deactivate(
    integration_id: str, url: ApiUrl = DEFAULT_API, token: Token = None, org: Org = None, lang: Language = None
) -> None:
    """Deactivate an integration (its numbers become inactive)."""
    _run(url, token, org, "POST", f"{BASE}/{integration_id}/deactivate", lang=lang)


@integrations.command("delete")
def delete(
    integration_id: str, url: ApiUrl = DEFAULT_API, token: Token = None, org: Org = None, lang: Language = None
) -> None:
    """Delete an integration (its numbers are removed from the inventory)."""
    _run(url, token, org, "DELETE", f"{BASE}/{integration_id}", lang=lang)


IMPORTS = "/api/v2/sms/numbers/imports"
NUMBER_TYPES = ("local", "mobile", "tollfree", "shortcode")


@numbers.command("import")
def import_number(
    integration_id: Annotated[str, typer.Option("--integration", help="integration the number belongs to")],
    sender_id: Annotated[str, typer.Option(help="E.164 number, or the short code's digits")],
    number_type: Annotated[str, typer.Option("--type", help="local, mobile, tollfree or shortcode")],
    country: Annotated[str | None, typer.Option(help="ISO 3166 alpha-2; required for short codes")] = None,
    compliance_file: Annotated[
        Path | None,
        typer.Option(
            help="JSON file with help / opt_out / re_opt_in blocks ({keywords: [...], message}) for short codes",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    url: ApiUrl = DEFAULT_API,
    token: Token = None,
    org: Org = None,
    lang: Language = None,
) -> None:
    """Start importing a number (answers the import id; follow it with `byosms numbers import-status`)."""
    if number_type not in NUMBER_TYPES:
        typer.echo(f"byosms: --type must be one of {', '.join(NUMBER_TYPES)}", err=True)
        raise typer.Exit(2)
    body: dict[str, Any] = {"integration_id": integration_id, "type": number_type, "sender_id": sender_id}
    if country:
        body["country"] = country
    if compliance_file is not None:
        try:
            body["compliance"] = json.loads(compliance_file.read_text())
        except json.JSONDecodeError as exc:
            typer.echo(f"byosms: {compliance_file} is not JSON ({exc.msg}, line {exc.lineno})", err=True)
            raise typer.Exit(2) from None
    _run(url, token, org, "POST", IMPORTS, body, lang)


@numbers.command("import-status")
def import_status(
    import_id: str, url: ApiUrl = DEFAULT_API, token: Token = None, org: Org = None, lang: Language = None
) -> None:
    """Show an import: in progress, imported (with the number) or rejected (with the reason)."""
    _run(url, token, org, "GET", f"{IMPORTS}/{import_id}", lang=lang)


def main() -> None:
    cli(prog_name="byosms")

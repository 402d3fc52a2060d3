"""``byosms``: development tokens for the local stack, and the admin API from a shell (integrations, the SMS
number inventory, message traces). Lists print as tables, a refusal as one line in your language
(--lang, else your locale) with a non-zero exit code; --json prints the API's documents as they are."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import typer

from byosms_cli import api, devkeys, render

ALL_PERMISSIONS = (
    "integrations:integration:add",
    "integrations:integration:view",
    "integrations:integration:edit",
    "integrations:integration:delete",
    "sms:phoneNumber:all",
)
Show = Callable[[Any], None]

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
integrations = typer.Typer(no_args_is_help=True, help="Manage Twilio integrations through the admin API.")
cli.add_typer(integrations, name="integrations")
numbers = typer.Typer(no_args_is_help=True, help="The SMS number inventory: import, list, show, remove, route.")
cli.add_typer(numbers, name="numbers")
messages = typer.Typer(no_args_is_help=True, help="What happened to a message.")
cli.add_typer(messages, name="messages")

KeyDir = Annotated[Path | None, typer.Option(help="key pair directory (default: <repo>/.run/dev-jwt)")]
ApiUrl = Annotated[str, typer.Option("--api", envvar="BYOSMS_API_URL", help="admin API base URL")]
Token = Annotated[str | None, typer.Option(envvar="BYOSMS_TOKEN", help="bearer token; default: a dev token for --org")]
Org = Annotated[str | None, typer.Option(envvar="BYOSMS_ORG", help="organization for a minted dev token")]
Language = Annotated[str | None, typer.Option("--lang", help="Accept-Language, e.g. de (default: your locale)")]
Raw = Annotated[bool, typer.Option("--json", help="print the API's JSON documents as they are")]
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


def _call(
    url: str, token: str | None, org: str | None, method: str, path: str, body: Any = None, lang: str | None = None
) -> api.ApiResult:
    try:
        return api.call(
            url, _token(token, org), method, path, body, language=lang or render.language_from_environment()
        )
    except api.ApiUnreachableError as exc:
        typer.echo(f"byosms: {exc} (is the stack up? `make up`)", err=True)
        raise typer.Exit(2) from None


def _run(
    url: str,
    token: str | None,
    org: str | None,
    method: str,
    path: str,
    body: Any = None,
    lang: str | None = None,
    *,
    show: Show | None = None,
    raw: bool = False,
) -> Any:
    """Call the API; show the answer (``show``, or its JSON), or the refusal as one line and exit 1."""
    result = _call(url, token, org, method, path, body, lang)
    if not result.ok:
        if raw:
            typer.echo(json.dumps(result.body, indent=2, ensure_ascii=False), err=True)
        else:
            typer.echo(render.problem_line(result.status, result.body), err=True)
        raise typer.Exit(1)
    if result.body is not None:
        if show is None or raw:
            typer.echo(json.dumps(result.body, indent=2, ensure_ascii=False))
        else:
            show(result.body)
    return result.body


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
    raw: Raw = False,
) -> None:
    """List integrations."""
    query = f"?limit={limit}" + (f"&status={status}" if status else "") + (f"&cursor={cursor}" if cursor else "")
    columns = (("ID", "id"), ("NAME", "name"), ("REGION", "region"), ("STATUS", "status"), ("ACCOUNT", "account_sid"))
    _run(url, token, org, "GET", BASE + query, lang=lang, show=lambda page: _page(page, columns), raw=raw)


def _page(page: dict[str, Any], columns: Sequence[render.Column], prepare: Callable[[Any], Any] = dict) -> None:
    out = render.console()
    out.print(render.table([prepare(i) for i in page.get("items", [])], columns))
    if page.get("next_cursor"):
        out.print(f"more: --cursor {page['next_cursor']}")


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


NUMBERS = "/api/v2/sms/numbers"
MESSAGES = "/api/v2/sms/messages"


def _number_id(number_id: str) -> str:
    return quote(number_id, safe="")


def _show_number(number: dict[str, Any]) -> None:
    render.console().print(render.fields(render.number_row(number), render.NUMBER_FIELDS))


@numbers.command("list")
def list_numbers(
    integration: Annotated[str | None, typer.Option(help="only this integration's numbers")] = None,
    state: Annotated[str | None, typer.Option(help="active, inactive or removed-recently")] = None,
    number_type: Annotated[str | None, typer.Option("--type", help="local, mobile, tollfree or shortcode")] = None,
    prefix: Annotated[str | None, typer.Option(help="address prefix, e.g. +4930 or US:")] = None,
    target: Annotated[str | None, typer.Option(help="only numbers bound to this routing target")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option()] = None,
    url: ApiUrl = DEFAULT_API,
    token: Token = None,
    org: Org = None,
    lang: Language = None,
    raw: Raw = False,
) -> None:
    """List the numbers of the inventory (active and inactive unless --state says otherwise)."""
    query = {
        "limit": limit,
        "integration_id": integration,
        "state": state,
        "type": number_type,
        "address_prefix": prefix,
        "routing_target": target,
        "cursor": cursor,
    }
    path = f"{NUMBERS}?{urlencode({k: v for k, v in query.items() if v is not None})}"

    def show(page: Any) -> None:
        _page(page, render.NUMBER_COLUMNS, render.number_row)

    _run(url, token, org, "GET", path, lang=lang, show=show, raw=raw)


@numbers.command("show")
def show_number(
    number_id: str,
    url: ApiUrl = DEFAULT_API,
    token: Token = None,
    org: Org = None,
    lang: Language = None,
    raw: Raw = False,
) -> None:
    """Show one number: state, routing target (and where it comes from), warnings, its latest action."""
    _run(url, token, org, "GET", f"{NUMBERS}/{_number_id(number_id)}", lang=lang, show=_show_number, raw=raw)


@numbers.command("remove")
def remove_number(
    number_id: str,
    url: ApiUrl = DEFAULT_API,
    token: Token = None,
    org: Org = None,
    lang: Language = None,
    raw: Raw = False,
) -> None:
    """Remove a number from the inventory (asynchronous; Twilio is not touched; it can be imported again)."""

    def show(number: dict[str, Any]) -> None:
        action = number.get("latest_action") or {}
        typer.echo(f"Removal of {number['address']}: {action.get('state', 'running')} (see `byosms numbers show`)")

    _run(url, token, org, "DELETE", f"{NUMBERS}/{_number_id(number_id)}", lang=lang, show=show, raw=raw)


@numbers.command("route")
def route_number(
    number_id: str,
    target: Annotated[str | None, typer.Option(help="queue or inbound flow id")] = None,
    clear: Annotated[
        bool, typer.Option(help="remove the number's own target (its integration's default applies)")
    ] = False,
    version: Annotated[int | None, typer.Option(help="the version you read (default: the current one)")] = None,
    url: ApiUrl = DEFAULT_API,
    token: Token = None,
    org: Org = None,
    lang: Language = None,
    raw: Raw = False,
) -> None:
    """Bind a number to a routing target (or --clear it)."""
    if (target is None) == (not clear):
        typer.echo("byosms: pass --target or --clear", err=True)
        raise typer.Exit(2)
    path = f"{NUMBERS}/{_number_id(number_id)}"
    if version is None:
        current = _call(url, token, org, "GET", path, lang=lang)
        if not current.ok:
            typer.echo(render.problem_line(current.status, current.body), err=True)
            raise typer.Exit(1)
        version = int(current.body["version"])

    def show(number: dict[str, Any]) -> None:
        effective = number.get("effective_routing_target") or {}
        typer.echo(
            f"{number['address']}: routed to {effective.get('target') or 'nowhere (no_route)'}"
            f" (from {effective.get('from') or '-'}, version {number['version']})"
        )

    _run(url, token, org, "PATCH", path, {"version": version, "routing_target": target}, lang, show=show, raw=raw)


@messages.command("trace")
def trace_message(
    sid: str, url: ApiUrl = DEFAULT_API, token: Token = None, org: Org = None, lang: Language = None, raw: Raw = False
) -> None:
    """What happened to a message (its MessageSid, or an outbound message's id), step by step."""

    def show(trace: dict[str, Any]) -> None:
        out = render.console()
        out.print(f"{trace.get('direction')} message {trace.get('message_sid') or trace.get('message_id')}")
        out.print(render.table(render.trace_rows(trace), render.TRACE_COLUMNS))

    _run(url, token, org, "GET", f"{MESSAGES}/{quote(sid, safe='')}", lang=lang, show=show, raw=raw)


def main() -> None:
    cli(prog_name="byosms")

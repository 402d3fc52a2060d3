"""``byosms-<service> migrate``: apply one service's migrations and exit (the chart's migration Job).

Exit 0 when the schema is at the release's version (also when nothing was left to apply), 1 when a
migration failed or the database could not be reached, 2 on invalid settings. The services then
start with ``BYOSMS_DATABASE_MIGRATE_ON_START=false`` and only check the version.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from byosms_common.db import migrate
from byosms_common.logs import configure_logging
from byosms_common.settings import DatabaseSettings, TelemetrySettings, load_or_exit

log = logging.getLogger(__name__)


def wants_migrate(argv: list[str] | None = None) -> bool:
    """Whether the command line is ``<program> migrate``."""
    return (sys.argv[1:] if argv is None else argv) == ["migrate"]


def migrate_main(service: str, schema: str, package: str) -> None:
    """Apply ``package``'s migrations to ``schema``, print what was applied, exit."""
    configure_logging(TelemetrySettings(), service)
    database = load_or_exit(service, DatabaseSettings)
    try:
        applied = asyncio.run(migrate(database, schema, package))
    except Exception as exc:  # noqa: BLE001 - one line for the Job's log, never the URL
        sys.stderr.write(
            f"byosms-{service}: migrations failed / Migrationen fehlgeschlagen: {type(exc).__name__}: {exc}\n"
        )
        raise SystemExit(1) from None
    sys.stdout.write(f"byosms-{service}: schema {schema} migrated; applied now: {applied or 'none'}\n")

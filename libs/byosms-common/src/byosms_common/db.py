"""PostgreSQL helpers: a connection pool and forward-only migrations owned by one service.

Each service owns one PostgreSQL schema named after it (``provisioning``, ``inventory``,
``routing``) in the database of ``BYOSMS_DATABASE_URL`` (or a database of its own: the schema is
the unit of ownership). It keeps its migrations as ``NNNN_name.sql`` files in its own package and
its own ``<schema>.schema_migrations`` table; its pool's ``search_path`` is its schema, and no
service reads another's tables.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

from byosms_common.settings import DatabaseSettings

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# An arbitrary constant so two replicas starting at once do not both migrate.
_MIGRATION_LOCK = 727_372_001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(Exception):
    """The migrations on disk and the ones applied to the database disagree."""


def load_migrations(package: str, folder: str = "migrations") -> list[Migration]:
    """Migrations shipped as package data, ordered by version."""
    root: Traversable = resources.files(package).joinpath(folder)
    found: list[Migration] = []
    for entry in root.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"two migrations of {package} share a version number")
    return found


async def apply_migrations(pool: asyncpg.Pool, schema: str, migrations: list[Migration]) -> list[int]:
    """Apply the migrations not yet applied, each in its own transaction; return the versions applied."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", schema):
        raise MigrationError(f"invalid schema name {schema!r}")
    applied_now: list[int] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            await conn.execute(f"SET search_path TO {schema}")
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
            done = {r["version"]: r for r in rows}
            for migration in migrations:
                previous = done.get(migration.version)
                if previous is not None:
                    if previous["checksum"] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.name} changed after it was applied; add a new one instead"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
                log.info("applied migration %s", migration.name)
                applied_now.append(migration.version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset when a connection goes back to the pool (asyncpg still rolls back a
    transaction left open). The services keep no session state: no session-level ``SET``, ``LISTEN``,
    cursors or advisory locks (``apply_migrations`` releases its own), so asyncpg's default reset (a
    ``RESET ALL``/``UNLISTEN``/unlock query) would only cost a round trip on every release — measured:
    a tenth of routing's CPU on its outbound path."""


async def create_pool(url: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections work in ``schema``; raises if the database cannot be reached."""
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        command_timeout=30,
        server_settings={"search_path": schema, "application_name": f"byosms-{schema}"},
        reset=_keep_session,
    )
    assert pool is not None
    return pool


class NotMigratedError(MigrationError):
    """The schema lacks migrations of this release (the migration Job has not run yet)."""


async def require_migrated(pool: asyncpg.Pool, schema: str, migrations: list[Migration]) -> None:
    """Raise :class:`NotMigratedError` unless every migration of ``migrations`` is applied to ``schema``
    (with the same checksum); newer ones applied by a later release are fine (expand-only)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", schema):
        raise MigrationError(f"invalid schema name {schema!r}")
    async with pool.acquire() as conn:
        exists = await conn.fetchval("SELECT to_regclass($1)", f"{schema}.schema_migrations")
        query = f"SELECT version, checksum FROM {schema}.schema_migrations"  # noqa: S608 - checked name
        rows = await conn.fetch(query) if exists else []
    applied = {r["version"]: r["checksum"] for r in rows}
    missing = [m.name for m in migrations if m.version not in applied]
    if missing:
        raise NotMigratedError(f"schema {schema} lacks migrations {', '.join(missing)}: run the service's migrate")
    changed = [m.name for m in migrations if applied[m.version] != m.checksum]
    if changed:
        raise MigrationError(f"migrations {', '.join(changed)} differ from the ones applied to {schema}")


async def migrate(settings: DatabaseSettings, schema: str, package: str) -> list[int]:
    """Apply ``package``'s migrations to ``schema`` (the ``migrate`` command); the versions applied."""
    pool = await create_pool(settings.database_url.get_secret_value(), schema, min_size=1, max_size=1)
    try:
        return await apply_migrations(pool, schema, load_migrations(package))
    finally:
        await pool.close()


async def open_migrated_pool(settings: DatabaseSettings, schema: str, package: str) -> asyncpg.Pool:
    """A pool for ``schema`` with ``package``'s migrations applied (or, with
    ``database_migrate_on_start`` false, checked to be applied); nothing left open on failure."""
    pool = await create_pool(
        settings.database_url.get_secret_value(),
        schema,
        min_size=settings.database_pool_min,
        max_size=settings.database_pool_max,
    )
    try:
        if settings.database_migrate_on_start:
            await apply_migrations(pool, schema, load_migrations(package))
        else:
            await require_migrated(pool, schema, load_migrations(package))
    except BaseException:
        await pool.close()
        raise
    return pool

"""The migration Job's command and the services' start without migrating, on a database of its own:
``byosms-<service> migrate`` applies the migrations and exits; a service told not to migrate at start
(BYOSMS_DATABASE_MIGRATE_ON_START=false) refuses a schema that lacks them and accepts it once migrated."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from byosms_common.db import NotMigratedError, load_migrations, open_migrated_pool
from byosms_common.settings import DatabaseSettings

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def _run(command: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BYOSMS_DATABASE_URL": database_url, "BYOSMS_LOG_FORMAT": "text"}
    return subprocess.run([str(BIN / command), "migrate"], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    name = "migrate_" + uuid.uuid4().hex[:10]
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        parts = urlsplit(database_url)
        yield urlunsplit(parts._replace(path="/" + name))
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


@pytest.mark.parametrize(("command", "schema", "package"), [
    ("byosms-inventory", "inventory", "byosms_inventory"),
    ("byosms-routing", "routing", "byosms_routing"),
    ("byosms-provisioning", "provisioning", "byosms_provisioning"),
])  # fmt: skip
async def test_migrate_applies_everything_and_a_service_not_migrating_waits_for_it(
    fresh_database: str, command: str, schema: str, package: str
) -> None:
    settings = DatabaseSettings(database_url=fresh_database, database_migrate_on_start=False)
    with pytest.raises(NotMigratedError, match="run the service's migrate"):
        await open_migrated_pool(settings, schema, package)

    done = await asyncio.to_thread(_run, command, fresh_database)
    assert done.returncode == 0, done.stderr
    assert f"schema {schema} migrated" in done.stdout
    again = await asyncio.to_thread(_run, command, fresh_database)
    assert again.returncode == 0, again.stderr
    assert "applied now: none" in again.stdout

    pool = await open_migrated_pool(settings, schema, package)
    try:
        versions = await pool.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in versions] == [m.version for m in load_migrations(package)]
    finally:
        await pool.close()


def test_migrate_without_a_reachable_database_fails_without_the_url() -> None:
    done = _run("byosms-inventory", "postgresql://byosms:s3cret-pw@127.0.0.1:1/byosms")
    assert done.returncode == 1
    assert "migrations failed / Migrationen fehlgeschlagen" in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout

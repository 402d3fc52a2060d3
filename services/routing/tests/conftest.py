"""Fixtures shared by routing's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from byosms_common.db import open_migrated_pool
from byosms_common.settings import DatabaseSettings
from byosms_routing.app import SCHEMA


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on routing's schema, migrations applied."""
    opened = await open_migrated_pool(
        DatabaseSettings(database_url=database_url),  # type: ignore[arg-type]
        SCHEMA,
        "byosms_routing",
    )
    try:
        yield opened
    finally:
        await opened.close()

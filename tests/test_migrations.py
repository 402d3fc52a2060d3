"""Every service's migrations load: no number used twice (two branches that each add "the next"
migration collide here, in CI, not when the service starts)."""

from __future__ import annotations

import pytest

from byosms_common.db import load_migrations


@pytest.mark.parametrize("package", ["byosms_provisioning", "byosms_inventory", "byosms_routing"])
def test_no_two_migrations_share_a_number(package: str) -> None:
    versions = [m.version for m in load_migrations(package)]  # raises MigrationError on a repeat
    assert versions == sorted(set(versions))
    assert versions[0] == 1

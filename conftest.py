"""Session fixtures shared by every package's tests: the real Kafka broker and PostgreSQL server.

With ``BYOSMS_KAFKA_BOOTSTRAP`` and ``BYOSMS_DATABASE_URL`` set, tests use those servers; otherwise
the test suite's own local stack is started (``byosms-stack up --test``: ``.run/test-stack`` on ports
19092/19093/55433), apart from the stack of ``make up`` so the demo services never take the tests'
commands. A stack that cannot be started fails the
integration tests; it never skips them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import settings

from byosms_devstack import ensure_stack
from byosms_devstack.settings import test_stack_settings

# Property tests draw the same examples on every run, so a CI run cannot fail by chance; run with
# HYPOTHESIS_PROFILE=explore to search new examples (and fix what they find).
settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@dataclass(frozen=True)
class Servers:
    kafka_bootstrap: str
    database_url: str


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    kafka = os.environ.get("BYOSMS_KAFKA_BOOTSTRAP")
    database = os.environ.get("BYOSMS_DATABASE_URL")
    if not (kafka and database):
        info = ensure_stack(test_stack_settings())
        kafka = kafka or info.kafka_bootstrap
        database = database or info.database_url
    previous = {k: os.environ.get(k) for k in ("BYOSMS_KAFKA_BOOTSTRAP", "BYOSMS_DATABASE_URL")}
    os.environ["BYOSMS_KAFKA_BOOTSTRAP"] = kafka
    os.environ["BYOSMS_DATABASE_URL"] = database
    yield Servers(kafka, database)
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def kafka_bootstrap(servers: Servers) -> str:
    return servers.kafka_bootstrap


@pytest.fixture(scope="session")
def database_url(servers: Servers) -> str:
    return servers.database_url


@pytest.fixture(autouse=True)
def _servers_for_integration_tests(request: pytest.FixtureRequest) -> None:
    """Integration and end-to-end tests always run with the servers configured in the environment."""
    if request.node.get_closest_marker("integration") or request.node.get_closest_marker("e2e"):
        request.getfixturevalue("servers")

"""The local broker's cluster id never starts with '-', which `kafka-storage format` would take for an option."""

from __future__ import annotations

import uuid

import pytest

from byosms_devstack import kafka_config

pytestmark = pytest.mark.unit


def test_an_id_that_would_start_with_a_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x10" * 16)])
    monkeypatch.setattr(kafka_config.uuid, "uuid4", lambda: next(draws))
    cluster_id = kafka_config.new_cluster_id()
    assert not cluster_id.startswith("-")
    assert len(cluster_id) == 22


def test_ids_are_never_dashed_at_the_start() -> None:
    assert not any(kafka_config.new_cluster_id().startswith("-") for _ in range(2000))

"""The topic check's verdicts: which differences of an existing topic break a guarantee (errors) and
which only cost headroom (warnings); dead-letter topics get an explicit retention."""

from __future__ import annotations

import pytest

from byosms_common.topic_check import ExistingTopic, TopicPlan, WantedTopic, check, plan, wanted_from_code
from byosms_common.topics import ALL_TOPICS

pytestmark = pytest.mark.unit

RETENTION = 14 * 24 * 3600 * 1000


def _plans() -> dict[str, TopicPlan]:
    return {p.name: p for p in plan(wanted_from_code(), min_insync_replicas=2, dead_letter_retention_ms=RETENTION)}


def _fitting(want: TopicPlan, **changes: object) -> ExistingTopic:
    configs = dict(want.configs)
    configs.update({k.replace("_", "."): str(v) for k, v in changes.pop("configs", {}).items()})  # type: ignore[attr-defined]
    base = {"name": want.name, "partitions": want.partitions, "replication_factor": 3, "configs": configs}
    return ExistingTopic(**{**base, **changes})  # type: ignore[arg-type]


def _levels(want: TopicPlan, have: ExistingTopic) -> list[tuple[str, str]]:
    return [(f.level, f.message) for f in check(want, have, replication_factor=3)]


def test_plan_has_every_topic_and_dead_letter_with_explicit_retention() -> None:
    plans = _plans()
    for spec in ALL_TOPICS:
        assert plans[spec.name].configs["cleanup.policy"] == ("compact" if spec.compacted else "delete")
        assert plans[spec.name].configs["min.insync.replicas"] == "2"
        if spec.has_dead_letter:
            dead = plans[spec.dead_letter]
            assert dead.configs == {
                "cleanup.policy": "delete",
                "retention.ms": str(RETENTION),
                "min.insync.replicas": "2",
                "unclean.leader.election.enable": "false",
            }
            assert dead.partitions == spec.partitions
        else:
            assert spec.dead_letter not in plans


def test_a_topic_as_created_has_no_findings() -> None:
    for want in _plans().values():
        assert _levels(want, _fitting(want)) == []


def test_a_state_topic_without_compaction_is_an_error() -> None:
    want = _plans()["byosms.numbers.state.v1"]
    ((level, message),) = _levels(want, _fitting(want, configs={"cleanup_policy": "delete"}))
    assert level == "error"
    assert "compact" in message


def test_compaction_on_an_event_topic_is_an_error() -> None:
    want = _plans()["byosms.sms.inbound.v1"]
    assert [lv for lv, _ in _levels(want, _fitting(want, configs={"cleanup_policy": "compact,delete"}))] == ["error"]


@pytest.mark.parametrize(
    ("changes", "level"),
    [
        ({"replication_factor": 2}, "error"),
        ({"configs": {"min_insync_replicas": 1}}, "error"),
        ({"configs": {"min_insync_replicas": 4}}, "error"),  # above the replica count: no write succeeds
        ({"configs": {"min_insync_replicas": 3}}, "warning"),
        ({"configs": {"unclean_leader_election_enable": "true"}}, "error"),
        ({"partitions": 2}, "warning"),
        ({"partitions": 12}, "warning"),
    ],
)
def test_levels_of_other_differences(changes: dict[str, object], level: str) -> None:
    want = _plans()["byosms.sms.outbound.commands.v1"]
    assert [lv for lv, _ in _levels(want, _fitting(want, **changes))] == [level]


def test_dead_letter_retention_other_than_wanted_is_a_warning() -> None:
    want = _plans()["byosms.sms.inbound.v1.dlt"]
    ((level, message),) = _levels(want, _fitting(want, configs={"retention_ms": 604800000}))
    assert level == "warning"
    assert str(RETENTION) in message


def test_chart_items_parse_with_their_camel_case_key() -> None:
    item = WantedTopic.model_validate({"name": "a.b", "partitions": 3, "compacted": False, "deadLetter": True})
    assert item.dead_letter
    with pytest.raises(ValueError, match="partitions"):
        WantedTopic.model_validate({"name": "a.b", "partitions": 0})

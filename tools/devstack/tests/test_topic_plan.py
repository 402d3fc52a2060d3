import pytest

from byosms_common.topics import ALL_TOPICS, all_topic_names, by_name
from byosms_devstack.topic_plan import plan_topics

pytestmark = pytest.mark.unit


def test_every_topic_and_dead_letter_topic_is_planned_once() -> None:
    names = [t.name for t in plan_topics()]
    assert sorted(names) == sorted(all_topic_names())
    assert len(names) == len(set(names))


def test_partitions_and_compaction_follow_the_specs() -> None:
    for topic in plan_topics():
        source = by_name(topic.name.removesuffix(".dlt"))
        assert topic.partitions == source.partitions
        compact = topic.configs.get("cleanup.policy") == "compact"
        assert compact == (source.compacted and topic.name == source.name)


def test_compacted_state_topics_exist() -> None:
    compacted = {t.name for t in plan_topics() if t.configs.get("cleanup.policy") == "compact"}
    assert compacted == {s.name for s in ALL_TOPICS if s.compacted}

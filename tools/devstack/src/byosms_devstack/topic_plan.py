"""Which topics the local broker must have: every byosms topic plus its dead-letter topic."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from byosms_common.topics import ALL_TOPICS, TopicSpec

LOCAL_REPLICATION_FACTOR = 1


@dataclass(frozen=True, slots=True)
class PlannedTopic:
    """A topic to create: name, partition count and topic-level configs."""

    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def plan_topics(specs: Iterable[TopicSpec] = ALL_TOPICS) -> list[PlannedTopic]:
    """Topics in creation order. A dead-letter topic keeps its source's partition count so a poison
    record's partition maps 1:1, and is never compacted: every dead record must stay."""
    planned: list[PlannedTopic] = []
    for spec in specs:
        configs = {"cleanup.policy": "compact"} if spec.compacted else {}
        planned.append(PlannedTopic(spec.name, spec.partitions, configs))
    planned.extend(PlannedTopic(s.dead_letter, s.partitions) for s in specs if s.has_dead_letter)
    return planned

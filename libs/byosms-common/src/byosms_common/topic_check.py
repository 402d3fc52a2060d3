"""What the byosms topics must look like, and how an existing topic falls short (pure; the topic
tool ``byosms-topics`` in ``topics_cli`` does the I/O).

An existing topic is never changed (raising partitions moves keys to other partitions, changing a
cleanup policy is an operator's decision), but it is checked. A finding is an **error** when the
topic breaks a guarantee byosms gives, a **warning** when it works with less headroom:

========================================  =========  ===============================================
Finding                                   Level      Why
========================================  =========  ===============================================
compacted topic without ``compact``       error      old states expire: caches lose integrations
event/command topic with ``compact``      error      records with the same key are deleted
replication factor below the wanted one   error      an acknowledged record lives on fewer brokers
``min.insync.replicas`` below the wanted  error      ``acks=all`` is answered by fewer copies
``min.insync.replicas`` above replicas    error      no write can ever succeed
``unclean.leader.election.enable=true``   error      a stale replica may become leader: loss
fewer partitions than wanted              warning    per-key order still holds; less parallelism
more partitions than wanted               warning    fine; the partition count is not lowered
``min.insync.replicas`` above the wanted  warning    more copies per write; fewer brokers may fail
dead-letter retention not the wanted one  warning    dead letters kept shorter or longer
========================================  =========  ===============================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from byosms_common.topics import ALL_TOPICS, DEAD_LETTER_SUFFIX, TopicSpec

Level = Literal["error", "warning"]


class WantedTopic(BaseModel):
    """One topic to have: the shape of the chart's ``kafka.topics.items`` entries."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    name: str = Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")
    partitions: int = Field(ge=1, le=10_000)
    compacted: bool = False
    dead_letter: bool = Field(default=False, alias="deadLetter")


def wanted_from_code(specs: Iterable[TopicSpec] = ALL_TOPICS) -> list[WantedTopic]:
    return [
        WantedTopic(name=s.name, partitions=s.partitions, compacted=s.compacted, dead_letter=s.has_dead_letter)
        for s in specs
    ]


@dataclass(frozen=True, slots=True)
class TopicPlan:
    """A topic to create or check, with the configs it is created with."""

    name: str
    partitions: int
    compacted: bool
    dead_letter: bool
    configs: dict[str, str] = field(default_factory=dict)


def plan(wanted: Sequence[WantedTopic], *, min_insync_replicas: int, dead_letter_retention_ms: int) -> list[TopicPlan]:
    """Every topic in creation order: the listed ones, then their dead-letter topics (same partition
    count, never compacted, an explicit retention rather than the broker's default)."""
    base = {"min.insync.replicas": str(min_insync_replicas), "unclean.leader.election.enable": "false"}
    plans = [
        TopicPlan(
            w.name,
            w.partitions,
            w.compacted,
            False,
            {**base, "cleanup.policy": "compact" if w.compacted else "delete"},
        )
        for w in wanted
    ]
    plans += [
        TopicPlan(
            w.name + DEAD_LETTER_SUFFIX,
            w.partitions,
            False,
            True,
            {**base, "cleanup.policy": "delete", "retention.ms": str(dead_letter_retention_ms)},
        )
        for w in wanted
        if w.dead_letter
    ]
    return plans


@dataclass(frozen=True, slots=True)
class ExistingTopic:
    """What the cluster says about a topic: partition count, the smallest replica count of its
    partitions and its effective configs (defaults included)."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    topic: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.topic}: {self.message}"


def check(want: TopicPlan, have: ExistingTopic, *, replication_factor: int) -> list[Finding]:
    """How ``have`` differs from ``want`` (see the module docstring for the levels)."""
    found: list[Finding] = []

    def say(level: Level, message: str) -> None:
        found.append(Finding(level, want.name, message))

    policy = {p.strip() for p in have.configs.get("cleanup.policy", "delete").split(",")}
    if want.compacted and "compact" not in policy:
        say("error", f"cleanup.policy is {','.join(sorted(policy))}, must include compact (a state topic)")
    if not want.compacted and "compact" in policy:
        say("error", f"cleanup.policy is {','.join(sorted(policy))}: compaction would delete records of the same key")
    if have.replication_factor < replication_factor:
        say("error", f"replication factor {have.replication_factor} is below {replication_factor}")
    min_isr = _int(have.configs.get("min.insync.replicas"))
    wanted_isr = _int(want.configs.get("min.insync.replicas"))
    if min_isr is not None and wanted_isr is not None:
        if min_isr > have.replication_factor:
            say("error", f"min.insync.replicas {min_isr} exceeds the replication factor {have.replication_factor}")
        elif min_isr < wanted_isr:
            say("error", f"min.insync.replicas {min_isr} is below {wanted_isr}")
        elif min_isr > wanted_isr:
            say("warning", f"min.insync.replicas {min_isr} is above {wanted_isr}")
    if have.configs.get("unclean.leader.election.enable", "false").lower() == "true":
        say("error", "unclean.leader.election.enable is true: a stale replica may become leader")
    if have.partitions < want.partitions:
        say("warning", f"{have.partitions} partitions, fewer than {want.partitions} (less parallelism)")
    elif have.partitions > want.partitions:
        say("warning", f"{have.partitions} partitions, more than {want.partitions}")
    if want.dead_letter and have.configs.get("retention.ms") != want.configs.get("retention.ms"):
        say("warning", f"retention.ms is {have.configs.get('retention.ms')}, wanted {want.configs.get('retention.ms')}")
    return found


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None

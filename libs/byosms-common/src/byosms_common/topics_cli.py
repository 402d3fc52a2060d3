"""``byosms-topics``: create the byosms topics that are missing and check the ones that exist (the
chart's topic Job runs ``byosms-topics ensure``). Kafka connection and security come from the
shared ``BYOSMS_KAFKA_*`` settings; what the topics must look like from ``BYOSMS_TOPICS_*``.

Exit codes: 0 every topic is there and fits (warnings are printed), 1 a topic breaks a guarantee
(see ``topic_check``; with ``BYOSMS_TOPICS_FAIL_ON_WARNING=true`` also on warnings), 2 invalid
settings, 3 Kafka cannot be reached or refuses the client (wrong credentials, TLS).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from byosms_common.kafka_security import ClientRefusals, KafkaSecurityError, aiokafka_options, describe_client_error
from byosms_common.settings import KafkaSettings, load_or_exit
from byosms_common.topic_check import ExistingTopic, Finding, TopicPlan, WantedTopic, check, plan, wanted_from_code

TOPIC_ALREADY_EXISTS = 36
THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000


class TopicSettings(BaseSettings):
    """What the topics must look like (``BYOSMS_TOPICS_*``)."""

    model_config = SettingsConfigDict(env_prefix="BYOSMS_TOPICS_", extra="ignore", frozen=True)

    replication_factor: int = Field(
        default=3, ge=1, le=32, description="Replicas of a new topic; less fails the check."
    )
    min_insync_replicas: int = Field(default=2, ge=1, le=32, description="min.insync.replicas of every topic.")
    dead_letter_retention_ms: int = Field(
        default=THIRTY_DAYS_MS, ge=-1, description="retention.ms of dead-letter topics (-1: keep forever)."
    )
    plan: list[WantedTopic] | None = Field(
        default=None, description="JSON list of {name, partitions, compacted, deadLetter}; default: the code's topics."
    )
    fail_on_warning: bool = Field(default=False, description="Exit 1 on warnings too, not only on errors.")
    timeout_s: float = Field(default=60.0, gt=0, description="How long to wait for Kafka and for new topics' leaders.")


class KafkaUnavailableError(RuntimeError):
    """Kafka cannot be reached or refuses the client; the message names no secret."""


async def ensure_topics(kafka: KafkaSettings, settings: TopicSettings) -> tuple[list[str], list[Finding]]:
    """Create the missing topics, check the existing ones. Returns (created, findings)."""
    plans = plan(
        settings.plan if settings.plan is not None else wanted_from_code(),
        min_insync_replicas=settings.min_insync_replicas,
        dead_letter_retention_ms=settings.dead_letter_retention_ms,
    )
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.kafka_bootstrap,
        client_id=f"{kafka.kafka_client_id_prefix}-topics",
        request_timeout_ms=15_000,
        **aiokafka_options(kafka),
    )
    try:
        with ClientRefusals() as refusals:
            await asyncio.wait_for(admin.start(), settings.timeout_s)
    except (KafkaError, OSError, TimeoutError) as exc:
        await admin.close()
        raise KafkaUnavailableError(describe_client_error(exc, kafka, refusals)) from None
    try:
        existing_names = set(await admin.list_topics())
        missing = [p for p in plans if p.name not in existing_names]
        created = await _create(admin, missing, settings) if missing else []
        present = [p for p in plans if p.name in existing_names]
        findings: list[Finding] = []
        for existing, want in zip(await _describe(admin, [p.name for p in present]), present, strict=True):
            findings += check(want, existing, replication_factor=settings.replication_factor)
        await _wait_for_leaders(admin, [p.name for p in plans], settings.timeout_s)
        return created, findings
    except KafkaError as exc:
        raise KafkaUnavailableError(describe_client_error(exc, kafka)) from None
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, missing: Sequence[TopicPlan], settings: TopicSettings) -> list[str]:
    new = [NewTopic(p.name, p.partitions, settings.replication_factor, topic_configs=p.configs) for p in missing]
    response = await admin.create_topics(new, timeout_ms=15_000)
    failures = [
        f"{name}: {message or code}"
        for name, code, message in response.topic_errors
        if code not in (0, TOPIC_ALREADY_EXISTS)
    ]
    if failures:
        raise KafkaUnavailableError("topic creation failed / Topic-Anlage fehlgeschlagen: " + "; ".join(failures))
    return [p.name for p in missing]


async def _describe(admin: AIOKafkaAdminClient, names: Sequence[str]) -> list[ExistingTopic]:
    if not names:
        return []
    described = {d["topic"]: d for d in await admin.describe_topics(list(names))}
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for _code, _message, _type, name, entries in response.resources:
            configs[name] = {entry[0]: entry[1] for entry in entries if entry[1] is not None}
    topics = []
    for name in names:
        partitions = described[name]["partitions"]
        replicas = min((len(p["replicas"]) for p in partitions), default=0)
        topics.append(ExistingTopic(name, len(partitions), replicas, configs.get(name, {})))
    return topics


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: Sequence[str], timeout_s: float) -> None:
    """Creation returns before every partition has a leader; the services' first produce needs one."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = await admin.describe_topics(list(names))
        if all(d.get("partitions") and all(p.get("leader", -1) >= 0 for p in d["partitions"]) for d in described):
            return
        if time.monotonic() >= deadline:
            raise KafkaUnavailableError("topics have no leader in time / Topics ohne Leader")
        await asyncio.sleep(0.5)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["ensure"]:
        sys.stderr.write("usage: byosms-topics ensure  (settings from BYOSMS_KAFKA_* and BYOSMS_TOPICS_*)\n")
        raise SystemExit(2)
    kafka = load_or_exit("topics", KafkaSettings)
    settings = load_or_exit("topics", TopicSettings)
    try:
        created, findings = asyncio.run(ensure_topics(kafka, settings))
    except (KafkaUnavailableError, KafkaSecurityError) as exc:
        sys.stderr.write(f"byosms-topics: Kafka unavailable / nicht erreichbar: {exc}\n")
        raise SystemExit(3) from None
    for name in created:
        print(f"created {name}")  # noqa: T201 - a CLI
    for finding in findings:
        sys.stderr.write(f"byosms-topics: {finding}\n")
    errors = [f for f in findings if f.level == "error" or settings.fail_on_warning]
    if errors:
        sys.stderr.write(
            f"byosms-topics: {len(errors)} topic problem(s) break a guarantee; fix the topics"
            f" (docs/kafka-security.md) / {len(errors)} Topic-Problem(e) verletzen eine Zusage\n"
        )
        raise SystemExit(1)
    print(f"byosms-topics: every byosms topic exists ({len(findings)} warning(s))")  # noqa: T201


if __name__ == "__main__":
    main()

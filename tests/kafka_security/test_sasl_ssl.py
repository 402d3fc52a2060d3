"""Every Kafka client of byosms through a SASL_SSL listener of the dev broker, configured only by the
shared ``BYOSMS_KAFKA_*`` settings: the FastStream publisher (provisioning, routing), the consumer
engine with its transactional producers (provisioning, inventory, routing), the state-topic follower
(ingress, routing), the ingress's librdkafka producer and the topic tool of the chart's Job. A wrong
password is refused with an error that says so and never contains the password.

The broker is a second one of this module's own (``byosms-stack``'s opt-in listener, free ports,
a temporary state dir), so the suite's shared test stack stays PLAINTEXT."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from pydantic import BaseModel

from byosms_common import messages as m
from byosms_common.consumer import Consumers, Emit, Record, Subscription
from byosms_common.kafka import Publisher, build_broker, start_broker
from byosms_common.kafka_security import ClientRefusals, aiokafka_options, describe_client_error, librdkafka_options
from byosms_common.logs import configure_logging
from byosms_common.settings import ConsumerSettings, KafkaSettings, TelemetrySettings
from byosms_common.state_cache import StateTopicFollower
from byosms_common.testing import eventually, free_port
from byosms_common.topics import TopicSpec
from byosms_devstack.settings import StackSettings
from byosms_devstack.stack import ensure_kafka, sasl_ssl_env, stop_kafka
from byosms_ingress.kafka_producer import RdKafkaProducer, producer_config

pytestmark = pytest.mark.integration

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
WRONG = "not-the-password-0123456789"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    settings = StackSettings(
        dir=tmp_path_factory.mktemp("sasl-ssl-stack"),
        kafka_port=free_port(),
        controller_port=free_port(),
        sasl_ssl_port=free_port(),
        pg_port=free_port(),  # unused: only the broker starts
    )
    ensure_kafka(settings, say=lambda _: None)
    yield settings
    stop_kafka(settings, say=lambda _: None)


def _kafka(stack: StackSettings, mechanism: str = "SCRAM-SHA-512", **overrides: Any) -> KafkaSettings:
    env = sasl_ssl_env(stack, mechanism, client_cert=mechanism == "PLAIN")
    fields = {k.removeprefix("BYOSMS_").lower(): v for k, v in env.items()}
    return KafkaSettings.model_validate({**fields, **overrides})


@pytest.fixture
async def topic(secured: StackSettings) -> AsyncIterator[TopicSpec]:
    kafka = _kafka(secured)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.kafka_bootstrap, **aiokafka_options(kafka))
    await admin.start()
    spec = TopicSpec(f"test.sec.{uuid.uuid4().hex[:10]}", "k", 2, False, "test", ("test",), "scratch")
    await admin.create_topics([NewTopic(spec.name, 2, 1), NewTopic(spec.dead_letter, 1, 1)])
    yield spec
    await admin.delete_topics([spec.name, spec.dead_letter])
    await admin.close()


async def _read(kafka: KafkaSettings, topic: str, at_least: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **aiokafka_options(kafka),
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(30):
            while len(records) < at_least:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


def test_plaintext_settings_carry_no_security() -> None:
    assert aiokafka_options(KafkaSettings(kafka_bootstrap="127.0.0.1:1")) == {"security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_faststream_publisher_publishes_through_sasl_ssl(
    secured: StackSettings, topic: TopicSpec, mechanism: str
) -> None:
    kafka = _kafka(secured, mechanism)
    broker = build_broker(kafka, "test-sec")
    await start_broker(broker)
    try:
        sent = m.SendMessage(
            organization_id="org",
            payload=m.SendMessagePayload.model_validate({"from": "+4930123456", "to": "+4915112345678", "body": "hi"}),
        )
        await Publisher(broker).publish(topic, sent, "key-1")
    finally:
        await broker.stop()
    (record,) = await _read(kafka, topic.name, 1)
    assert m.SendMessage.model_validate_json(record.value).id == sent.id


async def test_batch_consumer_consumes_and_commits_in_transactions_through_sasl_ssl(
    secured: StackSettings, topic: TopicSpec
) -> None:
    kafka = _kafka(secured, "SCRAM-SHA-256")
    output = TopicSpec(topic.name, "k", 2, False, "test", ("test",), "same topic, other key")
    seen: list[str] = []

    async def handler(records: Sequence[Record[m.SendMessage]], out: Emit) -> None:
        for record in records:
            seen.append(record.message.payload.body)
            if record.key == "in":
                echo = m.SendMessage(organization_id="org", payload=record.message.payload)
                out.publish(output, echo, "echo", cause=record)

    consumers = Consumers(
        kafka,
        ConsumerSettings(),
        [Subscription(topic, m.SendMessage, handler)],
        group_id=f"test-sec-{uuid.uuid4().hex[:8]}",
        service="test-sec",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka.kafka_bootstrap, **aiokafka_options(kafka))
    await producer.start()
    await consumers.start()
    try:
        payload = m.SendMessagePayload.model_validate({"from": "+4930123456", "to": "+4915112345678", "body": "b1"})
        await producer.send_and_wait(
            topic.name, m.SendMessage(organization_id="org", payload=payload).model_dump_json().encode(), b"in"
        )
        await eventually(lambda: seen.count("b1") >= 2, within=30, what="input and its echo handled")
        (engine,) = consumers.engines
        assert engine.committed, "offsets committed in the consumer's transactions"
    finally:
        await consumers.stop()
        await producer.stop()


class _State(BaseModel):
    name: str


async def test_state_follower_loads_through_sasl_ssl(secured: StackSettings, topic: TopicSpec) -> None:
    kafka = _kafka(secured, "PLAIN")  # with a client certificate (mutual TLS) too
    producer = AIOKafkaProducer(bootstrap_servers=kafka.kafka_bootstrap, **aiokafka_options(kafka))
    await producer.start()
    await producer.send_and_wait(topic.name, b'{"name": "one"}', b"k1")
    await producer.stop()
    follower: StateTopicFollower[_State] = StateTopicFollower(kafka, topic, _State, client_id="test-sec")
    await follower.start()
    try:
        await eventually(lambda: follower.get("k1"), within=30, what="state loaded")
    finally:
        await follower.stop()


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_ingress_librdkafka_producer_delivers_through_sasl_ssl(
    secured: StackSettings, topic: TopicSpec, mechanism: str
) -> None:
    kafka = _kafka(secured, mechanism)
    producer = RdKafkaProducer(producer_config(kafka.kafka_bootstrap, "test-sec-ingress", librdkafka_options(kafka)))
    await producer.start()
    try:
        delivery = producer.queue(topic.name, b'{"x": 1}', b"ingress")
        await asyncio.wait_for(delivery, 30)
    finally:
        await producer.stop(5)
    assert [r.key for r in await _read(kafka, topic.name, 1)] == [b"ingress"]


def _topics_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BYOSMS_KAFKA_", "BYOSMS_TOPICS_"))}
    return subprocess.run(
        [sys.executable, "-m", "byosms_common.topics_cli", "ensure"],
        env={**clean, **env, "BYOSMS_TOPICS_REPLICATION_FACTOR": "1", "BYOSMS_TOPICS_MIN_INSYNC_REPLICAS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_topic_tool_creates_and_checks_topics_through_sasl_ssl(secured: StackSettings) -> None:
    name = f"test.sec.tool.{uuid.uuid4().hex[:8]}"
    plan = f'[{{"name": "{name}", "partitions": 2, "compacted": true, "deadLetter": false}}]'
    result = _topics_cli({**sasl_ssl_env(secured, "SCRAM-SHA-512"), "BYOSMS_TOPICS_PLAN": plan})
    assert result.returncode == 0, result.stderr
    assert f"created {name}" in result.stdout
    again = _topics_cli({**sasl_ssl_env(secured, "SCRAM-SHA-512"), "BYOSMS_TOPICS_PLAN": plan})
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout


def test_topic_tool_with_a_wrong_password_says_so_without_the_password(secured: StackSettings) -> None:
    env = {**sasl_ssl_env(secured, "SCRAM-SHA-512"), "BYOSMS_KAFKA_SASL_PASSWORD": WRONG}
    result = _topics_cli(env)
    assert result.returncode == 3
    assert "Authentication" in result.stderr or "authentication" in result.stderr, result.stderr
    assert WRONG not in result.stderr + result.stdout


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_wrong_password_is_a_clear_error_without_the_password(
    secured: StackSettings, mechanism: str, capsys: pytest.CaptureFixture[str]
) -> None:
    kafka = _kafka(secured, mechanism, kafka_sasl_password=WRONG)
    assert WRONG not in repr(kafka)
    assert WRONG not in str(kafka)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.kafka_bootstrap, **aiokafka_options(kafka))
    # At the services' log levels: configure_logging keeps aiokafka at WARNING even at DEBUG, since
    # aiokafka's DEBUG lines dump the SASL PLAIN request, password included.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(TelemetrySettings(log_level="DEBUG", log_format="json"), "test-sec")
    try:
        assert logging.getLogger("aiokafka.conn").getEffectiveLevel() >= logging.WARNING
        with ClientRefusals() as refusals:
            with pytest.raises(KafkaError) as refused:
                await producer.start()
            await producer.stop()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("aiokafka").setLevel(logging.NOTSET)
    logged = capsys.readouterr().err
    said = describe_client_error(refused.value, kafka, refusals)
    assert "SaslAuthenticationFailed" in said, said
    assert "invalid credentials" in said or "Invalid username or password" in said, said
    assert "SaslAuthenticationFailed" in logged, "the service's log says why"
    assert WRONG not in said
    assert WRONG not in logged


async def test_ingress_producer_reports_a_wrong_password_without_it(
    secured: StackSettings, topic: TopicSpec, caplog: pytest.LogCaptureFixture
) -> None:
    kafka = _kafka(secured, "SCRAM-SHA-256", kafka_sasl_password=WRONG)
    producer = RdKafkaProducer(producer_config(kafka.kafka_bootstrap, "test-sec-ingress", librdkafka_options(kafka)))
    with caplog.at_level(logging.INFO):
        await producer.start()
        try:
            producer.queue(topic.name, b"{}", b"k")
            await eventually(lambda: producer.auth_failure, within=30, what="authentication failure reported")
        finally:
            await producer.stop(0)
    assert "Authentication" in (producer.auth_failure or "") or "authentication" in (producer.auth_failure or "")
    assert "refused the client's credentials" in caplog.text
    assert WRONG not in caplog.text
    assert WRONG not in (producer.auth_failure or "")


def test_settings_refuse_sasl_without_password_naming_no_value(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from byosms_common.settings import describe_settings_error

    with pytest.raises(ValidationError) as refused:
        KafkaSettings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="byosms",
        )
    assert "BYOSMS_KAFKA_SASL_PASSWORD" in describe_settings_error(refused.value)


async def test_a_whole_service_runs_through_sasl_ssl(
    secured: StackSettings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inventory (consumers with transactional producers, state publishing) on the SASL_SSL listener:
    ready, its consumers in their group, their lag on /metrics."""
    import aiohttp

    from byosms_common.settings import DatabaseSettings
    from byosms_inventory.app import run as run_inventory
    from byosms_inventory.settings import InventorySettings

    monkeypatch.setenv("BYOSMS_CONSUMER_LAG_INTERVAL_S", "0.5")
    port, group = free_port(), f"g-sec-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_inventory(
            InventorySettings(port=port, consumer_group=group),
            _kafka(secured, "SCRAM-SHA-256"),
            DatabaseSettings(database_url=database_url),
            stop=stop,
        )
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(ready, within=60, what="inventory ready through SASL_SSL")

            async def lag_reported() -> bool:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    return f'byosms_consumer_lag{{group="{group}"' in await response.text()

            await eventually(lag_reported, within=30, what="its consumers' lag on /metrics")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert not task.exception()


async def _ready_through_sasl_ssl(port: int, task: asyncio.Task[None], what: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:

        async def ready() -> bool:
            assert not task.done(), f"{what} stopped: {task.exception() if not task.cancelled() else 'cancelled'}"
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientConnectionError:
                return False

        await eventually(ready, within=90, what=f"{what} ready through SASL_SSL")


async def test_routing_runs_through_sasl_ssl(secured: StackSettings, database_url: str) -> None:
    """Routing as it runs (its consumers in lane and batch mode, their transactional producers, the
    state followers) on the SASL_SSL listener: ready means every consumer joined and every state topic
    loaded through it."""
    from byosms_common.settings import DatabaseSettings
    from byosms_routing.app import run as run_routing
    from byosms_routing.settings import RoutingSettings

    port, stop = free_port(), asyncio.Event()
    task = asyncio.create_task(
        run_routing(
            RoutingSettings(port=port, consumer_group=f"g-sec-{uuid.uuid4().hex[:8]}"),
            _kafka(secured, "SCRAM-SHA-512"),
            DatabaseSettings(database_url=database_url),
            stop=stop,
        )
    )
    try:
        await _ready_through_sasl_ssl(port, task, "routing")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_provisioning_runs_through_sasl_ssl(secured: StackSettings, database_url: str) -> None:
    """Provisioning as it serves (its consumers, the outbox relay's FastStream publisher) on the
    SASL_SSL listener with PLAIN and a client certificate."""
    import base64
    import os

    from pydantic import SecretStr

    from byosms_common.settings import DatabaseSettings, KeyringSettings
    from byosms_provisioning import app as prov_app
    from byosms_provisioning.settings import ProvisioningSettings, SealingKeySettings

    port, stop = free_port(), asyncio.Event()
    key = base64.b64encode(os.urandom(32)).decode()
    settings = prov_app.AllSettings(
        service=ProvisioningSettings.model_validate(
            {
                "port": port,
                "jwt_jwks_url": "http://unused.invalid/jwks.json",
                "command_group_id": f"g-sec-{uuid.uuid4().hex[:8]}",
            }
        ),
        kafka=_kafka(secured, "PLAIN"),
        database=DatabaseSettings(database_url=database_url),  # type: ignore[arg-type]
        keyring=KeyringSettings(keks=SecretStr(f'{{"k1": "{key}"}}'), active_kek="k1"),
        telemetry=TelemetrySettings(),
        sealing=SealingKeySettings(),
    )
    task = asyncio.create_task(prov_app.serve(settings, stop=stop))
    try:
        await _ready_through_sasl_ssl(port, task, "provisioning")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_the_ingress_app_connects_through_sasl_ssl(secured: StackSettings, tmp_path: Path) -> None:
    """The ingress as it runs (its settings, its producer and state follower built by the app): the
    integrations are loaded and Kafka is reachable for its producer, through SASL_SSL."""
    from aiohttp.test_utils import TestClient, TestServer

    from byosms_common.crypto import Keyring
    from byosms_ingress.app import Ingress
    from byosms_ingress.settings import IngressSettings

    keyring = Keyring.from_config(f'{{"k1": "{Keyring.generate_key()}"}}', "k1")
    settings = IngressSettings(region="us-east-1", spool_dir=tmp_path / "spool")
    ingress = Ingress(settings, _kafka(secured, "SCRAM-SHA-512"), keyring)
    async with TestClient(TestServer(ingress.web_app())) as client:
        await eventually(ingress.follower.loaded.is_set, within=30, what="integrations loaded through SASL_SSL")
        await eventually(lambda: ingress.connectivity.reachable is True, within=30, what="Kafka reachable")
        response = await client.get("/readyz")
        assert response.status == 200, await response.text()

"""Kafka's reachability as an operator sees it: the gauge, one log line per change, and the Kafka
clients' own repetitive lines kept out of the log."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, Gauge

from byosms_ingress.kafka_producer import RdKafkaProducer, _LibrdkafkaLog
from byosms_ingress.kafka_state import KafkaConnectivity, QuietKafkaClientLogs

pytestmark = pytest.mark.unit

GAUGE = "byosms_ingress_kafka_reachable"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _connectivity(clock: Clock, every: float = 30.0) -> tuple[KafkaConnectivity, CollectorRegistry]:
    registry = CollectorRegistry()
    gauge = Gauge(GAUGE, "test", registry=registry)
    return KafkaConnectivity(gauge, still_down_every_s=every, clock=clock), registry


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "byosms_ingress.kafka_state"]


def test_an_outage_is_one_line_when_lost_one_every_interval_and_one_when_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    connectivity, registry = _connectivity(clock)
    assert registry.get_sample_value(GAUGE) == 0  # unknown until the first signal
    connectivity.up()
    assert registry.get_sample_value(GAUGE) == 1
    for _ in range(100):  # every acknowledged record says "up": no line for any of them
        connectivity.up()

    for second in range(95):  # a 95 s outage, signalled (and ticked) every second
        clock.now = 200.0 + second
        connectivity.down("_TRANSPORT")
        connectivity.tick()
        assert registry.get_sample_value(GAUGE) == 0
    clock.now = 300.0
    connectivity.up()

    assert registry.get_sample_value(GAUGE) == 1
    assert _lines(caplog) == [
        ("INFO", "Kafka reachable"),
        ("WARNING", "Kafka unreachable (_TRANSPORT); webhooks go to the spool until it is back"),
        ("WARNING", "Kafka still unreachable after 30s (_TRANSPORT)"),
        ("WARNING", "Kafka still unreachable after 60s (_TRANSPORT)"),
        ("WARNING", "Kafka still unreachable after 90s (_TRANSPORT)"),
        ("INFO", "Kafka reachable again after 100s"),
    ]


def test_kafka_never_reached_at_start_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    connectivity, registry = _connectivity(clock, every=10.0)
    for _ in range(5):
        connectivity.down("_TRANSPORT")
    assert connectivity.reachable is False
    assert not connectivity.became_reachable.is_set()
    assert [level for level, _ in _lines(caplog)] == ["WARNING"]
    assert registry.get_sample_value(GAUGE) == 0


def test_aiokafka_lines_are_dropped_while_kafka_is_unreachable_and_rate_limited_otherwise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiokafka.conn")
    connectivity, _ = _connectivity(Clock())
    quiet = QuietKafkaClientLogs(connectivity)
    client_log = logging.getLogger("aiokafka.conn")
    quiet.install()
    try:
        connectivity.down("_TRANSPORT")
        for _ in range(50):  # aiokafka retries every 100 ms: 5 s of an outage
            client_log.error("Unable connect to node with id %s: %s", 1, "refused")
        connectivity.up()
        for _ in range(50):
            client_log.error("Unable connect to node with id %s: %s", 1, "refused")
        client_log.warning("another call site")
        client_log.debug("debug lines are left alone")
    finally:
        quiet.remove()
    client_log.error("after remove: kept")
    messages = [r.getMessage() for r in caplog.records if r.name == "aiokafka.conn"]
    assert messages == [
        "Unable connect to node with id 1: refused",
        "another call site",
        "debug lines are left alone",
        "after remove: kept",
    ]


def test_librdkafka_connection_failures_are_left_to_the_reachability_lines(caplog: pytest.LogCaptureFixture) -> None:
    gate = _LibrdkafkaLog(RdKafkaProducer({}))
    for _ in range(20):  # one per reconnect attempt
        gate.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", "Connect to ipv4#127.0.0.1:1 failed")
    for _ in range(5):
        gate.log(logging.WARNING, "%s [%s] %s", "METADATAUPDATE", "rdkafka#producer-1", "leader not found")
    messages = [r.getMessage() for r in caplog.records if r.name == "byosms_ingress.librdkafka"]
    assert messages == ["METADATAUPDATE [rdkafka#producer-1] leader not found"]

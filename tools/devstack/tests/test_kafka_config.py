from pathlib import Path

import pytest

from byosms_devstack import kafka_config as kc

pytestmark = pytest.mark.unit


def _layout(port: int = 19092, controller: int = 19093) -> kc.BrokerLayout:
    root = Path("/state/kafka")
    return kc.BrokerLayout(
        host="127.0.0.1",
        port=port,
        controller_port=controller,
        data_dir=root / "data",
        logs_dir=root / "logs",
        properties_file=root / "server.properties",
        log4j_file=root / "log4j2.properties",
        lib_dir=Path("/cache/kafka-4.1.1/lib"),
    )


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return dict(pairs)


def test_server_properties_bind_loopback_only_on_the_given_ports() -> None:
    props = _props(kc.render_server_properties(_layout(29092, 29093)))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093"
    assert props["process.roles"] == "broker,controller"
    assert props["log.dirs"] == "/state/kafka/data"


def test_server_properties_are_tuned_for_fast_local_tests() -> None:
    props = _props(kc.render_server_properties(_layout()))
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"
    assert int(props["offsets.topic.num.partitions"]) <= 3
    assert int(props["transaction.state.log.num.partitions"]) <= 3
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert props[key] == "1"


def test_pom_pins_kafka_and_the_matching_slf4j_binding() -> None:
    pom = kc.render_pom("4.1.1", "2.24.3")
    assert "<artifactId>kafka_2.13</artifactId>\n      <version>4.1.1</version>" in pom
    assert "<artifactId>log4j-slf4j-impl</artifactId>\n      <version>2.24.3</version>" in pom
    assert "<packaging>pom</packaging>" in pom


@pytest.mark.parametrize(("kafka", "log4j"), [("4.0.0", "2.24.3"), ("4.1.1", "2.24.3"), ("4.2.0", "2.25.3")])
def test_log4j_version_follows_kafka_minor(kafka: str, log4j: str) -> None:
    assert kc.log4j_version_for(kafka) == log4j


def test_unknown_kafka_version_asks_for_an_explicit_log4j_version() -> None:
    with pytest.raises(kc.UnknownKafkaVersionError, match="BYOSMS_STACK_LOG4J_VERSION"):
        kc.log4j_version_for("9.9.9")


def test_mvn_command_pins_a_3x_dependency_plugin() -> None:
    cmd = kc.mvn_copy_dependencies_command("mvn", Path("/c/pom.xml"), Path("/c/lib"))
    goal = next(a for a in cmd if a.endswith(":copy-dependencies"))
    assert goal.startswith("org.apache.maven.plugins:maven-dependency-plugin:3.")
    assert "-DincludeScope=runtime" in cmd
    assert "-DoutputDirectory=/c/lib" in cmd


def test_jar_version_reads_versions_from_file_names() -> None:
    names = ["log4j-api-2.24.3.jar", "log4j-core-2.24.3.jar", "log4j-slf4j-impl-2.24.3.jar"]
    assert kc.jar_version(names, "log4j-core") == "2.24.3"
    assert kc.jar_version(names, "log4j-slf4j-impl") == "2.24.3"
    assert kc.jar_version(names, "slf4j-api") is None


def test_cluster_id_has_the_random_uuid_shape() -> None:
    ids = {kc.new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 22 and "=" not in i for i in ids)


def test_broker_command_runs_kafka_main_with_our_files() -> None:
    lay = _layout()
    cmd = kc.broker_command("/usr/bin/java", lay)
    assert cmd[0] == "/usr/bin/java"
    assert cmd[-2:] == ["kafka.Kafka", "/state/kafka/server.properties"]
    assert cmd[cmd.index("-cp") + 1] == "/cache/kafka-4.1.1/lib/*"
    assert {"-Xms512m", "-Xmx1g", "-Dkafka.logs.dir=/state/kafka/logs"} <= set(cmd)
    assert "-Dlog4j2.configurationFile=/state/kafka/log4j2.properties" in cmd
    assert kc.broker_markers(lay) == ("kafka.Kafka", "/state/kafka/server.properties")


def test_storage_format_is_idempotent_and_uses_static_voters() -> None:
    cmd = kc.storage_format_command("java", _layout(), "abc")
    assert cmd[cmd.index("kafka.tools.StorageTool") :] == [
        "kafka.tools.StorageTool",
        "format",
        "-g",
        "-t",
        "abc",
        "-c",
        "/state/kafka/server.properties",
    ]
    # --standalone is refused together with controller.quorum.voters.
    assert "--standalone" not in cmd


def test_log4j_config_writes_server_log_in_the_logs_dir() -> None:
    text = kc.render_log4j2_properties()
    assert "${sys:kafka.logs.dir}/server.log" in text
    assert "rootLogger.level = info" in text


def test_without_a_sasl_ssl_port_the_broker_is_plaintext_only() -> None:
    props = _props(kc.render_server_properties(_layout()))
    assert "SASL_SSL" not in props["listeners"]
    assert not [k for k in props if k.startswith("listener.name.sasl_ssl.")]


def test_the_opt_in_sasl_ssl_listener_offers_plain_and_scram_over_pem_tls() -> None:
    listener = kc.SaslSslListener(
        port=19254,
        keystore=Path("/state/kafka/tls/broker-keystore.pem"),
        truststore=Path("/state/kafka/tls/ca.pem"),
        user="byosms",
        password='pa"ss',
    )
    props = _props(kc.render_server_properties(_layout(29092, 29093), listener))
    assert props["listeners"].endswith(",SASL_SSL://127.0.0.1:19254")
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092,SASL_SSL://127.0.0.1:19254"
    assert props["listener.security.protocol.map"].endswith(",SASL_SSL:SASL_SSL")
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    prefix = "listener.name.sasl_ssl."
    assert props[prefix + "sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    assert props[prefix + "ssl.keystore.type"] == "PEM"
    assert props[prefix + "ssl.keystore.location"] == "/state/kafka/tls/broker-keystore.pem"
    assert props[prefix + "ssl.truststore.location"] == "/state/kafka/tls/ca.pem"
    assert props[prefix + "ssl.client.auth"] == "requested"
    assert 'user_byosms="pa\\"ss";' in props[prefix + "plain.sasl.jaas.config"]

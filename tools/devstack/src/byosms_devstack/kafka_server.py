"""The Kafka broker process: jars from Maven Central, storage format, start, stop."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from byosms_devstack import kafka_config as kc
from byosms_devstack import kafka_tls, procs
from byosms_devstack.settings import LOOPBACK, StackSettings
from byosms_devstack.system import Say, require_java


class KafkaError(RuntimeError):
    """The broker could not be prepared or started."""


def layout(settings: StackSettings) -> kc.BrokerLayout:
    root = settings.state_dir() / "kafka"
    return kc.BrokerLayout(
        host=LOOPBACK,
        port=settings.kafka_port,
        controller_port=settings.controller_port,
        data_dir=root / "data",
        logs_dir=root / "logs",
        properties_file=root / "server.properties",
        log4j_file=root / "log4j2.properties",
        lib_dir=settings.kafka_lib_dir(),
    )


def pid_file(lay: kc.BrokerLayout) -> Path:
    return lay.properties_file.parent / "kafka.pid"


def stdout_log(lay: kc.BrokerLayout) -> Path:
    return lay.logs_dir / "kafka.out"


def server_log(lay: kc.BrokerLayout) -> Path:
    return lay.logs_dir / "server.log"


def _jars_present(lib_dir: Path, kafka_version: str) -> bool:
    return (lib_dir / f"kafka_2.13-{kafka_version}.jar").is_file()


def ensure_jars(settings: StackSettings, say: Say) -> Path:
    """Resolve the broker classpath once with Maven into the cache; reuse it afterwards."""
    lib_dir = settings.kafka_lib_dir()
    if _jars_present(lib_dir, settings.kafka_version):
        return lib_dir
    _, mvn = require_java(say, need_maven=True)
    assert mvn is not None
    log4j = settings.log4j_version or kc.log4j_version_for(settings.kafka_version)
    version_dir = lib_dir.parent
    version_dir.mkdir(parents=True, exist_ok=True)
    pom = version_dir / "pom.xml"
    pom.write_text(kc.render_pom(settings.kafka_version, log4j), encoding="utf-8")
    # Download into a scratch directory and rename: a half-finished download never looks complete.
    scratch = version_dir / f"lib.partial-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    say(f"resolving Kafka {settings.kafka_version} jars from Maven Central into {lib_dir}")
    result = procs.run(kc.mvn_copy_dependencies_command(mvn, pom, scratch))
    if result.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise KafkaError(
            "Maven could not resolve the Kafka jars / Maven konnte die Kafka-Jars nicht laden:\n"
            + (result.stdout + result.stderr)[-4000:]
        )
    names = sorted(p.name for p in scratch.iterdir())
    core, binding = kc.jar_version(names, "log4j-core"), kc.jar_version(names, "log4j-slf4j-impl")
    if core != binding:
        say(f"warning: log4j-core {core} but log4j-slf4j-impl {binding}; set BYOSMS_STACK_LOG4J_VERSION={core}")
    shutil.rmtree(lib_dir, ignore_errors=True)
    scratch.rename(lib_dir)
    return lib_dir


def running_pid(lay: kc.BrokerLayout) -> int | None:
    """Pid of our live broker, per the pid file and /proc; None when not running."""
    pid = procs.read_pid(pid_file(lay))
    return pid if procs.is_ours(pid, kc.broker_markers(lay)) else None


def tls_files(settings: StackSettings) -> kafka_tls.TlsFiles:
    """The SASL_SSL listener's CA, keystore, client certificate and password (made on first use)."""
    return kafka_tls.ensure_tls_files(settings.state_dir() / "kafka" / "tls")


def sasl_ssl_listener(settings: StackSettings) -> kc.SaslSslListener | None:
    if settings.sasl_ssl_port is None:
        return None
    tls = tls_files(settings)
    return kc.SaslSslListener(
        port=settings.sasl_ssl_port,
        keystore=tls.broker_keystore,
        truststore=tls.ca_cert,
        user=kafka_tls.SASL_USER,
        password=tls.sasl_password(),
    )


def _write_config(lay: kc.BrokerLayout, sasl_ssl: kc.SaslSslListener | None) -> None:
    lay.data_dir.mkdir(parents=True, exist_ok=True)
    lay.logs_dir.mkdir(parents=True, exist_ok=True)
    lay.properties_file.write_text(kc.render_server_properties(lay, sasl_ssl), encoding="utf-8")
    lay.log4j_file.write_text(kc.render_log4j2_properties(), encoding="utf-8")


def _format_storage(java: str, lay: kc.BrokerLayout, say: Say) -> None:
    if (lay.data_dir / "meta.properties").is_file():
        return
    say(f"formatting Kafka storage in {lay.data_dir}")
    result = procs.run(kc.storage_format_command(java, lay, kc.new_cluster_id()))
    if result.returncode != 0:
        raise KafkaError(
            "Kafka storage format failed / Formatieren des Kafka-Speichers fehlgeschlagen:\n"
            + (result.stdout + result.stderr)[-4000:]
        )


def start(settings: StackSettings, say: Say) -> tuple[int, bool]:
    """Start the broker unless ours already runs. Returns (pid, started_now)."""
    lay = layout(settings)
    pid = running_pid(lay)
    if pid is not None:
        return pid, False
    ports = (lay.port, lay.controller_port, *([settings.sasl_ssl_port] if settings.sasl_ssl_port else []))
    for port in ports:
        if procs.port_open(lay.host, port):
            raise KafkaError(f"port {lay.host}:{port} is taken by another process / Port {lay.host}:{port} ist belegt")
    ensure_jars(settings, say)
    java, _ = require_java(say, need_maven=False)
    _write_config(lay, sasl_ssl_listener(settings))
    _format_storage(java, lay, say)
    extra = f" and SASL_SSL on {lay.host}:{settings.sasl_ssl_port}" if settings.sasl_ssl_port else ""
    say(f"starting Kafka {settings.kafka_version} on {lay.bootstrap}{extra}")
    pid = procs.spawn_detached(kc.broker_command(java, lay), stdout_log(lay))
    pid_file(lay).write_text(f"{pid}\n", encoding="utf-8")
    return pid, True


def is_alive(lay: kc.BrokerLayout, pid: int) -> bool:
    """While waiting for a broker to start: whether it still runs."""
    return procs.spawned_alive(pid, kc.broker_markers(lay))


def stop(settings: StackSettings, say: Say) -> bool:
    """Stop our broker (SIGTERM runs its shutdown hook; SIGKILL after the grace). True if one ran."""
    lay = layout(settings)
    pid = running_pid(lay)
    if pid is None:
        pid_file(lay).unlink(missing_ok=True)
        return False
    say(f"stopping Kafka (pid {pid})")
    if not procs.terminate(pid, kc.broker_markers(lay), grace_s=30.0):
        raise KafkaError(f"Kafka pid {pid} did not stop / Kafka-Prozess {pid} hält nicht an")
    pid_file(lay).unlink(missing_ok=True)
    return True

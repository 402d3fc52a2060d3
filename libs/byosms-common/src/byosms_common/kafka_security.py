"""Kafka client security from :class:`~byosms_common.settings.KafkaSettings`, in the shape each client
library takes: aiokafka keyword arguments (the consumer engine, state caches, admin clients), a
FastStream security object (the outbox publisher's broker) and librdkafka properties (the ingress's
producer). One set of ``BYOSMS_KAFKA_*`` settings configures them all (docs/kafka-security.md).

The SASL and key passwords leave their ``SecretStr`` only here, straight into the client's options;
those option dicts are never logged, and :func:`describe_client_error` names a connection or
authentication failure without any setting's value.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from byosms_common.settings import KafkaSettings


class KafkaSecurityError(ValueError):
    """The TLS files cannot be read or do not fit together (the message names the setting, not a secret)."""


def uses_tls(settings: KafkaSettings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(settings: KafkaSettings) -> bool:
    return settings.kafka_security_protocol.startswith("SASL_")


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context of the Python clients: the configured CA (else the system's), the client
    certificate when one is set, hostname checking unless switched off. None without TLS."""
    if not uses_tls(settings):
        return None
    key_password = settings.kafka_ssl_key_password
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
            password=key_password.get_secret_value() if key_password is not None else None,
        )
    except (OSError, ssl.SSLError) as exc:
        # The exception text of a bad key file may quote the file, never a password; name the settings.
        raise KafkaSecurityError(
            "cannot load the Kafka TLS files (BYOSMS_KAFKA_SSL_CAFILE / _CERTFILE / _KEYFILE):"
            f" {type(exc).__name__}"
            f" / Kafka-TLS-Dateien nicht lesbar: {type(exc).__name__}"
        ) from None
    if settings.kafka_ssl_cafile is None:
        context.load_default_certs()
    context.check_hostname = settings.kafka_ssl_check_hostname
    return context


def aiokafka_options(settings: KafkaSettings) -> dict[str, Any]:
    """Security keyword arguments of ``AIOKafkaProducer``, ``AIOKafkaConsumer`` and ``AIOKafkaAdminClient``."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if uses_sasl(settings):
        assert settings.kafka_sasl_password is not None  # the settings validator makes sure
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def faststream_security(settings: KafkaSettings) -> BaseSecurity | None:
    """The FastStream ``security=`` object of a :class:`~faststream.kafka.KafkaBroker`; None for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings)
    use_ssl = context is not None
    if not uses_sasl(settings):
        return BaseSecurity(ssl_context=context, use_ssl=use_ssl)
    assert settings.kafka_sasl_username is not None
    assert settings.kafka_sasl_password is not None
    kinds: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }
    kind = kinds[settings.kafka_sasl_mechanism or "PLAIN"]
    return kind(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=use_ssl,
    )


def librdkafka_options(settings: KafkaSettings) -> dict[str, Any]:
    """The same security as librdkafka (``confluent-kafka``) properties."""
    options: dict[str, Any] = {"security.protocol": settings.kafka_security_protocol.lower()}
    if uses_tls(settings):
        if settings.kafka_ssl_cafile is not None:
            options["ssl.ca.location"] = str(settings.kafka_ssl_cafile)
        if settings.kafka_ssl_certfile is not None:
            options["ssl.certificate.location"] = str(settings.kafka_ssl_certfile)
        if settings.kafka_ssl_keyfile is not None:
            options["ssl.key.location"] = str(settings.kafka_ssl_keyfile)
        if settings.kafka_ssl_key_password is not None:
            options["ssl.key.password"] = settings.kafka_ssl_key_password.get_secret_value()
        options["ssl.endpoint.identification.algorithm"] = "https" if settings.kafka_ssl_check_hostname else "none"
    if uses_sasl(settings):
        assert settings.kafka_sasl_password is not None
        options["sasl.mechanism"] = settings.kafka_sasl_mechanism
        options["sasl.username"] = settings.kafka_sasl_username
        options["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    return options


class ClientRefusals(logging.Handler):
    """What aiokafka logs while it connects about a refused login or TLS handshake. aiokafka raises
    only "Unable to bootstrap" when every broker refused the client; the reason (``SaslAuthenticationFailed:
    ... invalid credentials``, a certificate error) is in its log. Use as a context manager around
    a client's ``start``; :func:`describe_client_error` adds the last reason."""

    _MARKERS = ("authentication", "sasl", "ssl", "certificate", "handshake")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a log record that cannot be formatted says nothing useful
            return
        if any(marker in message.lower() for marker in self._MARKERS):
            self.last = message

    def __enter__(self) -> ClientRefusals:
        logging.getLogger("aiokafka").addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        logging.getLogger("aiokafka").removeHandler(self)


def describe_client_error(exc: BaseException, settings: KafkaSettings, refusals: ClientRefusals | None = None) -> str:
    """A client failure in one line: its type and text (and why the broker refused the client, when
    ``refusals`` saw it), with any configured secret blanked out (an authentication error never
    quotes the password, but nothing here relies on that)."""
    text = f"{type(exc).__name__}: {exc}"
    if refusals is not None and refusals.last:
        text += f" ({refusals.last})"
    for secret in (settings.kafka_sasl_password, settings.kafka_ssl_key_password):
        if secret is not None and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), "**********")
    return text

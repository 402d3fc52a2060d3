"""Helpers for the ingress tests: signed Twilio payloads, seeded integrations, topic readers.

Fixture names start with ``ingress_`` so they never clash with other packages' conftests.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from byosms_common.crypto import Keyring, associated_data, seal
from byosms_common.messages import (
    IntegrationState,
    IntegrationStatePayload,
    IntegrationStatus,
    SignatureMode,
    encode,
)
from byosms_common.regions import DEFAULT_REGIONS
from byosms_common.topics import INTEGRATION_STATE, by_name

REGION = DEFAULT_REGIONS["us-east-1"]
MO_URL = REGION.inbound_url
STATUS_URL = REGION.status_callback_url


def new_account_sid() -> str:
    return "AC" + uuid.uuid4().hex


def new_message_sid(prefix: str = "SM") -> str:
    return prefix + uuid.uuid4().hex


def sms_params(account_sid: str, message_sid: str, *, body: str = "Hello world", to: str = "+15005550006",
               from_: str = "+14155550100") -> list[tuple[str, str]]:  # fmt: skip
    """A real inbound SMS payload shape: Twilio's field order, blanks included."""
    return [
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", message_sid),
        ("NumMedia", "0"),
        ("ToCity", ""),
        ("FromZip", ""),
        ("SmsSid", message_sid),
        ("FromState", "CA"),
        ("SmsStatus", "received"),
        ("FromCity", ""),
        ("Body", body),
        ("FromCountry", "US"),
        ("To", to),
        ("ToZip", ""),
        ("NumSegments", "1"),
        ("ReferralNumMedia", "0"),
        ("MessageSid", message_sid),
        ("AccountSid", account_sid),
        ("From", from_),
        ("ApiVersion", "2010-04-01"),
    ]


def status_params(account_sid: str, message_sid: str, status: str = "delivered") -> list[tuple[str, str]]:
    return [
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("MessageSid", message_sid),
        ("SmsSid", message_sid),
        ("AccountSid", account_sid),
        ("From", "+15005550006"),
        ("To", "+14155550100"),
        ("ApiVersion", "2010-04-01"),
        ("RawDlrDoneDate", "2401011230"),
    ]


def sign(token: str, url: str, params: list[tuple[str, str]], algorithm: str = "HMAC_SHA1") -> str:
    """Sign as Twilio does, with twilio-python (the reference), independent of the code under test."""
    return str(RequestValidator(token).compute_signature(url, MultiDict(params), algorithm))


def form(params: list[tuple[str, str]]) -> bytes:
    return urlencode(params).encode()


def new_keyring() -> Keyring:
    return Keyring.from_config(f'{{"k1": "{Keyring.generate_key()}"}}', "k1")


@dataclass
class Tenant:
    """One seeded integration."""

    account_sid: str
    token: str
    integration_id: str = field(default_factory=lambda: "int-" + uuid.uuid4().hex[:12])
    organization_id: str = field(default_factory=lambda: "org-" + uuid.uuid4().hex[:12])
    shared_key: str | None = None
    shared_key_id: str | None = None
    previous_shared_key: str | None = None
    previous_shared_key_id: str | None = None
    status: IntegrationStatus = IntegrationStatus.ACTIVE
    version: int = 1
    signature_mode: SignatureMode = "enforce"
    signature_mode_expires_at: datetime | None = None

    def state(self, keyring: Keyring, region: str = REGION.id) -> IntegrationState:
        def sealed(field_name: str, value: str | None) -> Any:
            if value is None:
                return None
            return seal(keyring, value, associated_data(self.organization_id, self.integration_id, field_name))

        return IntegrationState(
            organization_id=self.organization_id,
            payload=IntegrationStatePayload(
                integration_id=self.integration_id,
                account_sid=self.account_sid,
                auth_token=sealed("auth_token", self.token),
                shared_key=sealed("shared_key", self.shared_key),
                shared_key_id=self.shared_key_id,
                previous_shared_key=sealed("shared_key_previous", self.previous_shared_key),
                previous_shared_key_id=self.previous_shared_key_id,
                region=region,
                status=self.status,
                version=self.version,
                signature_mode=self.signature_mode,
                signature_mode_expires_at=self.signature_mode_expires_at,
            ),
        )


def new_tenant(**kwargs: Any) -> Tenant:
    return Tenant(account_sid=new_account_sid(), token=uuid.uuid4().hex, **kwargs)


async def wait_until(predicate: Callable[[], bool], within: float = 20.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds or the deadline passes."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------------------------- Kafka


def _port_open(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def ingress_kafka_bootstrap(kafka_bootstrap: str) -> str:
    """The stack's Kafka (the root conftest starts the dev stack when none is configured)."""
    return kafka_bootstrap


async def publish_states(bootstrap: str, records: list[tuple[str, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(INTEGRATION_STATE.name, value=value, key=key.encode())
    finally:
        await producer.stop()


async def seed(bootstrap: str, keyring: Keyring, *tenants: Tenant) -> None:
    await publish_states(bootstrap, [(t.integration_id, encode(t.state(keyring))) for t in tenants])


class TopicReader:
    """Reads a shared topic from the offsets it had when the reader started (older records are ignored)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        self._topic = topic
        self.records: list[Any] = []

    async def start(self) -> None:
        await self._consumer.start()
        # The spec's partition count: the consumer's metadata may not know the topic yet.
        assigned = [TopicPartition(self._topic, p) for p in range(by_name(self._topic).partitions)]
        self._consumer.assign(assigned)
        for tp, offset in (await self._consumer.end_offsets(assigned)).items():
            self._consumer.seek(tp, offset)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def collect(self, predicate: Callable[[Any], bool], count: int, within: float = 20.0) -> list[Any]:
        """Records matching ``predicate`` once at least ``count`` of them arrived (or fail at the deadline)."""
        deadline = time.monotonic() + within
        while True:
            matching = [r for r in self.records if predicate(r)]
            if len(matching) >= count:
                return matching
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(matching)} of {count} records arrived on {self._topic}")
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                self.records.extend(records)


@pytest.fixture
async def ingress_readers(ingress_kafka_bootstrap: str) -> AsyncIterator[dict[str, TopicReader]]:
    from byosms_common.topics import DELIVERY_REPORTS, INBOUND_MESSAGES

    readers = {
        "mo": TopicReader(ingress_kafka_bootstrap, INBOUND_MESSAGES.name),
        "dr": TopicReader(ingress_kafka_bootstrap, DELIVERY_REPORTS.name),
    }
    for reader in readers.values():
        await reader.start()
    yield readers
    for reader in readers.values():
        await reader.stop()


@pytest.fixture
def ingress_spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture(scope="session")
def ingress_kit() -> Any:
    """This module's helpers (test modules cannot import a conftest in importlib mode)."""
    import sys

    return sys.modules[__name__]

"""Message fidelity over HTTP: what each captured-shape webhook becomes (topic, event), what is refused
(4xx with a problem code, counted, nothing published), and bad input that must never be a 500.

A real local HTTP server; Kafka is replaced by an in-memory producer (the Kafka and routing round
trip is in tests/e2e/test_message_fidelity.py).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from byosms_common.messages import DeliveryReportReceived, InboundMessageReceived, decode
from byosms_common.regions import Region
from byosms_common.runtime import serve_http
from byosms_common.topics import DELIVERY_REPORTS, INBOUND_MESSAGES
from byosms_ingress.integrations_cache import IntegrationsCache
from byosms_ingress.metrics import IngressMetrics
from byosms_ingress.publishing import EventPublisher
from byosms_ingress.routes import RouteDeps, add_routes
from byosms_ingress.spool import Spool
from byosms_ingress.twilio_form import CALLBACK_STATUSES

pytestmark = pytest.mark.integration  # a real local HTTP server; no Kafka

FORM = "application/x-www-form-urlencoded"
API = "https://api.twilio.com/2010-04-01"


@dataclass
class MemoryProducer:
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
                   ) -> Any:  # fmt: skip
        assert value is not None
        assert key is not None
        self.sent.append((topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@dataclass
class Ingress:
    client: aiohttp.ClientSession
    port: int
    producer: MemoryProducer
    metrics: IngressMetrics
    tenant: Any
    region: Region
    kit: Any

    def path(self, endpoint: str) -> str:
        return self.region.inbound_path if endpoint == "mo" else self.region.status_path

    def url(self, endpoint: str) -> str:
        return self.region.base_url + self.path(endpoint)

    def signed(self, endpoint: str, params: list[tuple[str, str]], *, signed_url: str | None = None
               ) -> tuple[bytes, dict[str, str]]:  # fmt: skip
        sig = self.kit.sign(self.tenant.token, signed_url or self.url(endpoint), params)
        return self.kit.form(params), {"Content-Type": FORM, "X-Twilio-Signature": sig}

    async def post(self, endpoint: str, params: list[tuple[str, str]], **kwargs: Any) -> tuple[int, str]:
        body, headers = self.signed(endpoint, params, **kwargs)
        response = await self.client.post(self.path(endpoint), data=body, headers=headers)
        return response.status, await response.text()

    def events(self) -> list[tuple[str, Any]]:
        return [(topic, decode(value)) for topic, _, value in self.producer.sent]

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


async def _ingress(kit: Any, tmp_path: Path, region: Region) -> AsyncIterator[Ingress]:
    keyring = kit.new_keyring()
    cache = IntegrationsCache(keyring=keyring, region=region.id)
    tenant = kit.new_tenant()
    cache.apply(tenant.integration_id, tenant.state(keyring, region.id))
    metrics = IngressMetrics()
    spool = Spool(tmp_path / "spool", 2 * 1024 * 1024)
    await spool.open()
    publisher = EventPublisher(spool, metrics, deadline_s=1.0, drain_batch=10)
    producer = MemoryProducer()
    publisher.producer = producer
    app = web.Application(client_max_size=64 * 1024)
    add_routes(app, RouteDeps(region=region, cache=cache, publisher=publisher, metrics=metrics, ready=lambda: True))
    # Served as the ingress serves it (aiohttp's test server cancels handlers whose client went away).
    runner = await serve_http(app, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as client:
            yield Ingress(client, port, producer, metrics, tenant, region, kit)
    finally:
        await runner.cleanup()
        await spool.close()


@pytest.fixture
async def ingress(ingress_kit: Any, tmp_path: Path) -> AsyncIterator[Ingress]:
    async for running in _ingress(ingress_kit, tmp_path, ingress_kit.REGION):
        yield running


# ------------------------------------------------------------------------------ captured-shape payloads


def inbound(account: str, sid: str, *, body: str | None = "Hello", media: list[tuple[str, str]] | None = None,
            from_: str = "+14155550100", to: str = "+15005550006") -> list[tuple[str, str]]:  # fmt: skip
    """An inbound SMS/MMS as Twilio posts it (``body=None``: no Body field at all)."""
    media = media or []
    params = [("ToCountry", "US"), ("SmsMessageSid", sid), ("NumMedia", str(len(media))), ("ToCity", ""),
              ("SmsSid", sid), ("SmsStatus", "received")]  # fmt: skip
    for n, (url, content_type) in enumerate(media):
        params += [(f"MediaContentType{n}", content_type), (f"MediaUrl{n}", url)]
    if body is not None:
        params.append(("Body", body))
    return [*params, ("To", to), ("NumSegments", "1"), ("ReferralNumMedia", "0"), ("MessageSid", sid),
            ("AccountSid", account), ("From", from_), ("ApiVersion", "2010-04-01")]  # fmt: skip


def callback(account: str, sid: str, status: str, *, from_: str = "+15005550006", to: str = "+14155550100"
             ) -> list[tuple[str, str]]:  # fmt: skip
    return [("SmsSid", sid), ("SmsStatus", status), ("MessageStatus", status), ("To", to), ("MessageSid", sid),
            ("AccountSid", account), ("From", from_), ("ApiVersion", "2010-04-01")]  # fmt: skip


def own_media(account: str, sid: str, count: int) -> list[tuple[str, str]]:
    return [(f"{API}/Accounts/{account}/Messages/{sid}/Media/ME{n:032x}", f"image/t{n}") for n in range(count)]


INBOUND_CASES = [
    # label, body, own media, foreign media (kind), from, to, channel (None: sms)
    ("sms", "Hello", 0, None, "+14155550100", "+15005550006", None),
    ("mms with body, 1 item", "Look", 1, None, "+14155550100", "+15005550006", None),
    ("mms with empty Body, 1 item", "", 1, None, "+14155550100", "+15005550006", None),
    ("mms without Body, 1 item", None, 1, None, "+14155550100", "+15005550006", None),
    ("mms without Body, 10 items", None, 10, None, "+14155550100", "+15005550006", None),
    ("unicode", "Grüße 👋🏽 مرحبا 你好", 1, None, "+14155550100", "+15005550006", None),
    ("media of another account", "", 1, "account", "+14155550100", "+15005550006", None),
    ("media on another host", "x", 0, "host", "+14155550100", "+15005550006", None),
    ("whatsapp", "hi", 0, None, "whatsapp:+14155550100", "whatsapp:+15005550006", "whatsapp"),
    ("rcs with media, no Body", None, 2, None, "+14155550100", "rcs:brand_agent", "rcs"),
]


@pytest.mark.parametrize(
    ("label", "body", "own", "foreign", "from_", "to", "channel"), INBOUND_CASES, ids=[c[0] for c in INBOUND_CASES]
)
@pytest.mark.parametrize("endpoint", ["mo", "status"])
async def test_inbound_shapes(ingress: Ingress, label: str, body: str | None, own: int, foreign: str | None,
                              from_: str, to: str, channel: str | None, endpoint: str) -> None:  # fmt: skip
    """Every inbound message, with or without Body, on either URL, is an inbound event with all its media."""
    kit, account = ingress.kit, ingress.tenant.account_sid
    sid = kit.new_message_sid("MM" if own or foreign else "SM")
    media = own_media(account, sid, own)
    if foreign == "account":
        media.insert(0, (f"{API}/Accounts/{kit.new_account_sid()}/Messages/{sid}/Media/ME{7:032x}", "image/png"))
    if foreign == "host":
        media.append((f"https://attacker.example/2010-04-01/Accounts/{account}/Messages/{sid}/Media/ME1", "image/x"))
    status, text = await ingress.post(endpoint, inbound(account, sid, body=body, media=media, from_=from_, to=to))
    assert status == 200, text
    [(topic, event)] = ingress.events()
    assert topic == INBOUND_MESSAGES.name
    assert isinstance(event, InboundMessageReceived)
    assert event.id == event.payload.message_sid == sid
    assert event.payload.body == (body or "")
    kept = [(m.url, m.content_type) for m in event.payload.media]
    assert kept == own_media(account, sid, own)
    assert event.payload.media_dropped == (1 if foreign else 0)
    reason = "unsupported_channel" if channel else ""
    assert ingress.count("byosms_ingress_requests_total", endpoint=endpoint, kind="inbound", outcome="accepted",
                         reason=reason) == 1  # fmt: skip
    dropped_reason = {"account": "foreign_account", "host": "foreign_host"}.get(foreign or "")
    if dropped_reason:
        assert ingress.count("byosms_ingress_media_dropped_total", reason=dropped_reason) == 1
        assert "attacker.example" not in text


@pytest.mark.parametrize("status_value", sorted(CALLBACK_STATUSES))
@pytest.mark.parametrize("endpoint", ["mo", "status"])
@pytest.mark.parametrize("channel", ["", "whatsapp:", "rcs:"])
async def test_every_status_value_is_a_delivery_report(ingress: Ingress, status_value: str, endpoint: str,
                                                       channel: str) -> None:  # fmt: skip
    kit = ingress.kit
    sid = kit.new_message_sid()
    params = callback(ingress.tenant.account_sid, sid, status_value, from_=channel + "+15005550006")
    status, text = await ingress.post(endpoint, params)
    assert status == 200, text
    [(topic, event)] = ingress.events()
    assert topic == DELIVERY_REPORTS.name
    assert isinstance(event, DeliveryReportReceived)
    assert (event.id, event.payload.status) == (f"{sid}:{status_value}", status_value)
    reason = "unsupported_channel" if channel else ""
    assert ingress.count("byosms_ingress_requests_total", endpoint=endpoint, kind="status", outcome="accepted",
                         reason=reason) == 1  # fmt: skip


@pytest.mark.parametrize(
    ("label", "endpoint", "params"),
    [
        ("no status, no message, on mo", "mo", [("MessageSid", "SM" + "1" * 32)]),
        ("no status on status", "status", [("MessageSid", "SM" + "1" * 32), ("From", "+1"), ("To", "+2")]),
        ("no MessageSid", "mo", [("SmsStatus", "received"), ("Body", "x"), ("From", "+1"), ("To", "+2")]),
    ],
)
async def test_neither_is_refused_with_a_problem_code(ingress: Ingress, label: str, endpoint: str,
                                                      params: list[tuple[str, str]]) -> None:  # fmt: skip
    """Signed and from a connected account, but neither a message nor a status: 400, counted, not published."""
    full = [*params, ("AccountSid", ingress.tenant.account_sid)]
    status, text = await ingress.post(endpoint, full)
    assert status == 400, label
    answer = json.loads(text)
    assert answer["code"] == "webhook_not_recognized"
    assert answer["message"]["en"].startswith("This webhook is neither")
    assert answer["message"]["de"].startswith("Dieser Webhook ist weder")
    assert ingress.producer.sent == []
    assert ingress.count("byosms_ingress_requests_total", endpoint=endpoint, kind="", outcome="rejected",
                         reason="webhook_not_recognized") == 1  # fmt: skip


async def test_an_unsigned_unrecognized_webhook_learns_nothing(ingress: Ingress) -> None:
    """The signature is checked first: without it, the same 403 as for any unsigned request."""
    params = [("MessageSid", "SM" + "1" * 32), ("AccountSid", ingress.tenant.account_sid)]
    response = await ingress.client.post(ingress.path("mo"), data=ingress.kit.form(params),
                                         headers={"Content-Type": FORM})  # fmt: skip
    assert response.status == 403
    assert (await response.json())["code"] == "webhook_rejected"


# ------------------------------------------------------------------------------ signature URLs


@pytest.mark.parametrize(
    ("base", "signed_base"),
    [
        ("HTTPS://user:pass@hooks.example.com:8443", "https://user:pass@hooks.example.com"),  # port removed
        ("HTTPS://user:pass@hooks.example.com:8443", "https://user:pass@hooks.example.com:8443"),
        ("HTTPS://hooks.example.com", "https://hooks.example.com:443"),
        ("https://[2001:db8::1]:8443", "https://[2001:db8::1]"),
        ("https://[2001:db8::1]", "https://[2001:db8::1]:443"),
    ],
)
async def test_region_base_urls_as_twilio_signs_them(ingress_kit: Any, tmp_path: Path, base: str,
                                                     signed_base: str) -> None:  # fmt: skip
    region = ingress_kit.REGION.model_copy(update={"public_base_url": base})
    async for running in _ingress(ingress_kit, tmp_path, region):
        sid = ingress_kit.new_message_sid()
        params = inbound(running.tenant.account_sid, sid)
        status, text = await running.post("mo", params, signed_url=signed_base + region.inbound_path)
        assert status == 200, text
        assert len(running.producer.sent) == 1


# ------------------------------------------------------------------------------ never a 500


async def _raw(ingress: Ingress, request: bytes, *, close_after: bool = False) -> int | None:
    """Send bytes as they are; the answer's status (None when the connection is closed without one)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", ingress.port)
    try:
        writer.write(request)
        await writer.drain()
        if close_after:
            writer.close()
            return None
        head = await reader.readuntil(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1])
    finally:
        writer.close()


def _request(ingress: Ingress, body: bytes, headers: dict[str, str], length: int | None = None) -> bytes:
    length = len(body) if length is None else length
    lines = [f"POST {ingress.path('mo')} HTTP/1.1", "Host: x", f"Content-Length: {length}", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.mark.parametrize(
    ("label", "encoding", "body"),
    [
        ("gzip that is not gzip", "gzip", b"To=%2B1&From=%2B2"),
        ("gzip cut short", "gzip", gzip.compress(b"To=%2B1&From=%2B2" * 50)[:40]),
        ("deflate that is not deflate", "deflate", b"\x00\x01garbage"),
        ("gzip of garbage bytes", "gzip", gzip.compress(b"\xff\xfe\x00")),
    ],
)
async def test_a_body_not_matching_its_content_encoding_is_400(
    ingress: Ingress, caplog: pytest.LogCaptureFixture, label: str, encoding: str, body: bytes
) -> None:
    with caplog.at_level(logging.DEBUG):
        status = await _raw(ingress, _request(ingress, body, {"Content-Type": FORM, "Content-Encoding": encoding}))
    assert status == 400, label
    assert ingress.producer.sent == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], label
    assert all(r.exc_info is None for r in caplog.records if r.name.startswith("byosms")), label


async def test_a_real_gzip_body_is_read(ingress: Ingress) -> None:
    sid = ingress.kit.new_message_sid()
    body, headers = ingress.signed("mo", inbound(ingress.tenant.account_sid, sid))
    status = await _raw(ingress, _request(ingress, gzip.compress(body), {**headers, "Content-Encoding": "gzip"}))
    assert status == 200
    assert len(ingress.producer.sent) == 1


async def test_connections_dropped_mid_body_are_counted_and_logged_once(
    ingress: Ingress, caplog: pytest.LogCaptureFixture
) -> None:
    """Any client can drop connections at will: no ERROR, no traceback, one WARNING for many."""
    body, headers = ingress.signed("mo", inbound(ingress.tenant.account_sid, ingress.kit.new_message_sid()))
    with caplog.at_level(logging.DEBUG):
        for _ in range(5):
            await _raw(ingress, _request(ingress, body[:20], headers, length=len(body)), close_after=True)

        async def counted() -> float:
            return sum(
                ingress.count("byosms_ingress_requests_total", endpoint="mo", kind="", outcome="rejected", reason=r)
                for r in ("connection_lost", "truncated_body")
            )

        for _ in range(100):
            if await counted() == 5:
                break
            await asyncio.sleep(0.05)
        assert await counted() == 5
    assert ingress.producer.sent == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "byosms_ingress.refusals"]
    assert len(warnings) == 1
    assert body[:20].decode() not in warnings[0].getMessage()

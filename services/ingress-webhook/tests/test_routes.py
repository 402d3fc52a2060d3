"""The webhook routes against a table of real Twilio payloads, on a local HTTP server.

Kafka is replaced by an in-memory producer here; the Kafka round trip is in test_kafka_integration.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from byosms_common.messages import IntegrationStatus, decode
from byosms_common.topics import DELIVERY_REPORTS, INBOUND_MESSAGES
from byosms_ingress import signature
from byosms_ingress.integrations_cache import IntegrationsCache
from byosms_ingress.metrics import IngressMetrics
from byosms_ingress.publishing import EventPublisher
from byosms_ingress.routes import EMPTY_TWIML, RouteDeps, add_routes
from byosms_ingress.spool import Spool

pytestmark = pytest.mark.integration  # a real local HTTP server; no Kafka


@dataclass
class MemoryProducer:
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Any:
        import asyncio

        assert value is not None
        assert key is not None
        self.sent.append((topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@dataclass
class Harness:
    client: TestClient[web.Request, web.Application]
    producer: MemoryProducer
    cache: IntegrationsCache
    metrics: IngressMetrics
    tenants: dict[str, Any]


@pytest.fixture
async def harness(ingress_kit: Any, tmp_path: Path) -> AsyncIterator[Harness]:
    keyring = ingress_kit.new_keyring()
    cache = IntegrationsCache(keyring=keyring, region=ingress_kit.REGION.id)
    tenants = {
        "active": ingress_kit.new_tenant(),
        "inactive": ingress_kit.new_tenant(status=IntegrationStatus.INACTIVE),
        "shared": ingress_kit.new_tenant(shared_key="sk-" + "9" * 30),
        "deleted": ingress_kit.new_tenant(),
        "other_region": ingress_kit.new_tenant(),
    }
    for name, tenant in tenants.items():
        cache.apply(
            tenant.integration_id, tenant.state(keyring, "eu-west-1" if name == "other_region" else "us-east-1")
        )
    cache.apply(tenants["deleted"].integration_id, None)
    metrics = IngressMetrics()
    spool = Spool(tmp_path / "spool", 2 * 1024 * 1024)
    await spool.open()
    publisher = EventPublisher(spool, metrics, deadline_s=1.0, drain_batch=10)
    producer = MemoryProducer()
    publisher.producer = producer
    app = web.Application(client_max_size=64 * 1024)
    add_routes(
        app, RouteDeps(region=ingress_kit.REGION, cache=cache, publisher=publisher, metrics=metrics, ready=lambda: True)
    )
    async with TestClient(TestServer(app)) as client:
        yield Harness(client, producer, cache, metrics, tenants)
    await spool.close()


MO = "mo"
STATUS = "status"


def _case(label: str, *, tenant: str = "active", kind: str = "sms", endpoint: str = MO, signing: str = "token",
          query: str = "", content_type: str = "application/x-www-form-urlencoded", method: str = "POST",
          mutate: str = "", expected: int = 200, topic: str | None = None) -> Any:  # fmt: skip
    return pytest.param(tenant, kind, endpoint, signing, query, content_type, method, mutate, expected, topic, id=label)


CASES = [
    _case("sms signed by auth token", topic=INBOUND_MESSAGES.name),
    _case("mms with empty body", kind="mms", topic=INBOUND_MESSAGES.name),
    _case("status on status url", kind="status", endpoint=STATUS, topic=DELIVERY_REPORTS.name),
    _case("status posted to mo url", kind="status", topic=DELIVERY_REPORTS.name),
    _case("signed with :443", signing="port443", topic=INBOUND_MESSAGES.name),
    _case("query string kept exactly", kind="status", endpoint=STATUS, query="conversationId=abc%20def&x=%27",
          topic=DELIVERY_REPORTS.name),
    _case("inactive integration still published", tenant="inactive", topic=INBOUND_MESSAGES.name),
    _case("shared key sha256", tenant="shared", signing="shared256", topic=INBOUND_MESSAGES.name),
    _case("shared key sha1", tenant="shared", signing="shared1", topic=INBOUND_MESSAGES.name),
    _case("json body with bodySHA256", kind="json", content_type="application/json", topic=INBOUND_MESSAGES.name),
    _case("form with charset", content_type="application/x-www-form-urlencoded; charset=utf-8",
          topic=INBOUND_MESSAGES.name),
    _case("signature missing", signing="none", expected=403),
    _case("signature wrong", signing="garbage", expected=403),
    _case("signed with another token", signing="other", expected=403),
    _case("signed without the blank fields", signing="drop_blanks", expected=403),
    _case("signed over the internal url", signing="internal_url", expected=403),
    _case("query changed after signing", query="a=1", signing="token_without_query", expected=403),
    _case("shared key header but none configured", signing="shared256", expected=403),
    _case("unsupported algorithm", tenant="shared", signing="shared_md5", expected=403),
    _case("unknown account", mutate="unknown_account", expected=403),
    _case("deleted integration", tenant="deleted", expected=403),
    _case("integration of another region", tenant="other_region", expected=403),
    _case("body changed after signing", mutate="tamper_body", expected=403),
    _case("json body changed after signing", kind="json", content_type="application/json", mutate="tamper_body",
          expected=403),
    _case("json without bodySHA256", kind="json_no_hash", content_type="application/json", expected=400),
    _case("malformed form", mutate="malformed", expected=400),
    _case("no AccountSid", mutate="no_account", expected=400),
    _case("signed but no MessageSid", mutate="no_message_sid", expected=400),
    _case("signed status without sid", kind="status", endpoint=STATUS, mutate="no_message_sid", expected=400),
    _case("json not an object", kind="json_array", content_type="application/json", expected=400),
    _case("body not utf-8", kind="json_bad_utf8", content_type="application/json", expected=400),
    _case("text/plain", content_type="text/plain", expected=415),
    _case("multipart", content_type="multipart/form-data; boundary=x", expected=415),
    _case("GET", method="GET", expected=405),
    _case("PUT", method="PUT", expected=405),
    _case("too large", mutate="huge", expected=413),
    _case("wrong region key", mutate="other_region_key", expected=404),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tenant_name", "kind", "endpoint", "signing", "query", "content_type", "method", "mutate", "expected", "topic"),
    CASES,
)
async def test_webhook_table(
    harness: Harness,
    ingress_kit: Any,
    tenant_name: str,
    kind: str,
    endpoint: str,
    signing: str,
    query: str,
    content_type: str,
    method: str,
    mutate: str,
    expected: int,
    topic: str | None,
) -> None:
    kit = ingress_kit
    tenant = harness.tenants[tenant_name]
    account = kit.new_account_sid() if mutate == "unknown_account" else tenant.account_sid
    sid = kit.new_message_sid("MM" if kind == "mms" else "SM")
    params = kit.status_params(account, sid) if kind == "status" else kit.sms_params(account, sid)
    if kind == "mms":
        params = [(n, "" if n == "Body" else ("1" if n == "NumMedia" else v)) for n, v in params] + [
            ("MediaUrl0", f"https://api.twilio.com/2010-04-01/Accounts/{account}/Messages/{sid}/Media/ME1"),
            ("MediaContentType0", "image/jpeg"),
        ]
    if mutate == "no_account":
        params = [p for p in params if p[0] != "AccountSid"]
    if mutate == "no_message_sid":
        params = [p for p in params if p[0] not in ("MessageSid", "SmsSid", "SmsMessageSid")]
    base = kit.MO_URL if endpoint == MO else kit.STATUS_URL
    path = base.removeprefix(kit.REGION.base_url)
    if mutate == "other_region_key":
        path = path.replace(kit.REGION.key, "0" * 32)
    json_body: str | None = None
    if kind.startswith("json"):
        json_body = json.dumps(dict(params))
        if kind == "json":
            query = "bodySHA256=" + signature.body_hash(json_body)
    url = base + ("?" + query if query else "")
    signed_params: list[tuple[str, str]] = [] if json_body is not None else params
    secret = tenant.shared_key or tenant.token
    headers = {"Content-Type": content_type}
    sig = {
        "token": lambda: kit.sign(tenant.token, url, signed_params),
        "port443": lambda: kit.sign(tenant.token, url.replace(".com/", ".com:443/"), signed_params),
        "none": lambda: None,
        "garbage": lambda: "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "other": lambda: kit.sign("f" * 32, url, signed_params),
        "drop_blanks": lambda: kit.sign(tenant.token, url, [p for p in signed_params if p[1]]),
        "internal_url": lambda: kit.sign(tenant.token, "http://127.0.0.1:8080" + path, signed_params),
        "token_without_query": lambda: kit.sign(tenant.token, base, signed_params),
        "shared256": lambda: kit.sign(secret, url, signed_params, "HMAC_SHA256"),
        "shared1": lambda: kit.sign(secret, url, signed_params, "HMAC_SHA1"),
        "shared_md5": lambda: kit.sign(secret, url, signed_params, "HMAC_SHA1"),
    }[signing]()
    if sig is not None:
        headers["X-Twilio-Signature"] = sig
    if signing.startswith("shared"):
        algorithm = {"shared256": "HMAC_SHA256", "shared1": "HMAC_SHA1", "shared_md5": "HMAC_MD5"}[signing]
        headers["X-Twilio-Webhooks-Signature-Settings"] = f"key=webhooks_sharedkey_1,algorithm={algorithm}"
    if json_body is not None:
        body = json_body.encode()
        if kind == "json_array":
            body = b"[1, 2]"
        if kind == "json_bad_utf8":
            body = b'{"a": "\xff"}'
    else:
        body = kit.form(params)
    if mutate == "tamper_body":
        body = body.replace(b"Hello", b"Hallo")
    if mutate == "malformed":
        body = b"AccountSid=" + account.encode() + b"&&Body"
    if mutate == "huge":
        body = kit.form([*params, ("Padding", "x" * 70_000)])
    target = path + ("?" + query if query else "")
    # The Host header is whatever the load balancer sends: it must not matter.
    headers["Host"] = "internal-lb.local:8080"
    # encoded=True: the client must send the query exactly as signed (yarl would normalise %27 to ').
    server = harness.client.server
    url_sent = URL(f"http://{server.host}:{server.port}{target}", encoded=True)
    response = await harness.client.session.request(method, url_sent, data=body, headers=headers)
    text = await response.text()
    assert response.status == expected, text
    if expected == 200:
        assert response.content_type == "text/xml"
        assert text == EMPTY_TWIML
        assert len(harness.producer.sent) == 1
        sent_topic, key, value = harness.producer.sent[0]
        assert sent_topic == topic
        event = decode(value)
        assert event.organization_id == tenant.organization_id
        assert event.payload.integration_id == tenant.integration_id  # type: ignore[union-attr]
        if topic == INBOUND_MESSAGES.name:
            assert event.id == sid
            assert key.decode() == "+15005550006|+14155550100"
        else:
            assert event.id == f"{sid}:delivered"
            assert key.decode() == sid
    else:
        assert harness.producer.sent == []
        payload = json.loads(text)
        assert payload["message"]["en"]
        assert payload["message"]["de"]
        if expected == 403:
            assert "token" not in text.lower() or "signature" in text.lower()


async def test_metrics_count_outcomes(harness: Harness, ingress_kit: Any) -> None:
    kit = ingress_kit
    tenant = harness.tenants["active"]
    params = kit.sms_params(tenant.account_sid, kit.new_message_sid())
    path = kit.MO_URL.removeprefix(kit.REGION.base_url)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    await harness.client.post(path, data=kit.form(params), headers=headers)
    await harness.client.post(
        path,
        data=kit.form(params),
        headers={**headers, "X-Twilio-Signature": kit.sign(tenant.token, kit.MO_URL, params)},
    )
    status = kit.status_params(tenant.account_sid, kit.new_message_sid())
    await harness.client.post(
        path,
        data=kit.form(status),
        headers={**headers, "X-Twilio-Signature": kit.sign(tenant.token, kit.MO_URL, status)},
    )
    await harness.client.post(path, data=b"a=1&&b", headers=headers)
    sample = harness.metrics.registry.get_sample_value
    requests = "byosms_ingress_requests_total"
    # endpoint = the URL called, kind = what the webhook was, for rejections and acceptances alike.
    labels = {"endpoint": "mo", "kind": "inbound", "outcome": "rejected", "reason": "signature_missing"}
    assert sample(requests, labels) == 1
    assert sample(requests, {"endpoint": "mo", "kind": "inbound", "outcome": "accepted", "reason": ""}) == 1
    assert sample(requests, {"endpoint": "mo", "kind": "status", "outcome": "accepted", "reason": ""}) == 1
    assert sample(requests, {"endpoint": "mo", "kind": "", "outcome": "rejected", "reason": "malformed_form"}) == 1
    assert sample("byosms_ingress_publish_seconds_count") == 2


# ------------------------------------------------------------------ nothing a client sends is a 500


async def _raw(harness: Harness, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client library would send these) and return status and body."""
    server = harness.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:])
        body = await reader.readexactly(length)
    finally:
        writer.close()
    return int(head.split(b" ", 2)[1]), body


def _signed_json(kit: Any, tenant: Any, body: str) -> tuple[str, dict[str, str]]:
    query = "bodySHA256=" + signature.body_hash(body)
    url = kit.MO_URL + "?" + query
    headers = {"Content-Type": "application/json", "X-Twilio-Signature": kit.sign(tenant.token, url, [])}
    return kit.MO_URL.removeprefix(kit.REGION.base_url) + "?" + query, headers


@pytest.mark.parametrize(
    ("label", "body"),
    [
        ("deeply nested", "[" * 20_000 + "]" * 20_000),
        ("nested inside an object", '{"AccountSid": ' + "[" * 20_000 + "]" * 20_000 + "}"),
        ("integer over 4300 digits", '{"AccountSid": "AC1", "NumSegments": ' + "9" * 5000 + "}"),
    ],
)
async def test_json_python_cannot_parse_is_400(harness: Harness, ingress_kit: Any, label: str, body: str) -> None:
    path = ingress_kit.MO_URL.removeprefix(ingress_kit.REGION.base_url)
    response = await harness.client.post(path, data=body.encode(), headers={"Content-Type": "application/json"})
    assert response.status == 400, label
    assert (await response.json())["code"] == "invalid_request"


async def test_signed_json_with_a_lone_surrogate_is_400(harness: Harness, ingress_kit: Any) -> None:
    kit = ingress_kit
    tenant = harness.tenants["active"]
    params = dict(kit.sms_params(tenant.account_sid, kit.new_message_sid()))
    body = json.dumps(params).replace('"Hello world"', '"Hello \\ud800"')
    assert "\\ud800" in body
    path, headers = _signed_json(kit, tenant, body)
    response = await harness.client.post(path, data=body.encode(), headers=headers)
    assert response.status == 400, await response.text()
    assert harness.producer.sent == []


async def test_undecodable_signature_header_is_403(harness: Harness, ingress_kit: Any) -> None:
    kit = ingress_kit
    tenant = harness.tenants["active"]
    body = kit.form(kit.sms_params(tenant.account_sid, kit.new_message_sid()))
    path = kit.MO_URL.removeprefix(kit.REGION.base_url)
    request = (
        (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        ).encode()
        + b"X-Twilio-Signature: abc\xff\xfedef=\r\n\r\n"
        + body
    )
    status, text = await _raw(harness, request)
    assert status == 403, text
    assert json.loads(text)["code"] == "webhook_rejected"


@pytest.fixture
def pure_python_http_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp's pure-Python request parser (AIOHTTP_NO_EXTENSIONS, PyPy) lets raw non-UTF-8 bytes of the
    request line through as surrogates; the C parser refuses them itself."""
    from aiohttp import http_parser, web_protocol

    monkeypatch.setattr(web_protocol, "HttpRequestParser", http_parser.HttpRequestParserPy)


async def test_undecodable_query_is_400(harness: Harness, ingress_kit: Any, pure_python_http_parser: None) -> None:
    kit = ingress_kit
    tenant = harness.tenants["active"]
    params = kit.sms_params(tenant.account_sid, kit.new_message_sid())
    body = kit.form(params)
    path = kit.MO_URL.removeprefix(kit.REGION.base_url)
    request = (
        (f"POST {path}?a=").encode()
        + b"\xff\xfe"
        + (
            f" HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {kit.sign(tenant.token, kit.MO_URL + '?a=', params)}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        + body
    )
    status, text = await _raw(harness, request)
    assert status == 400, text
    assert harness.producer.sent == []


async def test_a_bug_answers_a_bare_500_without_a_stack_trace(
    harness: Harness, ingress_kit: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever goes wrong inside, the caller gets a JSON error code, never a traceback; the log has it."""

    def broken(*_: Any) -> Any:
        raise RuntimeError("a bug in the ingress")

    monkeypatch.setattr(harness.cache, "find", broken)
    kit = ingress_kit
    tenant = harness.tenants["active"]
    params = kit.sms_params(tenant.account_sid, kit.new_message_sid())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": kit.sign(tenant.token, kit.MO_URL, params),
    }
    response = await harness.client.post(
        kit.MO_URL.removeprefix(kit.REGION.base_url), data=kit.form(params), headers=headers
    )
    assert response.status == 500
    assert await response.json() == {"code": "internal_error"}
    assert "a bug in the ingress" in caplog.text
    assert harness.producer.sent == []

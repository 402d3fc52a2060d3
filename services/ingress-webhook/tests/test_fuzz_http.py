"""Fuzzing the ingress's HTTP surface: whatever a client sends, never a 5xx, never an ERROR log line,
and nothing published for a refusal (exactly one event for an answer of 200).

The app runs as the ingress serves it (``serve_http``) in a thread with its own event loop; hypothesis
drives raw requests over sockets: random Twilio-like forms (signed or not, mutated after signing),
JSON, random bytes, content types, Content-Encodings that match or not, extra headers, and bodies cut
short with the connection closed. Kafka is an in-memory producer.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from byosms_common.runtime import serve_http
from byosms_ingress.integrations_cache import IntegrationsCache
from byosms_ingress.metrics import IngressMetrics
from byosms_ingress.publishing import EventPublisher
from byosms_ingress.refusals import QuietHttpErrors
from byosms_ingress.routes import RouteDeps, add_routes
from byosms_ingress.spool import Spool

pytestmark = pytest.mark.integration  # a real local HTTP server; no Kafka


@dataclass
class _Producer:
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
                   ) -> Any:  # fmt: skip
        self.sent.append((topic, key or b"", value or b""))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class _Errors(logging.Handler):
    """Records at ERROR and above, and any record with a traceback, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@dataclass
class Running:
    port: int
    producer: _Producer
    tenant: Any
    kit: Any
    errors: _Errors


@pytest.fixture(scope="module")
def running(ingress_kit: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    kit = ingress_kit
    keyring = kit.new_keyring()
    tenant = kit.new_tenant()
    producer = _Producer()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    port: list[int] = []

    async def serve() -> None:
        cache = IntegrationsCache(keyring=keyring, region=kit.REGION.id)
        cache.apply(tenant.integration_id, tenant.state(keyring))
        metrics = IngressMetrics()
        spool = Spool(tmp_path_factory.mktemp("fuzz") / "spool", 8 * 1024 * 1024)
        await spool.open()
        publisher = EventPublisher(spool, metrics, deadline_s=1.0, drain_batch=10)
        publisher.producer = producer
        app = web.Application(client_max_size=16 * 1024)
        deps = RouteDeps(region=kit.REGION, cache=cache, publisher=publisher, metrics=metrics, ready=lambda: True)
        add_routes(app, deps)
        runner = await serve_http(app, "127.0.0.1", 0)
        port.append(runner.addresses[0][1])
        started.set()
        await stop.wait()
        await runner.cleanup()
        await spool.close()
        # Connections still lingering (aiohttp reads on a few seconds for bodies the client never finished).
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    quiet = QuietHttpErrors()  # as the Ingress installs it on start
    quiet.install()
    thread.start()
    assert started.wait(20)
    try:
        yield Running(port[0], producer, tenant, kit, errors)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(20)
        loop.close()
        quiet.remove()
        logging.getLogger().removeHandler(errors)


# ------------------------------------------------------------------------------ strategies

_TWILIO_NAMES = ["MessageSid", "SmsSid", "SmsMessageSid", "AccountSid", "From", "To", "Body", "NumMedia",
                 "NumSegments", "SmsStatus", "MessageStatus", "ErrorCode", "MediaUrl0", "MediaContentType0",
                 "MediaUrl9", "MediaUrl10", "MessagingServiceSid", "ApiVersion", "OptOutType"]  # fmt: skip
_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
_values = st.one_of(
    _text,
    st.sampled_from(["received", "delivered", "read", "canceled", "paused", "", "-1", "99999999999999999999", "1e3",
                     "²", "0001", "whatsapp:+14155550100", "rcs:agent", "+15005550006", "https://api.twilio.com/2010-04-01/x"]),
    st.from_regex(r"[0-9]{1,5000}", fullmatch=True),
)  # fmt: skip
_params = st.lists(st.tuples(st.one_of(st.sampled_from(_TWILIO_NAMES), _text), _values), max_size=25)


@st.composite
def requests(draw: st.DrawFn, tenant: Any, kit: Any) -> tuple[bytes, bool, bool]:
    """(raw request bytes, whether the connection is closed before the body is complete). A quarter are
    Twilio's own webhooks, only sent in another encoding (each must be published), the rest anything."""
    clean = draw(st.integers(0, 3)) == 0
    endpoint = draw(st.sampled_from(["mo", "status"] if clean else ["mo", "status", "other"]))
    path = {"mo": kit.REGION.inbound_path, "status": kit.REGION.status_path}.get(endpoint, "/vendors/v1/twilio/x/mo")
    query = "" if clean else draw(st.one_of(st.just(""), _text.map(lambda t: "?" + quote(t, safe="=&%"))))
    method = "POST" if clean else draw(st.sampled_from(["POST"] * 8 + ["GET", "PUT", "DELETE"]))
    shape = "twilio" if clean else draw(st.sampled_from(["twilio", "twilio", "params", "json", "bytes"]))
    headers: dict[str, str] = {}
    if shape in ("twilio", "params"):
        params: list[tuple[str, str]] = []
        if shape == "twilio":
            sid = kit.new_message_sid(draw(st.sampled_from(["SM", "MM"])))
            statuses = ["received", "delivered", "read", "failed", "receiving", "weird", None]
            status = draw(st.sampled_from(statuses[:4] if clean else statuses))
            params = (
                kit.sms_params(tenant.account_sid, sid)
                if status == "received"
                else [
                    ("MessageSid", sid),
                    ("AccountSid", tenant.account_sid),
                    ("From", "+15005550006" if clean else draw(_values)),
                    ("To", "+14155550100"),
                ]
            )
            if status not in ("received", None):
                params.append(("MessageStatus", status))
            if not clean and draw(st.booleans()):
                params = [p for p in params if p[0] != draw(st.sampled_from(_TWILIO_NAMES))]
        if not clean:
            params += draw(_params)
        body = kit.form(params)
        if clean or draw(st.booleans()):  # signed as Twilio signs (then maybe changed)
            url = kit.REGION.base_url + path + query
            headers["X-Twilio-Signature"] = kit.sign(tenant.token, url, params)
        if not clean and draw(st.booleans()):
            body = draw(st.sampled_from([body[:-1], body + b"&", body.replace(b"=", b"", 1), body + b"%", body]))
        content_type = (
            "application/x-www-form-urlencoded"
            if clean
            else draw(
                st.sampled_from(
                    [
                        "application/x-www-form-urlencoded",
                        "application/x-www-form-urlencoded; charset=utf-8",
                        "text/plain",
                        "",
                    ]
                )
            )
        )
    elif shape == "json":
        body = draw(
            st.sampled_from(
                [
                    b"{",
                    b"[]",
                    b'{"AccountSid": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                    b'{"AccountSid": "' + tenant.account_sid.encode() + b'", "MessageSid": 1}',
                    b'{"a": "\\ud800"}',
                    b"\xff\xfe",
                    b"null",
                ]
            )
        )
        content_type = "application/json"
    else:
        body = draw(st.binary(max_size=300))
        content_type = draw(
            st.sampled_from(
                [
                    "application/x-www-form-urlencoded",
                    "application/json",
                    "multipart/form-data; boundary=x",
                    "application/octet-stream",
                ]
            )
        )
    if content_type:
        headers["Content-Type"] = content_type
    encodings = [None, "gzip", "deflate", "identity", "gzip-bad", "deflate-bad", "br", "x-unknown", "gzip, gzip"]
    encoding = draw(st.sampled_from(encodings[:4] if clean else encodings))
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "deflate":
        body = zlib.compress(body)
    if encoding is not None:
        headers["Content-Encoding"] = encoding.removesuffix("-bad")
    header_names = st.sampled_from(["X-Twilio-Signature", "X-Twilio-Webhooks-Signature-Settings", "traceparent",
                                    "I-Twilio-Idempotency-Token", "X-Random"])  # fmt: skip
    header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
    for name, value in draw(st.lists(st.tuples(header_names, header_values), max_size=0 if clean else 3)):
        headers[name] = value
    cut = None if clean else draw(st.sampled_from([None] * 6 + ["short", "close"]))
    length = len(body) + (draw(st.integers(1, 50)) if cut else 0)
    head = [f"{method} {path}{query} HTTP/1.1", "Host: fuzz", f"Content-Length: {length}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body, cut is not None, clean


def _send(port: int, request: bytes, cut: bool) -> int | None:
    """The answer's status, or None when the request was cut short (the client closes instead)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        if cut:
            sock.shutdown(socket.SHUT_WR)  # the client is gone mid-body
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_no_request_is_answered_5xx(running: Running) -> None:
    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        request, cut, clean = data.draw(requests(running.tenant, running.kit))
        before = len(running.producer.sent)
        status = _send(running.port, request, cut)
        published = len(running.producer.sent) - before
        assert status is None or status < 500, request[:300]
        if clean:
            assert status == 200, request[:300]
        if status == 200:
            assert published == 1, request[:300]
        else:
            assert published == 0, request[:300]
        assert not running.errors.records, [r.getMessage() for r in running.errors.records]

    fuzz()
    assert running.producer.sent  # the fuzzing got past the signature check too

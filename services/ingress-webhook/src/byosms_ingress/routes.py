"""HTTP routes Twilio calls. Thin: read, look up, validate, map, publish, answer.

Order of checks: method (405), region key (404), content type (415), size (413), a body that can be
read (400: a Content-Encoding it does not match, cut short, the client gone), readiness (503), body
(400), AccountSid → integration (403), signature (403), what the webhook is (400
``webhook_not_recognized`` when neither an inbound message nor a status callback), Twilio parameters
(400), durable acceptance (200, or 503 when the spool is full). Refusals a client can cause at will are logged at
WARNING, once per kind and then rate limited, never with the body (refusals.py).

Signatures: the Auth Token, or during an Auth Token rotation window the current or the next token
(``signed_with`` on the event says which matched); the SharedKey a webhook names. An integration in
signature mode ``observe`` has a failing signature counted, reported and logged (without secrets),
and the message accepted with ``signature_failure`` on its event; ``enforce`` refuses it (403). Observe
holds only until its expiry (``signature_mode_expires_at`` on the state record), judged at the time the
webhook arrived: after it the integration is in enforce here, whatever the record still says.

Each webhook request gets a server span (``RouteDeps.tracer``), continuing the caller's W3C trace
context if it sent one; the events it publishes carry the span's context (envelope ``trace`` and
record headers). Without a tracer (tracing off: no OTLP endpoint) no span is made, and a caller's
trace context, when there is one, is passed on to the events unchanged. Nothing a client sends may
produce a stack trace: a bug answers a bare 500 and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from byosms_common.channels import UNSUPPORTED_CHANNEL
from byosms_common.errors import localized
from byosms_common.regions import Region
from byosms_ingress import signature
from byosms_ingress.events import build_record
from byosms_ingress.integrations_cache import (
    Integration,
    IntegrationsCache,
    SecretField,
    SecretUnavailableError,
    select_shared_key,
)
from byosms_ingress.metrics import IngressMetrics
from byosms_ingress.publishing import EventPublisher
from byosms_ingress.refusals import RefusalLog
from byosms_ingress.signature_failures import SignatureFailureReporter
from byosms_ingress.spool import SpoolFullError, SpoolWriteError
from byosms_ingress.twilio_form import (
    Endpoint,
    FormError,
    Params,
    account_sid,
    classify,
    kind_of,
    parse_form,
    parse_json_object,
)

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
_EMPTY_TWIML_BYTES = EMPTY_TWIML.encode()
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
_TRACEPARENT = "traceparent"


@dataclass(frozen=True)
class RouteDeps:
    region: Region
    cache: IntegrationsCache
    publisher: EventPublisher
    metrics: IngressMetrics
    ready: Callable[[], bool]
    signature_failures: SignatureFailureReporter | None = None
    tracer: trace.Tracer | None = None  # None: no spans (tracing is off)
    refusals: RefusalLog = field(default_factory=RefusalLog)


class Rejected(Exception):
    """Ends a request with an error status; ``reason`` labels the metric."""

    def __init__(self, status: int, code: str, reason: str, **params: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason, self.params = status, code, reason, params


def add_routes(app: web.Application, deps: RouteDeps) -> None:
    for endpoint in Endpoint:
        app.router.add_route("*", "/vendors/v1/twilio/{region_key}/" + endpoint.value, _handler(deps, endpoint))


def _handler(deps: RouteDeps, endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.Response]]:
    tracer = deps.tracer

    async def handle(request: web.Request) -> web.Response:
        headers = request.headers
        try:
            # Twilio sends no trace context: the propagators run only when a caller (a tracing proxy)
            # sent one, since extracting nothing costs about as much as a span.
            parent = propagate.extract(headers) if _TRACEPARENT in headers else None
            if tracer is not None:
                name = f"{request.method} {request.path}"
                with tracer.start_as_current_span(name, context=parent, kind=trace.SpanKind.SERVER) as span:
                    response = await _answer(request, deps, endpoint)
                    span.set_attribute("http.response.status_code", response.status)
                    return response
            if parent is None:
                return await _answer(request, deps, endpoint)
            token = otel_context.attach(parent)
            try:
                return await _answer(request, deps, endpoint)
            finally:
                otel_context.detach(token)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("unexpected error handling %s %s", request.method, request.path)
            return web.json_response({"code": "internal_error"}, status=500)

    return handle


async def _answer(request: web.Request, deps: RouteDeps, endpoint: Endpoint) -> web.Response:
    seen = _Seen()
    try:
        outcome = await _accept(request, deps, endpoint, seen)
    except Rejected as rejected:
        outcome_label = "unavailable" if rejected.status == 503 else "rejected"
        deps.metrics.count_request(endpoint.value, seen.kind, outcome_label, rejected.reason)
        if rejected.status in _CLIENT_ERRORS:
            deps.refusals.refused(rejected.status, rejected.reason, endpoint.value)
        return _error(rejected)
    deps.metrics.count_request(endpoint.value, seen.kind, outcome, seen.reason)
    return web.Response(body=_EMPTY_TWIML_BYTES, content_type="text/xml", charset="utf-8")


@dataclass
class _Seen:
    """What a request turned out to be, for the metric labels (empty until classified)."""

    kind: str = ""
    reason: str = ""
    """Why an accepted webhook is special (``unsupported_channel``); empty for the usual ones."""


# What any client can trigger at will: logged once per kind and then rate limited (refusals.py).
# Signature failures (403) are also reported per integration to provisioning (signature_failures.py).
_CLIENT_ERRORS = frozenset({400, 403, 404, 405, 413, 415})


async def _accept(request: web.Request, deps: RouteDeps, endpoint: Endpoint, seen: _Seen) -> str:
    if request.method != "POST":
        raise Rejected(405, "method_not_allowed", "method")
    if request.match_info["region_key"] != deps.region.key:
        raise Rejected(404, "not_found", "unknown_region_key")
    content_type = request.content_type
    if content_type not in (FORM, JSON):
        raise Rejected(415, "unsupported_media_type", "content_type")
    body = await _read_body(request)
    received_at = datetime.now(UTC)
    if not deps.ready():
        raise Rejected(503, "ingress_unavailable", "not_ready")
    url = public_url(deps.region, endpoint, request.raw_path)
    if not _utf8(url):
        # Undecodable bytes in the request line reach us as surrogates (pure-Python HTTP parser):
        # Twilio percent-encodes its URLs, so this is not a Twilio request.
        raise Rejected(400, "invalid_request", "malformed_url", detail="URL is not valid UTF-8")
    try:
        json_body = None if content_type == FORM else body.decode("utf-8")
        params = parse_form(body) if json_body is None else parse_json_object(json_body)
        guess = kind_of(params, endpoint)  # for the metric's label, also when refused below
        seen.kind = guess.value if guess is not None else ""
        integration = _integration(deps.cache, account_sid(params))
        signed_with: SecretField | None = None
        failure: str | None = None
        try:
            signed_with = _check_signature(request, deps.cache, integration, url, params, json_body, received_at)
        except Rejected as rejected:
            if rejected.status != 403:
                raise
            if deps.signature_failures is not None:
                deps.signature_failures.failure(integration, rejected.reason)
            mode = integration.signature_mode_at(received_at)
            observed = mode == "observe" and rejected.reason in OBSERVABLE
            deps.metrics.count_rejection(integration.integration_id, rejected.reason, mode)
            if not observed:
                raise
            log.warning(
                "webhook for integration %s failed signature validation (%s); accepted: signature mode observe",
                integration.integration_id,
                rejected.reason,
            )
            failure = rejected.reason
        if signed_with is not None:
            deps.metrics.count_match(signed_with)
            if deps.signature_failures is not None:
                deps.signature_failures.accepted(integration)
        kind = classify(params, endpoint)  # after the signature: unsigned callers learn nothing of it
        built = build_record(
            kind, params, integration, deps.region.id, received_at, signed_with=signed_with, signature_failure=failure
        )
    except FormError as exc:
        raise Rejected(400, exc.code, exc.reason, detail=exc.detail) from None
    except UnicodeDecodeError:
        raise Rejected(400, "invalid_request", "malformed_json", detail="body is not UTF-8") from None
    record = built.record
    if built.media_dropped:
        deps.metrics.count_media_dropped(built.media_dropped)
        deps.refusals.media_dropped(integration.integration_id, record.event_id, built.media_dropped)
    try:
        outcome = await deps.publisher.publish(record)
    except SpoolFullError:
        log.error("spool full: answering 503 for %s", record.event_id)
        raise Rejected(503, "ingress_unavailable", "spool_full") from None
    except SpoolWriteError:
        raise Rejected(503, "ingress_unavailable", "spool_write_failed") from None
    if built.channel is not None:
        # Published all the same: routing records the inbound ones as discarded (unsupported_channel),
        # and a status callback changes only a send of byosms with that MessageSid (RCS fallback).
        seen.reason = UNSUPPORTED_CHANNEL
    return outcome.value


async def _read_body(request: web.Request) -> bytes:
    """The body (decompressed as its Content-Encoding says), or Rejected with a 4xx: too large, a
    Content-Encoding it does not match, a body shorter than announced, or a client gone mid-body
    (then no one reads the answer, but the request is counted and logged like the others)."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Rejected(413, "payload_too_large", "body_too_large") from None
    except web.RequestPayloadError as exc:  # aiohttp's wrapper of the body parser's error
        # What is left of the body is of no use: mark it read, so the server does not linger reading
        # on after the answer (and log the same error again, at ERROR, with a traceback).
        request.content.feed_eof()
        if isinstance(exc.__cause__, ContentEncodingError):
            raise Rejected(400, "invalid_request", "malformed_encoding", detail=_NOT_ITS_ENCODING) from None
        raise Rejected(400, "invalid_request", "truncated_body", detail="the body is incomplete") from None
    except ConnectionError:
        raise Rejected(400, "invalid_request", "connection_lost", detail="the connection closed mid-body") from None


_NOT_ITS_ENCODING = "the body does not match its Content-Encoding"


def public_url(region: Region, endpoint: Endpoint, raw_path: str) -> str:
    """The URL Twilio requested: the region's configured public base (we sit behind load balancers and
    TLS termination, so the Host header proves nothing), our path, and the query byte for byte."""
    path = region.inbound_path if endpoint is Endpoint.MO else region.status_path
    _, has_query, query = raw_path.partition("?")
    return region.base_url + path + (("?" + query) if has_query else "")


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _integration(cache: IntegrationsCache, account: str) -> Integration:
    integration = cache.find(account)
    if integration is None:
        reason = "deleted_integration" if cache.was_deleted(account) else "unknown_account"
        raise Rejected(403, "webhook_rejected", reason)
    return integration


# Rejections an integration in signature mode ``observe`` accepts: a signature that is missing, wrong or in
# a scheme it cannot check, once the integration is known and has its credentials.
OBSERVABLE = frozenset(
    {*(v.value for v in signature.Verdict if v is not signature.Verdict.VALID), "unknown_shared_key"}
)


def _check_signature(
    request: web.Request,
    cache: IntegrationsCache,
    integration: Integration,
    url: str,
    params: Params,
    json_body: str | None,
    now: datetime,
) -> SecretField:
    """Which of the integration's secrets signed the webhook; Rejected (403) when none did."""
    settings = signature.parse_signature_settings(request.headers.get(signature.SIGNATURE_SETTINGS_HEADER))
    field = _secret_field(integration, settings.key_id)
    fields: list[SecretField] = [field]
    if field == "auth_token" and integration.next_token_valid(now):
        fields.append("auth_token_next")  # a rotation window: the next token signs too
    try:
        secrets = [cache.secret(integration, name) for name in fields]
    except SecretUnavailableError:
        raise Rejected(503, "ingress_unavailable", "secret_unavailable") from None
    if secrets[0] is None:
        raise Rejected(403, "webhook_rejected", "no_auth_token" if field == "auth_token" else "no_shared_key")
    candidates = [(name, secret) for name, secret in zip(fields, secrets, strict=True) if secret is not None]
    keys = [secret for _, secret in candidates]
    header = request.headers.get(signature.SIGNATURE_HEADER)
    if json_body is None:
        verdict, index = signature.check_form_any(keys, url, params, header, settings.algorithm)
    elif signature.json_body_hash_param(url) is None:
        raise FormError("missing_parameter", "bodySHA256 is missing from the URL of a JSON webhook")
    else:
        verdict, index = signature.check_json_any(keys, url, json_body, header, settings.algorithm)
    if verdict is not signature.Verdict.VALID or index is None:
        raise Rejected(403, "webhook_rejected", verdict.value)
    return candidates[index][0]


def _secret_field(integration: Integration, key_id: str | None) -> SecretField:
    """The Auth Token without ``key=`` in the settings header, else the SharedKey with that id."""
    if key_id is None:
        return "auth_token"
    selected = select_shared_key(integration, key_id)
    if selected == "none":
        raise Rejected(403, "webhook_rejected", "no_shared_key")
    if selected == "unknown":
        raise Rejected(403, "webhook_rejected", "unknown_shared_key")
    return selected


def _error(rejected: Rejected) -> web.Response:
    message = localized(rejected.code, **rejected.params)
    headers = {"Allow": "POST"} if rejected.status == 405 else None
    return web.json_response(
        {"code": rejected.code, "message": message.model_dump()}, status=rejected.status, headers=headers
    )

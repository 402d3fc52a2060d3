"""Prometheus metrics of the ingress, in a registry of their own (one per app, so tests stay apart)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class IngressMetrics:
    """``spool`` labels the spool gauges with the spool directory's name (the pod name in the chart,
    which names the pod's volume claim too), so a claim's depth stays attributable to the claim when
    the drain Job, not its pod, reports it."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    spool: str = ""
    spool_limit: int = 0
    # Children of ``requests`` by label values: ``labels()`` takes a lock and validates on every call.
    _request_children: dict[tuple[str, str, str, str], Counter] = field(default_factory=dict, init=False, repr=False)
    _match_children: dict[str, Counter] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "byosms_ingress_requests_total",
            "Webhook requests by endpoint called (mo, status), webhook kind (inbound, status; empty when the"
            " request was rejected before it was classified), outcome (accepted, spooled, rejected,"
            " unavailable) and reason (why refused; unsupported_channel for an accepted webhook of a"
            " whatsapp:/rcs: address, which routing discards).",
            ["endpoint", "kind", "outcome", "reason"],
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "byosms_ingress_publish_seconds",
            "Time from a validated webhook to Kafka's ack (direct publishes only).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.spool_records = Gauge(
            "byosms_ingress_spool_records", "Events in the spool not yet in Kafka.", ["spool"], registry=self.registry
        ).labels(self.spool)
        self.spool_bytes = Gauge(
            "byosms_ingress_spool_bytes", "Bytes in the spool not yet in Kafka.", ["spool"], registry=self.registry
        ).labels(self.spool)
        Gauge(
            "byosms_ingress_spool_limit_bytes",
            "Spool size limit (BYOSMS_INGRESS_SPOOL_MAX_BYTES); when full, webhooks get 503.",
            ["spool"],
            registry=self.registry,
        ).labels(self.spool).set(self.spool_limit)
        self.drained = Counter(
            "byosms_ingress_spool_drained_total", "Spooled events delivered to Kafka.", registry=self.registry
        )
        self.dead = Counter(
            "byosms_ingress_spool_rejected_total",
            "Spooled events Kafka refused for good (moved to spool-rejected.log).",
            registry=self.registry,
        )
        self.spool_errors = Counter(
            "byosms_ingress_spool_errors_total",
            "Spool failures by operation: append (the webhook got 503) or drain (retried with backoff).",
            ["operation"],
            registry=self.registry,
        )
        self.kafka_reachable = Gauge(
            "byosms_ingress_kafka_reachable",
            "1 when the last readiness probe reached Kafka, else 0 (webhooks then go to the spool).",
            registry=self.registry,
        )
        self.media_dropped = Counter(
            "byosms_ingress_media_dropped_total",
            "Media items of inbound MMS left off the event, by reason: foreign_host, foreign_account,"
            " foreign_message, malformed (not Twilio's media resource of this message), over_limit (past the"
            " tenth), missing (announced by NumMedia, not posted).",
            ["reason"],
            registry=self.registry,
        )
        self.signature_matches = Counter(
            "byosms_ingress_signature_matches_total",
            "Valid webhook signatures by the secret that matched: auth_token, auth_token_next (the next token of "
            "an Auth Token rotation window), shared_key, shared_key_previous.",
            ["secret"],
            registry=self.registry,
        )
        self.signature_rejections = Counter(
            "byosms_ingress_signature_rejections_total",
            "Failed signature checks per integration, by reason and signature mode (enforce: refused with 403;"
            " observe: accepted).",
            ["integration_id", "reason", "mode"],
            registry=self.registry,
        )
        self.stopping = Gauge(
            "byosms_ingress_stopping",
            "1 from SIGTERM on: /readyz answers 503 while the listener still serves (the pre-stop delay).",
            registry=self.registry,
        )
        self.integrations = Gauge(
            "byosms_ingress_integrations", "Integrations of this region known to the ingress.", registry=self.registry
        )

    def count_media_dropped(self, reasons: Iterable[str]) -> None:
        for reason in reasons:
            self.media_dropped.labels(reason).inc()

    def count_match(self, secret: str) -> None:
        """Count a valid signature by the secret that matched (``byosms_ingress_signature_matches_total``)."""
        child = self._match_children.get(secret)
        if child is None:
            child = self._match_children[secret] = self.signature_matches.labels(secret)
        child.inc()

    def count_rejection(self, integration_id: str, reason: str, mode: str) -> None:
        """Count a failed signature check of a known integration (``byosms_ingress_signature_rejections_total``)."""
        self.signature_rejections.labels(integration_id, reason, mode).inc()

    def count_request(self, endpoint: str, kind: str, outcome: str, reason: str) -> None:
        """Count one webhook request in ``byosms_ingress_requests_total``."""
        labels = (endpoint, kind, outcome, reason)
        child = self._request_children.get(labels)
        if child is None:
            child = self._request_children[labels] = self.requests.labels(*labels)
        child.inc()

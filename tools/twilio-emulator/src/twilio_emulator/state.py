"""In-memory emulator state: accounts, senders, services, messages, opt-outs, behaviour rules, logs.

Pure data and lookups; no I/O. Handlers mutate it from the single event loop, so no locking is needed.
"""

from __future__ import annotations

import hmac
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from twilio_emulator.overrides import AddressConfiguration, Application
from twilio_emulator.signing import Algorithm

AccountStatus = Literal["active", "suspended", "closed"]
FinalStatus = Literal["delivered", "undelivered", "failed", "sent"]
WebhookKind = Literal["inbound", "status", "fallback"]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class SharedKey:
    id: str
    secret: str
    algorithm: Algorithm = "HMAC_SHA1"


@dataclass
class Account:
    sid: str
    auth_token: str
    friendly_name: str
    status: AccountStatus = "active"
    parent_sid: str | None = None
    type: Literal["Trial", "Full"] = "Full"
    shared_key: SharedKey | None = None
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)
    # Twilio's secondary Auth Token (``auth_tokens``): valid for the API, never signs webhooks.
    secondary_auth_token: str | None = None


@dataclass
class PhoneNumber:
    sid: str
    account_sid: str
    phone_number: str
    friendly_name: str
    sms_url: str | None = None
    sms_method: str = "POST"
    sms_fallback_url: str | None = None
    sms_fallback_method: str = "POST"
    sms_application_sid: str | None = None
    capabilities: dict[str, bool] = field(
        default_factory=lambda: {"voice": True, "sms": True, "mms": True, "fax": False}
    )
    origin: str = "twilio"
    type: str = "local"
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)


@dataclass
class ShortCode:
    sid: str
    account_sid: str
    short_code: str
    friendly_name: str
    sms_url: str | None = None
    sms_method: str = "POST"
    sms_fallback_url: str | None = None
    sms_fallback_method: str = "POST"
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)


@dataclass
class Service:
    sid: str
    account_sid: str
    friendly_name: str
    inbound_request_url: str | None = None
    inbound_method: str = "POST"
    fallback_url: str | None = None
    fallback_method: str = "POST"
    status_callback: str | None = None
    use_inbound_webhook_on_number: bool = False
    sticky_sender: bool = True
    smart_encoding: bool = True
    validity_period: int = 36000
    usecase: str = "undeclared"
    us_app_to_person_registered: bool = False
    # Emulator-only: behave like Advanced Opt-Out (adds OptOutType to inbound webhooks).
    advanced_opt_out: bool = False
    # Member sender SIDs (PN.../SC...) -> date added, in insertion order.
    members: dict[str, datetime] = field(default_factory=dict)
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)


@dataclass
class Message:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    direction: Literal["inbound", "outbound-api"]
    status: str
    messaging_service_sid: str | None = None
    media_urls: list[str] = field(default_factory=list)
    status_callback: str | None = None
    num_segments: int = 1
    error_code: int | None = None
    error_message: str | None = None
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)
    date_sent: datetime | None = None
    # Sender picked from the Messaging Service pool; becomes 'from' once the message is queued.
    service_sender: str | None = None


@dataclass
class StoredMedia:
    """One media item of a message (Twilio's Media resource) and the bytes its CDN URL serves."""

    sid: str
    account_sid: str
    message_sid: str
    content_type: str
    content: bytes
    cdn_token: str
    filename: str | None = None
    # Emulator-only: where the API's redirect points instead of the emulator's own CDN path.
    redirect_url: str | None = None
    # Emulator-only: serve the bytes without a Content-Length (chunked).
    chunked: bool = False
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)


@dataclass
class CdnRequestRecord:
    """A request to the emulator's media CDN: whether it carried credentials (it must not need them)."""

    id: int
    at: datetime
    media_sid: str | None
    authorization: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "media_sid": self.media_sid,
            "authorization": self.authorization,
        }


@dataclass
class OutcomeRule:
    """How messages to ``to`` ('*' = any recipient) behave after creation."""

    to: str = "*"
    status: FinalStatus = "delivered"
    error_code: int | None = None
    # Reject at create time with this Twilio error code (e.g. 21408, 21612, 21614, 21635).
    reject_code: int | None = None
    duplicate_callbacks: bool = False
    out_of_order: bool = False


@dataclass
class FaultRule:
    """Injected fault for Twilio API requests whose method/path match."""

    id: int
    method: str | None = None
    path_contains: str | None = None
    latency_ms: int = 0
    status: int | None = None
    remaining: int | None = None
    lose_answer: bool = False
    """The request is handled, then the connection is dropped: the caller never learns the outcome."""
    retry_after_s: int | None = None
    """For a 429: the ``Retry-After`` header sent with it."""


@dataclass
class RateRule:
    """At most ``limit`` message creates per ``window_s`` seconds per sender ('*' = each sender)."""

    sender: str = "*"
    limit: int = 1
    window_s: float = 1.0


@dataclass
class ApiRequestRecord:
    id: int
    at: datetime
    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    auth_username: str | None
    status: int = 0
    error_code: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "method": self.method,
            "path": self.path,
            "query": [list(p) for p in self.query],
            "form": [list(p) for p in self.form],
            "auth_username": self.auth_username,
            "status": self.status,
            "error_code": self.error_code,
        }


@dataclass
class WebhookRecord:
    id: int
    at: datetime
    kind: WebhookKind
    message_sid: str
    url: str
    method: str
    params: list[tuple[str, str]]
    signature: str
    attempt: int = 1
    status: int | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "message_sid": self.message_sid,
            "url": self.url,
            "method": self.method,
            "params": [list(p) for p in self.params],
            "signature": self.signature,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
        }


class Store:
    """All emulator state. ``reset()`` returns it to empty."""

    def __init__(self, log_limit: int = 10_000) -> None:
        self._log_limit = log_limit
        self.reset()

    def reset(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.numbers: dict[str, PhoneNumber] = {}
        self.short_codes: dict[str, ShortCode] = {}
        self.services: dict[str, Service] = {}
        self.applications: dict[str, Application] = {}
        self.address_configs: dict[str, AddressConfiguration] = {}
        self.messages: dict[str, Message] = {}
        # (scope, recipient); scope is the sender number/short code or the Messaging Service SID.
        self.opt_outs: set[tuple[str, str]] = set()
        self.outcomes: list[OutcomeRule] = []
        self.faults: list[FaultRule] = []
        self.rates: list[RateRule] = []
        self._rate_hits: dict[str, deque[float]] = {}
        self.requests: deque[ApiRequestRecord] = deque(maxlen=self._log_limit)
        self.webhooks: deque[WebhookRecord] = deque(maxlen=self._log_limit)
        self.media: dict[str, StoredMedia] = {}
        self.cdn_requests: deque[CdnRequestRecord] = deque(maxlen=self._log_limit)
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    # --- accounts -------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> Account | None:
        """The account for Basic credentials (SID + primary or secondary token), or None. Status is checked by
        caller."""
        account = self.accounts.get(username)
        if account is None:
            return None
        secondary = account.secondary_auth_token
        if _const_eq(account.auth_token, password) or (secondary is not None and _const_eq(secondary, password)):
            return account
        return None

    def may_access(self, caller: Account, target_sid: str) -> Account | None:
        """Target account if ``caller`` is it or its parent (subaccount credentials can't reach the parent)."""
        target = self.accounts.get(target_sid)
        if target is None:
            return None
        if target.sid == caller.sid or target.parent_sid == caller.sid:
            return target
        return None

    # --- senders and services -------------------------------------------------------------------

    def number_by_phone(self, phone: str) -> PhoneNumber | None:
        return next((n for n in self.numbers.values() if n.phone_number == phone), None)

    def short_code_by_code(self, code: str) -> ShortCode | None:
        return next((s for s in self.short_codes.values() if s.short_code == code), None)

    def service_of(self, sender_sid: str) -> Service | None:
        return next((s for s in self.services.values() if sender_sid in s.members), None)

    def sender_sid_for(self, address: str, account_sid: str) -> str | None:
        """SID of the number or short code ``address`` owned by ``account_sid``."""
        number = self.number_by_phone(address)
        if number is not None and number.account_sid == account_sid:
            return number.sid
        code = self.short_code_by_code(address)
        if code is not None and code.account_sid == account_sid:
            return code.sid
        return None

    def address_of(self, sender_sid: str) -> str | None:
        if sender_sid in self.numbers:
            return self.numbers[sender_sid].phone_number
        if sender_sid in self.short_codes:
            return self.short_codes[sender_sid].short_code
        return None

    def opt_out_scope(self, sender_address: str, sender_sid: str | None) -> str:
        """Twilio blocks per sender, or per whole Messaging Service when the sender is in one."""
        if sender_sid is not None:
            service = self.service_of(sender_sid)
            if service is not None:
                return service.sid
        return sender_address

    # --- behaviour rules ------------------------------------------------------------------------

    def outcome_for(self, to: str) -> OutcomeRule:
        exact = next((r for r in reversed(self.outcomes) if r.to == to), None)
        if exact is not None:
            return exact
        wildcard = next((r for r in reversed(self.outcomes) if r.to == "*"), None)
        return wildcard or OutcomeRule()

    def take_fault(self, method: str, path: str) -> FaultRule | None:
        """First matching fault; a fault with a remaining count is used up after that many hits."""
        for fault in self.faults:
            if fault.method is not None and fault.method.upper() != method.upper():
                continue
            if fault.path_contains is not None and fault.path_contains not in path:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
            return fault
        return None

    def rate_exceeded(self, sender: str, now: float) -> bool:
        """Record a send attempt for ``sender`` at monotonic time ``now``; True when over the limit."""
        rule = next((r for r in reversed(self.rates) if r.sender == sender), None)
        if rule is None:
            rule = next((r for r in reversed(self.rates) if r.sender == "*"), None)
        if rule is None:
            return False
        hits = self._rate_hits.setdefault(sender, deque())
        while hits and now - hits[0] >= rule.window_s:
            hits.popleft()
        if len(hits) >= rule.limit:
            return True
        hits.append(now)
        return False


def _const_eq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))

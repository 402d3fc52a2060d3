"""Webhooks held back on request: the message is stored at Twilio, its webhook is not posted (yet).

A *hold rule* (control API ``POST /_emulator/holds``) names which webhooks to hold: their kind
(``inbound`` or ``status``), optionally the number they are for (``to``: the receiving number of an
inbound message, the recipient of a status callback) or one MessageSid, and how many (``count``; none:
every matching one until the rule is deleted). A held webhook is kept with everything needed to post
it later, signed with the account's token *at release time* (as Twilio signs when it posts), and is
posted when released (``POST /_emulator/holds/release``). This is how tests lose a webhook the way an
outage or a mis-routing at Twilio does, and deliver it late.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from twilio_emulator.state import Account, Store, WebhookKind, utcnow
from twilio_emulator.webhooks import Delivery, WebhookPoster

HELD_ERROR = "held by the emulator (hold rule)"


@dataclass
class HoldRule:
    kind: WebhookKind
    to: str | None = None
    message_sid: str | None = None
    remaining: int | None = None


@dataclass(frozen=True)
class HeldWebhook:
    id: int
    at: datetime
    kind: WebhookKind
    account_sid: str
    message_sid: str
    to: str | None
    url: str
    method: str
    params: tuple[tuple[str, str], ...]

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "account_sid": self.account_sid,
            "message_sid": self.message_sid,
            "to": self.to,
            "url": self.url,
            "method": self.method,
        }


@dataclass
class Holds:
    """Hold rules and the webhooks they hold (pure bookkeeping)."""

    rules: list[HoldRule] = field(default_factory=list)
    held: list[HeldWebhook] = field(default_factory=list)

    def take(self, kind: WebhookKind, message_sid: str, to: str | None) -> bool:
        """Whether a webhook of ``kind`` for ``message_sid`` to ``to`` is held; uses up a counted rule."""
        for rule in self.rules:
            if rule.kind != kind:
                continue
            if rule.to is not None and rule.to != to:
                continue
            if rule.message_sid is not None and rule.message_sid != message_sid:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.rules.remove(rule)
            return True
        return False

    def release(self, message_sid: str | None = None, kind: WebhookKind | None = None) -> list[HeldWebhook]:
        """Remove and return the held webhooks for ``message_sid`` (all when None), oldest first."""
        chosen = [
            h
            for h in self.held
            if (message_sid is None or h.message_sid == message_sid) and (kind is None or h.kind == kind)
        ]
        self.held = [h for h in self.held if h not in chosen]
        return chosen

    def clear(self) -> None:
        self.rules.clear()
        self.held.clear()


def _param(params: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in params if key == name), None)


class HoldingPoster(WebhookPoster):
    """A :class:`WebhookPoster` that keeps back the webhooks a hold rule names."""

    def __init__(self, store: Store, max_timeout_s: float = 15.0) -> None:
        super().__init__(store, max_timeout_s)
        self.holds = Holds()

    async def deliver(
        self,
        *,
        kind: WebhookKind,
        account: Account,
        message_sid: str,
        url: str,
        method: str,
        params: list[tuple[str, str]],
    ) -> Delivery:
        to = _param(params, "To")
        if kind in ("inbound", "status") and self.holds.take(kind, message_sid, to):
            self.holds.held.append(
                HeldWebhook(
                    id=self._store.next_id(),
                    at=utcnow(),
                    kind=kind,
                    account_sid=account.sid,
                    message_sid=message_sid,
                    to=to,
                    url=url,
                    method=method,
                    params=tuple(params),
                )
            )
            return Delivery(url=url, status=None, error=HELD_ERROR, records=())
        return await super().deliver(
            kind=kind, account=account, message_sid=message_sid, url=url, method=method, params=params
        )

    async def release(self, message_sid: str | None = None, kind: WebhookKind | None = None) -> list[Delivery]:
        """Post the held webhooks now (with the account's current signing key); their deliveries."""
        deliveries = []
        for held in self.holds.release(message_sid, kind):
            account = self._store.accounts.get(held.account_sid)
            if account is None:
                continue
            deliveries.append(
                await super().deliver(
                    kind=held.kind,
                    account=account,
                    message_sid=held.message_sid,
                    url=held.url,
                    method=held.method,
                    params=list(held.params),
                )
            )
        return deliveries

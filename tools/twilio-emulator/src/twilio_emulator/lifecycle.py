"""Walks created messages through Twilio's status sequence and posts their status callbacks."""

from __future__ import annotations

import asyncio
import logging
import mimetypes

from twilio_emulator.inbound import UnknownReceiver, plan_inbound
from twilio_emulator.inbound_delivery import deliver_inbound
from twilio_emulator.render import API_VERSION
from twilio_emulator.state import Message, OutcomeRule, Store, utcnow
from twilio_emulator.webhooks import WebhookPoster

log = logging.getLogger(__name__)

DEFAULT_FAILED_CODE = 30008
DEFAULT_UNDELIVERED_CODE = 30003


def plan_statuses(initial: str, outcome: OutcomeRule) -> list[tuple[str, int | None]]:
    """Statuses after the initial one (which gets no callback, like Twilio), with their error codes."""
    steps: list[tuple[str, int | None]] = []
    if initial == "accepted":
        steps.append(("queued", None))
    if outcome.status == "failed":
        steps.append(("failed", outcome.error_code or DEFAULT_FAILED_CODE))
        return steps
    steps.append(("sent", None))
    if outcome.status == "delivered":
        steps.append(("delivered", None))
    elif outcome.status == "undelivered":
        steps.append(("undelivered", outcome.error_code or DEFAULT_UNDELIVERED_CODE))
    return steps


def status_callback_params(message: Message, status: str, error_code: int | None) -> list[tuple[str, str]]:
    """Form fields of a status callback (twilio-facts section 2.2); values are strings."""
    params = [
        ("SmsSid", message.sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", message.to),
    ]
    if message.messaging_service_sid:
        params.append(("MessagingServiceSid", message.messaging_service_sid))
    params += [
        ("MessageSid", message.sid),
        ("AccountSid", message.account_sid),
        ("From", message.from_ or ""),
        ("ApiVersion", API_VERSION),
    ]
    if error_code is not None:
        params.append(("ErrorCode", str(error_code)))
    if status in {"delivered", "undelivered"}:
        params.append(("RawDlrDoneDate", utcnow().strftime("%y%m%d%H%M")))
    return params


def apply_status(message: Message, status: str, error_code: int | None) -> None:
    now = utcnow()
    message.status = status
    message.date_updated = now
    if message.from_ is None and status != "accepted":
        message.from_ = message.service_sender
    if status == "sent" and message.date_sent is None:
        message.date_sent = now
    if error_code is not None:
        message.error_code = error_code


class StatusWalker:
    """One background task per outbound message; ``close`` cancels those still running."""

    def __init__(self, store: Store, poster: WebhookPoster, step_delay_s: float) -> None:
        self._store = store
        self._poster = poster
        self._step_delay_s = step_delay_s
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, message_sid: str) -> None:
        task = asyncio.get_running_loop().create_task(self._walk(message_sid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _walk(self, message_sid: str) -> None:
        try:
            await self._run(message_sid)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("status walk failed for %s", message_sid)

    async def _run(self, message_sid: str) -> None:
        message = self._store.messages.get(message_sid)
        if message is None:
            return
        outcome = self._store.outcome_for(message.to)
        held: list[list[tuple[str, str]]] = []
        for status, code in plan_statuses(message.status, outcome):
            await asyncio.sleep(self._step_delay_s)
            if self._store.messages.get(message_sid) is not message:
                return  # reset while walking
            apply_status(message, status, code)
            if not message.status_callback:
                continue
            params = status_callback_params(message, status, code)
            if outcome.out_of_order:
                held.append(params)
            else:
                await self._post(message, params, outcome.duplicate_callbacks)
        # Out of order: every state change happened, then the callbacks arrive newest first.
        for params in reversed(held):
            await self._post(message, params, outcome.duplicate_callbacks)
        if message.status == "delivered":
            await self._arrive(message)

    async def _arrive(self, message: Message) -> None:
        """A message delivered to a number of the emulator (of any account) reaches it as an inbound
        message, as between two Twilio numbers: stored, keyword handling applied, its webhook posted."""
        if message.from_ is None:
            return
        media: list[tuple[str | None, str]] = [
            (None, mimetypes.guess_type(url)[0] or "application/octet-stream") for url in message.media_urls
        ]
        try:
            plan = plan_inbound(self._store, message.from_, message.to, message.body, media, [])
        except UnknownReceiver:  # not a number of the emulator: a customer's phone
            return
        await deliver_inbound(self._poster, plan)

    async def _post(self, message: Message, params: list[tuple[str, str]], duplicate: bool) -> None:
        account = self._store.accounts.get(message.account_sid)
        if account is None or not message.status_callback:
            return
        for _ in range(2 if duplicate else 1):
            await self._poster.deliver(
                kind="status",
                account=account,
                message_sid=message.sid,
                url=message.status_callback,
                method="POST",
                params=params,
            )

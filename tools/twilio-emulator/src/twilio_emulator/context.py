"""The per-application bundle of collaborators handed to route handlers."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from twilio_emulator.lifecycle import StatusWalker
from twilio_emulator.settings import EmulatorSettings
from twilio_emulator.state import Account, Store
from twilio_emulator.webhooks import WebhookPoster


@dataclass
class Context:
    settings: EmulatorSettings
    store: Store
    poster: WebhookPoster
    walker: StatusWalker

    def origin(self, request: web.Request) -> str:
        """Absolute base URL the caller used (for Messaging v1 links)."""
        if self.settings.public_base_url:
            return self.settings.public_base_url.rstrip("/")
        return f"{request.scheme}://{request.host}"


CTX: web.AppKey[Context] = web.AppKey("twilio_emulator_context", Context)
CALLER: web.RequestKey[Account] = web.RequestKey("twilio_emulator_caller", Account)
FORM: web.RequestKey[list[tuple[str, str]]] = web.RequestKey("twilio_emulator_form", list)


def ctx_of(request: web.Request) -> Context:
    return request.app[CTX]


def caller_of(request: web.Request) -> Account:
    """The authenticated account (set by the API middleware)."""
    return request[CALLER]


def form_of(request: web.Request) -> list[tuple[str, str]]:
    """All form fields in order, repeated names kept (set by the API middleware)."""
    return request[FORM]


def first(form: list[tuple[str, str]], name: str) -> str | None:
    return next((v for n, v in form if n == name), None)

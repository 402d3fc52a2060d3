"""Calls of the SMS number inventory, routing defaults and message trace API
(``contracts/openapi/provisioning.json``):

- ``GET /api/v2/sms/numbers?limit&cursor&integration_id&state&type&address_prefix&routing_target``
  → ``{"items": [Number, ...], "next_cursor": str | null}`` (``state``: active, inactive,
  removed-recently; without it active and inactive)
- ``GET /api/v2/sms/numbers/{id}`` → Number; ``DELETE`` → 202 with the Number, its removal running
- ``PATCH /api/v2/sms/numbers/{id}`` ``{"version": n, "routing_target": str | null}`` → 200 with the
  Number once inventory carried it out, 202 while it still runs; a stale version answers 409
- ``PUT /api/v2/sms/routing-defaults`` ``{"default_routing_target": str | null}``
- ``GET /api/v2/sms/messages/{MessageSid}`` → the message's trace (``direction``, ``steps``)

A Number carries ``id, address, integration {id, name}, type, country, twilio_sid, compliance,
routing_target, effective_routing_target {target, from}, state, version, imported_at, updated_at,
removed_at, warnings [{code, message, since}]`` and ``latest_action {kind, id, state, at, error}``.
Texts in it (warnings, errors) are in the caller's language already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from byosms_console.api_client import AdminApi, Caller, path_of

NUMBERS = "/api/v2/sms/numbers"
MESSAGES = "/api/v2/sms/messages"
ROUTING_DEFAULTS = "/api/v2/sms/routing-defaults"
NUMBER_STATES = ("active", "inactive", "removed-recently")
PAGE_SIZE = 25


@dataclass(frozen=True)
class Changed:
    """A number after a change: ``done`` False while inventory is still carrying it out (202)."""

    number: dict[str, Any]
    done: bool


class InventoryApi:
    def __init__(self, api: AdminApi) -> None:
        self.api = api

    async def list_numbers(
        self, caller: Caller, filters: dict[str, str | None], *, cursor: str | None = None, limit: int = PAGE_SIZE
    ) -> dict[str, Any]:
        query: dict[str, str | None] = {"limit": str(limit), "cursor": cursor, **filters}
        return dict((await self.api.call(caller, "GET", path_of(NUMBERS, query=query))).body)

    async def get_number(self, caller: Caller, number_id: str) -> dict[str, Any]:
        return dict((await self.api.call(caller, "GET", path_of(NUMBERS, number_id))).body)

    async def remove_number(self, caller: Caller, number_id: str) -> dict[str, Any]:
        """Asks for the removal; the number comes back with it running (202)."""
        return dict((await self.api.call(caller, "DELETE", path_of(NUMBERS, number_id))).body)

    async def set_routing_target(
        self, caller: Caller, number_id: str, *, version: int, routing_target: str | None
    ) -> Changed:
        body = {"version": version, "routing_target": routing_target}
        answer = await self.api.call(caller, "PATCH", path_of(NUMBERS, number_id), body)
        return Changed(dict(answer.body), answer.status == 200)

    async def routing_defaults(self, caller: Caller) -> str | None:
        target = (await self.api.call(caller, "GET", ROUTING_DEFAULTS)).body.get("default_routing_target")
        return str(target) if target else None

    async def set_routing_defaults(self, caller: Caller, target: str | None) -> str | None:
        body = {"default_routing_target": target}
        answer = (await self.api.call(caller, "PUT", ROUTING_DEFAULTS, body)).body.get("default_routing_target")
        return str(answer) if answer else None

    async def trace(self, caller: Caller, message_sid: str) -> dict[str, Any]:
        return dict((await self.api.call(caller, "GET", path_of(MESSAGES, message_sid))).body)

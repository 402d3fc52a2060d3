"""The number inventory and message trace API of issue 11, as that issue documents it.

Not in this deployment yet when :func:`offered` says so; the screens built on this module then
say that the inventory API is not available instead of failing. The shape assumed (the one
place to adapt when the API lands):

- ``GET /api/v2/sms/numbers?limit&cursor&integration_id&state&type&address_prefix&routing_target``
  → ``{"items": [number, ...], "next_cursor": str | null}``
- ``GET /api/v2/sms/numbers/{id}`` → number; ``DELETE`` → 202 (removal runs asynchronously)
- ``PATCH /api/v2/sms/numbers/{id}`` ``{"version": n, "routing_target": str | null}`` → number
  (a stale version answers 409 ``version_conflict``)
- ``GET /api/v2/sms/messages/{MessageSid}`` → the message's trace

A number carries ``id, integration_id, type, country, address, twilio_sid, compliance,
routing_target, state, version, created_at, updated_at`` and ``latest_action`` (``kind``:
import / removal, ``state``: running / completed / failed, ``error``: {code, message}).
"""

from __future__ import annotations

from typing import Any

from byosms_console.api_client import AdminApi, Caller, path_of

NUMBERS = "/api/v2/sms/numbers"
MESSAGES = "/api/v2/sms/messages"
NUMBER_STATES = ("active", "inactive", "removed-recently")


class InventoryApi:
    def __init__(self, api: AdminApi) -> None:
        self.api = api

    async def offered(self) -> bool:
        """Whether this deployment's API document lists the number inventory."""
        return NUMBERS in await self.api.paths()

    async def trace_offered(self) -> bool:
        """Whether this deployment's API document lists the message trace."""
        return any(p.startswith(MESSAGES + "/") for p in await self.api.paths())

    async def list_numbers(
        self, caller: Caller, filters: dict[str, str | None], *, cursor: str | None = None, limit: int = 25
    ) -> dict[str, Any]:
        query: dict[str, str | None] = {"limit": str(limit), "cursor": cursor, **filters}
        return dict((await self.api.call(caller, "GET", path_of(NUMBERS, query=query))).body)

    async def get_number(self, caller: Caller, number_id: str) -> dict[str, Any]:
        return dict((await self.api.call(caller, "GET", path_of(NUMBERS, number_id))).body)

    async def remove_number(self, caller: Caller, number_id: str) -> None:
        await self.api.call(caller, "DELETE", path_of(NUMBERS, number_id))

    async def set_routing_target(
        self, caller: Caller, number_id: str, *, version: int, routing_target: str | None
    ) -> dict[str, Any]:
        body = {"version": version, "routing_target": routing_target}
        return dict((await self.api.call(caller, "PATCH", path_of(NUMBERS, number_id), body)).body)

    async def trace(self, caller: Caller, message_sid: str) -> dict[str, Any]:
        return dict((await self.api.call(caller, "GET", path_of(MESSAGES, message_sid))).body)

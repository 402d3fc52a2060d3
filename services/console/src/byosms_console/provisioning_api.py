"""Calls of the integrations, regions and imports API that exists today (``/api/v2/integrations``, with
its numbers' webhook health and the signature mode, ``/api/v2/regions``, ``/api/v2/sms/numbers/imports``)."""

from __future__ import annotations

from typing import Any

from byosms_console.api_client import AdminApi, Caller, path_of

INTEGRATIONS = "/api/v2/integrations"
IMPORTS = "/api/v2/sms/numbers/imports"
REGIONS = "/api/v2/regions"


class ProvisioningApi:
    def __init__(self, api: AdminApi) -> None:
        self.api = api

    async def list_integrations(
        self, caller: Caller, *, status: str | None = None, cursor: str | None = None, limit: int = 20
    ) -> dict[str, Any]:
        query = {"limit": str(limit), "status": status, "cursor": cursor}
        answer = await self.api.call(caller, "GET", path_of(INTEGRATIONS, query=query))
        return dict(answer.body)

    async def all_integrations(self, caller: Caller) -> list[dict[str, Any]]:
        """Every integration (for choosers such as the import dialog's list), page by page."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(50):
            page = await self.list_integrations(caller, cursor=cursor, limit=200)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return items

    async def get_integration(self, caller: Caller, integration_id: str) -> dict[str, Any]:
        return dict((await self.api.call(caller, "GET", path_of(INTEGRATIONS, integration_id))).body)

    async def create_integration(self, caller: Caller, *, name: str, notes: str, region: str) -> dict[str, Any]:
        body = {"name": name, "notes": notes, "region": region}
        return dict((await self.api.call(caller, "POST", INTEGRATIONS, body)).body)

    async def update_integration(
        self,
        caller: Caller,
        integration_id: str,
        *,
        name: str,
        notes: str,
        default_routing_target: str,
        version: int | None,
    ) -> dict[str, Any]:
        """Name, notes and the default routing target of the integration's numbers (empty: none)."""
        path = path_of(INTEGRATIONS, integration_id)
        body = {"name": name, "notes": notes, "default_routing_target": default_routing_target or None}
        answer = await self.api.call(caller, "PATCH", path, body, if_match=version)
        return dict(answer.body)

    async def set_credentials(
        self, caller: Caller, integration_id: str, *, account_sid: str, auth_token: str, version: int | None
    ) -> dict[str, Any]:
        path = path_of(INTEGRATIONS, integration_id, "credentials")
        body = {"account_sid": account_sid, "auth_token": auth_token}
        return dict((await self.api.call(caller, "PUT", path, body, if_match=version)).body)

    async def set_status(self, caller: Caller, integration_id: str, *, active: bool, version: int | None) -> None:
        path = path_of(INTEGRATIONS, integration_id, "activate" if active else "deactivate")
        await self.api.call(caller, "POST", path, if_match=version)

    async def delete_integration(self, caller: Caller, integration_id: str, *, version: int | None) -> None:
        await self.api.call(caller, "DELETE", path_of(INTEGRATIONS, integration_id), if_match=version)

    async def number_webhooks(self, caller: Caller, integration_id: str) -> dict[str, Any]:
        """The webhook health of the integration's numbers (``GET .../number-webhooks``)."""
        path = path_of(INTEGRATIONS, integration_id, "number-webhooks")
        return dict((await self.api.call(caller, "GET", path)).body)

    async def set_signature_mode(
        self, caller: Caller, integration_id: str, *, mode: str, observe_hours: int | None, version: int | None
    ) -> None:
        """Enforce, or observe for ``observe_hours`` (the API's default, 24, when None)."""
        path = path_of(INTEGRATIONS, integration_id, "signature-mode")
        body: dict[str, Any] = {"mode": mode}
        if observe_hours is not None:
            body["observe_hours"] = observe_hours
        await self.api.call(caller, "PUT", path, body, if_match=version)

    async def regions(self, caller: Caller) -> list[dict[str, Any]]:
        return list((await self.api.call(caller, "GET", REGIONS)).body["items"])

    async def start_import(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        return dict((await self.api.call(caller, "POST", IMPORTS, body)).body)

    async def get_import(self, caller: Caller, import_id: str) -> dict[str, Any]:
        return dict((await self.api.call(caller, "GET", path_of(IMPORTS, import_id))).body)

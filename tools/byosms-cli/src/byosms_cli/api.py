"""A small client of the provisioning admin API."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp


class ApiUnreachableError(Exception):
    """The admin API could not be reached or did not answer in time."""


@dataclass(frozen=True)
class ApiResult:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


async def _call(
    base_url: str, token: str, method: str, path: str, body: dict[str, Any] | None, language: str | None
) -> ApiResult:
    headers = {"Authorization": f"Bearer {token}"}
    if language:
        headers["Accept-Language"] = language
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.request(method, base_url.rstrip("/") + path, json=body, headers=headers) as response,
    ):
        text = await response.text()
        try:
            parsed: Any = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = text
        return ApiResult(response.status, parsed)


def call(
    base_url: str,
    token: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    language: str | None = None,
) -> ApiResult:
    try:
        return asyncio.run(_call(base_url, token, method, path, body, language))
    except (aiohttp.ClientError, TimeoutError) as exc:
        reason = "no answer within 30 s" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        raise ApiUnreachableError(f"cannot reach {base_url}: {reason}") from None

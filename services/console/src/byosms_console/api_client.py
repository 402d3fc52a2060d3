"""The console's only way to the system: HTTP calls to the public admin API with the user's token.

Every call carries the signed-in user's bearer token and language (``Accept-Language``), so the
API's own checks decide what is allowed and its problem documents arrive in the user's language.
A problem document becomes :class:`ApiProblem`; an API that cannot be reached becomes
:class:`ApiUnreachable`. Nothing here knows a screen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass(frozen=True)
class ApiProblem(Exception):
    """An RFC 9457 problem document: ``detail`` is already in the caller's language."""

    status: int
    code: str
    detail: str
    errors: tuple[FieldError, ...] = ()

    def __str__(self) -> str:
        return f"{self.status} {self.code}"


class ApiUnreachable(Exception):
    """The admin API did not answer (connection refused, timeout)."""


@dataclass(frozen=True)
class Caller:
    """Who the call is made for: the user's token and language."""

    token: str
    language: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _problem(status: int, body: Any) -> ApiProblem:
    if not isinstance(body, dict):
        return ApiProblem(status, "unexpected_answer", str(body)[:200])
    errors = tuple(
        FieldError(str(e.get("field", "")), str(e.get("message", "")))
        for e in body.get("errors") or []
        if isinstance(e, dict)
    )
    return ApiProblem(status, str(body.get("code", "")), str(body.get("detail", "")), errors)


def path_of(*parts: str, query: dict[str, str | None] | None = None) -> str:
    """A path from fixed and user-given segments (each escaped) and a query without empty values."""
    path = "/".join(quote(p, safe="") if i else p for i, p in enumerate(parts))
    given = {k: v for k, v in (query or {}).items() if v not in (None, "")}
    return path + ("?" + urlencode(given) if given else "")


class AdminApi:
    """A session of HTTP calls to one admin API."""

    def __init__(self, base_url: str, timeout_seconds: float) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(
        self,
        caller: Caller,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        if_match: int | None = None,
    ) -> Answer:
        """The answer to one call; a problem document raises :class:`ApiProblem`."""
        assert self._session is not None, "start() first"
        headers = {"Authorization": f"Bearer {caller.token}", "Accept-Language": caller.language}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        try:
            async with self._session.request(method, self._base + path, json=body, headers=headers) as response:
                text = await response.text()
                status, answer_headers = response.status, dict(response.headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiUnreachable(type(exc).__name__) from None
        try:
            parsed: Any = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = text
        if status >= 400:
            raise _problem(status, parsed)
        return Answer(status, parsed, answer_headers)

    async def reachable(self) -> bool:
        """Whether the API answers its (public) document within two seconds."""
        assert self._session is not None, "start() first"
        try:
            async with self._session.get(
                self._base + "/api/v2/openapi.json", timeout=aiohttp.ClientTimeout(total=2)
            ) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

"""Who is calling: bearer JWTs from platform services acting for a user.

A token is signed asymmetrically (RS256/ES256; the verification key comes from a PEM file or a
JWKS document/URL) and carries:

- ``sub``: the user (or service) the call is made for, recorded as the actor in the audit log;
- ``org``: the organization (tenant) the caller acts in; every resource is looked up within it,
  so another organization's resource answers 404, never 403;
- ``permissions``: the seed's permission strings, e.g. ``integrations:integration:view``;
- ``iss``, ``aud``, ``exp`` (required) and ``iat``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from byosms_common.errors import ByosmsError, Forbidden
from byosms_provisioning.refusal_log import REFUSALS

log = logging.getLogger(__name__)

# The seed's permissions.
INTEGRATION_ADD = "integrations:integration:add"
INTEGRATION_VIEW = "integrations:integration:view"
INTEGRATION_EDIT = "integrations:integration:edit"
INTEGRATION_DELETE = "integrations:integration:delete"
# The SMS number inventory, after Genesys's model: ``sms:phoneNumber:all`` grants every one of them.
PHONE_NUMBER_VIEW = "sms:phoneNumber:view"
PHONE_NUMBER_EDIT = "sms:phoneNumber:edit"
PHONE_NUMBER_DELETE = "sms:phoneNumber:delete"
PHONE_NUMBER_IMPORT = "sms:phoneNumber:byoImport"
PHONE_NUMBER_ALL = "sms:phoneNumber:all"
PHONE_NUMBER_PERMISSIONS = (PHONE_NUMBER_VIEW, PHONE_NUMBER_EDIT, PHONE_NUMBER_DELETE, PHONE_NUMBER_IMPORT)
ALL_PERMISSIONS = (
    INTEGRATION_ADD,
    INTEGRATION_VIEW,
    INTEGRATION_EDIT,
    INTEGRATION_DELETE,
    *PHONE_NUMBER_PERMISSIONS,
    PHONE_NUMBER_ALL,
)

ORG_CLAIM = "org"
PERMISSIONS_CLAIM = "permissions"


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller."""

    subject: str
    organization_id: str
    permissions: frozenset[str]

    def require(self, permission: str) -> None:
        """Raise ``Forbidden`` unless the caller holds ``permission`` (or ``sms:phoneNumber:all`` for a
        ``sms:phoneNumber:*`` one)."""
        if permission in self.permissions:
            return
        if permission in PHONE_NUMBER_PERMISSIONS and PHONE_NUMBER_ALL in self.permissions:
            return
        raise Forbidden("forbidden", permission=permission)


class Unauthenticated(ByosmsError):
    default_code = "unauthenticated"


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The principal a verified token describes; malformed claims are refused as unauthenticated."""
    subject = claims.get("sub")
    org = claims.get(ORG_CLAIM)
    permissions = claims.get(PERMISSIONS_CLAIM, [])
    if not isinstance(subject, str) or not subject or len(subject) > 200:
        raise Unauthenticated()
    if not isinstance(org, str) or not org or len(org) > 100:
        raise Unauthenticated()
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise Unauthenticated()
    return Principal(subject=subject, organization_id=org, permissions=frozenset(permissions))


class KeysUnavailable(ByosmsError):
    """The verification keys could not be fetched (the JWKS URL is unreachable): a 503 to retry, not a 401."""

    default_code = "auth_unavailable"
    retryable = True


class KeySource:
    """Where verification keys come from."""

    async def key_for(self, token: str) -> Any:
        raise NotImplementedError


class PemKey(KeySource):
    def __init__(self, pem: bytes) -> None:
        self._key = load_pem_public_key(pem)

    async def key_for(self, token: str) -> Any:
        return self._key


class JwksDocument(KeySource):
    """A JWKS document held in memory (read from a file); keys picked by ``kid``."""

    def __init__(self, document: str) -> None:
        self._set = jwt.PyJWKSet.from_json(document)

    async def key_for(self, token: str) -> Any:
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._set.keys:
            if kid is None or key.key_id == kid:
                return key.key
        raise Unauthenticated()


class JwksUrl(KeySource):
    """A JWKS URL; PyJWKClient caches keys and refetches on an unknown ``kid``."""

    def __init__(self, url: str) -> None:
        self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)

    async def key_for(self, token: str) -> Any:
        # PyJWKClient does blocking HTTP; keep it off the event loop.
        try:
            signing_key = await asyncio.to_thread(self._client.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            # The key source is down (connection refused, timeout, HTTP error): the token may well be
            # valid, so the caller is told to retry rather than that it is unauthenticated.
            log.warning("JWKS URL unreachable: %s", type(exc).__name__)
            raise KeysUnavailable() from None
        return signing_key.key


class JwtVerifier:
    """Verifies bearer tokens and turns them into principals."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        algorithms: Iterable[str],
        leeway_seconds: int = 30,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._algorithms = list(algorithms)
        self._leeway = leeway_seconds

    @classmethod
    def from_sources(
        cls,
        *,
        public_key_file: Path | None,
        jwks_file: Path | None,
        jwks_url: str | None,
        issuer: str,
        audience: str,
        algorithms: Iterable[str],
        leeway_seconds: int = 30,
    ) -> JwtVerifier:
        source: KeySource
        if public_key_file is not None:
            source = PemKey(public_key_file.read_bytes())
        elif jwks_file is not None:
            source = JwksDocument(jwks_file.read_text(encoding="utf-8"))
        elif jwks_url is not None:
            source = JwksUrl(jwks_url)
        else:
            raise ValueError("no JWT verification key configured")
        return cls(source, issuer=issuer, audience=audience, algorithms=algorithms, leeway_seconds=leeway_seconds)

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; raises ``Unauthenticated`` for anything else, or
        ``KeysUnavailable`` (503) when the keys to check it cannot be fetched."""
        try:
            key = await self._keys.key_for(token)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, ValueError, json.JSONDecodeError) as exc:
            # The reason is useful to whoever debugs a client; the token itself is never logged.
            REFUSALS.note(f"bearer token refused ({type(exc).__name__})")
            raise Unauthenticated() from None
        return principal_from_claims(claims)


def bearer_token(request: web.Request) -> str:
    """The token of an ``Authorization: Bearer`` header."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated()
    return token.strip()


async def authenticate(request: web.Request, verifier: JwtVerifier, permission: str | None = None) -> Principal:
    """The verified caller of ``request``, optionally required to hold ``permission``."""
    principal = await verifier.verify(bearer_token(request))
    if permission is not None:
        principal.require(permission)
    return principal

"""Bearer JWT verification and permission checks."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from byosms_common.errors import Forbidden
from byosms_common.testing import free_port
from byosms_provisioning import auth
from byosms_provisioning.auth import JwksDocument, JwtVerifier, KeysUnavailable, PemKey, Unauthenticated
from byosms_provisioning.problems import problem_middleware

pytestmark = pytest.mark.unit

ISS, AUD = "byosms-platform", "byosms-provisioning"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "user-1",
        "org": "org-1",
        "permissions": [auth.INTEGRATION_VIEW],
        "iss": ISS,
        "aud": AUD,
        "iat": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def verifier(key: rsa.RSAPrivateKey) -> JwtVerifier:
    return JwtVerifier(PemKey(pem_of(key)), issuer=ISS, audience=AUD, algorithms=["RS256", "ES256"])


async def test_valid_token_gives_principal(rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(claims(), rsa_key, algorithm="RS256")
    principal = await verifier(rsa_key).verify(token)
    assert principal == auth.Principal("user-1", "org-1", frozenset({auth.INTEGRATION_VIEW}))
    principal.require(auth.INTEGRATION_VIEW)


async def test_missing_permission_is_forbidden(rsa_key: rsa.RSAPrivateKey) -> None:
    principal = await verifier(rsa_key).verify(jwt.encode(claims(), rsa_key, algorithm="RS256"))
    with pytest.raises(Forbidden) as caught:
        principal.require(auth.INTEGRATION_DELETE)
    assert caught.value.http_status == 403
    assert auth.INTEGRATION_DELETE in caught.value.message("de")


@pytest.mark.parametrize(
    ("label", "overrides"),
    [
        ("expired", {"exp": int(time.time()) - 3600}),
        ("wrong audience", {"aud": "someone-else"}),
        ("wrong issuer", {"iss": "evil"}),
        ("no org", {"org": None}),
        ("org not a string", {"org": 42}),
        ("permissions not a list", {"permissions": "integrations:integration:view"}),
        ("no subject", {"sub": None}),
        ("no expiry", {"exp": None}),
    ],
)
async def test_bad_claims_are_unauthenticated(
    rsa_key: rsa.RSAPrivateKey, label: str, overrides: dict[str, Any]
) -> None:
    token = jwt.encode(claims(**overrides), rsa_key, algorithm="RS256")
    with pytest.raises(Unauthenticated):
        await verifier(rsa_key).verify(token)


async def test_token_signed_by_another_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthenticated):
        await verifier(rsa_key).verify(jwt.encode(claims(), other, algorithm="RS256"))


async def test_symmetric_and_unsigned_tokens_are_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    # An HS256 token "signed" with the public key (the classic algorithm-confusion attack).
    forged = jwt.encode(claims(), "k" * 32, algorithm="HS256")
    unsigned = jwt.encode(claims(), None, algorithm="none")
    for token in (forged, unsigned, "not-a-jwt"):
        with pytest.raises(Unauthenticated):
            await verifier(rsa_key).verify(token)


async def test_es256_with_jwks_document_picks_key_by_kid(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk |= {"kid": "dev-1", "alg": "ES256", "use": "sig"}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    v = JwtVerifier.from_sources(
        public_key_file=None, jwks_file=path, jwks_url=None, issuer=ISS, audience=AUD, algorithms=["ES256"]
    )
    token = jwt.encode(claims(), key, algorithm="ES256", headers={"kid": "dev-1"})
    assert (await v.verify(token)).organization_id == "org-1"
    unknown_kid = jwt.encode(claims(), key, algorithm="ES256", headers={"kid": "other"})
    with pytest.raises(Unauthenticated):
        await v.verify(unknown_kid)
    assert isinstance(JwksDocument(path.read_text()), auth.KeySource)


@contextlib.asynccontextmanager
async def _jwks_server(documents: list[tuple[int, dict[str, Any]]]) -> AsyncIterator[str]:
    """A JWKS URL answering the given (status, body) pairs in turn (the last one repeats)."""

    async def jwks(_: web.Request) -> web.Response:
        status, body = documents.pop(0) if len(documents) > 1 else documents[0]
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_get("/jwks.json", jwks)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/jwks.json"))
    finally:
        await server.close()


def _jwks_of(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [jwk | {"kid": kid, "alg": "RS256", "use": "sig"}]}


def _url_verifier(url: str) -> JwtVerifier:
    return JwtVerifier.from_sources(
        public_key_file=None, jwks_file=None, jwks_url=url, issuer=ISS, audience=AUD, algorithms=["RS256"]
    )


async def test_unreachable_jwks_url_is_a_retryable_503_not_a_401(rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(KeysUnavailable) as caught:
        await _url_verifier(f"http://127.0.0.1:{free_port()}/jwks.json").verify(token)
    assert caught.value.http_status == 503
    assert caught.value.retryable


async def test_jwks_url_answering_5xx_is_a_503(rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    async with _jwks_server([(503, {})]) as url:
        with pytest.raises(KeysUnavailable):
            await _url_verifier(url).verify(token)


async def test_reachable_jwks_url_still_refuses_unknown_keys_with_401(rsa_key: rsa.RSAPrivateKey) -> None:
    async with _jwks_server([(200, _jwks_of(rsa_key, "k1"))]) as url:
        v = _url_verifier(url)
        good = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
        assert (await v.verify(good)).subject == "user-1"
        unknown = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "other"})
        with pytest.raises(Unauthenticated):
            await v.verify(unknown)


async def test_api_answers_503_problem_when_the_key_source_is_down(rsa_key: rsa.RSAPrivateKey) -> None:
    v = _url_verifier(f"http://127.0.0.1:{free_port()}/jwks.json")

    async def protected(request: web.Request) -> web.Response:
        await auth.authenticate(request, v)
        return web.json_response({})

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/p", protected)
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/p", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 503
        problem = await response.json()
    assert (problem["code"], problem["retryable"]) == ("auth_unavailable", True)
    assert "WWW-Authenticate" not in response.headers

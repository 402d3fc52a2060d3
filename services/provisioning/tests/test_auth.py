"""Bearer JWT verification and permission checks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from byosms_common.errors import Forbidden
from byosms_provisioning import auth
from byosms_provisioning.auth import JwksDocument, JwtVerifier, PemKey, Unauthenticated

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

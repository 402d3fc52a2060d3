"""Development signing keys and tokens for the local stack (never for production).

The key pair lives in the repository's ``.run/dev-jwt/`` directory (git-ignored with ``.run``);
the provisioning service reads the public half through
``BYOSMS_PROVISIONING_JWT_PUBLIC_KEY_FILE``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PRIVATE = "private.pem"
PUBLIC = "public.pem"
DEFAULT_ISSUER = "byosms-platform"
DEFAULT_AUDIENCE = "byosms-provisioning"


def repo_root(start: Path | None = None) -> Path:
    """The nearest directory upwards holding the uv workspace (or ``.git``); the cwd if none."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if (candidate / ".git").exists() or (
            pyproject.exists() and "[tool.uv.workspace]" in pyproject.read_text(encoding="utf-8")
        ):
            return candidate
    return here


def default_key_dir() -> Path:
    override = os.environ.get("BYOSMS_DEV_KEY_DIR")
    return Path(override) if override else repo_root() / ".run" / "dev-jwt"


def ensure_keypair(directory: Path, *, force: bool = False) -> tuple[Path, Path]:
    """Create an RSA key pair in ``directory`` unless one exists; returns (private, public) paths."""
    private_path, public_path = directory / PRIVATE, directory / PUBLIC
    if private_path.exists() and public_path.exists() and not force:
        return private_path, public_path
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Owner-only from the start: the private key is never world-readable, not even briefly.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(public_pem)
    return private_path, public_path


def mint_token(
    private_key_pem: bytes,
    *,
    organization_id: str,
    permissions: Iterable[str],
    subject: str,
    ttl_seconds: int = 3600,
    issuer: str = DEFAULT_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
    now: int | None = None,
) -> str:
    """A signed token with the claims the byosms services expect: RS256 for an RSA key, ES256 for a
    P-256 key (the docker-compose stack's)."""
    issued = int(time.time()) if now is None else now
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    claims = {
        "sub": subject,
        "org": organization_id,
        "permissions": sorted(set(permissions)),
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    algorithm = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    return jwt.encode(claims, key, algorithm=algorithm)  # type: ignore[arg-type]

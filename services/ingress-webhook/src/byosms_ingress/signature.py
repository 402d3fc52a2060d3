"""Twilio webhook signatures (``X-Twilio-Signature``), computed exactly as Twilio computes them.

Pure functions, no I/O. The signed string is the full URL Twilio requested followed by every
parameter name (sorted by code point) with its distinct values (sorted), no separators. The key
is the account's Auth Token (HMAC-SHA1) or, when the request names one in
``X-Twilio-Webhooks-Signature-Settings``, the integration's SharedKey with the algorithm named
there. JSON bodies are signed over the URL only; the URL carries ``bodySHA256``, the hex SHA-256 of
the raw body. Twilio signs inconsistently with and without the default port, so both URL forms
are accepted (as twilio-python's ``RequestValidator`` does, which the tests use as the reference),
and where that validator mangles a URL with credentials or an IPv6 host and a port, the form with
just the port removed too (see :func:`url_variants`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from urllib.parse import ParseResult, parse_qs, urlparse

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
BODY_HASH_PARAM = "bodySHA256"

HMAC_SHA1 = "HMAC_SHA1"
HMAC_SHA256 = "HMAC_SHA256"
# Algorithm → hashlib name, for the one-shot ``hmac.digest``.
_HASHES: dict[str, str] = {HMAC_SHA1: "sha1", HMAC_SHA256: "sha256"}

Params = Sequence[tuple[str, str]]


class Verdict(StrEnum):
    """Outcome of a signature check. Everything but VALID is answered with 403."""

    VALID = "valid"
    MISSING = "signature_missing"
    WRONG = "signature_wrong"
    BODY_HASH_MISMATCH = "body_hash_mismatch"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"


@dataclass(frozen=True, slots=True)
class SignatureSettings:
    """What ``X-Twilio-Webhooks-Signature-Settings`` says: which SharedKey signed, with which hash."""

    key_id: str | None
    algorithm: str

    @property
    def uses_shared_key(self) -> bool:
        return self.key_id is not None


def parse_signature_settings(header: str | None) -> SignatureSettings:
    """Parse ``key=<sharedKeyId>,algorithm=<HMAC_SHA1|HMAC_SHA256>``.

    Without the header (or without ``algorithm=``) the signature is the classic Auth Token HMAC-SHA1;
    without ``key=`` the Auth Token signed it.
    """
    if not header:
        return _CLASSIC
    key_id: str | None = None
    algorithm = HMAC_SHA1
    for part in header.split(","):
        name, separator, value = part.partition("=")
        if not separator or not value.strip():
            continue
        if name.strip() == "algorithm":
            algorithm = value.strip()
        elif name.strip() == "key":
            key_id = value.strip()
    return SignatureSettings(key_id=key_id, algorithm=algorithm)


_CLASSIC = SignatureSettings(key_id=None, algorithm=HMAC_SHA1)


def signing_string(url: str, params: Iterable[tuple[str, str]]) -> str:
    """The URL followed by each name and its distinct values, names and values sorted.

    Repeated names are grouped; repeated identical values count once (Twilio de-duplicates them).
    """
    return url + params_string(params)


def params_string(params: Iterable[tuple[str, str]]) -> str:
    """The part of :func:`signing_string` after the URL.

    Sorting the distinct ``(name, value)`` pairs orders names by code point and, within a name, its
    distinct values: the same as grouping by name and sorting each group's set of values.
    """
    return "".join([name + value for name, value in sorted(set(params))])


def compute_signature(secret: str, url: str, params: Iterable[tuple[str, str]], algorithm: str = HMAC_SHA1) -> str:
    """Base64 of the HMAC of :func:`signing_string` (raises KeyError for an unknown algorithm)."""
    return _sign(secret.encode(), url.encode() + params_string(params).encode(), _HASHES[algorithm.upper()]).decode(
        "ascii"
    )


def _sign(key: bytes, message: bytes, hash_name: str) -> bytes:
    return base64.b64encode(hmac.digest(key, message, hash_name))


def body_hash(body: str) -> str:
    """Hex SHA-256 of a JSON body, as Twilio puts it into ``bodySHA256``."""
    return hashlib.sha256(body.encode()).hexdigest()


@lru_cache(maxsize=256)
def url_variants(url: str) -> tuple[str, ...]:
    """The forms of ``url`` a valid signature may have been computed over, most likely first.

    Twilio signs inconsistently with and without the port, so, as twilio-python's ``RequestValidator``
    does: the URL without any port, and the URL with the scheme's default port added when none is
    given (``urlparse``'s ``geturl``: the scheme lower-cased, the rest as written). Where that
    validator cuts the network location at its first ``:`` (so ``user:pass@host:8443`` becomes
    ``user`` and ``[2001:db8::1]:8443`` becomes ``[2001``), the form Twilio can really have signed,
    with the credentials and the bracketed IPv6 host kept and only the port removed (as twilio-node
    removes it), is tried as well; the validator's own form stays, so every request it accepts is
    accepted here too.

    Raises ValueError for a URL whose port is not a number. Cached: almost every webhook comes to one
    of a few URLs (exceptions are not cached, and the cache is bounded).
    """
    parsed = urlparse(url)
    forms = (_without_port(parsed), _with_port(parsed), _port_removed(parsed))
    return tuple(dict.fromkeys(forms))  # distinct, in that order


def _without_port(parsed: ParseResult) -> str:
    """twilio-python's ``remove_port``: the network location cut at its first ``:`` when there is a port."""
    if not parsed.port:
        return parsed.geturl()
    return parsed._replace(netloc=parsed.netloc.split(":")[0]).geturl()


def _port_removed(parsed: ParseResult) -> str:
    """Only the port removed: credentials (``user:pass@``) and an IPv6 literal host (``[…]``) kept."""
    if not parsed.port:
        return parsed.geturl()
    userinfo, at, host_port = parsed.netloc.rpartition("@")
    host = host_port.rsplit(":", 1)[0]  # there is a port, so the last ':' starts it (also after ']')
    return parsed._replace(netloc=userinfo + at + host).geturl()


def _with_port(parsed: ParseResult) -> str:
    """twilio-python's ``add_port``: the scheme's default port appended when none is given."""
    if parsed.port:
        return parsed.geturl()
    port = 443 if parsed.scheme == "https" else 80
    return parsed._replace(netloc=f"{parsed.netloc}:{port}").geturl()


def _same(expected: str, received: str) -> bool:
    """Constant-time comparison; anything not ASCII (a base64 or hex digest never is) is different."""
    if not received.isascii():
        return False
    return hmac.compare_digest(expected.encode("ascii"), received.encode("ascii"))


def check_form(secret: str, url: str, params: Params, signature: str | None, algorithm: str = HMAC_SHA1) -> Verdict:
    """Check the signature of a form-encoded (or parameterless) request."""
    return check_form_any((secret,), url, params, signature, algorithm)[0]


def check_form_any(
    secrets: Sequence[str], url: str, params: Params, signature: str | None, algorithm: str = HMAC_SHA1
) -> tuple[Verdict, int | None]:
    """:func:`check_form` with several candidate keys (an Auth Token rotation window: the current and the
    next token), tried in order; the verdict and the index of the key that matched (None when none did)."""
    if not signature:
        return Verdict.MISSING, None
    if algorithm.upper() not in _HASHES:
        return Verdict.UNSUPPORTED_ALGORITHM, None
    if not signature.isascii():  # an undecodable header byte arrives as a surrogate: never valid
        return Verdict.WRONG, None
    try:
        variants = url_variants(url)
    except ValueError:
        return Verdict.WRONG, None
    hash_name, received = _HASHES[algorithm.upper()], signature.encode("ascii")
    params_part = params_string(params).encode()  # the same for every URL form and key: built once
    # Compared in constant time. A later form is computed only when the earlier ones do not match: a
    # wrong signature always costs all of them, and which form a valid one used is no secret (the
    # sender chose it). The first form is the URL without a port, which is what Twilio usually signs. A later
    # key is tried only when an earlier one did not match; which key matched is no secret either (it is
    # reported).
    for index, secret in enumerate(secrets):
        key = secret.encode()
        for variant in variants:
            if hmac.compare_digest(_sign(key, variant.encode() + params_part, hash_name), received):
                return Verdict.VALID, index
    return Verdict.WRONG, None


def json_body_hash_param(url: str) -> str | None:
    """The ``bodySHA256`` query value of ``url`` (first one; blank counts as absent), if any."""
    values = parse_qs(urlparse(url).query).get(BODY_HASH_PARAM)
    return values[0] if values else None


def check_json(secret: str, url: str, body: str, signature: str | None, algorithm: str = HMAC_SHA1) -> Verdict:
    """Check a JSON-body request: the body must hash to ``bodySHA256`` and the URL must be signed.

    The caller makes sure the URL carries ``bodySHA256`` (see :func:`json_body_hash_param`).
    """
    return check_json_any((secret,), url, body, signature, algorithm)[0]


def check_json_any(
    secrets: Sequence[str], url: str, body: str, signature: str | None, algorithm: str = HMAC_SHA1
) -> tuple[Verdict, int | None]:
    """:func:`check_json` with several candidate keys (see :func:`check_form_any`)."""
    if not signature:
        return Verdict.MISSING, None
    expected_hash = json_body_hash_param(url)
    url_verdict, index = check_form_any(secrets, url, (), signature, algorithm)
    hash_ok = expected_hash is not None and _same(body_hash(body), expected_hash)
    if url_verdict is not Verdict.VALID:
        return url_verdict, None
    return (Verdict.VALID, index) if hash_ok else (Verdict.BODY_HASH_MISMATCH, None)

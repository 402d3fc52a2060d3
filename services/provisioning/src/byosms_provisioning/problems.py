"""RFC 9457 problem documents for every error the admin API returns, and strict JSON body parsing.

A problem document carries a stable ``code`` (see ``byosms_common.errors.CATALOG``), ``title`` and
``detail`` in the caller's language (``Accept-Language``: German if preferred, else English), and
for invalid input an ``errors`` list naming each offending field. Nothing the caller sends is ever
answered with a 500 or a stack trace: unexpected exceptions become a generic ``internal_error``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ValidationError

from byosms_common.errors import ByosmsError, InvalidField, InvalidInput, Language, pick_language, render
from byosms_common.kafka import is_transient
from byosms_provisioning.refusal_log import REFUSALS

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://byosms.dev/problems/"

M = TypeVar("M", bound=BaseModel)

# Short titles per HTTP status; the detail carries the code's full message.
_TITLES: Mapping[int, tuple[str, str]] = {
    400: ("Bad request", "Ungültige Anfrage"),
    401: ("Unauthorized", "Nicht authentifiziert"),
    403: ("Forbidden", "Keine Berechtigung"),
    404: ("Not found", "Nicht gefunden"),
    405: ("Method not allowed", "Methode nicht erlaubt"),
    409: ("Conflict", "Konflikt"),
    413: ("Payload too large", "Anfrage zu groß"),
    415: ("Unsupported media type", "Nicht unterstützter Inhaltstyp"),
    422: ("Unprocessable content", "Nicht verarbeitbarer Inhalt"),
    500: ("Internal server error", "Interner Fehler"),
    502: ("Bad gateway", "Fehlerhaftes Gateway"),
    503: ("Service unavailable", "Dienst nicht verfügbar"),
}

# Why a field was refused, per pydantic error type, in both languages ({expected} filled in).
_FIELD_REASONS: Mapping[str, tuple[str, str]] = {
    "extra_forbidden": ("unknown field", "unbekanntes Feld"),
    "missing": ("required field is missing", "Pflichtfeld fehlt"),
    "string_type": ("must be a string", "muss eine Zeichenkette sein"),
    "int_type": ("must be an integer", "muss eine ganze Zahl sein"),
    "int_parsing": ("must be an integer", "muss eine ganze Zahl sein"),
    "bool_type": ("must be true or false", "muss true oder false sein"),
    "model_type": ("must be an object", "muss ein Objekt sein"),
    "dict_type": ("must be an object", "muss ein Objekt sein"),
    "list_type": ("must be a list", "muss eine Liste sein"),
    "string_too_short": ("is too short", "ist zu kurz"),
    "string_too_long": ("is too long", "ist zu lang"),
    "string_pattern_mismatch": ("has the wrong format", "hat das falsche Format"),
    "literal_error": ("is not one of the allowed values", "ist keiner der erlaubten Werte"),
    "enum": ("is not one of the allowed values", "ist keiner der erlaubten Werte"),
    "greater_than_equal": ("is too small", "ist zu klein"),
    "less_than_equal": ("is too large", "ist zu groß"),
    "nul_character": ("must not contain NUL characters", "darf keine NUL-Zeichen enthalten"),
    "invalid_text": ("contains characters that cannot be stored", "enthält nicht speicherbare Zeichen"),
}
_OTHER_REASON = ("is invalid", "ist ungültig")


def problem(
    error: ByosmsError,
    language: Language,
    *,
    instance: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The HTTP response for ``error``."""
    status = error.http_status
    en_title, de_title = _TITLES.get(status, ("Error", "Fehler"))
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + error.code,
        "title": de_title if language == "de" else en_title,
        "status": status,
        "detail": error.message(language),
        "code": error.code,
        "retryable": error.retryable,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type=PROBLEM_CONTENT_TYPE,
        headers={"Content-Language": language, **(headers or {})},
    )


def language_of(request: web.Request) -> Language:
    return pick_language(request.headers.get("Accept-Language"))


class InvalidFields(InvalidInput):
    """Invalid input with one entry per offending field (rendered as the ``errors`` extension)."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        # fields: (field path, pydantic error type)
        self.fields = fields
        super().__init__("invalid_request", detail=", ".join(f"{f} ({t})" for f, t in fields))

    def field_errors(self, language: Language) -> list[dict[str, str]]:
        out = []
        for field, kind in self.fields:
            en, de = _FIELD_REASONS.get(kind, _OTHER_REASON)
            out.append({"field": field, "type": kind, "message": de if language == "de" else en})
        return out

    def message(self, language: Language = "en") -> str:
        parts = [f"{e['field']}: {e['message']}" for e in self.field_errors(language)]
        return render("invalid_request", language, detail="; ".join(parts))


def field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(body)"


def validation_problem(exc: ValidationError, prefix: tuple[str, ...] = ()) -> InvalidFields:
    """An ``InvalidFields`` error naming every field pydantic refused."""
    return InvalidFields([(field_path(prefix + tuple(e["loc"])), e["type"]) for e in exc.errors()])


async def read_json(request: web.Request, model: type[M]) -> M:
    """Parse the request body strictly into ``model`` (unknown fields, wrong types and bad JSON refused)."""
    if request.content_type != "application/json":
        raise InvalidInput("unsupported_media_type")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        REFUSALS.note("payload_too_large", request)
        raise InvalidInput("payload_too_large") from None
    data = parse_json_body(raw, request)
    if not isinstance(data, dict):
        raise InvalidFields([("(body)", "model_type")])
    refuse_nul_characters(nul_fields(data))
    try:
        # strict: "1" is not an integer and 1 is not a string; the caller gets the field named.
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise validation_problem(exc) from None


# No request body of this API nests deeper than a few levels; the limit keeps every later walk shallow.
MAX_JSON_DEPTH = 32


def parse_json_body(raw: bytes, request: web.Request | None = None) -> Any:
    """``raw`` parsed as JSON, or ``InvalidField`` on the body (logged, rate limited, without the body).

    Refused besides malformed JSON: nesting deeper than :data:`MAX_JSON_DEPTH` (Python's parser
    would raise ``RecursionError`` at about a thousand levels) and integers with more digits than
    Python converts (``ValueError`` past 4,300 digits).
    """
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        REFUSALS.note("invalid_json", request)
        if isinstance(exc, json.JSONDecodeError):
            en, de = f"line {exc.lineno} column {exc.colno}", f"Zeile {exc.lineno} Spalte {exc.colno}"
        else:
            en, de = "encoding", "Kodierung"
        raise InvalidField("(body)", f"is not valid JSON ({en})", f"ist kein gültiges JSON ({de})") from None
    except RecursionError:
        REFUSALS.note("json_too_deep", request)
        raise _too_deep() from None
    except ValueError:
        # int(): "Exceeds the limit (4300 digits) for integer string conversion".
        REFUSALS.note("json_number_too_long", request)
        raise InvalidField(
            "(body)", "holds a number with too many digits", "enthält eine Zahl mit zu vielen Ziffern"
        ) from None
    if json_depth(data) > MAX_JSON_DEPTH:
        REFUSALS.note("json_too_deep", request)
        raise _too_deep()
    return data


def _too_deep() -> InvalidField:
    return InvalidField(
        "(body)",
        f"is nested too deeply (at most {MAX_JSON_DEPTH} levels)",
        f"ist zu tief verschachtelt (höchstens {MAX_JSON_DEPTH} Ebenen)",
    )


def json_depth(value: object) -> int:
    """How deeply parsed JSON nests (a scalar: 0, ``[]``/``{}``: 1), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_query(request: web.Request, model: type[M]) -> M:
    """Parse query parameters into ``model`` (lax types: everything arrives as text)."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise validation_problem(exc, ("query",)) from None


def nul_fields(value: object, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Paths of every string (or object key) inside parsed JSON that holds a NUL character.

    PostgreSQL text cannot store U+0000, and no field of this API has a use for it.
    """
    if isinstance(value, str):
        if "\x00" in value:
            yield field_path(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                yield field_path((*path, key.replace("\x00", "\\u0000")))
            yield from nul_fields(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nul_fields(item, (*path, str(index)))


def refuse_nul_characters(fields: Iterator[str]) -> None:
    found = [(field, "nul_character") for field in fields]
    if found:
        raise InvalidFields(found)


def _nul_in_url(request: web.Request) -> Iterator[str]:
    for name, value in request.match_info.items():
        if "\x00" in value:
            yield f"path.{name}"
    for name, value in request.query.items():
        if "\x00" in name or "\x00" in value:
            yield "query." + name.replace("\x00", "\\u0000")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into a problem document; unexpected ones are logged and answered with 500."""
    language = language_of(request)
    try:
        refuse_nul_characters(_nul_in_url(request))
        return await handler(request)
    except InvalidFields as exc:
        return problem(exc, language, instance=request.path, errors=exc.field_errors(language))
    except InvalidField as exc:
        errors = [{"field": exc.field, "type": "invalid", "message": exc.reason(language)}]
        return problem(exc, language, instance=request.path, errors=errors)
    except ByosmsError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return problem(exc, language, instance=request.path, headers=headers)
    except web.HTTPRequestEntityTooLarge:
        REFUSALS.note("payload_too_large", request)
        return problem(InvalidInput("payload_too_large"), language, instance=request.path)
    except web.HTTPMethodNotAllowed as exc:
        return problem(
            InvalidInput("method_not_allowed"),
            language,
            instance=request.path,
            headers={"Allow": ",".join(sorted(exc.allowed_methods))},
        )
    except web.HTTPNotFound:
        return problem(ByosmsError("not_found"), language, instance=request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(ByosmsError("invalid_request", detail=exc.reason), language, instance=request.path)
    except asyncpg.DataError as exc:
        # Class 22 (data exception): a value PostgreSQL cannot take as given, e.g. text it cannot
        # encode. The caller's input is at fault, so it is a 400, never a 500.
        REFUSALS.note(f"input PostgreSQL cannot store ({exc.sqlstate})", request)
        refused = InvalidFields([("(request)", "invalid_text")])
        return problem(refused, language, instance=request.path, errors=refused.field_errors(language))
    except Exception as exc:
        if is_transient(exc):
            # PostgreSQL (or Kafka) is away for now, e.g. while the service starts: retryable, not a bug.
            log.warning("dependency unavailable on %s %s: %s", request.method, request.path, type(exc).__name__)
            unavailable = ByosmsError("service_unavailable", retryable=True)
            return problem(unavailable, language, instance=request.path, headers={"Retry-After": "2"})
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(ByosmsError("internal_error"), language, instance=request.path)

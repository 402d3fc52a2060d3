"""Decisions of a number import that need no I/O: integration fitness, the claim outcome, what
Twilio's answers mean, and whether a number's SMS webhook reaches us.

The order of the checks (issue 6) is fixed here and in :mod:`byosms_provisioning.imports.service`:

1. integration exists, belongs to the organization, is active, has credentials;
2. sender id matches its type; 3. country; 4. short-code compliance (:mod:`sender_ids`);
5. claim of the address (decided by the database, interpreted by :func:`claim_outcome`);
6. the number exists in the Twilio account (:func:`pick_exact`);
7. its SMS webhook is our regional ingress URL, called with POST, with nothing overriding it
   (:func:`byosms_provisioning.webhook_checks.resolver.resolve`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from byosms_common.messages import IntegrationStatus

# --------------------------------------------------------------------------------------------------
# 1. Integration
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntegrationFacts:
    """What the import needs to know about an integration (never its token)."""

    integration_id: str
    organization_id: str
    status: IntegrationStatus
    account_sid: str | None
    has_auth_token: bool
    region: str


def integration_problem(integration: IntegrationFacts | None, organization_id: str) -> str | None:
    """The error code if the integration cannot be used to import for ``organization_id``.

    Missing and foreign integrations get the same answer, so an organization cannot probe for
    another's integration ids.
    """
    if integration is None or integration.organization_id != organization_id:
        return "integration_sender_id_invalid"
    if integration.status is not IntegrationStatus.ACTIVE:
        return "integration_sender_id_invalid"
    if not integration.account_sid or not integration.has_auth_token:
        return "integration_sender_id_invalid"
    return None


# --------------------------------------------------------------------------------------------------
# 5. Claims
# --------------------------------------------------------------------------------------------------


class ClaimState(StrEnum):
    IN_PROGRESS = "in_progress"
    HELD = "held"


@dataclass(frozen=True, slots=True)
class ClaimRow:
    """The claim of an address as the database holds it after our INSERT ... ON CONFLICT."""

    organization_id: str
    import_id: str
    state: ClaimState


def claim_outcome(row: ClaimRow, organization_id: str, import_id: str) -> str | None:
    """None when the claim is ours (new, or this very import redelivered), else the error code."""
    if row.import_id == import_id:
        return None
    # The order: an import in progress (by anyone) first, then a number another
    # organization holds. Both only say that the address is taken, never by whom.
    if row.state is ClaimState.IN_PROGRESS:
        return "provisioning_in_progress"
    if row.organization_id != organization_id:
        return "number_not_available"
    # The organization already has the number in its inventory (imported by an earlier import).
    return "number_already_imported"


# --------------------------------------------------------------------------------------------------
# 6. The number at Twilio
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VendorNumber:
    """An IncomingPhoneNumber or ShortCode as Twilio lists it."""

    sid: str
    value: str
    """``phone_number`` (E.164) or ``short_code`` (digits)."""
    sms_url: str | None
    sms_method: str | None = None
    sms_application_sid: str | None = None


@dataclass(frozen=True, slots=True)
class VendorService:
    """The Messaging Service a number belongs to."""

    sid: str
    use_inbound_webhook_on_number: bool
    inbound_request_url: str | None = None
    inbound_method: str | None = None


def _bare(value: str) -> str:
    # Messaging v1 describes a service's short code as "E.164 format", so a '+' may lead.
    return value.strip().removeprefix("+")


def pick_exact(candidates: Iterable[VendorNumber], wanted: str) -> VendorNumber | None:
    """The listed number equal to ``wanted``: Twilio's PhoneNumber/ShortCode filters match partially
    (and allow ``*``), so a list result is no proof of ownership by itself."""
    if wanted.startswith("+"):
        for candidate in candidates:
            if candidate.value.strip() == wanted:
                return candidate
        return None
    for candidate in candidates:
        if _bare(candidate.value) == wanted:
            return candidate
    return None


# --------------------------------------------------------------------------------------------------
# 7. Webhook
# --------------------------------------------------------------------------------------------------

_DEFAULT_PORTS = {"https": 443, "http": 80}


def _url_key(url: str) -> tuple[str, str, int | None, str, str] | None:
    """The parts of a URL that decide where Twilio posts, or None if it is not a usable URL.

    The fragment is dropped: Twilio reads connection overrides (``#rc=3&rp=5xx``) from it and never
    sends it. Scheme and host are case-insensitive; the path (it holds the case-sensitive region
    key) and the query are compared as they are.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    return scheme, host, port, parts.path, parts.query


def same_webhook_url(actual: str | None, expected: str) -> bool:
    """Whether Twilio posting to ``actual`` reaches ``expected``.

    http vs https, another host or port, a trailing slash, a query string, or credentials in the URL
    all count as different: the ingress serves exactly one path and checks signatures over the URL
    it expects.
    """
    if not actual:
        return False
    got, want = _url_key(actual), _url_key(expected)
    return got is not None and got == want


def webhook_problem(number: VendorNumber, service: VendorService | None, expected_url: str) -> str | None:
    """The error code if inbound SMS to ``number`` would not reach ``expected_url``, else None (the number
    and its service only; :func:`byosms_provisioning.webhook_checks.resolver.resolve` also weighs a TwiML
    App's URL and Conversations address configurations, and is what the import uses)."""
    # Imported here: the resolver imports this module.
    from byosms_provisioning.webhook_checks.resolver import NumberConfiguration, resolve

    kind = resolve(NumberConfiguration(number=number, service=service), expected_url).kind
    return kind.value if kind is not None else None


def posts(sms_method: str | None) -> bool:
    """Whether Twilio calls the SMS webhook with POST (twilio-facts §1.4).

    Twilio lists the method it uses; an empty value means the number was never given one, and
    Twilio's default for ``SmsMethod`` is POST.
    """
    return sms_method is None or sms_method.strip().upper() in ("", "POST")

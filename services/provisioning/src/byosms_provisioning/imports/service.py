"""Number import orchestration: record → checks → claim → Twilio → exactly one outcome event.

Every import ends in one event on ``NUMBER_EVENTS`` (``NumberImported`` or
``NumberImportRejected``), written to the outbox in the transaction that records the outcome. The
row update ``WHERE state = 'in_progress'`` makes the worker and the deadline sweeper race safely:
whoever records first publishes, the other does nothing.

A redelivered command (same ``import_id``) resumes an unfinished import (its claim is recognized as
its own) or does nothing if the import already ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import asyncpg

from byosms_common import topics
from byosms_common.backoff import Backoff, retry
from byosms_common.crypto import CryptoError, Keyring, associated_data, open_sealed
from byosms_common.errors import ByosmsError, localized
from byosms_common.kafka import RetryPolicy, is_transient
from byosms_common.messages import (
    Compliance,
    Envelope,
    ImportedNumber,
    ImportNumber,
    ImportNumberPayload,
    NumberImported,
    NumberImportedPayload,
    NumberImportRejected,
    NumberImportRejectedPayload,
)
from byosms_common.regions import Region
from byosms_common.topics import TopicSpec
from byosms_provisioning import outbox, twilio_gateway
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.imports import repo as repo_imports
from byosms_provisioning.imports.checks import (
    VendorNumber,
    VendorService,
    claim_outcome,
    integration_problem,
    pick_exact,
)
from byosms_provisioning.imports.sender_ids import SenderId, validate_compliance, validate_sender_id
from byosms_provisioning.integrations.model import AUTH_TOKEN_FIELD
from byosms_provisioning.webhook_checks import repo as repo_checks
from byosms_provisioning.webhook_checks.resolver import (
    AddressConfig,
    NumberConfiguration,
    Resolution,
    VendorApplication,
    resolve,
)
from byosms_provisioning.webhook_checks.twilio_config import ConfigReader

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_DEADLINE_SECONDS = 120.0


class NumberLookup(Protocol):
    """Twilio lookups of an import; failures raise ``ByosmsError`` (``retryable`` where it may help)."""

    async def find(self, account_sid: str, auth_token: str, sender: SenderId) -> list[VendorNumber]: ...

    async def service_of(
        self, account_sid: str, auth_token: str, member_sid: str, *, short_code: bool
    ) -> VendorService | None: ...

    async def overrides(
        self, account_sid: str, auth_token: str, number: VendorNumber, *, short_code: bool
    ) -> tuple[VendorApplication | None, tuple[AddressConfig, ...]]:
        """The TwiML App the number names (if any) and the account's Conversations address configurations."""
        ...


class TwilioNumberLookup:
    """:class:`NumberLookup` through the service's Twilio gateway."""

    def __init__(self, gateway: twilio_gateway.TwilioGateway) -> None:
        self._gateway = gateway

    async def find(self, account_sid: str, auth_token: str, sender: SenderId) -> list[VendorNumber]:
        if sender.is_short_code:
            return await twilio_gateway.list_short_codes(self._gateway, account_sid, auth_token, sender.vendor_value)
        return await twilio_gateway.list_incoming_numbers(self._gateway, account_sid, auth_token, sender.vendor_value)

    async def service_of(
        self, account_sid: str, auth_token: str, member_sid: str, *, short_code: bool
    ) -> VendorService | None:
        return await twilio_gateway.messaging_service_of(
            self._gateway, account_sid, auth_token, member_sid, short_code=short_code
        )

    async def overrides(
        self, account_sid: str, auth_token: str, number: VendorNumber, *, short_code: bool
    ) -> tuple[VendorApplication | None, tuple[AddressConfig, ...]]:
        reader = ConfigReader(self._gateway, account_sid, auth_token, attempts=1)
        app = await reader.application(number.sms_application_sid) if number.sms_application_sid else None
        return app, (() if short_code else await reader.address_configs())


class EventPublisher(Protocol):
    """Publishes straight to Kafka (``byosms_common.kafka.Publisher``), for when the database is away."""

    async def publish(self, topic: TopicSpec, message: Envelope, key: str) -> None: ...


@dataclass
class ImportDeps:
    """Collaborators of the import handlers (built by ``app.py`` from the service context)."""

    pool: asyncpg.Pool
    keyring: Keyring
    lookup: NumberLookup
    regions: Mapping[str, Region]
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(attempts=4, first_delay=0.5, max_delay=4.0))
    publisher: EventPublisher | None = None
    """Outcome events of commands that could not be recorded at all go out through this, not the outbox."""
    webhook_check_interval_seconds: float = 3600.0
    """When the scheduled webhook checks of an imported number start (spread over this interval)."""


def deps_from_context(ctx: ServiceContext) -> ImportDeps:
    """The import collaborators out of the service context built by ``app.py``."""
    return ImportDeps(
        pool=ctx.pool,
        keyring=ctx.keyring,
        lookup=TwilioNumberLookup(ctx.twilio),
        regions=ctx.regions,
        outbox_wakeup=ctx.outbox_wakeup,
        deadline_seconds=ctx.settings.import_deadline_seconds,
        publisher=ctx.publisher,
        webhook_check_interval_seconds=ctx.settings.webhook_check_interval_seconds,
    )


def command_key(payload: ImportNumberPayload) -> str:
    """The Kafka key of an import command: its address when the sender id is well formed."""
    try:
        return validate_sender_id(payload.number_type, payload.sender_id, payload.country).address
    except ByosmsError:
        return payload.sender_id


class Rejected(Exception):
    """An import check failed; ``code`` is a CATALOG code."""

    def __init__(self, code: str, **params: str) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


async def record_import(conn: asyncpg.Connection, command: ImportNumber, deadline_seconds: float) -> bool:
    """Store a new import (inside the caller's transaction); False if its id was seen before."""
    payload = command.payload
    return await repo_imports.insert_import(
        conn,
        import_id=payload.import_id,
        organization_id=command.organization_id,
        integration_id=payload.integration_id,
        number_type=payload.number_type.value,
        sender_id=payload.sender_id,
        command=payload.model_dump(mode="json"),
        deadline_seconds=deadline_seconds,
    )


def unexpected_failure(exc: Exception) -> Rejected:
    """The rejection for a non-transient failure that is neither a check nor the deadline."""
    if isinstance(exc, CryptoError):
        # E.g. the token is sealed under a KEK that was retired before rotation finished.
        log.error("import: the integration's credentials cannot be opened (%s)", type(exc).__name__)
        return Rejected("credentials_unreadable")
    log.error("import failed unexpectedly", exc_info=exc)
    return Rejected("internal_error")


@dataclass(frozen=True, slots=True)
class InvalidCommand:
    """An import command that failed validation but names its import and organization.

    Its strings are cleaned for storage (no NUL, bounded); ``detail`` names the field at fault.
    """

    import_id: str
    organization_id: str
    integration_id: str
    number_type: str
    sender_id: str
    detail: str


async def record_command(deps: ImportDeps, command: ImportNumber) -> None:
    """The first database write of a command: record its import (a no-op when redelivered)."""
    async with deps.pool.acquire() as conn:
        await record_import(conn, command, deps.deadline_seconds)


async def reject_invalid(deps: ImportDeps, invalid: InvalidCommand) -> None:
    """Record an invalid command's import as rejected (``invalid_request``, the field named).

    Idempotent like :func:`handle_import`: a redelivered copy finds the import ended, and an import
    id of another organization is never touched.
    """
    async with deps.pool.acquire() as conn, conn.transaction():
        await repo_imports.insert_import(
            conn,
            import_id=invalid.import_id,
            organization_id=invalid.organization_id,
            integration_id=invalid.integration_id,
            number_type=invalid.number_type,
            sender_id=invalid.sender_id,
            command={"invalid": invalid.detail},
            deadline_seconds=deps.deadline_seconds,
        )
        current = await repo_imports.lock_import(conn, invalid.import_id)
        if current is None or current.state != "in_progress" or current.organization_id != invalid.organization_id:
            return
        await conclude(conn, current, rejected=Rejected("invalid_request", detail=invalid.detail))
    deps.outbox_wakeup.set()


def rejection_event(
    organization_id: str, import_id: str, integration_id: str, sender_id: str, rejected: Rejected
) -> NumberImportRejected:
    """The result event of a rejected import, its message in every served language."""
    return NumberImportRejected(
        organization_id=organization_id,
        payload=NumberImportRejectedPayload(
            import_id=import_id,
            integration_id=integration_id,
            sender_id=sender_id,
            code=rejected.code,
            message=localized(rejected.code, **rejected.params),
            details=dict(rejected.params),
        ),
    )


async def publish_unrecorded_rejection(
    deps: ImportDeps,
    *,
    organization_id: str,
    import_id: str,
    integration_id: str,
    sender_id: str,
    key: str,
    rejected: Rejected,
) -> None:
    """Publish the outcome of a command whose import could not be recorded at all, straight to Kafka.

    Used only when the first database write never succeeded (the database stayed away until the
    import's deadline, or refused the command's data), so no other outcome can follow for it.
    """
    if deps.publisher is None:
        raise RuntimeError("no publisher to report an unrecorded import")
    event = rejection_event(organization_id, import_id, integration_id, sender_id, rejected)
    await deps.publisher.publish(topics.NUMBER_EVENTS, event, key)


async def handle_import(deps: ImportDeps, command: ImportNumber) -> None:
    """Carry out one import command to its outcome (idempotent for a redelivered command).

    Check failures, the deadline and unexpected faults (unreadable credentials, bugs) end the import
    at once with a rejection that names them, freeing its claim. Transient failures (the database
    away) are raised, so the consumer tries again; the deadline sweeper is the backstop.
    """
    payload = command.payload
    async with deps.pool.acquire() as conn:
        await record_import(conn, command, deps.deadline_seconds)
        record = await repo_imports.get_import(conn, payload.import_id)
    if record is None or record.state != "in_progress":
        return
    if record.organization_id != command.organization_id:
        # A command reusing another organization's import id: never touch that import.
        log.warning("import %s belongs to another organization; command %s ignored", payload.import_id, command.id)
        return
    # The import's deadline bounds all of its work (Twilio retries included); the sweeper is the
    # backstop when this process dies before the end.
    remaining = max((record.deadline_at - datetime.now(UTC)).total_seconds(), 0.0)
    deadline = asyncio.get_running_loop().time() + remaining
    try:
        async with asyncio.timeout(remaining):
            number, resolution = await _run_checks(deps, command, deadline)
    except Rejected as exc:
        await _finish(deps, payload, rejected=exc)
    except TimeoutError:
        await _finish(deps, payload, rejected=Rejected("import_timed_out"))
    except Exception as exc:
        if is_transient(exc):
            raise
        await _finish(deps, payload, rejected=unexpected_failure(exc))
    else:
        await _finish(deps, payload, imported=number, resolution=resolution)


def _validate(payload: ImportNumberPayload) -> tuple[SenderId, Compliance | None]:
    try:
        sender = validate_sender_id(payload.number_type, payload.sender_id, payload.country)
        compliance = validate_compliance(sender, payload.compliance)
    except ByosmsError as exc:
        raise Rejected(exc.code, **exc.params) from None
    return sender, compliance


async def _run_checks(deps: ImportDeps, command: ImportNumber, deadline: float) -> tuple[ImportedNumber, Resolution]:
    payload = command.payload
    organization_id = command.organization_id

    # 1. Integration.
    async with deps.pool.acquire() as conn:
        integration = await repo_imports.get_integration(conn, payload.integration_id)
    problem = integration_problem(integration.facts if integration else None, organization_id)
    if problem or integration is None or integration.auth_token is None:
        raise Rejected(problem or "integration_sender_id_invalid")
    facts = integration.facts
    assert facts.account_sid is not None

    # 2.–4. Sender id, country, compliance.
    sender, compliance = _validate(payload)

    region = deps.regions.get(facts.region)
    if region is None:
        raise Rejected("unknown_region", region=facts.region)
    expected_url = region.inbound_url

    # 5. Claim the address; the database decides between concurrent imports.
    await _claim(deps, organization_id, payload.import_id, sender.address)

    # 6.–7. Twilio, with the integration's own credentials.
    token = open_sealed(
        deps.keyring, integration.auth_token, associated_data(organization_id, facts.integration_id, AUTH_TOKEN_FIELD)
    )
    listed = await _vendor(
        deps, "find number", lambda: deps.lookup.find(facts.account_sid or "", token, sender), deadline
    )
    number = pick_exact(listed, sender.vendor_value)
    if number is None:
        raise Rejected("number_not_found_at_vendor")
    service = await _vendor(
        deps,
        "find messaging service",
        lambda: deps.lookup.service_of(facts.account_sid or "", token, number.sid, short_code=sender.is_short_code),
        deadline,
    )
    application, address_configs = await _vendor(
        deps,
        "find webhook overrides",
        lambda: deps.lookup.overrides(facts.account_sid or "", token, number, short_code=sender.is_short_code),
        deadline,
    )
    configuration = NumberConfiguration(
        number=number, service=service, application=application, address_configs=address_configs
    )
    resolution = resolve(configuration, expected_url)
    if resolution.kind is not None:
        raise Rejected(resolution.kind.value, expected_url=expected_url)
    imported = ImportedNumber(
        address=sender.address,
        number_type=sender.number_type,
        country=sender.country,
        twilio_sid=number.sid,
        integration_id=facts.integration_id,
        compliance=compliance,
        messaging_service_sid=service.sid if service is not None else None,
    )
    return imported, resolution


async def _claim(deps: ImportDeps, organization_id: str, import_id: str, address: str) -> None:
    async with deps.pool.acquire() as conn, conn.transaction():
        current = await repo_imports.lock_import(conn, import_id)
        if current is None or current.state != "in_progress":
            # The sweeper ended it meanwhile; _finish will find it ended and publish nothing.
            raise Rejected("import_timed_out")
        await repo_imports.set_import_address(conn, import_id, address)
        await repo_imports.drop_lapsed_claim(conn, address)
        row = await repo_imports.claim_address(
            conn, address=address, organization_id=organization_id, import_id=import_id
        )
    outcome = claim_outcome(row, organization_id, import_id)
    if outcome is not None:
        raise Rejected(outcome)


async def _vendor(deps: ImportDeps, what: str, call: Callable[[], Awaitable[T]], deadline: float) -> T:
    """One Twilio lookup, retried with backoff and jitter while the failure is retryable.

    Each call has the gateway's own deadline; the whole import is bounded by its deadline too
    (``deadline``, event-loop time). A 429's ``Retry-After`` is honoured: the next try waits at least
    that long, and when the wait would pass the deadline the import gives up at once with the
    vendor's error instead of sleeping into a timeout.
    """

    def retryable(exc: Exception) -> bool:
        return isinstance(exc, ByosmsError) and exc.retryable and exc.code != "vendor_resource_not_found"

    try:
        return await retry(
            call,
            retryable=retryable,
            backoff=Backoff(deps.retry.first_delay, deps.retry.max_delay),
            attempts=deps.retry.attempts,
            deadline=deadline,
            wait_at_least=twilio_gateway.retry_after_of,
            what=f"twilio {what}",
        )
    except ByosmsError as exc:
        if exc.code == "vendor_resource_not_found":
            raise Rejected("number_not_found_at_vendor") from None
        log.warning("twilio %s gave up: %s", what, exc.code)
        raise Rejected(exc.code, **exc.params) from None


async def _finish(
    deps: ImportDeps,
    payload: ImportNumberPayload,
    *,
    imported: ImportedNumber | None = None,
    rejected: Rejected | None = None,
    resolution: Resolution | None = None,
) -> None:
    async with deps.pool.acquire() as conn, conn.transaction():
        current = await repo_imports.lock_import(conn, payload.import_id)
        if current is None or current.state != "in_progress":
            return
        if imported is not None and not await repo_imports.hold_claim(conn, imported.address, payload.import_id):
            # The deadline passed and another import took the address meanwhile.
            imported, rejected = None, Rejected("import_timed_out")
        await conclude(conn, current, imported=imported, rejected=rejected)
        if imported is not None and resolution is not None:
            # The import's check is the number's first webhook check; the schedule goes on from it.
            await repo_checks.record_import_check(
                conn,
                organization_id=current.organization_id,
                number_id=payload.import_id,
                address=imported.address,
                integration_id=imported.integration_id,
                resolution=resolution,
                interval_seconds=deps.webhook_check_interval_seconds,
            )
    deps.outbox_wakeup.set()


async def conclude(
    conn: asyncpg.Connection,
    record: repo_imports.ImportRecord,
    *,
    imported: ImportedNumber | None = None,
    rejected: Rejected | None = None,
) -> None:
    """Record the outcome of a locked, in-progress import and put its event in the outbox."""
    event: NumberImported | NumberImportRejected
    if imported is not None:
        event = NumberImported(
            organization_id=record.organization_id,
            payload=NumberImportedPayload(import_id=record.import_id, number=imported),
        )
        key = imported.address
        state, code = "imported", None
    else:
        reason = rejected or Rejected("internal_error")
        if record.address is not None:
            await repo_imports.release_claim(conn, record.address, record.import_id)
        event = rejection_event(
            record.organization_id, record.import_id, record.integration_id, record.sender_id, reason
        )
        key = record.address or record.sender_id
        state, code = "rejected", reason.code
    await repo_imports.finish_import(
        conn, record.import_id, state=state, code=code, result=event.payload.model_dump(mode="json")
    )
    await outbox.enqueue(conn, topics.NUMBER_EVENTS, event, key)


async def sweep_once(deps: ImportDeps, batch: int = 100) -> int:
    """Reject imports past their deadline and free their claims; returns how many were ended."""
    async with deps.pool.acquire() as conn, conn.transaction():
        due = await repo_imports.lock_due_imports(conn, batch)
        for record in due:
            await conclude(conn, record, rejected=Rejected("import_timed_out"))
    if due:
        log.info("rejected %d import(s) past their deadline", len(due))
        deps.outbox_wakeup.set()
    return len(due)


async def run_sweeper(deps: ImportDeps, stop: asyncio.Event, *, interval_seconds: float = 5.0) -> None:
    """Sweep until ``stop`` is set; a failed round (database away) is tried again next round."""
    while not stop.is_set():
        try:
            while await sweep_once(deps):
                pass
        except asyncio.CancelledError:
            raise
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("import sweeper round failed (%s); will retry", type(exc).__name__)
        try:
            await asyncio.wait_for(stop.wait(), interval_seconds)
        except TimeoutError:
            continue

"""Number import end to end inside the service: PostgreSQL + the Twilio emulator (issue 6).

Each case seeds the emulator, stores an integration, runs the import command and asserts the one
outcome event the import put in the outbox (what inventory and the platform will receive).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from byosms_common import db, topics
from byosms_common.crypto import Keyring, associated_data, seal
from byosms_common.kafka import Delivery, PermanentError, RetryPolicy
from byosms_common.messages import (
    Compliance,
    ComplianceBlock,
    ImportNumber,
    ImportNumberPayload,
    NumberImported,
    NumberImportRejected,
    NumberType,
    decode,
)
from byosms_common.regions import DEFAULT_REGIONS
from byosms_provisioning.imports import repo as repo_imports
from byosms_provisioning.imports import service as import_service
from byosms_provisioning.imports.checks import VendorNumber, VendorService
from byosms_provisioning.imports.sender_ids import SenderId
from byosms_provisioning.imports.service import ImportDeps, TwilioNumberLookup, handle_import, sweep_once
from byosms_provisioning.imports.subscribers import on_import_command
from byosms_provisioning.twilio_gateway import TwilioCallError, TwilioGateway
from twilio_emulator.app import create_app
from twilio_emulator.settings import EmulatorSettings

pytestmark = pytest.mark.integration

REGION = DEFAULT_REGIONS["eu-central-1"]
OUR_URL = REGION.inbound_url
TOKEN = "f" * 32
ORG = "org-a"


def _account_sid() -> str:
    return "AC" + uuid.uuid4().hex


@dataclass
class Env:
    pool: asyncpg.Pool
    keyring: Keyring
    emulator: str
    deps: ImportDeps
    account_sid: str

    async def seed(self, **doc: Any) -> dict[str, Any]:
        doc.setdefault("accounts", [{"sid": self.account_sid, "auth_token": TOKEN}])
        async with aiohttp.ClientSession() as http, http.post(self.emulator + "/_emulator/seed", json=doc) as resp:
            assert resp.status == 200, await resp.text()
            result: dict[str, Any] = await resp.json()
            return result

    async def api_requests(self) -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as http, http.get(self.emulator + "/_emulator/requests") as resp:
            body = await resp.json()
            return list(body["requests"] if isinstance(body, dict) else body)

    async def integration(
        self, *, organization_id: str = ORG, status: str = "active", token: str | None = TOKEN, region: str = REGION.id
    ) -> str:
        integration_id = "int-" + uuid.uuid4().hex[:12]
        sealed = (
            seal(self.keyring, token, associated_data(organization_id, integration_id, "auth_token"))
            if token is not None
            else None
        )
        now = datetime.now(UTC)
        await self.pool.execute(
            """INSERT INTO integrations (id, organization_id, name, region, account_sid, auth_token, status, version,
                                         created_at, updated_at)
               VALUES ($1, $2, 'test', $3, $4, $5, $6, 1, $7, $7)""",
            integration_id,
            organization_id,
            region,
            self.account_sid if sealed is not None else None,
            sealed.model_dump_json() if sealed is not None else None,
            status,
            now,
        )
        return integration_id

    async def outcome(self, import_id: str) -> NumberImported | NumberImportRejected:
        rows = await self.pool.fetch(
            "SELECT topic, record_key, value FROM outbox WHERE topic = $1 ORDER BY id", topics.NUMBER_EVENTS.name
        )
        events = [decode(bytes(r["value"])) for r in rows]
        mine = [e for e in events if getattr(e.payload, "import_id", None) == import_id]
        assert len(mine) == 1, mine
        event = mine[0]
        assert isinstance(event, NumberImported | NumberImportRejected)
        return event

    async def claim_of(self, address: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow("SELECT * FROM number_claims WHERE address = $1", address)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    schema = f"provisioning_t{uuid.uuid4().hex[:12]}"
    pool = await db.create_pool(os.environ["BYOSMS_DATABASE_URL"], schema, min_size=1, max_size=4)
    server = TestServer(create_app(EmulatorSettings()))
    await server.start_server()
    gateway = TwilioGateway(api_base=str(server.make_url("")).rstrip("/"), timeout_seconds=1.0)
    await gateway.start()
    try:
        await db.apply_migrations(pool, schema, db.load_migrations("byosms_provisioning"))
        keyring = Keyring.from_config(json.dumps({"k1": Keyring.generate_key()}), "k1")
        deps = ImportDeps(
            pool=pool,
            keyring=keyring,
            lookup=TwilioNumberLookup(gateway),
            regions=DEFAULT_REGIONS,
            deadline_seconds=30,
            retry=RetryPolicy(attempts=3, first_delay=0.01, max_delay=0.05),
        )
        yield Env(pool, keyring, str(server.make_url("")).rstrip("/"), deps, _account_sid())
    finally:
        await gateway.close()
        await server.close()
        await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await pool.close()


def _block(keyword: str) -> ComplianceBlock:
    return ComplianceBlock(keywords=(keyword,), message=f"Acme: reply for {keyword}. Msg&data rates may apply.")


COMPLIANCE = Compliance(help=_block("HELP"), opt_out=_block("STOP"), re_opt_in=_block("START"))


def _command(
    integration_id: str,
    sender_id: str,
    number_type: NumberType = NumberType.MOBILE,
    country: str | None = "DE",
    compliance: Compliance | None = None,
    organization_id: str = ORG,
) -> ImportNumber:
    return ImportNumber(
        organization_id=organization_id,
        payload=ImportNumberPayload(
            integration_id=integration_id,
            number_type=number_type,
            sender_id=sender_id,
            country=country,
            compliance=compliance,
            actor="test",
        ),
    )


MOBILE = "+4915112345678"


async def test_number_with_our_webhook_is_imported(env: Env) -> None:
    seeded = await env.seed(
        phone_numbers=[
            # Twilio's PhoneNumber filter matches partially: a longer number must not be taken for ours.
            {"account_sid": env.account_sid, "phone_number": MOBILE + "9", "sms_url": OUR_URL},
            {"account_sid": env.account_sid, "phone_number": MOBILE, "sms_url": OUR_URL + "#rc=3&rp=5xx"},
        ]
    )
    integration_id = await env.integration()
    command = _command(integration_id, MOBILE)
    await handle_import(env.deps, command)

    event = await env.outcome(command.payload.import_id)
    assert isinstance(event, NumberImported)
    number = event.payload.number
    assert number.address == MOBILE
    assert number.twilio_sid == seeded["phone_numbers"][1]["sid"]
    assert (number.number_type, number.country, number.integration_id) == (NumberType.MOBILE, "DE", integration_id)
    assert event.organization_id == ORG
    claim = await env.claim_of(MOBILE)
    assert claim is not None
    assert (claim["state"], claim["organization_id"]) == ("held", ORG)
    # The lookups went to the integration's account with its credentials.
    calls = await env.api_requests()
    listing = [c for c in calls if c["path"].endswith("/IncomingPhoneNumbers.json")]
    assert len(listing) == 1
    assert listing[0]["path"] == f"/2010-04-01/Accounts/{env.account_sid}/IncomingPhoneNumbers.json"
    assert ["PhoneNumber", MOBILE] in listing[0]["query"]
    assert {c["auth_username"] for c in calls} == {env.account_sid}
    assert any(c["path"] == "/v1/Services" for c in calls)

    # A redelivered command changes nothing and publishes nothing more.
    await handle_import(env.deps, command)
    assert isinstance(await env.outcome(command.payload.import_id), NumberImported)


async def test_short_code_is_imported_with_its_compliance_blocks(env: Env) -> None:
    seeded = await env.seed(short_codes=[{"account_sid": env.account_sid, "short_code": "894546", "sms_url": OUR_URL}])
    command = _command(await env.integration(), "894546", NumberType.SHORTCODE, "us", COMPLIANCE)
    await handle_import(env.deps, command)
    event = await env.outcome(command.payload.import_id)
    assert isinstance(event, NumberImported)
    assert event.payload.number.address == "US:894546"
    assert event.payload.number.twilio_sid == seeded["short_codes"][0]["sid"]
    assert event.payload.number.compliance == COMPLIANCE


@dataclass(frozen=True)
class Case:
    label: str
    seed: dict[str, Any]
    code: str
    number_type: NumberType = NumberType.MOBILE
    sender_id: str = MOBILE
    country: str | None = "DE"
    compliance: Compliance | None = None
    integration: dict[str, Any] | None = None
    calls_twilio: bool = True


def _pn(**fields: Any) -> dict[str, Any]:
    return {"phone_numbers": [{"phone_number": MOBILE, "sms_url": OUR_URL, **fields}]}


REJECTIONS = [
    Case(
        "integration inactive",
        _pn(),
        "integration_sender_id_invalid",
        integration={"status": "inactive"},
        calls_twilio=False,
    ),
    Case(
        "integration without credentials",
        _pn(),
        "integration_sender_id_invalid",
        integration={"token": None},
        calls_twilio=False,
    ),
    Case(
        "integration of another org",
        _pn(),
        "integration_sender_id_invalid",
        integration={"organization_id": "org-b"},
        calls_twilio=False,
    ),
    Case(
        "integration is checked first",
        _pn(),
        "integration_sender_id_invalid",
        sender_id="015112345678",
        integration={"status": "inactive"},
        calls_twilio=False,
    ),
    Case("not E.164", _pn(), "sender_id_type_invalid", sender_id="015112345678", calls_twilio=False),
    Case("landline imported as mobile", _pn(), "sender_id_type_invalid", sender_id="+493012345678", calls_twilio=False),
    Case("country mismatch", _pn(), "sender_id_country_mismatch", country="US", calls_twilio=False),
    Case(
        "short code without compliance",
        {},
        "compliance_missing",
        NumberType.SHORTCODE,
        "12345",
        "US",
        calls_twilio=False,
    ),
    Case(
        "not in the account",
        {"phone_numbers": [{"phone_number": MOBILE + "1", "sms_url": OUR_URL}]},
        "number_not_found_at_vendor",
    ),
    Case(
        "short code not in the account",
        {"short_codes": [{"short_code": "123456", "sms_url": OUR_URL}]},
        "number_not_found_at_vendor",
        NumberType.SHORTCODE,
        "12345",
        "US",
        COMPLIANCE,
    ),
    Case("no SMS webhook", _pn(sms_url=None), "webhook_not_configured"),
    Case("webhook over http", _pn(sms_url=OUR_URL.replace("https", "http")), "webhook_not_configured"),
    Case("webhook of another region", _pn(sms_url=DEFAULT_REGIONS["eu-west-1"].inbound_url), "webhook_not_configured"),
    Case("TwiML app on the number", _pn(sms_application_sid="AP" + "1" * 32), "webhook_application_override"),
    # The ingress answers GET with 405: a number set to GET would import and then receive nothing.
    Case("our URL called with GET", _pn(sms_method="GET"), "webhook_method_not_post"),
    Case(
        "messaging service not deferring",
        {**_pn(service_sid="MG" + "2" * 32), "services": [{"sid": "MG" + "2" * 32, "inbound_request_url": OUR_URL}]},
        "messaging_service_not_deferring",
    ),
    Case(
        "messaging service defers, number lacks our URL",
        {
            **_pn(service_sid="MG" + "3" * 32, sms_url="https://example.com/sms"),
            "services": [{"sid": "MG" + "3" * 32, "use_inbound_webhook_on_number": True}],
        },
        "webhook_not_configured",
    ),
    Case("wrong auth token", _pn(), "credentials_rejected", integration={"token": "e" * 32}),
    Case("Twilio keeps failing with 503", {**_pn(), "faults": [{"status": 503}]}, "vendor_unavailable"),
    Case("Twilio stalls past every deadline", {**_pn(), "faults": [{"latency_ms": 3000}]}, "vendor_unavailable"),
]


def _with_account(seed: dict[str, Any], account_sid: str) -> dict[str, Any]:
    out = dict(seed)
    for kind in ("phone_numbers", "short_codes", "services"):
        if kind in out:
            out[kind] = [{"account_sid": account_sid, **item} for item in out[kind]]
    return out


@pytest.mark.parametrize("case", [pytest.param(c, id=c.label) for c in REJECTIONS])
async def test_rejections(env: Env, case: Case) -> None:
    await env.seed(**_with_account(case.seed, env.account_sid))
    integration_id = await env.integration(**(case.integration or {}))
    command = _command(integration_id, case.sender_id, case.number_type, case.country, case.compliance)
    await handle_import(env.deps, command)

    event = await env.outcome(command.payload.import_id)
    assert isinstance(event, NumberImportRejected)
    assert event.payload.code == case.code
    assert event.payload.message.en
    assert event.payload.message.de
    if case.code.startswith(("webhook", "messaging_service")):
        assert OUR_URL in event.payload.message.en
        assert OUR_URL in event.payload.message.de
    if case.code == "webhook_method_not_post":
        assert "POST" in event.payload.message.en
        assert "POST" in event.payload.message.de
    record = await env.pool.fetchrow(
        "SELECT state, code FROM number_imports WHERE import_id = $1", command.payload.import_id
    )
    assert record is not None
    assert (record["state"], record["code"]) == ("rejected", case.code)
    # A rejected import never keeps the address.
    assert await env.pool.fetchval("SELECT count(*) FROM number_claims") == 0
    if not case.calls_twilio:
        assert await env.api_requests() == []


async def test_one_transient_503_is_retried(env: Env) -> None:
    await env.seed(**_with_account({**_pn(), "faults": [{"status": 503, "count": 1}]}, env.account_sid))
    command = _command(await env.integration(), MOBILE)
    await handle_import(env.deps, command)
    assert isinstance(await env.outcome(command.payload.import_id), NumberImported)


async def test_other_organization_cannot_import_a_held_number(env: Env) -> None:
    await env.seed(**_with_account(_pn(), env.account_sid))
    first = _command(await env.integration(), MOBILE)
    await handle_import(env.deps, first)
    assert isinstance(await env.outcome(first.payload.import_id), NumberImported)

    second = _command(await env.integration(organization_id="org-b"), MOBILE, organization_id="org-b")
    await handle_import(env.deps, second)
    event = await env.outcome(second.payload.import_id)
    assert isinstance(event, NumberImportRejected)
    assert event.payload.code == "number_not_available"
    assert event.payload.message.en == (
        "This phone number address is not available for provisioning. Please choose another phone number and try again."
    )


async def test_import_deadline_rejects_and_frees_the_claim(env: Env) -> None:
    await env.seed(**_with_account({**_pn(), "faults": [{"latency_ms": 800}]}, env.account_sid))
    env.deps.deadline_seconds = 0.5
    command = _command(await env.integration(), MOBILE)
    await handle_import(env.deps, command)
    event = await env.outcome(command.payload.import_id)
    assert isinstance(event, NumberImportRejected)
    assert event.payload.code == "import_timed_out"
    assert await env.claim_of(MOBILE) is None


async def test_sweeper_ends_abandoned_imports(env: Env) -> None:
    # An import whose worker died after claiming: the sweeper rejects it at its deadline.
    command = _command(await env.integration(), MOBILE)
    async with env.pool.acquire() as conn:
        await import_service.record_import(conn, command, deadline_seconds=0.0)
        await repo_imports.set_import_address(conn, command.payload.import_id, MOBILE)
        await repo_imports.claim_address(conn, address=MOBILE, organization_id=ORG, import_id=command.payload.import_id)
    assert await sweep_once(env.deps) == 1
    assert await sweep_once(env.deps) == 0
    event = await env.outcome(command.payload.import_id)
    assert isinstance(event, NumberImportRejected)
    assert event.payload.code == "import_timed_out"
    assert await env.claim_of(MOBILE) is None
    # The late worker finds the import ended and publishes nothing more.
    await handle_import(env.deps, command)
    await env.outcome(command.payload.import_id)


# --------------------------------------------------------------------------------------------------
# Unexpected failures, Retry-After (audit items 3 and 7)
# --------------------------------------------------------------------------------------------------


class ScriptedLookup:
    """A Twilio lookup that fails as scripted, then finds the number with our webhook."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls: list[float] = []

    async def find(self, account_sid: str, auth_token: str, sender: SenderId) -> list[VendorNumber]:
        self.calls.append(asyncio.get_running_loop().time())
        if self.failures:
            raise self.failures.pop(0)
        return [VendorNumber(sid="PN" + "4" * 32, value=sender.vendor_value, sms_url=OUR_URL, sms_method="POST")]

    async def service_of(
        self, account_sid: str, auth_token: str, member_sid: str, *, short_code: bool
    ) -> VendorService | None:
        return None

    async def overrides(
        self, account_sid: str, auth_token: str, number: VendorNumber, *, short_code: bool
    ) -> tuple[None, tuple[()]]:
        return None, ()


async def test_unreadable_credentials_reject_at_once_and_free_the_claim(env: Env) -> None:
    # The token was sealed under a KEK that was retired before rotation reached it.
    retired = Keyring.from_config(json.dumps({"old": Keyring.generate_key()}), "old")
    sealed_by, env.keyring = env.keyring, retired
    integration_id = await env.integration()
    env.keyring = sealed_by
    command = _command(integration_id, MOBILE)
    started = asyncio.get_running_loop().time()
    await handle_import(env.deps, command)
    assert asyncio.get_running_loop().time() - started < 5  # not left to the deadline sweeper
    event = await env.outcome(command.payload.import_id)
    assert isinstance(event, NumberImportRejected)
    assert event.payload.code == "credentials_unreadable"
    assert "Auth Token" in event.payload.message.en
    assert event.payload.message.de
    assert await env.claim_of(MOBILE) is None
    assert await env.api_requests() == []


async def test_unexpected_fault_is_rejected_as_internal_not_timed_out(env: Env) -> None:
    env.deps.lookup = ScriptedLookup(RuntimeError("a bug"))
    command = _command(await env.integration(), MOBILE)
    await handle_import(env.deps, command)
    event = await env.outcome(command.payload.import_id)
    assert isinstance(event, NumberImportRejected)
    assert event.payload.code == "internal_error"
    assert await env.claim_of(MOBILE) is None


async def test_transient_failure_is_raised_for_retry_and_the_retry_imports(env: Env) -> None:
    env.deps.lookup = ScriptedLookup(ConnectionResetError("database connection lost"))
    command = _command(await env.integration(), MOBILE)
    with pytest.raises(ConnectionResetError):
        await handle_import(env.deps, command)
    record = await env.pool.fetchrow("SELECT state FROM number_imports WHERE import_id = $1", command.payload.import_id)
    assert record is not None
    assert record["state"] == "in_progress"
    await handle_import(env.deps, command)  # the consumer's retry resumes the same import
    assert isinstance(await env.outcome(command.payload.import_id), NumberImported)


def _throttled(seconds: float) -> TwilioCallError:
    return TwilioCallError("vendor_unavailable", retryable=True, retry_after=seconds)


async def test_retry_after_of_a_429_is_honoured(env: Env) -> None:
    lookup = ScriptedLookup(_throttled(0.4))
    env.deps.lookup = lookup
    command = _command(await env.integration(), MOBILE)
    await handle_import(env.deps, command)
    assert isinstance(await env.outcome(command.payload.import_id), NumberImported)
    assert len(lookup.calls) == 2
    assert lookup.calls[1] - lookup.calls[0] >= 0.4


async def test_retry_after_beyond_the_deadline_gives_up_at_once(env: Env) -> None:
    lookup = ScriptedLookup(_throttled(3600))
    env.deps.lookup = lookup
    command = _command(await env.integration(), MOBILE)
    started = asyncio.get_running_loop().time()
    await handle_import(env.deps, command)
    assert asyncio.get_running_loop().time() - started < 2
    event = await env.outcome(command.payload.import_id)
    assert isinstance(event, NumberImportRejected)
    assert event.payload.code == "vendor_unavailable"
    assert len(lookup.calls) == 1


# --------------------------------------------------------------------------------------------------
# The whole handler: races and the order of the checks (audit item 10)
# --------------------------------------------------------------------------------------------------


async def test_two_organizations_racing_through_the_whole_handler_give_exactly_one_import(env: Env) -> None:
    rounds = 30
    numbers = [f"+49151{n:08d}" for n in range(40_000_000, 40_000_000 + rounds)]
    await env.seed(
        phone_numbers=[{"account_sid": env.account_sid, "phone_number": n, "sms_url": OUR_URL} for n in numbers]
    )
    org_a, org_b = await env.integration(organization_id="org-a"), await env.integration(organization_id="org-b")
    for number in numbers:
        first = _command(org_a, number, organization_id="org-a")
        second = _command(org_b, number, organization_id="org-b")
        await asyncio.gather(handle_import(env.deps, first), handle_import(env.deps, second))
        outcomes = [await env.outcome(c.payload.import_id) for c in (first, second)]
        imported = [o for o in outcomes if isinstance(o, NumberImported)]
        rejected = [o for o in outcomes if isinstance(o, NumberImportRejected)]
        assert len(imported) == 1, outcomes
        # In progress while the winner still checks Twilio, not available once it holds the number.
        assert len(rejected) == 1
        assert rejected[0].payload.code in {"provisioning_in_progress", "number_not_available"}
        claim = await env.claim_of(number)
        assert claim is not None
        assert (claim["state"], claim["organization_id"]) == ("held", imported[0].organization_id)


async def test_compliance_is_checked_before_the_claim(env: Env) -> None:
    # Another organization holds the short code; a command lacking compliance still gets check 4's answer.
    holder = _command(await env.integration(organization_id="org-b"), "12345", NumberType.SHORTCODE, "US", COMPLIANCE)
    async with env.pool.acquire() as conn:
        await import_service.record_import(conn, holder, 60)
        await repo_imports.claim_address(
            conn, address="US:12345", organization_id="org-b", import_id=holder.payload.import_id
        )
    command = _command(await env.integration(), "12345", NumberType.SHORTCODE, "US", None)
    await handle_import(env.deps, command)
    event = await env.outcome(command.payload.import_id)
    assert isinstance(event, NumberImportRejected)
    assert event.payload.code == "compliance_missing"


@pytest.mark.parametrize(
    ("holder_org", "held", "code"),
    [
        ("org-b", False, "provisioning_in_progress"),
        (ORG, False, "provisioning_in_progress"),
        ("org-b", True, "number_not_available"),
    ],
)
async def test_the_claim_is_decided_before_twilio_is_asked(env: Env, holder_org: str, held: bool, code: str) -> None:
    await env.seed(**_with_account(_pn(), env.account_sid))
    holder = _command(await env.integration(organization_id=holder_org), MOBILE, organization_id=holder_org)
    async with env.pool.acquire() as conn:
        await import_service.record_import(conn, holder, 60)
        await repo_imports.claim_address(
            conn, address=MOBILE, organization_id=holder_org, import_id=holder.payload.import_id
        )
        if held:
            assert await repo_imports.hold_claim(conn, MOBILE, holder.payload.import_id)
    command = _command(await env.integration(), MOBILE)
    await handle_import(env.deps, command)
    event = await env.outcome(command.payload.import_id)
    assert isinstance(event, NumberImportRejected)
    assert event.payload.code == code
    assert await env.api_requests() == []  # the emulator saw no call for a number held elsewhere


# --------------------------------------------------------------------------------------------------
# Lenient decoding: every command ends in one result event (audit item 2)
# --------------------------------------------------------------------------------------------------

DELIVERY = Delivery(topic=topics.NUMBER_COMMANDS.name, partition=0, offset=0, key=None, headers={})


def _raw(command: ImportNumber, **payload_changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = command.model_dump(mode="json")
    raw["payload"].update(payload_changes)
    return {**raw, "payload": {k: v for k, v in raw["payload"].items() if v is not REMOVE}}


REMOVE = object()


@pytest.mark.parametrize(
    ("changes", "envelope", "field"),
    [
        pytest.param({"sender_id": "+49" + "1" * 40}, {}, "payload.sender_id", id="sender id over 32 characters"),
        pytest.param({"integration_id": REMOVE}, {}, "payload.integration_id", id="missing field"),
        pytest.param({"number_type": "landline"}, {}, "payload.number_type", id="unknown number type"),
        pytest.param({}, {"type": "number.import_v2"}, "type", id="unknown command type"),
        pytest.param({"sender_id": 4915112345678}, {}, "payload.sender_id", id="number as integer"),
    ],
)
async def test_invalid_commands_are_rejected_not_dead_lettered(
    env: Env, changes: dict[str, Any], envelope: dict[str, Any], field: str
) -> None:
    command = _command(await env.integration(), MOBILE)
    raw = {**_raw(command, **changes), **envelope}
    await on_import_command(env.deps, raw, DELIVERY)
    await on_import_command(env.deps, raw, DELIVERY)  # redelivered: still one outcome
    event = await env.outcome(command.payload.import_id)
    assert isinstance(event, NumberImportRejected)
    assert event.organization_id == ORG
    assert event.payload.code == "invalid_request"
    assert event.payload.details["detail"].startswith(field + ":")
    assert field in event.payload.message.en
    assert field in event.payload.message.de
    record = await env.pool.fetchrow(
        "SELECT state, code FROM number_imports WHERE import_id = $1", command.payload.import_id
    )
    assert record is not None
    assert (record["state"], record["code"]) == ("rejected", "invalid_request")
    assert await env.api_requests() == []


async def test_invalid_command_naming_nobody_goes_to_the_dead_letter_topic(env: Env) -> None:
    with pytest.raises(PermanentError):
        await on_import_command(env.deps, {"type": "number.import", "payload": {}}, DELIVERY)
    assert await env.pool.fetchval("SELECT count(*) FROM number_imports") == 0


async def test_command_without_import_id_uses_its_command_id(env: Env) -> None:
    await env.seed(**_with_account(_pn(), env.account_sid))
    command = _command(await env.integration(), MOBILE)
    raw = _raw(command, import_id=REMOVE)
    await on_import_command(env.deps, raw, DELIVERY)
    await on_import_command(env.deps, raw, DELIVERY)
    assert isinstance(await env.outcome(command.id), NumberImported)


class _DownPool:
    """A pool whose database never answers."""

    def acquire(self) -> Any:
        raise ConnectionRefusedError("database down")


class _Published:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any, str]] = []

    async def publish(self, topic: Any, message: Any, key: str) -> None:
        self.events.append((topic.name, message, key))


async def test_command_the_database_never_records_still_gets_its_rejection(env: Env) -> None:
    published = _Published()
    deps = dataclasses.replace(env.deps, pool=_DownPool(), publisher=published, deadline_seconds=0.3)  # type: ignore[arg-type]
    command = _command("int-1", MOBILE)
    await on_import_command(deps, _raw(command), DELIVERY)
    assert len(published.events) == 1
    topic, event, key = published.events[0]
    assert (topic, key) == (topics.NUMBER_EVENTS.name, MOBILE)
    assert isinstance(event, NumberImportRejected)
    assert (event.payload.import_id, event.payload.code) == (command.payload.import_id, "import_timed_out")

    published.events.clear()
    broken = _raw(command, sender_id="x" * 40)
    await on_import_command(deps, broken, DELIVERY)
    assert [e.payload.code for _, e, _ in published.events] == ["invalid_request"]

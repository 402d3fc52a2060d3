"""Webhook health against the Twilio emulator, PostgreSQL and Kafka: the import's check shows on the number,
a drift made "in the Twilio Console" is reported within one check (scheduled or on demand) and published,
each kind is told apart, a repair sets the values only when asked and is audited, the live path check
reports its steps, and the scheduled checks keep to the configured request rate."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from byosms_common import topics
from byosms_common.crypto import associated_data, seal
from byosms_common.messages import (
    ANY_MESSAGE,
    ImportNumber,
    ImportNumberPayload,
    InboundMessageRouted,
    NumberImported,
    NumberState,
    NumberStatePayload,
    NumberType,
    NumberWebhookChanged,
    NumberWebhookRepaired,
    RoutedMessagePayload,
)
from byosms_common.regions import DEFAULT_REGIONS
from byosms_provisioning.imports.service import deps_from_context, handle_import
from byosms_provisioning.numbers import repo as numbers_repo
from byosms_provisioning.settings import ProvisioningSettings
from byosms_provisioning.traces import repo as traces_repo
from byosms_provisioning.traces.steps import step_of
from byosms_provisioning.webhook_checks.schedule import Schedule
from twilio_emulator.context import CTX
from twilio_emulator.testing import AccountInfo, RunningEmulator

pytestmark = pytest.mark.integration

REGION = DEFAULT_REGIONS["eu-central-1"]
EXPECTED = REGION.inbound_url
ELSEWHERE = "https://other-vendor.example/twilio/sms"
TEST_PHONE = "+4917099887766"


def mobile() -> str:
    return "+49151" + "".join(secrets.choice("0123456789") for _ in range(8))


class Tenant:
    """An organization with one integration on an emulator account, and helpers to import numbers."""

    def __init__(self, prov: Any, account: AccountInfo) -> None:
        self.prov = prov
        self.account = account
        self.integration_id = "int-" + uuid.uuid4().hex[:12]

    @property
    def emulator(self) -> RunningEmulator:
        emulator: RunningEmulator = self.prov.emulator
        return emulator

    async def store_integration(self) -> None:
        ctx = self.prov.ctx
        sealed = seal(
            ctx.keyring, self.account.auth_token, associated_data(self.prov.org, self.integration_id, "auth_token")
        )
        now = datetime.now(UTC)
        await ctx.pool.execute(
            """INSERT INTO integrations (id, organization_id, name, region, account_sid, auth_token, status, version,
                                         created_at, updated_at)
               VALUES ($1, $2, 'main', $3, $4, $5, 'active', 1, $6, $6)""",
            self.integration_id,
            self.prov.org,
            REGION.id,
            self.account.sid,
            sealed.model_dump_json(),
            now,
        )

    async def import_number(self, address: str, **seed: Any) -> tuple[str, str]:
        """Seed the number at the emulator, import it, and put it in the read model as inventory would.
        Returns (number id, PN sid)."""
        pn = await self.emulator.control.add_phone_number(self.account.sid, address, sms_url=EXPECTED, **seed)
        command = ImportNumber(
            organization_id=self.prov.org,
            payload=ImportNumberPayload(
                integration_id=self.integration_id,
                number_type=NumberType.MOBILE,
                sender_id=address,
                country="DE",
                actor="test",
            ),
        )
        await handle_import(deps_from_context(self.prov.ctx), command)
        row = await self.prov.ctx.pool.fetchrow(
            "SELECT state, code, result FROM number_imports WHERE import_id = $1", command.payload.import_id
        )
        assert row["state"] == "imported", row["code"]
        imported = NumberImported.model_validate(
            {"organization_id": self.prov.org, "payload": json.loads(row["result"])}
        )
        async with self.prov.ctx.pool.acquire() as conn:
            await numbers_repo.apply_record(
                conn,
                self.prov.org,
                NumberStatePayload(
                    number=imported.payload.number,
                    state=NumberState.ACTIVE,
                    version=1,
                    import_id=command.payload.import_id,
                    imported_at=datetime.now(UTC),
                ),
            )
        return command.payload.import_id, str(pn["sid"])

    async def number(self, number_id: str, language: str | None = None) -> dict[str, Any]:
        response = await self.prov.client.get(
            f"/api/v2/sms/numbers/{number_id}", headers=self.prov.headers(language=language)
        )
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def post(self, path: str, body: Any = None, *permissions: str, language: str | None = None) -> Any:
        kwargs: dict[str, Any] = {"headers": self.prov.headers(*permissions, language=language)}
        if body is not None:
            kwargs["json"] = body
        return await self.prov.client.post(path, **kwargs)

    async def twilio_number(self, sid: str) -> dict[str, Any]:
        """The number as Twilio lists it (``sms_url`` etc.)."""
        number = self.emulator.app[CTX].store.numbers[sid]
        return {"sid": number.sid, "phone_number": number.phone_number, "sms_url": number.sms_url}


@pytest.fixture
async def tenant(
    prov_pool: asyncpg.Pool,
    prov_emulator: RunningEmulator,
    prov_signing_key: rsa.RSAPrivateKey,
    prov_service: Callable[..., Any],
) -> AsyncIterator[Tenant]:
    settings = ProvisioningSettings.model_validate(
        {
            "jwt_jwks_url": "http://unused.invalid/jwks.json",
            "twilio_timeout_seconds": 2.0,
            "outbox_poll_seconds": 0.2,
            "command_group_id": f"prov-test-{uuid.uuid4().hex[:8]}",
            "webhook_check_interval_seconds": 60,
            "webhook_check_requests_per_second": 4,
            "webhook_checks_enabled": False,
        }
    )
    async with prov_service(prov_pool, prov_emulator, prov_signing_key, with_commands=True, settings=settings) as prov:
        account = await prov_emulator.control.create_account(auth_token=secrets.token_hex(16))
        t = Tenant(prov, account)
        await t.store_integration()
        yield t


async def make_due(tenant: Tenant) -> None:
    await tenant.prov.ctx.pool.execute("UPDATE number_webhook_checks SET next_check_at = now()")


async def events_of(prov_records: Callable[..., Any], address: str, kind: type[Any], count: int) -> list[Any]:
    def mine(records: list[Any]) -> list[Any]:
        parsed = [ANY_MESSAGE.validate_json(r.value) for r in records if r.value is not None]
        return [e for e in parsed if isinstance(e, kind)]

    records = await prov_records(topics.NUMBER_EVENTS, key=address, until=lambda rs: len(mine(rs)) >= count)
    return mine(records)


async def test_console_drift_is_reported_within_one_scheduled_check_and_repaired_on_request(
    tenant: Tenant, prov_records: Callable[..., Any]
) -> None:
    address = mobile()
    number_id, pn = await tenant.import_number(address)
    webhook = (await tenant.number(number_id))["webhook"]
    assert (webhook["status"], webhook["trigger"], webhook["delivers_to"]) == ("ok", "import", EXPECTED)

    await tenant.emulator.control.console("PATCH", f"/phone-numbers/{address}", sms_url=ELSEWHERE)
    await make_due(tenant)
    assert await Schedule(tenant.prov.ctx).round() == 1

    webhook = (await tenant.number(number_id, language="de"))["webhook"]
    assert (webhook["status"], webhook["kind"], webhook["trigger"]) == ("drifted", "webhook_not_configured", "schedule")
    assert (webhook["via"], webhook["delivers_to"], webhook["expected_url"]) == ("number", ELSEWHERE, EXPECTED)
    assert webhook["fixes"] == [
        {"target": "number", "sid": pn, "parameter": "SmsUrl", "value": EXPECTED, "current": ELSEWHERE}
    ]
    assert webhook["message"].startswith("Der SMS-Webhook der Nummer muss auf " + EXPECTED)
    [changed] = await events_of(prov_records, address, NumberWebhookChanged, 1)
    assert (changed.payload.status, changed.payload.previous_status, changed.payload.kind) == (
        "drifted",
        "ok",
        "webhook_not_configured",
    )

    # Nothing is changed at Twilio by a check.
    assert (await tenant.twilio_number(pn))["sms_url"] == ELSEWHERE

    response = await tenant.post(f"/api/v2/sms/numbers/{number_id}/webhook:repair", {})
    assert response.status == 200, await response.text()
    assert (await response.json())["webhook"]["status"] == "ok"
    assert (await tenant.twilio_number(pn))["sms_url"] == EXPECTED
    audit = await tenant.prov.ctx.pool.fetch(
        "SELECT actor, parameter, old_value, new_value, outcome FROM number_webhook_repairs WHERE number_id = $1",
        number_id,
    )
    assert [tuple(r) for r in audit] == [("alice@example.com", "SmsUrl", ELSEWHERE, EXPECTED, "applied")]
    [repaired] = await events_of(prov_records, address, NumberWebhookRepaired, 1)
    assert repaired.payload.actor == "alice@example.com"
    assert [(f.parameter, f.current, f.value) for f in repaired.payload.applied] == [("SmsUrl", ELSEWHERE, EXPECTED)]
    changes = await events_of(prov_records, address, NumberWebhookChanged, 2)
    assert [(e.payload.status, e.payload.trigger) for e in changes] == [("drifted", "schedule"), ("ok", "repair")]


async def test_each_drift_kind_is_told_apart_by_the_check(tenant: Tenant) -> None:
    control = tenant.emulator.control
    app = await control.console("POST", "/applications", account_sid=tenant.account.sid, sms_url="https://bot.example/")
    service = await control.add_service(
        tenant.account.sid, use_inbound_webhook_on_number=True, inbound_request_url="https://service.example/in"
    )
    numbers = {kind: mobile() for kind in ("method", "app", "service", "conversations", "url")}
    ids = {}
    for kind, address in numbers.items():
        seed = {"service_sid": service} if kind == "service" else {}
        ids[kind], _ = await tenant.import_number(address, **seed)

    await control.console("PATCH", f"/phone-numbers/{numbers['method']}", sms_method="GET")
    await control.console("PATCH", f"/phone-numbers/{numbers['app']}", sms_application_sid=app["sid"])
    await control.console("PATCH", f"/services/{service}", use_inbound_webhook_on_number=False)
    await control.console(
        "POST", "/address-configurations", account_sid=tenant.account.sid, address=numbers["conversations"]
    )
    await control.console("PATCH", f"/phone-numbers/{numbers['url']}", sms_url=None)

    seen = {}
    for kind, number_id in ids.items():
        response = await tenant.post(f"/api/v2/sms/numbers/{number_id}/webhook:check")
        assert response.status == 200, await response.text()
        webhook = (await response.json())["webhook"]
        seen[kind] = (webhook["kind"], webhook["via"], webhook["delivers_to"])
    assert seen == {
        "method": ("webhook_method_not_post", "number", EXPECTED),
        "app": ("webhook_application_override", "application", "https://bot.example/"),
        "service": ("messaging_service_not_deferring", "messaging_service", "https://service.example/in"),
        "conversations": ("conversations_autocreate", "conversations", None),
        "url": ("webhook_not_configured", "number", None),
    }


async def test_the_import_refuses_a_number_captured_by_conversations(tenant: Tenant) -> None:
    address = mobile()
    await tenant.emulator.control.console(
        "POST", "/address-configurations", account_sid=tenant.account.sid, address=address
    )
    with pytest.raises(AssertionError, match="conversations_autocreate"):
        await tenant.import_number(address)


async def test_service_defer_only_when_asked_and_conversations_never(tenant: Tenant) -> None:
    control = tenant.emulator.control
    service = await control.add_service(tenant.account.sid, use_inbound_webhook_on_number=True)
    address = mobile()
    number_id, pn = await tenant.import_number(address, service_sid=service)
    await control.console("PATCH", f"/services/{service}", use_inbound_webhook_on_number=False)
    await control.console("PATCH", f"/phone-numbers/{pn}", sms_application_sid=None, sms_url=ELSEWHERE)

    response = await tenant.post(f"/api/v2/sms/numbers/{number_id}/webhook:repair", {}, language="de")
    assert response.status == 409
    problem = await response.json()
    assert problem["code"] == "webhook_repair_needs_service_defer"
    assert "alle Absender des Service" in problem["detail"] or "alle Absender des Service" in json.dumps(problem)
    assert (await tenant.twilio_number(pn))["sms_url"] == ELSEWHERE  # nothing was changed

    response = await tenant.post(f"/api/v2/sms/numbers/{number_id}/webhook:repair", {"messaging_service_defer": True})
    assert response.status == 200, await response.text()
    assert (await response.json())["webhook"]["status"] == "ok"
    audit = await tenant.prov.ctx.pool.fetch(
        "SELECT target, parameter, old_value, new_value FROM number_webhook_repairs WHERE number_id = $1 ORDER BY id",
        number_id,
    )
    assert [tuple(r) for r in audit] == [
        ("messaging_service", "UseInboundWebhookOnNumber", "false", "true"),
        ("number", "SmsUrl", ELSEWHERE, EXPECTED),
    ]

    other = mobile()
    other_id, _ = await tenant.import_number(other)
    await control.console("POST", "/address-configurations", account_sid=tenant.account.sid, address=other)
    response = await tenant.post(f"/api/v2/sms/numbers/{other_id}/webhook:repair", {"messaging_service_defer": True})
    assert response.status == 409
    assert (await response.json())["code"] == "webhook_repair_not_supported"


async def test_check_and_repair_need_the_edit_permission(tenant: Tenant) -> None:
    number_id, _ = await tenant.import_number(mobile())
    response = await tenant.post(f"/api/v2/sms/numbers/{number_id}/webhook:check", None, "sms:phoneNumber:view")
    assert response.status == 403
    response = await tenant.post("/api/v2/sms/numbers/nope/webhook:check")
    assert response.status == 404


async def _play_test_phone(tenant: Tenant, address: str) -> None:
    """The tenant's test phone: read the code sent to it and send it back to the number; then routing's
    decision on the reply, as routing publishes it after the ingress accepted it."""
    control = tenant.emulator.control
    for _ in range(200):
        sent = list(await control.messages(to=TEST_PHONE, from_=address))
        if sent:
            break
        await asyncio.sleep(0.05)
    code = sent[0]["body"].split("code ")[1][:6]
    reply = await control.inbound(from_=TEST_PHONE, to=address, body=f"{code}")
    await _routed(tenant, reply.message_sid, from_=TEST_PHONE, to=address, body=code)


async def _routed(tenant: Tenant, message_sid: str, *, from_: str, to: str, body: str) -> None:
    """Routing's decision on an inbound message, published as routing publishes it after the ingress
    accepted the message (neither runs in these tests)."""
    routed = InboundMessageRouted(
        organization_id=tenant.prov.org,
        payload=RoutedMessagePayload(
            message_sid=message_sid,
            integration_id=tenant.integration_id,
            from_=from_,
            to=to,
            body=body,
            queue="q-1",
            region=REGION.id,
            received_at=datetime.now(UTC),
            spooled=False,
        ),
    )
    assert tenant.prov.ctx.publisher is not None
    await tenant.prov.ctx.publisher.publish(topics.MESSAGE_EVENTS, routed, f"{to}|{from_}")


async def test_probe_passes_for_a_healthy_number_and_names_the_failing_step_of_a_drifted_one(tenant: Tenant) -> None:
    healthy = mobile()
    healthy_id, _ = await tenant.import_number(healthy)
    path = f"/api/v2/integrations/{tenant.integration_id}/webhook:probe"

    response = await tenant.post(path, {"number_id": healthy_id})
    assert response.status == 200, await response.text()
    result = await response.json()
    assert [(s["step"], s["outcome"]) for s in result["steps"]] == [
        ("credentials", "passed"),
        ("configuration", "passed"),
    ]

    player = asyncio.create_task(_play_test_phone(tenant, healthy))
    response = await tenant.post(
        path, {"number_id": healthy_id, "send_test_message": True, "test_phone": TEST_PHONE, "wait_seconds": 20}
    )
    await player
    result = await response.json()
    assert result["outcome"] == "passed", result
    assert [(s["step"], s["outcome"]) for s in result["steps"]] == [
        ("credentials", "passed"),
        ("configuration", "passed"),
        ("sent", "passed"),
        ("returned_to_twilio", "passed"),
        ("arrived", "passed"),
    ]
    assert result["steps"][4]["region"] == REGION.id

    for body in ({"send_test_message": True}, {"send_test_message": True, "test_phone": healthy}):
        response = await tenant.post(path, {"number_id": healthy_id, **body}, language="de")
        assert response.status == 422
        problem = await response.json()
        assert problem["code"] == "webhook_probe_test_phone_required"

    drifted = mobile()
    drifted_id, _ = await tenant.import_number(drifted)
    await tenant.emulator.control.console("PATCH", f"/phone-numbers/{drifted}", sms_url=ELSEWHERE)
    response = await tenant.post(
        path,
        {"number_id": drifted_id, "send_test_message": True, "test_phone": TEST_PHONE, "wait_seconds": 5},
        language="de",
    )
    result = await response.json()
    assert result["outcome"] == "failed"
    steps = {s["step"]: s for s in result["steps"]}
    assert [(s["step"], s["outcome"]) for s in result["steps"]] == [
        ("credentials", "passed"),
        ("configuration", "failed"),
        ("sent", "skipped"),
        ("returned_to_twilio", "skipped"),
        ("arrived", "skipped"),
    ]
    assert (steps["configuration"]["code"], steps["configuration"]["delivers_to"]) == (
        "webhook_not_configured",
        ELSEWHERE,
    )
    assert steps["configuration"]["message"].startswith("Der SMS-Webhook")
    # No test message was sent for the drifted number.
    assert await tenant.emulator.control.messages(from_=drifted) == []


async def test_probe_with_another_number_of_the_integration_needs_no_test_phone(tenant: Tenant) -> None:
    """The integration's other number texts the code to the number (Twilio delivers it like any inbound
    message); nobody has to answer and only that one message is sent."""
    number, other = mobile(), mobile()
    number_id, _ = await tenant.import_number(number)
    other_id, _ = await tenant.import_number(other)
    control = tenant.emulator.control
    path = f"/api/v2/integrations/{tenant.integration_id}/webhook:probe"

    async def route_the_code() -> None:
        """Wait until Twilio delivered the other number's text to the number; routing's decision on it."""
        for _ in range(400):
            held = [msg for msg in await control.messages(to=number, from_=other) if msg["direction"] == "inbound"]
            if held:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the other number's text never reached the number")
        await _routed(tenant, held[0]["sid"], from_=other, to=number, body=held[0]["body"])

    router = asyncio.create_task(route_the_code())
    response = await tenant.post(
        path, {"number_id": number_id, "send_test_message": True, "from_number_id": other_id, "wait_seconds": 20}
    )
    await router
    result = await response.json()
    assert result["outcome"] == "passed", result
    assert [(s["step"], s["outcome"]) for s in result["steps"]] == [
        ("credentials", "passed"),
        ("configuration", "passed"),
        ("sent", "passed"),
        ("returned_to_twilio", "passed"),
        ("arrived", "passed"),
    ]
    assert (result["steps"][2]["from"], result["steps"][2]["to"]) == (other, number)
    assert await control.messages(from_=number) == []  # the number itself sent nothing

    refused = [
        ({"from_number_id": other_id, "test_phone": TEST_PHONE}, "webhook_probe_one_sender"),
        ({"from_number_id": number_id}, "webhook_probe_sender_invalid"),
        ({"from_number_id": "no-such-number"}, "webhook_probe_sender_invalid"),
    ]
    for body, code in refused:
        response = await tenant.post(path, {"number_id": number_id, "send_test_message": True, **body}, language="de")
        assert response.status == 422, await response.text()
        problem = await response.json()
        assert problem["code"] == code
        assert "Integration" in problem["detail"] or "entweder" in problem["detail"]


async def test_probe_reports_a_reply_that_never_arrived_through_the_ingress(tenant: Tenant) -> None:
    address = mobile()
    number_id, _ = await tenant.import_number(address)
    control = tenant.emulator.control

    async def reply_without_routing() -> None:
        for _ in range(200):
            sent = await control.messages(to=TEST_PHONE, from_=address)
            if sent:
                break
            await asyncio.sleep(0.05)
        await control.inbound(from_=TEST_PHONE, to=address, body=sent[0]["body"].split("code ")[1][:6])

    player = asyncio.create_task(reply_without_routing())
    response = await tenant.post(
        f"/api/v2/integrations/{tenant.integration_id}/webhook:probe",
        {"number_id": number_id, "send_test_message": True, "test_phone": TEST_PHONE, "wait_seconds": 3},
    )
    await player
    result = await response.json()
    assert [(s["step"], s["outcome"]) for s in result["steps"]][-2:] == [
        ("returned_to_twilio", "passed"),
        ("arrived", "failed"),
    ]
    assert result["steps"][-1]["code"] == "webhook_probe_not_arrived"


async def test_scheduled_checks_keep_to_the_configured_request_rate(tenant: Tenant) -> None:
    addresses = [mobile() for _ in range(8)]
    for address in addresses:
        await tenant.import_number(address)
    await tenant.emulator.control.console("PATCH", f"/phone-numbers/{addresses[3]}", sms_url=ELSEWHERE)
    before = await tenant.emulator.control.requests()
    await make_due(tenant)
    assert await Schedule(tenant.prov.ctx).round() == 8
    checked = await tenant.emulator.control.requests(since_id=before[-1].id)
    times = [datetime.fromisoformat(r.at).timestamp() for r in checked]
    assert len(times) >= 8 + 2  # one per number, plus the account's lists
    rate = int(tenant.prov.ctx.settings.webhook_check_requests_per_second)
    # No more than `rate` requests start within any one second.
    for i in range(len(times) - rate):
        assert times[i + rate] - times[i] >= 1.0 - 0.05, (i, times[i : i + rate + 1])
    states = await tenant.prov.ctx.pool.fetch("SELECT address, status, kind FROM number_webhook_checks")
    assert {(r["address"], r["status"], r["kind"]) for r in states if r["status"] != "ok"} == {
        (addresses[3], "drifted", "webhook_not_configured")
    }


async def test_numbers_never_checked_are_spread_over_the_interval_and_checked_without_an_event(
    tenant: Tenant, prov_records: Callable[..., Any]
) -> None:
    """Numbers in the inventory from before the checks existed: first checks spread, `unchecked` until then."""
    addresses = [mobile() for _ in range(24)]
    for address in addresses:
        await tenant.import_number(address)
    pool = tenant.prov.ctx.pool
    await pool.execute("DELETE FROM number_webhook_checks")
    await tenant.emulator.control.console("PATCH", f"/phone-numbers/{addresses[0]}", sms_url=ELSEWHERE)

    schedule = Schedule(tenant.prov.ctx)
    assert await schedule.round() == 0  # all seeded into the future (or this very moment, rarely)
    [some] = await pool.fetch("SELECT number_id FROM inventory_numbers WHERE address = $1", addresses[5])
    assert (await tenant.number(some["number_id"]))["webhook"]["status"] == "unchecked"
    offsets = [
        r["offset"]
        for r in await pool.fetch(
            "SELECT extract(epoch FROM next_check_at - now()) AS offset FROM number_webhook_checks"
        )
    ]
    interval = tenant.prov.ctx.settings.webhook_check_interval_seconds
    assert all(-5 <= float(o) <= interval for o in offsets)
    assert len({round(float(o)) for o in offsets}) > len(offsets) // 2  # not all at one moment

    await make_due(tenant)
    assert await schedule.round() == 24
    states = {r["address"]: r["status"] for r in await pool.fetch("SELECT address, status FROM number_webhook_checks")}
    assert states[addresses[0]] == "drifted"
    assert {s for a, s in states.items() if a != addresses[0]} == {"ok"}
    # Only the drifted one is news: ok after never checked publishes nothing.
    [changed] = await events_of(prov_records, addresses[0], NumberWebhookChanged, 1)
    assert changed.payload.previous_status == "unchecked"
    published = await pool.fetch(
        "SELECT record_key FROM outbox WHERE message_type = 'number.webhook_changed' AND record_key = ANY($1)",
        addresses,
    )
    assert [r["record_key"] for r in published] == [addresses[0]]


async def summary_of(tenant: Tenant, query: str = "", language: str | None = None) -> tuple[int, Any]:
    response = await tenant.prov.client.get(
        f"/api/v2/integrations/{tenant.integration_id}/number-webhooks{query}",
        headers=tenant.prov.headers(language=language),
    )
    return response.status, await response.json()


async def test_the_integration_summary_names_each_drifted_number_and_the_recent_repairs(tenant: Tenant) -> None:
    status, summary = await summary_of(tenant)
    assert status == 200, summary
    assert (summary["status"], summary["numbers"]["total"], summary["checked_at"]) == ("no_numbers", 0, None)

    good, bad = mobile(), mobile()
    await tenant.import_number(good)
    bad_id, _ = await tenant.import_number(bad)
    status, summary = await summary_of(tenant)
    assert summary["status"] == "healthy"
    assert summary["numbers"] == {"total": 2, "ok": 2, "drifted": 0, "unchecked": 0, "check_errors": 0}
    assert summary["checked_at"] is not None
    assert (summary["drifted"], summary["recent_repairs"]) == ([], [])

    await tenant.emulator.control.console("PATCH", f"/phone-numbers/{bad}", sms_url=ELSEWHERE)
    response = await tenant.post(f"/api/v2/sms/numbers/{bad_id}/webhook:check")
    assert response.status == 200, await response.text()
    status, summary = await summary_of(tenant, language="de")
    assert (summary["status"], summary["numbers"]["ok"], summary["numbers"]["drifted"]) == ("misconfigured", 1, 1)
    [drifted] = summary["drifted"]
    assert (drifted["number_id"], drifted["address"], drifted["kind"]) == (bad_id, bad, "webhook_not_configured")
    assert (drifted["delivers_to"], drifted["expected_url"]) == (ELSEWHERE, EXPECTED)
    assert drifted["message"].startswith("Der SMS-Webhook der Nummer muss auf " + EXPECTED)

    response = await tenant.post(f"/api/v2/sms/numbers/{bad_id}/webhook:repair", {})
    assert response.status == 200, await response.text()
    status, summary = await summary_of(tenant)
    assert (summary["status"], summary["drifted"]) == ("healthy", [])
    assert summary["recovered_messages"] == {"count": 0, "latest": []}
    [repair] = summary["recent_repairs"]
    assert (repair["address"], repair["parameter"], repair["old_value"], repair["new_value"], repair["outcome"]) == (
        bad,
        "SmsUrl",
        ELSEWHERE,
        EXPECTED,
        "applied",
    )


async def test_the_integration_summary_refuses_a_bad_limit_in_the_callers_language_and_hides_others(
    tenant: Tenant,
) -> None:
    status, problem = await summary_of(tenant, "?limit=0", language="de")
    assert status == 400, problem
    assert [e["field"] for e in problem["errors"]] == ["query.limit"]
    status, english = await summary_of(tenant, "?limit=500", language="en")
    assert status == 400
    assert (problem["code"], english["code"]) == ("invalid_request", "invalid_request")
    assert problem["detail"] != english["detail"]  # the same refusal, in German and in English
    response = await tenant.prov.client.get(
        "/api/v2/integrations/no-such-integration/number-webhooks", headers=tenant.prov.headers()
    )
    assert response.status == 404
    response = await tenant.prov.client.get(
        f"/api/v2/integrations/{tenant.integration_id}/number-webhooks",
        headers=tenant.prov.headers("sms:phoneNumber:view"),
    )
    assert response.status == 403


async def test_the_integration_summary_counts_the_messages_recovery_replayed(tenant: Tenant) -> None:
    def routed(sid: str, *, recovered: bool | None, integration_id: str, at: datetime) -> InboundMessageRouted:
        return InboundMessageRouted(
            organization_id=tenant.prov.org,
            occurred_at=at,
            payload=RoutedMessagePayload(
                message_sid=sid,
                integration_id=integration_id,
                from_=TEST_PHONE,
                to=mobile(),
                body="hallo",
                queue="q-1",
                region=REGION.id,
                received_at=at,
                spooled=False,
                recovered=recovered,
            ),
        )

    now = datetime.now(UTC)
    sids = ["SM" + uuid.uuid4().hex for _ in range(4)]
    events = [
        routed(sids[0], recovered=True, integration_id=tenant.integration_id, at=now - timedelta(hours=2)),
        routed(sids[1], recovered=True, integration_id=tenant.integration_id, at=now - timedelta(minutes=5)),
        routed(sids[2], recovered=None, integration_id=tenant.integration_id, at=now),  # its webhook came
        routed(sids[3], recovered=True, integration_id="another-integration", at=now),
        routed(
            "SM" + uuid.uuid4().hex, recovered=True, integration_id=tenant.integration_id, at=now - timedelta(days=8)
        ),
    ]
    steps = [step for step in map(step_of, events) if step is not None]
    await traces_repo.record(tenant.prov.ctx.pool, steps)

    status, summary = await summary_of(tenant)
    assert status == 200, summary
    assert summary["recovered_messages"]["count"] == 2
    assert [(r["message_sid"], r["outcome"]) for r in summary["recovered_messages"]["latest"]] == [
        (sids[1], "routed"),
        (sids[0], "routed"),
    ]
    status, summary = await summary_of(tenant, "?limit=1")
    assert (summary["recovered_messages"]["count"], len(summary["recovered_messages"]["latest"])) == (2, 1)

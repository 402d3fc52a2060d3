"""Routing's batch handlers on real PostgreSQL: one routed event per message however often the
webhook came, the recorded verdict (not a recomputed one) on redelivery, delivery reports applied
in order within a batch and republished only for their own record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest

from byosms_common import messages as m
from byosms_common.consumer import Emitted, Record
from byosms_routing import delivery, subscribers
from byosms_routing.context import Collaborators

pytestmark = pytest.mark.integration


class _Cache:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.values.get(key)


class Tenant:
    def __init__(self) -> None:
        self.org = f"org-{uuid.uuid4().hex[:8]}"
        self.integration = f"int-{uuid.uuid4().hex[:8]}"
        self.number = "+4930" + str(uuid.uuid4().int)[:8]
        self.integrations = _Cache()
        self.numbers = _Cache()
        self.set_integration(m.IntegrationStatus.ACTIVE)
        self.numbers.values[self.number] = m.NumberStateRecord(
            organization_id=self.org,
            payload=m.NumberStatePayload(
                number=m.ImportedNumber(
                    address=self.number,
                    number_type=m.NumberType.LOCAL,
                    country="DE",
                    twilio_sid="PN" + "2" * 32,
                    integration_id=self.integration,
                ),
                state=m.NumberState.ACTIVE,
                version=1,
            ),
        )

    def set_integration(self, status: m.IntegrationStatus, default: str | None = None) -> None:
        self.integrations.values[self.integration] = m.IntegrationState(
            organization_id=self.org,
            payload=m.IntegrationStatePayload(
                integration_id=self.integration,
                region="eu-central-1",
                status=status,
                version=1,
                default_routing_target=default,
                organization_routing_target="queue-default",
            ),
        )

    def deps(self, pool: asyncpg.Pool) -> Collaborators:
        return Collaborators(
            pool=pool,
            integrations=cast("Any", self.integrations),
            numbers=cast("Any", self.numbers),
            twilio=cast("Any", None),
            tokens=cast("Any", None),
        )

    def inbound(self, sid: str, body: str = "Hallo", customer: str = "+4915112345678") -> m.InboundMessageReceived:
        return m.InboundMessageReceived(
            id=sid,
            organization_id=self.org,
            payload=m.InboundMessagePayload.model_validate(
                {
                    "message_sid": sid,
                    "account_sid": "AC" + "1" * 32,
                    "from": customer,
                    "to": self.number,
                    "body": body,
                    "region": "eu-central-1",
                    "integration_id": self.integration,
                    "received_at": datetime.now(UTC),
                    "raw": {},
                }
            ),
        )


_offsets = iter(range(1_000_000))


def _record(message: Any, offset: int | None = None, partition: int = 0) -> Record[Any]:
    return Record(
        message=message,
        topic="byosms.sms.inbound.v1",
        partition=partition,
        offset=next(_offsets) if offset is None else offset,
        key=None,
    )


def _ids(out: Emitted) -> list[str]:
    return [m.decode(o.value or b"").id for o in out.records]


async def test_a_webhook_posted_three_times_gives_one_routed_event(pool: asyncpg.Pool) -> None:
    tenant = Tenant()
    deps = tenant.deps(pool)
    sid = "SM" + uuid.uuid4().hex
    out = Emitted()
    # Twice in one batch (two ingress pods), once more in a later batch (Twilio's retry).
    await subscribers.on_inbound_batch(deps, [_record(tenant.inbound(sid)), _record(tenant.inbound(sid))], out)
    await subscribers.on_inbound_batch(deps, [_record(tenant.inbound(sid))], out)
    assert _ids(out) == [f"{sid}:routed"]


async def test_a_redelivered_record_publishes_the_recorded_verdict_not_a_new_one(pool: asyncpg.Pool) -> None:
    tenant = Tenant()
    deps = tenant.deps(pool)
    sid = "SM" + uuid.uuid4().hex
    record = _record(tenant.inbound(sid))
    first = Emitted()
    await subscribers.on_inbound_batch(deps, [record], first)
    tenant.set_integration(m.IntegrationStatus.INACTIVE)  # the state changed before the redelivery
    again = Emitted()
    await subscribers.on_inbound_batch(deps, [record], again)
    assert _ids(first) == _ids(again) == [f"{sid}:routed"]
    assert first.records[0].value == again.records[0].value  # the same event, byte for byte
    # A new message now is discarded, as the integration is inactive.
    later = Emitted()
    other = "SM" + uuid.uuid4().hex
    await subscribers.on_inbound_batch(deps, [_record(tenant.inbound(other))], later)
    assert _ids(later) == [f"{other}:discarded"]


async def test_a_redelivery_publishes_the_recorded_target_though_the_target_changed(pool: asyncpg.Pool) -> None:
    tenant = Tenant()
    deps = tenant.deps(pool)
    sid = "SM" + uuid.uuid4().hex
    record = _record(tenant.inbound(sid))
    first = Emitted()
    await subscribers.on_inbound_batch(deps, [record], first)
    tenant.set_integration(m.IntegrationStatus.ACTIVE, default="queue-new")
    again = Emitted()
    await subscribers.on_inbound_batch(deps, [record], again)
    routed = [m.decode(o.value or b"") for o in (*first.records, *again.records)]
    assert [r.payload.queue for r in routed if isinstance(r, m.InboundMessageRouted)] == ["queue-default"] * 2
    later = Emitted()
    await subscribers.on_inbound_batch(deps, [_record(tenant.inbound("SM" + uuid.uuid4().hex))], later)
    event = m.decode(later.records[0].value or b"")
    assert isinstance(event, m.InboundMessageRouted)
    assert event.payload.queue == "queue-new"  # a new message meets the new default


async def test_without_any_target_a_message_is_discarded_as_no_route_and_the_number_warned(pool: asyncpg.Pool) -> None:
    tenant = Tenant()
    tenant.integrations.values[tenant.integration] = m.IntegrationState(
        organization_id=tenant.org,
        payload=m.IntegrationStatePayload(
            integration_id=tenant.integration, region="eu-central-1", status=m.IntegrationStatus.ACTIVE, version=1
        ),
    )
    deps = tenant.deps(pool)
    sids = ["SM" + uuid.uuid4().hex for _ in range(2)]
    records = [_record(tenant.inbound(sid)) for sid in sids]
    out = Emitted()
    await subscribers.on_inbound_batch(deps, records, out)
    assert _ids(out) == [f"{sids[0]}:discarded", f"{sids[0]}:no_route", f"{sids[1]}:discarded", f"{sids[1]}:no_route"]
    discarded = m.decode(out.records[0].value or b"")
    assert isinstance(discarded, m.InboundMessageDiscarded)
    assert discarded.payload.reason == "no_route"
    warning = m.decode(out.records[1].value or b"")
    assert isinstance(warning, m.NumberRouteMissing)
    assert (out.records[1].topic, out.records[1].key) == ("byosms.numbers.events.v1", tenant.number.encode())
    assert warning.payload.address == tenant.number
    repeat = Emitted()
    await subscribers.on_inbound_batch(deps, [_record(tenant.inbound(sids[0]))], repeat)
    assert repeat.records == []  # a repeated webhook: decided before, nothing published


async def test_a_batch_of_many_conversations_is_decided_in_one_go(pool: asyncpg.Pool) -> None:
    tenant = Tenant()
    deps = tenant.deps(pool)
    records = [_record(tenant.inbound("SM" + uuid.uuid4().hex, customer=f"+491511{i:07d}")) for i in range(300)]
    out = Emitted()
    await subscribers.on_inbound_batch(deps, records, out)
    assert _ids(out) == [f"{r.message.id}:routed" for r in records]  # in offset order
    keys = [o.key for o in out.records]
    assert keys == [f"{tenant.number}|{r.message.payload.from_}".encode() for r in records]
    count = await pool.fetchval(
        "SELECT count(*) FROM inbound_decisions WHERE message_sid = ANY($1::text[])", [r.message.id for r in records]
    )
    assert count == 300


async def test_a_stop_keyword_is_recorded_and_published_once(pool: asyncpg.Pool) -> None:
    tenant = Tenant()
    deps = tenant.deps(pool)
    sid = "SM" + uuid.uuid4().hex
    customer = "+49151" + str(uuid.uuid4().int)[:8]
    record = _record(tenant.inbound(sid, body="STOP", customer=customer))
    out = Emitted()
    await subscribers.on_inbound_batch(
        deps, [record, _record(tenant.inbound(sid, body="STOP", customer=customer))], out
    )
    assert _ids(out) == [f"{sid}:routed", f"{sid}:opted_out"]
    opted = await pool.fetchval(
        "SELECT opted_out FROM opt_outs WHERE organization_id = $1 AND recipient = $2", tenant.org, customer
    )
    assert opted is True


async def _outbound(pool: asyncpg.Pool, tenant: Tenant, message_id: str, sid: str) -> None:
    await pool.execute(
        """INSERT INTO outbound_messages (organization_id, message_id, command_id, sender, recipient, integration_id,
                                          state, message_sid, twilio_status)
           VALUES ($1, $2, 'cmd', $3, '+4915112345678', $4, 'accepted', $5, 'queued')""",
        tenant.org,
        message_id,
        tenant.number,
        tenant.integration,
        sid,
    )


def _report(tenant: Tenant, sid: str, status: str, at: datetime, error_code: int | None = None) -> Any:
    return m.DeliveryReportReceived(
        id=f"{sid}:{status}",
        organization_id=tenant.org,
        payload=m.DeliveryReportPayload.model_validate(
            {
                "message_sid": sid,
                "account_sid": "AC" + "1" * 32,
                "status": status,
                "error_code": error_code,
                "region": "eu-central-1",
                "integration_id": tenant.integration,
                "received_at": at,
                "raw": {},
            }
        ),
    )


async def test_reports_in_one_batch_move_each_message_forward_once(pool: asyncpg.Pool) -> None:
    tenant = Tenant()
    deps = tenant.deps(pool)
    now = datetime.now(UTC)
    sids = ["SM" + uuid.uuid4().hex for _ in range(3)]
    for i, sid in enumerate(sids):
        await _outbound(pool, tenant, f"msg-{i}-{sid}", sid)
    a, b, c = sids
    reports = [
        _report(tenant, a, "sent", now),
        _report(tenant, b, "undelivered", now, error_code=30003),
        _report(tenant, a, "delivered", now + timedelta(seconds=1)),
        _report(tenant, a, "sent", now + timedelta(seconds=2)),  # late: changes nothing
        _report(tenant, a, "delivered", now + timedelta(seconds=3)),  # Twilio's repeat: nothing
        _report(tenant, c, "bogus-status", now),
    ]
    records = [_record(r) for r in reports]
    out = Emitted()
    await delivery.on_delivery_reports(deps, records, out)
    events = [m.decode(o.value or b"") for o in out.records]
    assert [(e.payload.message_sid, e.payload.status) for e in events] == [  # type: ignore[union-attr]
        (a, "sent"),
        (b, "undelivered"),
        (a, "delivered"),
    ]
    failed = events[1]
    assert isinstance(failed, m.MessageStatusChanged)
    assert failed.payload.error_code == 30003
    assert failed.payload.code == "message_not_delivered"
    statuses = dict(
        await pool.fetch("SELECT message_sid, twilio_status FROM outbound_messages WHERE message_sid = ANY($1)", sids)
    )
    assert statuses == {a: "delivered", b: "undelivered", c: "queued"}
    # The same records delivered again (their transaction was aborted): the same events again.
    again = Emitted()
    await delivery.on_delivery_reports(deps, records, again)
    assert [o.value for o in again.records] == [o.value for o in out.records]
    # Twilio posting the same report again (a new record): nothing.
    repeat = Emitted()
    await delivery.on_delivery_reports(deps, [_record(reports[2])], repeat)
    assert repeat.records == []


async def test_a_report_of_another_tenant_changes_nothing(pool: asyncpg.Pool) -> None:
    tenant, other = Tenant(), Tenant()
    sid = "SM" + uuid.uuid4().hex
    await _outbound(pool, tenant, f"msg-{sid}", sid)
    out = Emitted()
    await delivery.on_delivery_reports(
        other.deps(pool), [_record(_report(other, sid, "delivered", datetime.now(UTC)))], out
    )
    assert out.records == []
    status = await pool.fetchval("SELECT twilio_status FROM outbound_messages WHERE message_sid = $1", sid)
    assert status == "queued"

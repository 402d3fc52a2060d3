"""Number commands on real PostgreSQL, handled directly: a redelivery of the record that carried a
command out publishes the very same records, a repeated command (another record) nothing; and the
pure rules of what each command does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from byosms_common import messages as m
from byosms_common.consumer import EmitPublisher, Emitted, Record
from byosms_common.db import apply_migrations, create_pool, load_migrations
from byosms_inventory import commands, repo
from byosms_inventory.number_commands import Change, Refused, Unchanged, decide
from byosms_inventory.subscribers import Collaborators


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    schema = f"inv_test_{uuid.uuid4().hex[:12]}"
    pool = await create_pool(database_url, schema, min_size=1, max_size=3)
    try:
        await apply_migrations(pool, schema, load_migrations("byosms_inventory"))
        yield pool
    finally:
        await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await pool.close()


def _number(address: str = "+4930123456") -> m.ImportedNumber:
    return m.ImportedNumber(
        address=address, number_type=m.NumberType.LOCAL, country="DE", twilio_sid="PN" + "4" * 32, integration_id="i"
    )


def _row(state: m.NumberState = m.NumberState.ACTIVE, target: str | None = None) -> repo.NumberRow:
    return repo.NumberRow(
        number=_number(), organization_id="org", state=state, previous_state=None, version=3, routing_target=target
    )


def _routing(target: str | None, version: int | None = None, org: str = "org") -> m.SetNumberRouting:
    return m.SetNumberRouting(
        organization_id=org,
        payload=m.SetNumberRoutingPayload(
            address="+4930123456", expected_version=version, actor="t", routing_target=target
        ),
    )


@pytest.mark.unit
def test_what_a_command_does_to_a_number() -> None:
    assert decide(_routing("q"), None) == Refused("number_not_in_inventory")
    assert decide(_routing("q", org="other"), _row()) == Refused("number_not_in_inventory")
    assert decide(_routing("q"), _row(m.NumberState.REMOVED)) == Refused("number_not_in_inventory")
    assert decide(_routing("q", version=2), _row()) == Refused("version_conflict")
    assert decide(_routing("q", version=3), _row()) == Change(set_routing_target=True, routing_target="q")
    assert decide(_routing("q"), _row(target="q")) == Unchanged()
    assert decide(_routing(None), _row(target="q")) == Change(set_routing_target=True, routing_target=None)
    block = m.ComplianceBlock(keywords=(" HELP ",), message="Hilfe")
    empty = m.ComplianceBlock(keywords=(), message="")
    full = m.SetNumberCompliance(
        organization_id="org",
        payload=m.SetNumberCompliancePayload(
            address="+4930123456", actor="t", compliance=m.Compliance(help=block, opt_out=block, re_opt_in=block)
        ),
    )
    outcome = decide(full, _row())
    assert isinstance(outcome, Change)
    assert outcome.compliance is not None
    assert outcome.compliance.help.keywords == ("HELP",)
    partial = full.model_copy(
        update={
            "payload": full.payload.model_copy(
                update={"compliance": m.Compliance(help=block, opt_out=block, re_opt_in=empty)}
            )
        }
    )
    assert decide(partial, _row()) == Refused("compliance_missing")


def _record(message: dict[str, Any], offset: int) -> Record[dict[str, Any]]:
    return Record(message=message, topic="byosms.numbers.commands.v1", partition=0, offset=offset, key=None)


@pytest.mark.integration
async def test_a_redelivery_publishes_the_same_result_and_a_repeat_nothing(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await repo.upsert_number(conn, _number(), "org", m.NumberState.ACTIVE, "import-event", import_id="imp")
    command = m.encode(_routing("queue-1", version=1))
    raw = m.ANY_MESSAGE.validate_json(command).model_dump(mode="json", by_alias=True)
    outputs: list[Emitted] = []
    for offset in (7, 7, 8):  # the record, its redelivery, then the same command on another record
        out = Emitted()
        await commands.on_number_command(
            Collaborators(pool=pool, publisher=EmitPublisher(out)), _record(raw, offset), EmitPublisher(out)
        )
        outputs.append(out)
    first, again, repeat = outputs
    assert [o.topic for o in first.records] == ["byosms.numbers.state.v1", "byosms.numbers.events.v1"]
    assert [o.value for o in again.records] == [o.value for o in first.records]
    assert repeat.records == []
    async with pool.acquire() as conn:
        row = await repo.get_number(conn, "+4930123456")
    assert row is not None
    assert (row.routing_target, row.version) == ("queue-1", 2)


@pytest.mark.integration
async def test_an_invalid_command_that_names_itself_is_rejected_not_dead_lettered(pool: asyncpg.Pool) -> None:
    raw = {
        "id": "cmd-bad",
        "type": "number.set_routing_target",
        "organization_id": "org",
        "payload": {"address": "+4930123456", "actor": "t", "routing_target": "has spaces"},
    }
    out = Emitted()
    await commands.on_number_command(
        Collaborators(pool=pool, publisher=EmitPublisher(out)), _record(raw, 1), EmitPublisher(out)
    )
    [result] = [m.decode(o.value or b"") for o in out.records]
    assert isinstance(result, m.NumberCommandRejected)
    assert (result.payload.command_id, result.payload.code) == ("cmd-bad", "invalid_request")
    assert "routing_target" in result.payload.message.en
    imports = Emitted()
    await commands.on_number_command(  # an import on the same topic is provisioning's
        Collaborators(pool=pool, publisher=EmitPublisher(imports)),
        _record({"type": "number.import"}, 2),
        EmitPublisher(imports),
    )
    assert imports.records == []

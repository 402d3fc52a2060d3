"""The inbound handler on real PostgreSQL with a short code's keywords: a redelivered inbound record
publishes the very same reply command (same ids, so the send path sends it once), a webhook posted
again publishes nothing, and the reply is recorded once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import pytest

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.consumer import Emitted, Record
from byosms_routing import subscribers
from byosms_routing.context import Collaborators

pytestmark = pytest.mark.integration

BLOCKS = m.Compliance(
    help=m.ComplianceBlock(keywords=("HELP",), message="Help text"),
    opt_out=m.ComplianceBlock(keywords=("STOP",), message="Stop text"),
    re_opt_in=m.ComplianceBlock(keywords=("START",), message="Start text"),
)


class _Cache:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def get(self, key: str) -> Any:
        return self.values.get(key)


def _deps(pool: asyncpg.Pool, org: str, integration: str, address: str) -> Collaborators:
    number = m.NumberStateRecord(
        organization_id=org,
        payload=m.NumberStatePayload(
            number=m.ImportedNumber(
                address=address,
                number_type=m.NumberType.SHORTCODE,
                country="US",
                twilio_sid="SC" + "2" * 32,
                integration_id=integration,
                compliance=BLOCKS,
            ),
            state=m.NumberState.ACTIVE,
            version=1,
        ),
    )
    state = m.IntegrationState(
        organization_id=org,
        payload=m.IntegrationStatePayload(
            integration_id=integration,
            region="eu-central-1",
            status=m.IntegrationStatus.ACTIVE,
            version=1,
            default_routing_target="queue-a",
        ),
    )
    return Collaborators(
        pool=pool,
        integrations=cast("Any", _Cache({integration: state})),
        numbers=cast("Any", _Cache({address: number})),
        twilio=cast("Any", None),
        tokens=cast("Any", None),
    )


async def test_a_redelivered_stop_publishes_the_same_reply_and_a_repeated_webhook_none(pool: asyncpg.Pool) -> None:
    org, integration = f"org-{uuid.uuid4().hex[:8]}", f"int-{uuid.uuid4().hex[:8]}"
    digits = str(uuid.uuid4().int)[:6]
    deps = _deps(pool, org, integration, f"US:{digits}")
    sid = "SM" + uuid.uuid4().hex
    event = m.InboundMessageReceived(
        id=sid,
        organization_id=org,
        payload=m.InboundMessagePayload.model_validate(
            {
                "message_sid": sid,
                "account_sid": "AC" + "1" * 32,
                "from": "+4915112345678",
                "to": digits,
                "body": "stop",
                "region": "eu-central-1",
                "integration_id": integration,
                "received_at": datetime.now(UTC),
                "raw": {"ToCountry": ["US"]},
            }
        ),
    )
    record = Record(message=event, topic=topics.INBOUND_MESSAGES.name, partition=0, offset=7, key=None)
    first, again, repeat = Emitted(), Emitted(), Emitted()
    await subscribers.on_inbound_batch(deps, [record], first)
    await subscribers.on_inbound_batch(deps, [record], again)  # its output was never committed
    twilio_again = Record(message=event, topic=topics.INBOUND_MESSAGES.name, partition=0, offset=8, key=None)
    await subscribers.on_inbound_batch(deps, [twilio_again], repeat)

    commands = [o for o in first.records if o.topic == topics.OUTBOUND_COMMANDS.name]
    assert len(commands) == 1
    assert commands[0].key == f"US:{digits}".encode()
    reply = m.decode(commands[0].value or b"")
    assert isinstance(reply, m.SendMessage)
    assert (reply.payload.from_, reply.payload.to, reply.payload.body) == (
        f"US:{digits}",
        "+4915112345678",
        "Stop text",
    )
    assert [(o.topic, o.key, o.value) for o in again.records] == [(o.topic, o.key, o.value) for o in first.records]
    assert repeat.records == []
    kinds = {type(m.decode(o.value or b"")) for o in first.records}
    assert kinds == {m.InboundMessageRouted, m.RecipientOptedOut, m.SendMessage}
    routed = next(m.decode(o.value or b"") for o in first.records if o.topic == topics.MESSAGE_EVENTS.name)
    assert isinstance(routed, m.InboundMessageRouted)
    assert routed.payload.keyword is m.KeywordKind.OPT_OUT
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT kind, sender FROM compliance_replies WHERE organization_id = $1", org)
    assert [tuple(r) for r in rows] == [("opt_out", f"US:{digits}")]
    async with pool.acquire() as conn:
        services = await conn.fetch(
            "SELECT sender, messaging_service_sid FROM sender_services WHERE organization_id = $1", org
        )
    assert [tuple(r) for r in services] == [(digits, None)]  # it came through no Messaging Service

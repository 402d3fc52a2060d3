"""Message fidelity through the running system (emulator → ingress → Kafka → routing → PostgreSQL):

- an MMS that Twilio posts without a ``Body`` and with ten media items is routed, with every item
  and its content type, none dropped;
- a WhatsApp message to the same number is answered 200 and discarded as ``unsupported_channel``:
  routing's recorded decision (SQL) and its event say so, and nothing is routed.
"""

from __future__ import annotations

import os
import secrets

import aiohttp
import asyncpg
import pytest

from byosms_common import messages as m
from byosms_common import topics
from byosms_common.testing import TopicWatcher, eventually
from byosms_devstack.demo import Endpoints, api_of, connect_tenant, emulator_of, import_number, listed

pytestmark = pytest.mark.e2e


async def test_mms_without_body_is_routed_with_all_media_and_whatsapp_is_discarded(
    system: tuple[Endpoints, bytes],
) -> None:
    endpoints, private_key = system
    customer = "+49151" + f"{secrets.randbelow(10**8):08d}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        tenant = await connect_tenant(http, endpoints, private_key)
        number, _ = await import_number(http, endpoints, tenant)
        entry = await listed(http, endpoints, tenant, number, "active")
        patch = {"version": entry["version"], "routing_target": "queue-mms"}  # without a target: no_route
        async with http.patch(
            f"{api_of(endpoints)}/sms/numbers/{entry['id']}", json=patch, headers=tenant.headers
        ) as r:
            assert r.status == 200, await r.text()
        keys = {f"{number}|{customer}", f"whatsapp:{number}|whatsapp:{customer}"}
        async with TopicWatcher(endpoints.kafka_bootstrap, [topics.MESSAGE_EVENTS.name], keys, from_end=True) as watch:

            def decided(sid: str) -> m.AnyMessage | None:
                for record in watch.records:
                    event = m.decode(record.value or b"")
                    decision = isinstance(event, m.InboundMessageRouted | m.InboundMessageDiscarded)
                    if decision and event.payload.message_sid == sid:  # type: ignore[attr-defined]
                        return event
                return None

            async def text(message: dict[str, object]) -> str:
                async with http.post(f"{emulator_of(endpoints)}/inbound", json=message) as response:
                    sent = await response.json()
                assert sent["status"] == 200, sent  # what the ingress answered Twilio
                sid: str = sent["message_sid"]
                return sid

            # The number's inventory state reaches routing on its own path: send again until it is routed.
            media = [{"content_type": f"image/{kind}"} for kind in ("jpeg", "png", "gif") * 3 + ("jpeg",)]
            mms = {"from": customer, "to": number, "omit_body": True, "media": media}
            sids: list[str] = []

            async def routed() -> m.InboundMessageRouted | None:
                for sid in sids:
                    event = decided(sid)
                    if isinstance(event, m.InboundMessageRouted):
                        return event
                sids.append(await text(mms))
                return None

            event = await eventually(routed, within=60, interval=1.0, what="the MMS routed")
            assert event.payload.body == ""
            assert [item.content_type for item in event.payload.media] == [item["content_type"] for item in media]
            account = tenant.account_sid
            for item in event.payload.media:
                prefix = f"https://api.twilio.com/2010-04-01/Accounts/{account}/Messages/{event.payload.message_sid}"
                assert item.url.startswith(prefix + "/Media/ME")
            assert event.payload.media_dropped == 0
            assert event.payload.queue == "queue-mms"

            whatsapp = await text({"from": f"whatsapp:{customer}", "to": f"whatsapp:{number}", "body": "Hallo"})
            discarded = await eventually(lambda: decided(whatsapp), within=60, what="the WhatsApp message decided")
            assert isinstance(discarded, m.InboundMessageDiscarded)
            assert discarded.payload.reason == "unsupported_channel"
            assert discarded.organization_id == tenant.organization_id

    connection = await asyncpg.connect(os.environ["BYOSMS_DATABASE_URL"])
    try:
        row = await connection.fetchrow(
            "SELECT decision, reason, organization_id FROM routing.inbound_decisions WHERE message_sid = $1", whatsapp
        )
    finally:
        await connection.close()
    assert row is not None
    assert (row["decision"], row["reason"], row["organization_id"]) == (
        "discarded",
        "unsupported_channel",
        tenant.organization_id,
    )

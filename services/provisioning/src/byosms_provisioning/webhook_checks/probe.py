"""The live path check (``POST /api/v2/integrations/{id}/webhook:probe``): proves the inbound path of one
number step by step, each reported ``passed``, ``failed`` (with a code and message) or ``skipped``:

1. ``credentials``: the integration's credentials open its Twilio account;
2. ``configuration``: where Twilio delivers the number's inbound SMS is the region's ingress (a check,
   kept on the number like any other);
3. only when the tenant agrees to the cost (``send_test_message``): ``sent``, a one-time code sent from
   the number to the tenant's test phone, whose user sends it back (Twilio refuses a message from a
   number to itself, error 21266; prior knowledge, not in the shared Twilio notes); or, with
   ``from_number_id`` instead of a test phone, sent by another number of the integration to the number,
   so that nobody has to answer (one message charged instead of two);
4. ``returned_to_twilio``: Twilio holds a message from the test phone (or that other number) to the
   number with that code;
5. ``arrived``: that message (its MessageSid) reached routing through the regional ingress, as the
   message trace shows (routed or discarded, with the region that accepted it).

Steps 4 and 5 wait together at most ``wait_seconds`` (bounded by
``BYOSMS_PROVISIONING_WEBHOOK_PROBE_MAX_WAIT_SECONDS``). A step after a failed one is skipped. The code is
not logged; the message body is only compared, never stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from byosms_common.errors import ByosmsError, InvalidInput, Language, NotFound, render
from byosms_provisioning.context import ServiceContext
from byosms_provisioning.imports import repo as imports_repo
from byosms_provisioning.numbers import repo as numbers_repo
from byosms_provisioning.webhook_checks import service
from byosms_provisioning.webhook_checks.twilio_config import ConfigReader

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
Outcome = Literal["passed", "failed", "skipped"]


@dataclass
class Step:
    step: str
    outcome: Outcome
    code: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def view(self, language: Language) -> dict[str, Any]:
        shown: dict[str, Any] = {"step": self.step, "outcome": self.outcome, **self.details}
        if self.code is not None:
            shown["code"] = self.code
            shown["message"] = render(self.code, language, **self.params)
        return shown


@dataclass
class ProbeResult:
    number_id: str
    steps: list[Step]

    @property
    def outcome(self) -> Literal["passed", "failed"]:
        return "failed" if any(s.outcome == "failed" for s in self.steps) else "passed"

    def view(self, language: Language) -> dict[str, Any]:
        return {
            "number_id": self.number_id,
            "outcome": self.outcome,
            "steps": [s.view(language) for s in self.steps],
        }


def _failed(name: str, exc: ByosmsError) -> Step:
    return Step(name, "failed", exc.code, dict(exc.params))


async def arrival(ctx: ServiceContext, organization_id: str, message_sid: str) -> dict[str, Any] | None:
    """Routing's decision on the inbound message ``message_sid`` as the message trace holds it."""
    row = await ctx.pool.fetchrow(
        """SELECT step, at, details FROM message_trace
           WHERE organization_id = $1 AND message_sid = $2 AND direction = 'inbound' ORDER BY at LIMIT 1""",
        organization_id,
        message_sid,
    )
    if row is None:
        return None
    details = row["details"]
    if isinstance(details, str):
        details = json.loads(details)
    return {
        "routing": row["step"],
        "region": details.get("region"),
        "received_at": details.get("received_at"),
        "at": row["at"].isoformat(),
    }


async def probe(
    ctx: ServiceContext,
    organization_id: str,
    integration_id: str,
    number_id: str,
    *,
    send_test_message: bool,
    test_phone: str | None,
    wait_seconds: float,
    from_number_id: str | None = None,
) -> ProbeResult:
    async with ctx.pool.acquire() as conn:
        integration = await imports_repo.get_integration(conn, integration_id)
    if integration is None or integration.facts.organization_id != organization_id:
        raise NotFound("integration_not_found")
    number = await numbers_repo.get(ctx.pool, organization_id, number_id[:200])
    if number is None or number.state == "removed" or number.integration_id != integration_id:
        raise NotFound("not_found")
    sender: str | None = None  # another number of the integration that sends the code to this one
    if send_test_message and from_number_id is not None:
        if test_phone is not None:
            raise InvalidInput("webhook_probe_one_sender")
        other = await numbers_repo.get(ctx.pool, organization_id, from_number_id[:200])
        if other is None or other.state == "removed" or other.integration_id != integration_id or other.id == number.id:
            raise InvalidInput("webhook_probe_sender_invalid")
        sender = other.address
    elif send_test_message and (not test_phone or test_phone == number.address):
        raise InvalidInput("webhook_probe_test_phone_required")
    steps: list[Step] = []
    result = ProbeResult(number.id, steps)
    names = ["credentials", "configuration"] + (["sent", "returned_to_twilio", "arrived"] if send_test_message else [])

    def skip_rest() -> ProbeResult:
        steps.extend(Step(n, "skipped") for n in names[len(steps) :])
        return result

    try:
        account = await service.open_account(ctx, organization_id, integration_id)
        await ctx.twilio.check_credentials(account.account_sid, account.auth_token)
    except ByosmsError as exc:
        steps.append(_failed("credentials", exc))
        return skip_rest()
    steps.append(Step("credentials", "passed", details={"account_sid": account.account_sid}))

    due = service.due_of(number)
    reader = ConfigReader(ctx.twilio, account.account_sid, account.auth_token)
    try:
        resolution = await service.check(ctx, due, reader, account.expected_url, "probe")
    except ByosmsError as exc:
        steps.append(_failed("configuration", exc))
        return skip_rest()
    where = {"via": resolution.via, "delivers_to": resolution.delivers_to, "expected_url": resolution.expected_url}
    if resolution.kind is not None:
        steps.append(
            Step(
                "configuration",
                "failed",
                resolution.kind.value,
                {"expected_url": resolution.expected_url},
                {**where, "kinds": [k.value for k in resolution.kinds]},
            )
        )
        return skip_rest()
    steps.append(Step("configuration", "passed", details=where))
    if not send_test_message:
        return result
    # Who texts the code to the number: the tenant's test phone (after the number texted it there), or
    # the integration's other number.
    replier = sender if sender is not None else test_phone
    assert replier is not None

    code = f"{secrets.randbelow(1_000_000):06d}"
    try:
        before = {sid for sid, _ in await reader.inbound_messages(to=number.address, from_=replier)}
        if sender is not None:
            sent_sid = await reader.send(from_=sender, to=number.address, body=f"byosms test code {code}")
        else:
            sent_sid = await reader.send(
                from_=number.address, to=replier, body=f"byosms test code {code}: please reply with this code."
            )
    except ByosmsError as exc:
        steps.append(_failed("sent", exc))
        return skip_rest()
    sent_details = (
        {"message_sid": sent_sid, "to": number.address, "from": sender}
        if sender
        else {"message_sid": sent_sid, "to": replier}
    )
    steps.append(Step("sent", "passed", details=sent_details))
    log.info("probe of number %s: test message %s sent", number.id, sent_sid)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(wait_seconds, ctx.settings.webhook_probe_max_wait_seconds)
    seconds = str(round(min(wait_seconds, ctx.settings.webhook_probe_max_wait_seconds)))
    returned: str | None = None
    while returned is None:
        try:
            listed = await reader.inbound_messages(to=number.address, from_=replier)
        except ByosmsError as exc:
            steps.append(_failed("returned_to_twilio", exc))
            return skip_rest()
        returned = next((sid for sid, body in listed if sid not in before and code in body), None)
        if returned is None:
            if loop.time() >= deadline:
                steps.append(Step("returned_to_twilio", "failed", "webhook_probe_not_returned", {"seconds": seconds}))
                return skip_rest()
            await asyncio.sleep(POLL_SECONDS)
    steps.append(Step("returned_to_twilio", "passed", details={"message_sid": returned}))

    while True:
        arrived = await arrival(ctx, organization_id, returned)
        if arrived is not None:
            steps.append(Step("arrived", "passed", details={"message_sid": returned, **arrived}))
            return result
        if loop.time() >= deadline:
            steps.append(
                Step(
                    "arrived",
                    "failed",
                    "webhook_probe_not_arrived",
                    {"seconds": seconds, "message_sid": returned},
                    {"message_sid": returned},
                )
            )
            return result
        await asyncio.sleep(POLL_SECONDS)

"""Public API of webhook health: ``POST /api/v2/sms/numbers/{id}/webhook:check`` and ``…/webhook:repair``,
``POST /api/v2/integrations/{id}/webhook:probe``, ``GET /api/v2/integrations/{id}/number-webhooks`` (the
integration's numbers' last checks summed up, :mod:`integration_summary`); thin handlers over :mod:`service`,
:mod:`probe` and :mod:`summary_repo`."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from byosms_provisioning import auth
from byosms_provisioning.context import context_of
from byosms_provisioning.integrations import service as integrations_service
from byosms_provisioning.numbers.routes import BASE as NUMBERS
from byosms_provisioning.numbers.routes import number_view
from byosms_provisioning.problems import language_of, parse_query, read_json
from byosms_provisioning.webhook_checks import probe, service, summary_repo
from byosms_provisioning.webhook_checks.integration_summary import summary_view

CHECK = NUMBERS + "/{id}/webhook:check"
REPAIR = NUMBERS + "/{id}/webhook:repair"
PROBE = "/api/v2/integrations/{id}/webhook:probe"
SUMMARY = "/api/v2/integrations/{id}/number-webhooks"
E164 = r"^\+[1-9][0-9]{6,14}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RepairBody(_Body):
    messaging_service_defer: bool = Field(
        default=False,
        description='also set the Messaging Service to "Defer to sender\'s webhook" when it is not '
        "(affects every sender of that service)",
    )


class ProbeBody(_Body):
    number_id: str = Field(min_length=1, max_length=200, description="a number of this integration")
    send_test_message: bool = Field(
        default=False,
        description="agree to the cost of two messages: a code sent to `test_phone`, and its reply",
    )
    test_phone: str | None = Field(
        default=None, pattern=E164, description="the tenant's phone that sends the code back to the number"
    )
    from_number_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="instead of `test_phone`: another number of this integration, which sends the code to "
        "the number (one message charged; nobody has to answer)",
    )
    wait_seconds: float = Field(default=60, ge=1, le=900, description="how long to wait for the reply")


class SummaryQuery(_Body):
    limit: int = Field(
        default=20, ge=1, le=100, description="at most this many drifted numbers, repairs and recovered messages"
    )


async def _principal(request: web.Request, permission: str) -> auth.Principal:
    return await auth.authenticate(request, context_of(request).verifier, permission)


async def check_number(request: web.Request) -> web.Response:
    principal = await _principal(request, auth.PHONE_NUMBER_EDIT)
    number = await service.check_now(context_of(request), principal.organization_id, request.match_info["id"])
    return web.json_response(number_view(number, language_of(request)))


async def repair_number(request: web.Request) -> web.Response:
    principal = await _principal(request, auth.PHONE_NUMBER_EDIT)
    body = await read_json(request, RepairBody)
    number = await service.repair(
        context_of(request),
        principal.organization_id,
        principal.subject,
        request.match_info["id"],
        messaging_service_defer=body.messaging_service_defer,
    )
    return web.json_response(number_view(number, language_of(request)))


async def probe_integration(request: web.Request) -> web.Response:
    principal = await _principal(request, auth.INTEGRATION_EDIT)
    body = await read_json(request, ProbeBody)
    result = await probe.probe(
        context_of(request),
        principal.organization_id,
        request.match_info["id"],
        body.number_id,
        send_test_message=body.send_test_message,
        test_phone=body.test_phone,
        wait_seconds=body.wait_seconds,
        from_number_id=body.from_number_id,
    )
    return web.json_response(result.view(language_of(request)))


async def integration_summary(request: web.Request) -> web.Response:
    principal = await _principal(request, auth.INTEGRATION_VIEW)
    query = parse_query(request, SummaryQuery)
    ctx = context_of(request)
    org = principal.organization_id
    integration = await integrations_service.get(ctx, org, request.match_info["id"])
    counts = await summary_repo.counts(ctx.pool, org, integration.id)
    drifted = await summary_repo.drifted(ctx.pool, org, integration.id, query.limit) if counts.drifted else []
    repairs = await summary_repo.recent_repairs(ctx.pool, org, integration.id, query.limit)
    recovered = await summary_repo.recovered_messages(ctx.pool, org, integration.id, query.limit)
    view = summary_view(integration.id, counts, drifted, repairs, language_of(request), recovered)
    return web.json_response(view)


def register(app: web.Application, ctx: object) -> None:
    """Mount the webhook health routes (called by ``app.py``)."""
    del ctx
    app.router.add_post(CHECK, check_number)
    app.router.add_post(REPAIR, repair_number)
    app.router.add_post(PROBE, probe_integration)
    app.router.add_get(SUMMARY, integration_summary)

"""GET /api/v2/sms/media against the Twilio emulator: the tenant's credentials on the first request only,
the redirect followed without them, and every refusal (foreign URL, oversize, content type, another
organization, unexpected redirect) a problem document in English and German."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from byosms_common.errors import CATALOG
from byosms_provisioning.media.routes import FETCHER
from byosms_provisioning.media.urls import MediaRef, parse_media_url, redirect_allowed
from byosms_provisioning.settings import ProvisioningSettings

if TYPE_CHECKING:
    from conftest import Harness

    from twilio_emulator.testing import AccountInfo, RunningEmulator

MEDIA = "/api/v2/sms/media"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
AC = "AC" + "a" * 32
MM = "MM" + "b" * 32
ME = "ME" + "c" * 32
PATH = f"/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}"


@dataclass
class Tenant:
    prov: Harness
    account: AccountInfo
    integration_id: str

    async def get(self, url: str, *, language: str = "en", org: str | None = None, **params: str) -> Any:
        headers = self.prov.headers(language=language, org=org)
        return await self.prov.client.get(MEDIA, params={"url": url, **params}, headers=headers)


@pytest.fixture
async def tenant(
    prov_pool: asyncpg.Pool,
    prov_emulator: RunningEmulator,
    prov_signing_key: rsa.RSAPrivateKey,
    prov_service: Callable[..., Any],
) -> AsyncIterator[Tenant]:
    """Provisioning pointed at the emulator (its host allowed as the media CDN), and one connected integration."""
    settings = ProvisioningSettings.model_validate(
        {
            "jwt_jwks_url": "http://unused.invalid/jwks.json",
            "command_group_id": f"prov-test-{uuid.uuid4().hex[:8]}",
            "BYOSMS_TWILIO_API_BASE": prov_emulator.base_url,
            "media_redirect_hosts": ["127.0.0.1"],
            "media_redirect_allow_http": True,
            "media_max_bytes": 1_000_000,
        }
    )
    async with prov_service(prov_pool, prov_emulator, prov_signing_key, settings=settings) as prov:
        account = await prov.emulator.control.create_account()
        body = {"name": "Main Twilio", "region": "eu-central-1"}
        created = await prov.client.post("/api/v2/integrations", json=body, headers=prov.headers())
        integration_id = (await created.json())["id"]
        credentials = {"account_sid": account.sid, "auth_token": account.auth_token}
        connected = await prov.client.put(
            f"/api/v2/integrations/{integration_id}/credentials", json=credentials, headers=prov.headers()
        )
        assert connected.status == 200, await connected.text()
        yield Tenant(prov, account, integration_id)


async def assert_problem(response: Any, status: int, code: str, language: str = "en") -> None:
    assert response.status == status, await response.text()
    problem = await response.json(content_type=None)
    assert response.content_type == "application/problem+json"
    assert problem["code"] == code
    expected = CATALOG[code].de if language == "de" else CATALOG[code].en
    prefix = expected.split("{")[0]
    assert problem["detail"].startswith(prefix)
    assert response.headers["Content-Language"] == language


async def media_requests(tenant: Tenant) -> list[Any]:
    return await tenant.prov.emulator.control.requests(path_contains="/Media")


@pytest.mark.integration
@pytest.mark.parametrize("chunked", [False, True], ids=["with length", "chunked"])
async def test_media_is_served_and_credentials_never_reach_the_cdn(
    tenant: Tenant, chunked: bool, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = tenant.prov.emulator.control
    media = await emulator.add_media(tenant.account.sid, content=PNG, content_type="image/png", chunked=chunked)
    assert media.url.startswith("https://api.twilio.com/2010-04-01/Accounts/")

    with caplog.at_level(logging.DEBUG):
        response = await tenant.get(media.url)
    assert response.status == 200, await response.text()
    assert response.content_type == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert await response.read() == PNG
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert tenant.account.auth_token not in logged
    assert media.cdn_url.rsplit("/", 1)[1] not in logged  # the CDN URL's secret part

    api_calls = await media_requests(tenant)
    assert [(r.path, r.auth_username) for r in api_calls] == [(media.uri, tenant.account.sid)]
    cdn = await emulator.cdn_requests()
    assert [(r.media_sid, r.authorization) for r in cdn] == [(media.sid, False)]

    # Naming the integration gives the same; naming another one of the organization's does not.
    named = await tenant.get(media.url, integration_id=tenant.integration_id)
    assert named.status == 200
    await assert_problem(await tenant.get(media.url, integration_id="someone-else"), 404, "media_not_found")


@pytest.mark.integration
@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
@pytest.mark.parametrize("language", ["en", "de"])
async def test_oversize_media_is_refused(tenant: Tenant, chunked: bool, language: str) -> None:
    media = await tenant.prov.emulator.control.add_media(tenant.account.sid, size=1_000_001, chunked=chunked)
    response = await tenant.get(media.url, language=language)
    await assert_problem(response, 422, "media_too_large", language)
    assert "1000000" in (await response.json())["detail"]
    at_limit = await tenant.prov.emulator.control.add_media(tenant.account.sid, size=1_000_000, chunked=chunked)
    assert len(await (await tenant.get(at_limit.url)).read()) == 1_000_000


@pytest.mark.integration
@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("content_type", ["text/html", "image/svg+xml", "application/octet-stream"])
async def test_wrong_content_type_is_refused(tenant: Tenant, content_type: str, language: str) -> None:
    media = await tenant.prov.emulator.control.add_media(tenant.account.sid, size=10, content_type=content_type)
    response = await tenant.get(media.url, language=language)
    await assert_problem(response, 422, "media_type_not_allowed", language)
    assert content_type in (await response.json())["detail"]


@pytest.mark.integration
@pytest.mark.parametrize(
    "shape",
    [
        "https://evil.example{path}",
        "http://api.twilio.com{path}",
        "https://user:pw@api.twilio.com{path}",
        "https://api.twilio.com:8443{path}",
        "https://api.twilio.com{path}?redirect=https://evil.example",
        "https://api.twilio.com{path}.json",
        "https://api.twilio.com/2010-04-01/Accounts/{account}/Messages.json",
        "https://api.twilio.com.evil.example{path}",
        "{path}",
        "javascript:alert(1)",
    ],
)
async def test_a_foreign_url_is_refused_and_never_requested(tenant: Tenant, shape: str) -> None:
    media = await tenant.prov.emulator.control.add_media(tenant.account.sid, size=10)
    url = shape.format(path=media.uri, account=tenant.account.sid)
    for language in ("en", "de"):
        await assert_problem(await tenant.get(url, language=language), 400, "media_url_not_allowed", language)
    assert await media_requests(tenant) == []
    assert await tenant.prov.emulator.control.cdn_requests() == []


@pytest.mark.integration
async def test_another_organizations_media_answers_404(tenant: Tenant) -> None:
    emulator = tenant.prov.emulator.control
    media = await emulator.add_media(tenant.account.sid, size=10)
    # A caller of another organization, with the same URL.
    await assert_problem(await tenant.get(media.url, org=f"org-{uuid.uuid4().hex[:8]}"), 404, "media_not_found")
    # The caller's organization, but a Twilio account that is none of its integrations'.
    stranger = await emulator.create_account()
    foreign = await emulator.add_media(stranger.sid, size=10)
    await assert_problem(await tenant.get(foreign.url, language="de"), 404, "media_not_found", "de")
    assert await media_requests(tenant) == []


@pytest.mark.integration
@pytest.mark.parametrize("target", ["localhost", "https", "elsewhere"])
async def test_a_redirect_to_an_unexpected_host_is_not_followed(tenant: Tenant, target: str) -> None:
    emulator = tenant.prov.emulator.control
    plain = await emulator.add_media(tenant.account.sid, size=10)
    redirect = {
        "localhost": plain.cdn_url.replace("127.0.0.1", "localhost"),  # the emulator itself, by a name not allowed
        "https": plain.cdn_url.replace("http://", "https://").replace("127.0.0.1", "cdn.example"),
        "elsewhere": "https://127.0.0.1.evil.example/x",
    }[target]
    media = await emulator.add_media(tenant.account.sid, size=10, redirect_url=redirect)
    await assert_problem(await tenant.get(media.url), 502, "media_redirect_refused")
    assert await emulator.cdn_requests() == []


@pytest.mark.integration
async def test_too_many_fetches_at_once_answer_503(tenant: Tenant) -> None:
    media = await tenant.prov.emulator.control.add_media(tenant.account.sid, size=10)
    fetcher = tenant.prov.client.server.app[FETCHER]
    held = [fetcher.slots for _ in range(tenant.prov.ctx.settings.media_max_concurrent)]
    for slot in held:
        await slot.acquire()
    try:
        response = await tenant.get(media.url)
        await assert_problem(response, 503, "media_busy")
        assert (await response.json())["retryable"] is True
    finally:
        for slot in held:
            slot.release()
    assert (await tenant.get(media.url)).status == 200


@pytest.mark.unit
@pytest.mark.parametrize(
    ("url", "base", "accepted"),
    [
        (f"https://api.twilio.com{PATH}", None, True),
        (f"https://API.twilio.com:443{PATH}", None, True),
        (f"https://api.twilio.com{PATH.replace('MM', 'SM')}", None, True),
        (f"http://127.0.0.1:8099{PATH}", "http://127.0.0.1:8099", True),
        (f"http://127.0.0.1:8099/prefix{PATH}", "http://127.0.0.1:8099/prefix", True),
        (f"http://127.0.0.1:8099{PATH}", None, False),
        (f"http://127.0.0.1:8098{PATH}", "http://127.0.0.1:8099", False),
        (f"https://api.twilio.com{PATH}/", None, False),
        (f"https://api.twilio.com{PATH}#x", None, False),
        (f"https://api.twilio.com:99999{PATH}", None, False),
        (f"https://api.twilio.com{PATH.replace('ME', 'MX')}", None, False),
        (f"https://api.twilio.com/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}/../../x", None, False),
        ("", None, False),
    ],
)
def test_which_media_urls_are_accepted(url: str, base: str | None, accepted: bool) -> None:
    ref = parse_media_url(url, base)
    if accepted:
        assert ref is not None
        assert ref == MediaRef(AC, ref.message_sid, ME)
    else:
        assert ref is None


@pytest.mark.unit
@pytest.mark.parametrize(
    ("url", "allow_http", "followed"),
    [
        ("https://media.twiliocdn.com/AC/x?Signature=s", False, True),
        ("https://s3.twiliocdn.com/x", False, True),
        ("https://twiliocdn.com/x", False, False),
        ("http://media.twiliocdn.com/x", False, False),
        ("http://media.twiliocdn.com/x", True, True),
        ("https://media.twiliocdn.com.evil.example/x", False, False),
        ("https://user:pw@media.twiliocdn.com/x", False, False),
        ("https://evil.example/x", False, False),
        ("ftp://media.twiliocdn.com/x", True, False),
        ("https://media.twiliocdn.com:bad/x", False, False),
    ],
)
def test_which_redirects_are_followed(url: str, allow_http: bool, followed: bool) -> None:
    hosts = ("media.twiliocdn.com", "*.twiliocdn.com")
    assert redirect_allowed(url, hosts, allow_http=allow_http) is followed


@pytest.mark.integration
async def test_a_second_hop_never_carries_the_credentials(tenant: Tenant) -> None:
    """Twilio's redirect back to an API path (allowed host) is requested without Authorization: the API
    refuses it (answered as a passing failure: a new request gets a fresh CDN URL), which proves the
    credentials stayed with the first request."""
    emulator = tenant.prov.emulator.control
    target = await emulator.add_media(tenant.account.sid, size=10)
    bounced = await emulator.add_media(
        tenant.account.sid, size=10, redirect_url=tenant.prov.emulator.base_url + target.uri
    )
    await assert_problem(await tenant.get(bounced.url), 503, "vendor_unavailable")
    calls = await media_requests(tenant)
    assert [(r.path, r.auth_username) for r in calls] == [(bounced.uri, tenant.account.sid), (target.uri, None)]


@pytest.mark.integration
async def test_credentials_twilio_no_longer_takes_are_reported_as_such(tenant: Tenant) -> None:
    emulator = tenant.prov.emulator.control
    media = await emulator.add_media(tenant.account.sid, size=10)
    await emulator.create_account(tenant.account.sid, auth_token="f" * 32)  # the token was rotated at Twilio
    await assert_problem(await tenant.get(media.url, language="de"), 422, "credentials_rejected", "de")
    assert await emulator.cdn_requests() == []

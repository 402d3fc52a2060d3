"""The Media resource: metadata and list with the twilio client, content behind auth and a 307 to a CDN
that needs none and records whether credentials arrived anyway."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from twilio.rest import Client

from twilio_emulator.testing import AccountInfo, RunningEmulator

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def twilio_v2010() -> dict[str, Any]:
    """Twilio's v2010 OpenAPI document, beside the checkout or in the machine's shared folder."""
    folders = [Path(__file__).resolve().parents[3].parent / "shared" / "twilio-oai", Path("/work/shared/twilio-oai")]
    found = next(f / "twilio_api_v2010.json" for f in folders if (f / "twilio_api_v2010.json").is_file())
    document: dict[str, Any] = json.loads(found.read_text(encoding="utf-8"))
    return document


def basic(account: AccountInfo) -> dict[str, str]:
    pair = f"{account.sid}:{account.auth_token}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


async def test_media_list_and_fetch_with_the_twilio_client(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client
) -> None:
    first = await twemu.control.add_media(twemu_account.sid, content=PNG, content_type="image/png")
    second = await twemu.control.add_media(twemu_account.sid, message_sid=first.message_sid, size=10)
    assert first.url == f"https://api.twilio.com{first.uri}"
    assert first.uri == f"/2010-04-01/Accounts/{twemu_account.sid}/Messages/{first.message_sid}/Media/{first.sid}"

    message = twemu_client.api.v2010.accounts(twemu_account.sid).messages(first.message_sid)
    listed = await message.media.list_async()
    assert {m.sid for m in listed} == {first.sid, second.sid}
    fetched = await message.media(first.sid).fetch_async()
    assert (fetched.content_type, fetched.parent_sid, fetched.account_sid) == (
        "image/png",
        first.message_sid,
        twemu_account.sid,
    )
    assert (await twemu.control.message(first.message_sid))["num_media"] == "2"

    assert await message.media(second.sid).delete_async() is True
    assert [m.sid for m in await message.media.list_async()] == [first.sid]


async def test_content_needs_auth_redirects_and_the_cdn_records_credentials(
    twemu: RunningEmulator, twemu_account: AccountInfo
) -> None:
    media = await twemu.control.add_media(twemu_account.sid, content=PNG, content_type="image/png", filename="a.png")
    auth = basic(twemu_account)
    async with aiohttp.ClientSession() as http:
        async with http.get(twemu.base_url + media.uri, allow_redirects=False) as response:
            assert response.status == 401
            assert (await response.json())["code"] == 20003
        async with http.get(twemu.base_url + media.uri, headers=auth, allow_redirects=False) as response:
            assert response.status == 307
            location = response.headers["Location"]
        assert location == media.cdn_url
        async with http.get(location) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "image/png"
            assert response.headers["Content-Disposition"] == 'inline; filename="a.png"'
            assert await response.read() == PNG
        async with http.get(location, headers=basic(twemu_account)) as response:
            assert response.status == 200
        async with http.get(twemu.base_url + "/cdn/media/unknown") as response:
            assert response.status == 404
    recorded = await twemu.control.cdn_requests()
    assert [(r.media_sid, r.authorization) for r in recorded] == [(media.sid, False), (media.sid, True), (None, False)]


async def test_another_accounts_media_is_not_found(twemu: RunningEmulator, twemu_account: AccountInfo) -> None:
    other = await twemu.control.create_account()
    media = await twemu.control.add_media(other.sid, size=5)
    foreign = media.uri.replace(other.sid, twemu_account.sid)
    auth = basic(twemu_account)
    async with aiohttp.ClientSession() as http:
        async with http.get(twemu.base_url + foreign, headers=basic(twemu_account), allow_redirects=False) as response:
            assert response.status == 404
            assert (await response.json())["code"] == 20404
        async with http.get(twemu.base_url + media.uri, headers=auth, allow_redirects=False) as response:
            assert response.status == 401  # a sibling account's path: Twilio's 20003


async def test_seeded_redirect_and_chunked_content(twemu: RunningEmulator, twemu_account: AccountInfo) -> None:
    elsewhere = await twemu.control.add_media(twemu_account.sid, redirect_url="http://attacker.example/x")
    chunked = await twemu.control.add_media(twemu_account.sid, size=200_000, chunked=True)
    async with aiohttp.ClientSession() as http:
        headers = basic(twemu_account)
        async with http.get((twemu.base_url + elsewhere.uri), headers=headers, allow_redirects=False) as response:
            assert response.headers["Location"] == "http://attacker.example/x"
        async with http.get(chunked.cdn_url) as response:
            assert "Content-Length" not in response.headers
            assert len(await response.read()) == 200_000


async def test_media_responses_match_twilios_schemas(twemu: RunningEmulator, twemu_account: AccountInfo) -> None:
    oai = twilio_v2010()

    def nullable_to_union(node: object) -> object:
        if isinstance(node, list):
            return [nullable_to_union(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: nullable_to_union(v) for k, v in node.items() if k not in {"nullable", "x-twilio"}}
        if node.get("nullable") is True and "type" in out:
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("properties"), dict):
            out.setdefault("additionalProperties", False)
        return out

    components = nullable_to_union(oai["components"])
    media = await twemu.control.add_media(twemu_account.sid, size=3)
    base = f"/2010-04-01/Accounts/{twemu_account.sid}/Messages/{media.message_sid}/Media"
    templates = {
        f"{base}.json": "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json",
        f"{base}/{media.sid}.json": "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}.json",
    }
    async with aiohttp.ClientSession(headers=basic(twemu_account)) as http:
        for path, template in templates.items():
            async with http.get(twemu.base_url + path) as response:
                body = await response.json()
            schema = oai["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            validator = Draft202012Validator({**nullable_to_union(schema), "components": components})  # type: ignore[dict-item]
            assert not list(validator.iter_errors(body)), (template, body)

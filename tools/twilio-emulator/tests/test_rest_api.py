"""The real twilio client (async and sync) against the running emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from twilio_emulator import routes_api
from twilio_emulator.client_redirect import RedirectingAsyncHttpClient, rewrite_url, sync_http_client
from twilio_emulator.testing import AccountInfo, RunningEmulator

pytestmark = pytest.mark.integration


async def test_account_fetch_good_and_bad_token(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client, twemu_http: RedirectingAsyncHttpClient
) -> None:
    account = await twemu_client.api.v2010.accounts(twemu_account.sid).fetch_async()
    assert account.sid == twemu_account.sid
    assert account.status == "active"

    bad = Client(twemu_account.sid, "0" * 32, http_client=twemu_http)
    with pytest.raises(TwilioRestException) as info:
        await bad.api.v2010.accounts(twemu_account.sid).fetch_async()
    assert (info.value.status, info.value.code) == (401, 20003)

    await twemu.control.set_account_status(twemu_account.sid, "suspended")
    with pytest.raises(TwilioRestException) as info:
        await twemu_client.api.v2010.accounts(twemu_account.sid).fetch_async()
    assert info.value.code == 20003


async def test_sync_client_in_thread(twemu: RunningEmulator, twemu_account: AccountInfo) -> None:
    def work() -> tuple[str, int]:
        client = Client(twemu_account.sid, twemu_account.auth_token, http_client=sync_http_client(twemu.base_url))
        good = client.api.v2010.accounts(twemu_account.sid).fetch().status
        bad = Client(twemu_account.sid, "wrong", http_client=sync_http_client(twemu.base_url))
        try:
            bad.api.v2010.accounts(twemu_account.sid).fetch()
        except TwilioRestException as exc:
            return good, exc.code
        return good, 0

    assert await asyncio.to_thread(work) == ("active", 20003)


async def test_subaccounts(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_http: RedirectingAsyncHttpClient,
    twemu_numbers: Callable[[], str],
) -> None:
    sub = await twemu.control.create_account(parent_sid=twemu_account.sid)
    number = twemu_numbers()
    await twemu.control.add_phone_number(sub.sid, number)
    parent = Client(twemu_account.sid, twemu_account.auth_token, account_sid=sub.sid, http_client=twemu_http)
    listed = await parent.incoming_phone_numbers.list_async(phone_number=number)
    assert [n.phone_number for n in listed] == [number]
    fetched = await parent.api.v2010.accounts(sub.sid).fetch_async()
    assert fetched.owner_account_sid == twemu_account.sid
    subs = await parent.api.v2010.accounts.list_async()
    assert {a.sid for a in subs} == {twemu_account.sid, sub.sid}

    sub_client = Client(sub.sid, sub.auth_token, http_client=twemu_http)
    with pytest.raises(TwilioRestException) as info:
        await sub_client.api.v2010.accounts(twemu_account.sid).fetch_async()
    assert info.value.code == 20003


async def test_number_list_is_partial_and_update_works(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client
) -> None:
    await twemu.control.add_phone_number(twemu_account.sid, "+15005550006", sms_url="https://old.example/mo")
    await twemu.control.add_phone_number(twemu_account.sid, "+4915005550006", sms_application_sid="AP" + "1" * 32)
    listed = await twemu_client.incoming_phone_numbers.list_async(phone_number="+15005550006")
    assert {n.phone_number for n in listed} == {"+15005550006", "+4915005550006"}
    exact = next(n for n in listed if n.phone_number == "+15005550006")
    assert exact.sms_url == "https://old.example/mo"
    assert exact.sms_method == "POST"
    assert exact.capabilities["sms"] is True
    assert exact.sms_application_sid is None
    assert next(n for n in listed if n.phone_number != "+15005550006").sms_application_sid.startswith("AP")

    updated = await twemu_client.incoming_phone_numbers(exact.sid).update_async(
        sms_url="https://new.example/mo#rc=3", sms_method="POST"
    )
    assert updated.sms_url == "https://new.example/mo#rc=3"
    fetched = await twemu_client.incoming_phone_numbers(exact.sid).fetch_async()
    assert fetched.sms_url == "https://new.example/mo#rc=3"

    with pytest.raises(TwilioRestException) as info:
        await twemu_client.incoming_phone_numbers("PN" + "0" * 32).fetch_async()
    assert (info.value.status, info.value.code) == (404, 20404)

    sent = await twemu.control.requests(method="POST", path_contains="IncomingPhoneNumbers")
    assert sent[-1].field("SmsUrl") == "https://new.example/mo#rc=3"


async def test_paging_follows_next_page_uri(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client
) -> None:
    for i in range(5):
        await twemu.control.add_phone_number(twemu_account.sid, f"+1500555100{i}")
    listed = await twemu_client.incoming_phone_numbers.list_async(page_size=2)
    assert len(listed) == 5


async def test_list_with_bad_token_is_plain_twilio_exception(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_http: RedirectingAsyncHttpClient
) -> None:
    bad = Client(twemu_account.sid, "nope", http_client=twemu_http)
    with pytest.raises(TwilioException) as info:
        await bad.incoming_phone_numbers.list_async(phone_number="+1")
    response = info.value.args[1]
    assert response.status_code == 401
    assert json.loads(response.text)["code"] == 20003


async def test_short_codes(twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client) -> None:
    await twemu.control.add_short_code(twemu_account.sid, "894546", sms_url="https://x.example/mo")
    await twemu.control.add_short_code(twemu_account.sid, "8945", sms_url="https://y.example/mo")
    listed = await twemu_client.short_codes.list_async(short_code="8945")
    assert {c.short_code for c in listed} == {"894546", "8945"}
    code = next(c for c in listed if c.short_code == "894546")
    updated = await twemu_client.short_codes(code.sid).update_async(sms_url="https://z.example/mo")
    assert updated.sms_url == "https://z.example/mo"
    assert (await twemu_client.short_codes(code.sid).fetch_async()).sms_url == "https://z.example/mo"


async def test_messaging_services_and_membership(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client, twemu_numbers: Callable[[], str]
) -> None:
    mg = await twemu.control.add_service(
        twemu_account.sid, inbound_request_url="https://svc.example/in", use_inbound_webhook_on_number=True
    )
    member = await twemu.control.add_phone_number(twemu_account.sid, twemu_numbers(), service_sid=mg)
    outsider = await twemu.control.add_phone_number(twemu_account.sid, twemu_numbers())
    code = await twemu.control.add_short_code(twemu_account.sid, "77777", service_sid=mg)

    services = await twemu_client.messaging.v1.services.list_async()
    assert [s.sid for s in services] == [mg]
    service = await twemu_client.messaging.v1.services(mg).fetch_async()
    assert service.use_inbound_webhook_on_number is True
    assert service.inbound_request_url == "https://svc.example/in"

    numbers = await twemu_client.messaging.v1.services(mg).phone_numbers.list_async()
    assert [(n.sid, n.capabilities) for n in numbers] == [(member["sid"], ["VOICE", "SMS", "MMS"])]
    fetched = await twemu_client.messaging.v1.services(mg).phone_numbers(member["sid"]).fetch_async()
    assert fetched.phone_number == member["phone_number"]
    with pytest.raises(TwilioRestException) as info:
        await twemu_client.messaging.v1.services(mg).phone_numbers(outsider["sid"]).fetch_async()
    assert (info.value.status, info.value.code) == (404, 20404)
    codes = await twemu_client.messaging.v1.services(mg).short_codes.list_async()
    assert [c.short_code for c in codes] == ["77777"]
    assert (await twemu_client.messaging.v1.services(mg).short_codes(code["sid"]).fetch_async()).sid == code["sid"]

    created = await twemu_client.messaging.v1.services.create_async(
        friendly_name="second", use_inbound_webhook_on_number=False
    )
    added = await twemu_client.messaging.v1.services(created.sid).phone_numbers.create_async(
        phone_number_sid=outsider["sid"]
    )
    assert added.service_sid == created.sid
    updated = await twemu_client.messaging.v1.services(created.sid).update_async(
        inbound_request_url="https://n.example/in"
    )
    assert updated.inbound_request_url == "https://n.example/in"


async def test_message_create_and_fetch(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client, twemu_numbers: Callable[[], str]
) -> None:
    sender = twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, sender)
    to = twemu_numbers()
    message = await twemu_client.messages.create_async(
        to=to, from_=sender, body="hello", media_url=["https://m.example/a.jpg", "https://m.example/b.png"]
    )
    assert message.sid.startswith("MM")
    assert message.status == "queued"
    assert message.num_media == "2"
    assert message.direction == "outbound-api"
    assert message.from_ == sender
    request = (await twemu.control.requests(method="POST", path_contains="Messages"))[-1]
    assert [v for n, v in request.form if n == "MediaUrl"] == ["https://m.example/a.jpg", "https://m.example/b.png"]
    final = await twemu.control.wait_for_status(message.sid, {"delivered"})
    assert final["date_sent"] is not None
    fetched = await twemu_client.messages(message.sid).fetch_async()
    assert fetched.status == "delivered"


async def test_service_message_is_accepted_then_gets_sender(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client, twemu_numbers: Callable[[], str]
) -> None:
    mg = await twemu.control.add_service(twemu_account.sid)
    sender = twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, sender, service_sid=mg)
    message = await twemu_client.messages.create_async(to=twemu_numbers(), messaging_service_sid=mg, body="hi")
    assert message.status == "accepted"
    assert message.from_ is None
    assert message.num_segments == "0"
    final = await twemu.control.wait_for_status(message.sid, {"delivered"})
    assert final["from"] == sender


@pytest.mark.parametrize(
    ("label", "kwargs", "code"),
    [
        ("invalid To", {"to": "not-a-number"}, 21211),
        ("body required", {"body": None}, 21602),
        ("From not owned", {"from_": "+15005550999"}, 21606),
        ("From required", {"from_": None}, 21603),
        ("bad status callback", {"status_callback": "https://under_score.example/cb"}, 21609),
        ("body too long", {"body": "x" * 1601}, 21617),
    ],
)
async def test_message_validation_errors(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_client: Client,
    twemu_numbers: Callable[[], str],
    label: str,
    kwargs: dict[str, str | None],
    code: int,
) -> None:
    sender = twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, sender)
    args: dict[str, object] = {"to": twemu_numbers(), "from_": sender, "body": "hi"}
    args.update(dict(kwargs.items()))
    args = {k: v for k, v in args.items() if v is not None}
    with pytest.raises(TwilioRestException) as info:
        await twemu_client.messages.create_async(**args)
    assert (info.value.status, info.value.code) == (400, code), label


async def test_opted_out_recipient_gets_21610(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client, twemu_numbers: Callable[[], str]
) -> None:
    sender, to = twemu_numbers(), twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, sender)
    await twemu.control.add_opt_out(sender, to)
    with pytest.raises(TwilioRestException) as info:
        await twemu_client.messages.create_async(to=to, from_=sender, body="hi")
    assert info.value.code == 21610
    await twemu.control.remove_opt_out(sender, to)
    await twemu_client.messages.create_async(to=to, from_=sender, body="hi")


async def test_rate_limit_gives_429_20429(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client, twemu_numbers: Callable[[], str]
) -> None:
    sender = twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, sender)
    await twemu.control.set_rate(2, sender=sender, window_s=60)
    for _ in range(2):
        await twemu_client.messages.create_async(to=twemu_numbers(), from_=sender, body="hi")
    with pytest.raises(TwilioRestException) as info:
        await twemu_client.messages.create_async(to=twemu_numbers(), from_=sender, body="hi")
    assert (info.value.status, info.value.code) == (429, 20429)


async def test_injected_5xx_and_latency(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client
) -> None:
    await twemu.control.add_fault(status=503, path_contains="/Accounts/", count=1)
    with pytest.raises(TwilioRestException) as info:
        await twemu_client.api.v2010.accounts(twemu_account.sid).fetch_async()
    assert info.value.status == 503
    # count=1: the next call succeeds
    assert (await twemu_client.api.v2010.accounts(twemu_account.sid).fetch_async()).status == "active"

    await twemu.control.add_fault(latency_ms=200, method="GET", count=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await twemu_client.api.v2010.accounts(twemu_account.sid).fetch_async()
    assert loop.time() - started >= 0.2


async def test_redirect_timeout_applies(twemu: RunningEmulator, twemu_account: AccountInfo) -> None:
    await twemu.control.add_fault(latency_ms=2000, count=1)
    async with RedirectingAsyncHttpClient(twemu.base_url, timeout=0.2) as http:
        client = Client(twemu_account.sid, twemu_account.auth_token, http_client=http)
        with pytest.raises(TimeoutError):
            await client.api.v2010.accounts(twemu_account.sid).fetch_async()


def test_rewrite_url() -> None:
    base = "http://127.0.0.1:8099"
    assert (
        rewrite_url("https://api.twilio.com/2010-04-01/Accounts.json?A=1", base)
        == base + "/2010-04-01/Accounts.json?A=1"
    )
    assert rewrite_url("https://messaging.twilio.com/v1/Services", base + "/") == base + "/v1/Services"
    assert rewrite_url("https://api.dublin.ie1.twilio.com/2010-04-01/x", base) == base + "/2010-04-01/x"
    assert rewrite_url("https://example.com/x", base) == "https://example.com/x"


async def test_rejected_number_update_changes_nothing(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client
) -> None:
    pn = await twemu.control.add_phone_number(twemu_account.sid, "+15005550009", sms_url="https://old.example/mo")
    with pytest.raises(TwilioRestException) as info:
        await twemu_client.incoming_phone_numbers(pn["sid"]).update_async(
            sms_url="https://new.example/mo", friendly_name="renamed", sms_method="PUT"
        )
    assert (info.value.status, info.value.code) == (400, 20001)
    fetched = await twemu_client.incoming_phone_numbers(pn["sid"]).fetch_async()
    assert (fetched.sms_url, fetched.sms_method) == ("https://old.example/mo", "POST")
    assert fetched.friendly_name != "renamed"


async def test_rejected_short_code_update_changes_nothing(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client
) -> None:
    sc = await twemu.control.add_short_code(twemu_account.sid, "894547", sms_url="https://old.example/sc")
    with pytest.raises(TwilioRestException) as info:
        await twemu_client.short_codes(sc["sid"]).update_async(
            sms_url="https://new.example/sc", sms_fallback_method="DELETE"
        )
    assert (info.value.status, info.value.code) == (400, 20001)
    fetched = await twemu_client.short_codes(sc["sid"]).fetch_async()
    assert fetched.sms_url == "https://old.example/sc"


async def test_an_emulator_bug_answers_twilios_json_500(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_: object, **__: object) -> dict[str, object]:
        raise RuntimeError("emulator bug")

    monkeypatch.setattr(routes_api, "account_json", broken)
    with pytest.raises(TwilioRestException) as info:
        await twemu_client.api.v2010.accounts(twemu_account.sid).fetch_async()
    assert (info.value.status, info.value.code) == (500, 20500)
    assert "unhandled error in GET" in caplog.text
    assert twemu_account.auth_token not in caplog.text
    logged = await twemu.control.requests(path_contains=twemu_account.sid)
    assert (logged[-1].status, logged[-1].error_code) == (500, 20500)


async def test_a_create_whose_answer_is_lost_still_creates_the_message(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client, twemu_numbers: Callable[[], str]
) -> None:
    sender, to = twemu_numbers(), twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, sender)
    await twemu.control.add_fault(method="POST", path_contains="/Messages.json", count=1, lose_answer=True)
    with pytest.raises(aiohttp.ClientError):
        await twemu_client.messages.create_async(to=to, from_=sender, body="lost answer")
    listed = await twemu_client.messages.list_async(to=to, from_=sender)
    assert [m.body for m in listed] == ["lost answer"]
    # count=1: the next create answers as usual.
    assert (await twemu_client.messages.create_async(to=to, from_=sender, body="again")).sid.startswith("SM")


async def test_messages_list_filters_by_sent_date(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client, twemu_numbers: Callable[[], str]
) -> None:
    sender, to = twemu_numbers(), twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, sender)
    message = await twemu_client.messages.create_async(to=to, from_=sender, body="dated")
    await twemu.control.wait_for_status(message.sid, {"delivered"})
    now = datetime.now(UTC)

    async def sids(**filters: Any) -> list[str]:
        return [m.sid for m in await twemu_client.messages.list_async(to=to, from_=sender, **filters)]

    assert await sids(date_sent_after=now - timedelta(minutes=1)) == [message.sid]
    assert await sids(date_sent_after=now + timedelta(minutes=1)) == []
    assert await sids(date_sent_before=now - timedelta(minutes=1)) == []
    assert await sids(date_sent_before=now + timedelta(minutes=1), date_sent_after=now - timedelta(minutes=1)) == [
        message.sid
    ]
    assert await sids(date_sent=now.date().isoformat()) == [message.sid]
    assert await sids(date_sent=(now - timedelta(days=2)).date().isoformat()) == []

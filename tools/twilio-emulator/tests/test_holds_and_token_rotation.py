"""Held webhooks (stored at Twilio, posted later on request), the Messages list's To/DateSent filters and paging
for received messages, and Auth Token rotation (secondary token, promote)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from twilio_emulator.client_redirect import RedirectingAsyncHttpClient
from twilio_emulator.testing import AccountInfo, ControlApiError, RunningEmulator

pytestmark = pytest.mark.integration


async def test_held_inbound_webhook_is_stored_listed_and_posted_on_release(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_client: Client,
    twemu_receiver: Any,
    twemu_numbers: Callable[[], str],
) -> None:
    number, customer = twemu_numbers(), twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, number, sms_url=twemu_receiver.url("/mo"))
    await twemu.control.hold_webhooks("inbound", to=number, count=1)

    held = await twemu.control.inbound(customer, number, "held one")
    passed = await twemu.control.inbound(customer, number, "second one")

    assert held.status is None  # not posted
    assert held.error is not None
    assert passed.status == 200  # the rule was for one webhook only
    assert [r.form["MessageSid"] for r in twemu_receiver.received] == [passed.message_sid]
    # Twilio has both, with their sent dates: the Messages list filtered by To and DateSent finds them.
    since = datetime.now(UTC) - timedelta(minutes=5)
    listed = await twemu_client.messages.list_async(to=number, date_sent_after=since, page_size=1)
    assert {m.sid for m in listed} == {held.message_sid, passed.message_sid}  # two pages of one
    assert await twemu_client.messages.list_async(to=number, date_sent_before=since) == []
    assert [h["message_sid"] for h in await twemu.control.held_webhooks()] == [held.message_sid]

    released = await twemu.control.release_webhooks(message_sid=held.message_sid)

    assert [r["status"] for r in released] == [200]
    assert [r.form["MessageSid"] for r in twemu_receiver.received] == [passed.message_sid, held.message_sid]
    late = twemu_receiver.received[-1]
    assert RequestValidator(twemu_account.auth_token).validate(late.url, late.form, late.headers["X-Twilio-Signature"])
    assert await twemu.control.held_webhooks() == []


async def test_held_status_callbacks_leave_the_final_status_to_be_fetched(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_client: Client,
    twemu_receiver: Any,
    twemu_numbers: Callable[[], str],
) -> None:
    sender, recipient = twemu_numbers(), twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, sender)
    await twemu.control.hold_webhooks("status", to=recipient)
    message = await twemu_client.messages.create_async(
        to=recipient, from_=sender, body="hi", status_callback=twemu_receiver.url("/status")
    )
    await twemu.control.wait_for_status(message.sid, {"delivered"})

    assert twemu_receiver.received == []
    fetched = await twemu_client.messages(message.sid).fetch_async()
    assert fetched.status == "delivered"
    assert {h["kind"] for h in await twemu.control.held_webhooks()} == {"status"}
    await twemu.control.clear_holds()
    assert await twemu.control.held_webhooks() == []


async def test_promoting_the_secondary_token_signs_with_it_and_deletes_the_old_primary(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_http: RedirectingAsyncHttpClient,
    twemu_receiver: Any,
    twemu_numbers: Callable[[], str],
) -> None:
    number, customer = twemu_numbers(), twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, number, sms_url=twemu_receiver.url("/mo"))
    old = twemu_account.auth_token
    secondary = await twemu.control.create_secondary_auth_token(twemu_account.sid, old)
    # Both tokens work for the API; webhooks are still signed with the primary.
    for token in (old, secondary):
        await (
            Client(twemu_account.sid, token, http_client=twemu_http).api.v2010.accounts(twemu_account.sid).fetch_async()
        )
    await twemu.control.inbound(customer, number, "before")
    assert RequestValidator(old).validate(
        twemu_receiver.received[-1].url,
        twemu_receiver.received[-1].form,
        twemu_receiver.received[-1].headers["X-Twilio-Signature"],
    )

    assert await twemu.control.promote_auth_token(twemu_account.sid, old) == secondary

    await twemu.control.inbound(customer, number, "after")
    last = twemu_receiver.received[-1]
    assert RequestValidator(secondary).validate(last.url, last.form, last.headers["X-Twilio-Signature"])
    assert not RequestValidator(old).validate(last.url, last.form, last.headers["X-Twilio-Signature"])
    with pytest.raises(TwilioRestException) as refused:
        await Client(twemu_account.sid, old, http_client=twemu_http).api.v2010.accounts(twemu_account.sid).fetch_async()
    assert refused.value.status == 401
    with pytest.raises(ControlApiError):  # nothing left to promote
        await twemu.control.promote_auth_token(twemu_account.sid, secondary)


async def test_a_429_fault_carries_its_retry_after(twemu: RunningEmulator, twemu_account: AccountInfo) -> None:
    await twemu.control.add_fault(status=429, retry_after_s=7, path_contains="/Messages.json", count=1)
    auth = base64.b64encode(f"{twemu_account.sid}:{twemu_account.auth_token}".encode()).decode()
    url = f"{twemu.base_url}/2010-04-01/Accounts/{twemu_account.sid}/Messages.json"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Authorization": f"Basic {auth}"}) as throttled:
            assert throttled.status == 429
            assert throttled.headers["Retry-After"] == "7"
            assert (await throttled.json())["code"] == 20429
        async with http.get(url, headers={"Authorization": f"Basic {auth}"}) as again:
            assert again.status == 200  # count=1: used up
    with pytest.raises(ValueError, match="429"):
        await twemu.control.add_fault(status=404)

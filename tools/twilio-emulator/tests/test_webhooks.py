"""Signed inbound webhooks and status callbacks, verified with twilio's RequestValidator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from twilio_emulator.control import SharedKeySeed
from twilio_emulator.testing import AccountInfo, RunningEmulator

pytestmark = pytest.mark.integration

INBOUND_FIELDS = {
    "ToCountry",
    "ToState",
    "SmsMessageSid",
    "NumMedia",
    "ToCity",
    "FromZip",
    "SmsSid",
    "FromState",
    "SmsStatus",
    "FromCity",
    "Body",
    "FromCountry",
    "To",
    "ToZip",
    "NumSegments",
    "ReferralNumMedia",
    "MessageSid",
    "AccountSid",
    "From",
    "ApiVersion",
}


def assert_signed(received: Any, token: str) -> None:
    validator = RequestValidator(token)
    assert validator.validate(received.url, received.form, received.headers["X-Twilio-Signature"])


async def test_inbound_sms_is_signed_with_every_field(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_receiver: Any, twemu_numbers: Callable[[], str]
) -> None:
    number = twemu_numbers()
    customer = twemu_numbers()
    # Query string kept byte-exact; the connection-override fragment is neither sent nor signed.
    url = twemu_receiver.url("/mo?tenant=a%20b&x=1#rc=2&rp=ct,5xx")
    await twemu.control.add_phone_number(twemu_account.sid, number, sms_url=url)
    result = await twemu.control.inbound(customer, number, "Hello wörld 👋")
    assert result.status == 200
    assert result.message_sid.startswith("SM")
    assert result.url == twemu_receiver.url("/mo?tenant=a%20b&x=1")

    (received,) = twemu_receiver.received
    assert received.url == twemu_receiver.url("/mo?tenant=a%20b&x=1")
    assert_signed(received, twemu_account.auth_token)
    assert set(received.form.keys()) >= INBOUND_FIELDS
    assert received.form["FromZip"] == ""
    assert received.form["Body"] == "Hello wörld 👋"
    assert received.form["MessageSid"] == received.form["SmsSid"] == result.message_sid
    assert received.form["AccountSid"] == twemu_account.sid
    assert received.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert received.headers["I-Twilio-Idempotency-Token"]

    (logged,) = await twemu.control.webhooks(kind="inbound", message_sid=result.message_sid)
    assert logged.status == 200
    assert logged.param("Body") == "Hello wörld 👋"


async def test_inbound_mms_get_method_and_retry(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_receiver: Any, twemu_numbers: Callable[[], str]
) -> None:
    number = twemu_numbers()
    await twemu.control.add_phone_number(
        twemu_account.sid, number, sms_url=twemu_receiver.url("/get?a=1"), sms_method="GET"
    )
    result = await twemu.control.inbound(
        twemu_numbers(), number, "pic", media=[("https://m.example/1.jpg", "image/jpeg")]
    )
    assert result.message_sid.startswith("MM")
    assert result.status == 200
    (received,) = twemu_receiver.received
    assert received.method == "GET"
    assert "MediaUrl0=https" in received.url
    assert RequestValidator(twemu_account.auth_token).validate(received.url, {}, received.headers["X-Twilio-Signature"])

    twemu_receiver.received.clear()
    twemu_receiver.status = 503
    await twemu.control.add_phone_number(twemu_account.sid, number, sms_url=twemu_receiver.url("/mo#rc=2&rp=5xx"))
    result = await twemu.control.inbound(twemu_numbers(), number, "retry me")
    assert result.status == 503
    assert len(twemu_receiver.received) == 3  # first try + 2 retries
    tokens = {r.headers["I-Twilio-Idempotency-Token"] for r in twemu_receiver.received}
    assert len(tokens) == 1


async def test_inbound_fallback_and_service_routing(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_receiver: Any, twemu_numbers: Callable[[], str]
) -> None:
    number = twemu_numbers()
    await twemu.control.add_phone_number(
        twemu_account.sid,
        number,
        sms_url="http://127.0.0.1:1/unreachable",
        sms_fallback_url=twemu_receiver.url("/fallback"),
    )
    result = await twemu.control.inbound(twemu_numbers(), number, "x")
    assert result.status is None
    assert result.error is not None
    assert result.fallback_status == 200
    (received,) = twemu_receiver.received
    assert received.form["ErrorCode"] == "11200"
    assert_signed(received, twemu_account.auth_token)

    mg = await twemu.control.add_service(twemu_account.sid, inbound_request_url=twemu_receiver.url("/svc"))
    await twemu.control.add_phone_number(twemu_account.sid, number, sms_url=twemu_receiver.url("/num"), service_sid=mg)
    await twemu.control.inbound(twemu_numbers(), number, "to service")
    assert twemu_receiver.received[-1].url.endswith("/svc")
    assert twemu_receiver.received[-1].form["MessagingServiceSid"] == mg


async def test_subaccount_and_shared_key_signing(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_receiver: Any, twemu_numbers: Callable[[], str]
) -> None:
    sub = await twemu.control.create_account(parent_sid=twemu_account.sid)
    number = twemu_numbers()
    await twemu.control.add_phone_number(sub.sid, number, sms_url=twemu_receiver.url("/mo"))
    await twemu.control.inbound(twemu_numbers(), number, "sub")
    received = twemu_receiver.received[-1]
    assert received.form["AccountSid"] == sub.sid
    assert_signed(received, sub.auth_token)
    assert not RequestValidator(twemu_account.auth_token).validate(
        received.url, received.form, received.headers["X-Twilio-Signature"]
    )

    key = SharedKeySeed(id="KS" + "1" * 32, secret="s3cret", algorithm="HMAC_SHA256")
    await twemu.control.create_account(sub.sid, sub.auth_token, parent_sid=twemu_account.sid, shared_key=key)
    await twemu.control.inbound(twemu_numbers(), number, "shared")
    received = twemu_receiver.received[-1]
    assert received.headers["X-Twilio-Webhooks-Signature-Settings"] == f"key={key.id},algorithm=HMAC_SHA256"
    assert RequestValidator("s3cret").validate(
        received.url, received.form, received.headers["X-Twilio-Signature"], algorithm="HMAC_SHA256"
    )

    # Rotation: an upsert with another key makes the next webhooks name and use the new key.
    rotated = SharedKeySeed(id="SK" + "2" * 32, secret="n3w-s3cret", algorithm="HMAC_SHA1")
    await twemu.control.create_account(sub.sid, sub.auth_token, parent_sid=twemu_account.sid, shared_key=rotated)
    await twemu.control.inbound(twemu_numbers(), number, "rotated")
    received = twemu_receiver.received[-1]
    assert received.headers["X-Twilio-Webhooks-Signature-Settings"] == f"key={rotated.id},algorithm=HMAC_SHA1"
    assert RequestValidator("n3w-s3cret").validate(received.url, received.form, received.headers["X-Twilio-Signature"])
    assert not RequestValidator("s3cret").validate(received.url, received.form, received.headers["X-Twilio-Signature"])


async def test_status_callback_sequence(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_client: Client,
    twemu_receiver: Any,
    twemu_numbers: Callable[[], str],
) -> None:
    sender = twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, sender)
    callback = twemu_receiver.url("/status?conversationId=abc%20def")
    message = await twemu_client.messages.create_async(
        to=twemu_numbers(), from_=sender, body="hi", status_callback=callback
    )
    calls = await twemu.control.wait_for_webhooks(lambda c: len(c) >= 2, kind="status", message_sid=message.sid)
    assert [c.param("MessageStatus") for c in calls] == ["sent", "delivered"]
    assert all(c.status == 200 for c in calls)
    for received in twemu_receiver.received:
        assert_signed(received, twemu_account.auth_token)
        assert received.form["MessageSid"] == message.sid
        assert received.form["SmsStatus"] == received.form["MessageStatus"]
    assert "RawDlrDoneDate" in twemu_receiver.received[-1].form


@pytest.mark.parametrize(("final", "code"), [("undelivered", 30006), ("failed", 30007)])
async def test_per_recipient_failure_outcomes(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_client: Client,
    twemu_receiver: Any,
    twemu_numbers: Callable[[], str],
    final: str,
    code: int,
) -> None:
    sender, to = twemu_numbers(), twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, sender)
    await twemu.control.set_outcome(to, final, error_code=code)  # type: ignore[arg-type]
    message = await twemu_client.messages.create_async(
        to=to, from_=sender, body="hi", status_callback=twemu_receiver.url("/status")
    )
    calls = await twemu.control.wait_for_webhooks(
        lambda c: any(x.param("MessageStatus") == final for x in c), kind="status", message_sid=message.sid
    )
    last = calls[-1]
    assert last.param("ErrorCode") == str(code)
    fetched = await twemu_client.messages(message.sid).fetch_async()
    assert fetched.status == final
    assert fetched.error_code == code


async def test_duplicate_and_out_of_order_callbacks(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_client: Client,
    twemu_receiver: Any,
    twemu_numbers: Callable[[], str],
) -> None:
    mg = await twemu.control.add_service(twemu_account.sid, status_callback=twemu_receiver.url("/svc-status"))
    await twemu.control.add_phone_number(twemu_account.sid, twemu_numbers(), service_sid=mg)
    to = twemu_numbers()
    await twemu.control.set_outcome(to, "delivered", duplicate_callbacks=True, out_of_order=True)
    message = await twemu_client.messages.create_async(to=to, messaging_service_sid=mg, body="hi")
    calls = await twemu.control.wait_for_webhooks(lambda c: len(c) >= 6, kind="status", message_sid=message.sid)
    statuses = [c.param("MessageStatus") for c in calls]
    assert statuses == ["delivered", "delivered", "sent", "sent", "queued", "queued"]
    assert all(c.url == twemu_receiver.url("/svc-status") for c in calls)
    assert all(c.param("MessagingServiceSid") == mg for c in calls)


async def test_stop_then_send_fails_until_start(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_client: Client,
    twemu_receiver: Any,
    twemu_numbers: Callable[[], str],
) -> None:
    number, customer = twemu_numbers(), twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, number, sms_url=twemu_receiver.url("/mo"))
    stop = await twemu.control.inbound(customer, number, "Stop")
    assert stop.keyword == "STOP"
    assert stop.status == 200
    with pytest.raises(TwilioRestException) as info:
        await twemu_client.messages.create_async(to=customer, from_=number, body="hi")
    assert (info.value.status, info.value.code) == (400, 21610)
    start = await twemu.control.inbound(customer, number, "START")
    assert start.keyword == "START"
    message = await twemu_client.messages.create_async(to=customer, from_=number, body="welcome back")
    assert message.status == "queued"


async def test_inbound_mms_without_body_names_twilio_media_urls(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_receiver: Any, twemu_numbers: Callable[[], str]
) -> None:
    """As Twilio posts an MMS whose sender put no text: no Body field, NumMedia and ten media items on
    Twilio's API host under the account and message."""
    number = twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, number, sms_url=twemu_receiver.url("/mo"))
    media: list[tuple[str | None, str]] = [(None, f"image/type{n}") for n in range(10)]
    result = await twemu.control.inbound(twemu_numbers(), number, media=media, omit_body=True)
    assert result.status == 200
    (received,) = twemu_receiver.received
    assert_signed(received, twemu_account.auth_token)
    assert "Body" not in received.form
    assert received.form["NumMedia"] == "10"
    prefix = f"https://api.twilio.com/2010-04-01/Accounts/{twemu_account.sid}/Messages/{result.message_sid}/Media/ME"
    for n in range(10):
        assert received.form[f"MediaUrl{n}"].startswith(prefix)
        assert len(received.form[f"MediaUrl{n}"]) == len(prefix) + 32
        assert received.form[f"MediaContentType{n}"] == f"image/type{n}"


@pytest.mark.parametrize("channel", ["whatsapp", "rcs"])
async def test_inbound_of_another_channel_keeps_the_prefixes(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_receiver: Any,
    twemu_numbers: Callable[[], str],
    channel: str,
) -> None:
    number = twemu_numbers()
    customer = twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, number, sms_url=twemu_receiver.url("/mo"))
    result = await twemu.control.inbound(f"{channel}:{customer}", f"{channel}:{number}", "hi")
    assert result.status == 200
    (received,) = twemu_receiver.received
    assert_signed(received, twemu_account.auth_token)
    assert (received.form["From"], received.form["To"]) == (f"{channel}:{customer}", f"{channel}:{number}")


async def test_a_message_to_another_emulated_number_arrives_there_as_an_inbound_message(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_client: Client,
    twemu_receiver: Any,
    twemu_numbers: Callable[[], str],
) -> None:
    sender, receiver = twemu_numbers(), twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, sender)
    await twemu.control.add_phone_number(twemu_account.sid, receiver, sms_url=twemu_receiver.url("/mo"))
    sent = await twemu_client.messages.create_async(to=receiver, from_=sender, body="code 123456")

    (call,) = await twemu.control.wait_for_webhooks(lambda c: len(c) >= 1, kind="inbound")
    assert call.param("From") == sender
    assert call.param("To") == receiver
    assert call.param("Body") == "code 123456"
    assert call.param("MessageSid") != sent.sid  # the receiving side's own message
    (received,) = twemu_receiver.received
    assert_signed(received, twemu_account.auth_token)
    held = await twemu_client.messages.list_async(to=receiver, from_=sender)
    assert {(m.direction, m.body) for m in held} == {("inbound", "code 123456"), ("outbound-api", "code 123456")}


async def test_a_number_cannot_send_to_itself(
    twemu: RunningEmulator, twemu_account: AccountInfo, twemu_client: Client, twemu_numbers: Callable[[], str]
) -> None:
    number = twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, number)
    with pytest.raises(TwilioRestException) as refused:
        await twemu_client.messages.create_async(to=number, from_=number, body="hi")
    assert refused.value.code == 21266

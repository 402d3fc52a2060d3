"""TwiML Apps, Conversations address configurations and Console changes: through the real twilio client,
and where an inbound message then goes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from twilio_emulator.testing import AccountInfo, RunningEmulator

pytestmark = pytest.mark.integration

CUSTOMER = "+4915112345678"


async def test_twiml_app_overrides_the_numbers_sms_url(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_client: Client,
    twemu_receiver: Any,
    twemu_numbers: Callable[[], str],
) -> None:
    own = twemu_numbers()
    pn = await twemu.control.add_phone_number(twemu_account.sid, own, sms_url=twemu_receiver.url("/number"))
    account = twemu_client.api.v2010.accounts(twemu_account.sid)
    app = await account.applications.create_async(friendly_name="bot", sms_url=twemu_receiver.url("/app"))
    assert app.sid.startswith("AP")
    await account.incoming_phone_numbers(pn["sid"]).update_async(sms_application_sid=app.sid)

    fetched = await account.applications(app.sid).fetch_async()
    assert (fetched.sms_url, fetched.sms_method) == (twemu_receiver.url("/app"), "POST")
    number = await account.incoming_phone_numbers(pn["sid"]).fetch_async()
    assert number.sms_application_sid == app.sid
    result = await twemu.control.inbound(from_=CUSTOMER, to=own, body="hi")
    assert result.url == twemu_receiver.url("/app")

    # Removed in the Console: the number's own webhook applies again.
    await twemu.control.console("PATCH", f"/phone-numbers/{own}", sms_application_sid=None)
    result = await twemu.control.inbound(from_=CUSTOMER, to=own, body="hi")
    assert result.url == twemu_receiver.url("/number")

    await account.applications(app.sid).delete_async()
    with pytest.raises(TwilioRestException) as info:
        await account.applications(app.sid).fetch_async()
    assert info.value.code == 20404


async def test_conversations_address_configuration_captures_inbound(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_client: Client,
    twemu_receiver: Any,
    twemu_numbers: Callable[[], str],
) -> None:
    own = twemu_numbers()
    await twemu.control.add_phone_number(twemu_account.sid, own, sms_url=twemu_receiver.url("/number"))
    conversations = twemu_client.conversations.v1
    config = await conversations.address_configurations.create_async(
        type="sms", address=own, auto_creation_enabled=True, auto_creation_type="webhook"
    )
    assert config.sid.startswith("IG")
    listed = await conversations.address_configurations.list_async(type="sms")
    assert [(c.address, c.auto_creation["enabled"]) for c in listed] == [(own, True)]
    assert await conversations.address_configurations.list_async(type="whatsapp") == []

    result = await twemu.control.inbound(from_=CUSTOMER, to=own, body="hi")
    assert result.url is None
    assert result.dropped is not None
    assert config.sid in result.dropped

    await conversations.address_configurations(config.sid).update_async(auto_creation_enabled=False)
    result = await twemu.control.inbound(from_=CUSTOMER, to=own, body="hi")
    assert result.url == twemu_receiver.url("/number")


async def test_console_changes_number_and_service(
    twemu: RunningEmulator,
    twemu_account: AccountInfo,
    twemu_client: Client,
    twemu_receiver: Any,
    twemu_numbers: Callable[[], str],
) -> None:
    own = twemu_numbers()
    service = await twemu.control.add_service(
        twemu_account.sid, use_inbound_webhook_on_number=True, inbound_request_url=twemu_receiver.url("/service")
    )
    pn = await twemu.control.add_phone_number(
        twemu_account.sid, own, sms_url=twemu_receiver.url("/number"), service_sid=service
    )
    changed = await twemu.control.console("PATCH", f"/phone-numbers/{pn['sid']}", sms_url="https://elsewhere.example/")
    assert changed["sms_url"] == "https://elsewhere.example/"
    number = await twemu_client.api.v2010.accounts(twemu_account.sid).incoming_phone_numbers(pn["sid"]).fetch_async()
    assert (number.sms_url, number.sms_method) == ("https://elsewhere.example/", "POST")

    await twemu.control.console("PATCH", f"/services/{service}", use_inbound_webhook_on_number=False)
    fetched = await twemu_client.messaging.v1.services(service).fetch_async()
    assert fetched.use_inbound_webhook_on_number is False
    result = await twemu.control.inbound(from_=CUSTOMER, to=own, body="hi")
    assert result.url == twemu_receiver.url("/service")

    app = await twemu.control.console(
        "POST", "/applications", account_sid=twemu_account.sid, sms_url="https://a.example/"
    )
    assert app["sid"].startswith("AP")
    config = await twemu.control.console("POST", "/address-configurations", account_sid=twemu_account.sid, address=own)
    await twemu.control.console("PATCH", f"/address-configurations/{config['sid']}", auto_creation_enabled=False)
    listed = await twemu_client.conversations.v1.address_configurations.list_async()
    assert [c.auto_creation["enabled"] for c in listed] == [False]

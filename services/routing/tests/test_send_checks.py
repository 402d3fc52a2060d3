"""The pure checks of an outbound message and the meaning of Twilio's refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from byosms_common.errors import CATALOG, localized
from byosms_common.messages import (
    ImportedNumber,
    IntegrationState,
    IntegrationStatePayload,
    IntegrationStatus,
    NumberState,
    NumberStatePayload,
    NumberStateRecord,
    NumberType,
    SealedSecret,
    SendMessage,
    SendMessagePayload,
)
from byosms_routing.send_checks import (
    TWILIO_SEND_CODES,
    Refusal,
    SendPlan,
    check_send,
    is_e164,
    may_retry,
    refusal_for_twilio,
    twilio_sender,
)

pytestmark = pytest.mark.unit

ORG = "org-1"
SENDER = "+4930123456"
TOKEN = SealedSecret(kek_id="k1", wrapped_key="w", nonce="n", ciphertext="c")


def _command(
    to: str = "+4915112345678", body: str = "Hallo", media: tuple[str, ...] = (), org: str = ORG
) -> SendMessage:
    return SendMessage(
        organization_id=org,
        payload=SendMessagePayload.model_validate({"from": SENDER, "to": to, "body": body, "media_urls": media}),
    )


def _unchecked(media: tuple[str, ...]) -> SendMessage:
    """A command with these media URLs, built as the model reads it."""
    command = _command()
    payload = command.payload.model_copy(update={"media_urls": media})
    return command.model_copy(update={"payload": payload})


def _number(
    state: NumberState = NumberState.ACTIVE, org: str = ORG, integration_id: str = "int-1"
) -> NumberStateRecord:
    number = ImportedNumber(
        address=SENDER,
        number_type=NumberType.LOCAL,
        country="DE",
        twilio_sid="PN" + "0" * 32,
        integration_id=integration_id,
    )
    return NumberStateRecord(organization_id=org, payload=NumberStatePayload(number=number, state=state, version=1))


def _integration(
    status: IntegrationStatus = IntegrationStatus.ACTIVE, org: str = ORG, *, credentials: bool = True
) -> IntegrationState:
    return IntegrationState(
        organization_id=org,
        payload=IntegrationStatePayload(
            integration_id="int-1",
            account_sid="AC" + "1" * 32 if credentials else None,
            auth_token=TOKEN if credentials else None,
            region="eu-central-1",
            status=status,
            version=1,
        ),
    )


def _code(result: SendPlan | Refusal) -> str:
    return result.code if isinstance(result, Refusal) else "ok"


def test_a_valid_message_is_planned_with_the_integrations_account() -> None:
    plan = check_send(_command(), _number(), _integration(), opted_out=False)
    assert isinstance(plan, SendPlan)
    assert (plan.account_sid, plan.twilio_from, plan.to, plan.region) == (
        "AC" + "1" * 32,
        SENDER,
        "+4915112345678",
        "eu-central-1",
    )


@pytest.mark.parametrize(
    ("number", "integration", "code"),
    [
        (None, _integration(), "sender_not_in_inventory"),
        (_number(org="org-2"), _integration(), "sender_not_in_inventory"),  # another organization's number
        (_number(NumberState.REMOVED), _integration(), "sender_not_in_inventory"),
        (_number(), None, "sender_not_in_inventory"),
        (_number(), _integration(org="org-2"), "sender_not_in_inventory"),
        (_number(integration_id="int-9"), _integration(), "sender_not_in_inventory"),
        (_number(NumberState.INACTIVE), _integration(), "sender_inactive"),
        (_number(), _integration(IntegrationStatus.INACTIVE), "sender_inactive"),
        (_number(), _integration(credentials=False), "sender_no_credentials"),
    ],
)
def test_the_sender_must_be_an_active_number_of_the_organization(
    number: NumberStateRecord | None, integration: IntegrationState | None, code: str
) -> None:
    assert _code(check_send(_command(), number, integration, opted_out=False)) == code


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (_command(to="015112345678"), "recipient_invalid"),
        (_command(to="+49 151 12345678"), "recipient_invalid"),
        (_command(to="+4912"), "recipient_invalid"),
        (_command(to="+999123456789"), "recipient_invalid"),
        (_command(body=""), "message_empty"),
        (_command(body="", media=("https://example.com/a.jpg",)), "ok"),
        # The command reads with any media (test_messages_media.py): the check gives such a send its result.
        (_unchecked(tuple(f"https://example.com/{n}.jpg" for n in range(11))), "message_media_invalid"),
        (_unchecked(("ftp://example.com/a.jpg",)), "message_media_invalid"),
        (_unchecked(("http://example.com/a.jpg",)), "message_media_invalid"),
        (_command(body="x" * 1600), "ok"),
    ],
)
def test_recipient_and_content_are_checked(command: SendMessage, code: str) -> None:
    assert _code(check_send(command, _number(), _integration(), opted_out=False)) == code


def test_an_opted_out_recipient_is_refused_after_the_other_checks() -> None:
    assert _code(check_send(_command(), _number(), _integration(), opted_out=True)) == "recipient_opted_out"
    assert _code(check_send(_command(), None, _integration(), opted_out=True)) == "sender_not_in_inventory"


def test_every_refusal_renders_in_english_and_german() -> None:
    for code in {*TWILIO_SEND_CODES.values(), "sender_not_in_inventory", "outcome_unknown", "message_not_delivered"}:
        assert code in CATALOG
    text = localized("recipient_invalid", recipient="+49")
    assert "+49" in text.en
    assert "+49" in text.de


def test_e164_and_short_code_senders() -> None:
    assert is_e164("+14155552671")
    assert not is_e164("+1415555267")
    assert twilio_sender("US:12345") == "12345"
    assert twilio_sender("+4930123456") == "+4930123456"


@pytest.mark.parametrize(
    ("status", "twilio_code", "code", "retryable"),
    [
        (400, 21211, "recipient_invalid", False),
        (400, 21610, "recipient_opted_out", False),
        (400, 21606, "sender_not_capable", False),
        (400, 21408, "destination_not_permitted", False),
        (400, 21614, "recipient_unreachable", False),
        (400, 21611, "sender_queue_full", True),
        (401, 20003, "credentials_rejected", False),
        (401, None, "credentials_rejected", False),
        (429, 20429, "vendor_unavailable", True),
        (503, None, "outcome_unknown", False),
        (503, 20503, "outcome_unknown", False),
        (500, 20500, "outcome_unknown", False),
        (502, None, "outcome_unknown", False),
        (504, None, "outcome_unknown", False),
        (400, 21999, "vendor_rejected", False),
    ],
)
def test_twilio_refusals_map_to_stable_codes(status: int, twilio_code: int | None, code: str, retryable: bool) -> None:
    refusal = refusal_for_twilio(status, twilio_code, sender=SENDER, recipient="+4915112345678")
    assert (refusal.code, refusal.retryable, refusal.twilio_code) == (code, retryable, twilio_code)
    localized(refusal.code, **refusal.params)  # every placeholder is filled


def test_only_rate_limits_are_tried_again_never_server_errors() -> None:
    assert may_retry(429, 20429)
    assert may_retry(429, None)
    assert not may_retry(500, 20500)
    assert not may_retry(503, 20503)
    assert not may_retry(502, None)
    assert not may_retry(504, None)
    assert not may_retry(400, 21211)
    assert not may_retry(401, 20003)


def test_during_an_auth_token_rotation_window_sends_use_the_next_token() -> None:
    nxt = SealedSecret(kek_id="k1", wrapped_key="w", nonce="n", ciphertext="next")
    now = datetime(2026, 12, 2, tzinfo=UTC)
    state = _integration()
    rotating = state.model_copy(
        update={"payload": state.payload.model_copy(update={"next_auth_token": nxt, "next_auth_token_expires_at": now})}
    )

    during = check_send(_command(), _number(), rotating, opted_out=False, now=now - timedelta(seconds=1))
    after = check_send(_command(), _number(), rotating, opted_out=False, now=now)

    assert isinstance(during, SendPlan)
    assert (during.token_field, during.auth_token) == ("auth_token_next", nxt)
    assert isinstance(after, SendPlan)
    assert (after.token_field, after.auth_token) == ("auth_token", TOKEN)  # the window closed

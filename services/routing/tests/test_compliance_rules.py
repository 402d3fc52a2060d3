"""The pure decisions of compliance keywords: which keyword a message is and whether byosms answers
it (``keywords.classify``), where consent is recorded and what a send must respect (``consent``),
which number a short code's message was for (``inbound_numbers``), when a reply is due and which
send is a recorded reply (``compliance_replies``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from byosms_common import messages as m
from byosms_common.consumer import Record
from byosms_common.messages import KeywordKind, NumberType
from byosms_routing import subscribers
from byosms_routing.compliance_replies import is_recorded_reply, reply_command, reply_due, reply_message_id
from byosms_routing.consent import ConsentRecord, blocking_record, keyword_scopes, newest, send_scopes
from byosms_routing.inbound_numbers import inventory_number
from byosms_routing.keywords import KeywordMatch, classify
from byosms_routing.repo_inbound import RecordedDecision
from byosms_routing.send_checks import check_send
from byosms_routing.send_resolution import content_digest

pytestmark = pytest.mark.unit

SC = NumberType.SHORTCODE
BLOCKS = m.Compliance(
    help=m.ComplianceBlock(keywords=("HELP", "Hilfe"), message="Help text"),
    opt_out=m.ComplianceBlock(keywords=("Abmelden", "STOP ALL"), message="Stop text"),
    re_opt_in=m.ComplianceBlock(keywords=("JOIN",), message="Join text"),
)
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MG = "MG" + "a" * 32


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("HELP", KeywordMatch(KeywordKind.HELP, "HELP", "Help text")),
        (" hilfe? ", KeywordMatch(KeywordKind.HELP, "HILFE", "Help text")),
        ("abmelden!", KeywordMatch(KeywordKind.OPT_OUT, "ABMELDEN", "Stop text")),
        ("stop   all", KeywordMatch(KeywordKind.OPT_OUT, "STOP ALL", "Stop text")),
        ("Join", KeywordMatch(KeywordKind.OPT_IN, "JOIN", "Join text")),
        # The carriers' standard words count on a short code too, answered with the matching block.
        ("STOP", KeywordMatch(KeywordKind.OPT_OUT, "STOP", "Stop text")),
        ("quit", KeywordMatch(KeywordKind.OPT_OUT, "QUIT", "Stop text")),
        ("INFO", KeywordMatch(KeywordKind.HELP, "INFO", "Help text")),
        ("unstop", KeywordMatch(KeywordKind.OPT_IN, "UNSTOP", "Join text")),
        ("START", KeywordMatch(KeywordKind.OPT_IN, "START", "Join text")),
        ("yes", None),  # an everyday answer, not a re-opt-in on a short code
        ("help me", None),
        ("", None),
    ],
)
def test_a_short_code_answers_its_blocks_keywords_and_the_standard_ones(
    body: str, expected: KeywordMatch | None
) -> None:
    assert classify(body, {}, SC, BLOCKS) == expected


def test_a_word_configured_in_two_blocks_is_an_opt_out() -> None:
    both = BLOCKS.model_copy(update={"help": m.ComplianceBlock(keywords=("ABMELDEN",), message="Help text")})
    assert classify("Abmelden", {}, SC, both) == KeywordMatch(KeywordKind.OPT_OUT, "ABMELDEN", "Stop text")


def test_a_short_code_without_blocks_records_standard_keywords_but_has_nothing_to_answer() -> None:
    assert classify("STOP", {}, SC, None) == KeywordMatch(KeywordKind.OPT_OUT, "STOP", None)
    assert classify("Abmelden", {}, SC, None) is None


@pytest.mark.parametrize("number_type", [NumberType.LOCAL, NumberType.MOBILE, NumberType.TOLLFREE, None])
@pytest.mark.parametrize(
    ("body", "kind"),
    [("STOP", KeywordKind.OPT_OUT), ("help", KeywordKind.HELP), ("Yes", KeywordKind.OPT_IN), ("Abmelden", None)],
)
def test_long_codes_and_toll_free_keywords_are_twilios_standard_ones_and_never_answered(
    number_type: NumberType | None, body: str, kind: KeywordKind | None
) -> None:
    found = classify(body, {}, number_type, BLOCKS)
    assert (found.kind if found else None) is kind
    assert found is None or found.reply is None


@pytest.mark.parametrize("number_type", [SC, NumberType.LOCAL])
@pytest.mark.parametrize(
    ("body", "opt_out_type", "kind"),
    [
        ("ARRET", "STOP", KeywordKind.OPT_OUT),
        ("HELP", "HELP", KeywordKind.HELP),
        ("", "START", KeywordKind.OPT_IN),
        ("STOP", "SOMETHING", None),
    ],
)
def test_when_twilios_advanced_opt_out_matched_its_type_decides_and_byosms_sends_nothing(
    number_type: NumberType, body: str, opt_out_type: str, kind: KeywordKind | None
) -> None:
    found = classify(body, {"OptOutType": [opt_out_type]}, number_type, BLOCKS)
    assert (found.kind if found else None) is kind
    assert found is None or found.reply is None


def _number(
    address: str = "+4930123456",
    service: str | None = None,
    *,
    state: m.NumberState = m.NumberState.ACTIVE,
    integration_id: str = "int-a",
) -> m.NumberStateRecord:
    return m.NumberStateRecord(
        organization_id="org-a",
        payload=m.NumberStatePayload(
            number=m.ImportedNumber(
                address=address,
                number_type=SC if ":" in address else NumberType.LOCAL,
                country="US",
                twilio_sid="PN" + "0" * 32,
                integration_id=integration_id,
                messaging_service_sid=service,
            ),
            state=state,
            version=1,
        ),
    )


def test_a_keyword_is_recorded_for_the_sender_and_the_service_it_came_through_or_was_imported_in() -> None:
    assert keyword_scopes("+4930123456", None, _number()) == ("+4930123456",)
    assert keyword_scopes("+4930123456", MG, _number()) == ("+4930123456", MG)
    assert keyword_scopes("+4930123456", None, _number(service=MG)) == ("+4930123456", MG)
    assert keyword_scopes("12345", None, None) == ("12345",)


def test_a_send_respects_its_sender_and_the_service_the_number_was_imported_in() -> None:
    assert send_scopes("+4930123456", _number()) == ("+4930123456",)
    assert send_scopes("US:12345", _number("US:12345", MG)) == ("12345", MG)
    assert send_scopes("+4930123456", None) == ("+4930123456",)


def test_the_newest_consent_record_decides_and_on_a_tie_an_opt_out_wins() -> None:
    stop_service = ConsentRecord(MG, True, T0)
    start_sender = ConsentRecord("+4930123456", False, T0 + timedelta(seconds=1))
    assert blocking_record([stop_service]) == stop_service
    assert blocking_record([stop_service, start_sender]) is None
    assert blocking_record([start_sender, ConsentRecord(MG, True, T0 + timedelta(seconds=2))]) is not None
    tie = ConsentRecord("+4930123456", False, T0)
    assert newest([tie, stop_service]) == stop_service
    assert newest([stop_service, tie]) == stop_service
    assert blocking_record([]) is None


def test_a_recorded_compliance_reply_goes_out_to_an_opted_out_customer() -> None:
    assert blocking_record([ConsentRecord(MG, True, T0)], compliance_reply=True) is None


def _inbound(to: str, body: str = "STOP", raw: dict[str, list[str]] | None = None) -> m.InboundMessageReceived:
    payload = m.InboundMessagePayload.model_validate(
        {
            "message_sid": "SM" + "1" * 32,
            "account_sid": "AC" + "1" * 32,
            "from": "+4915112345678",
            "to": to,
            "body": body,
            "region": "eu-central-1",
            "integration_id": "int-a",
            "received_at": T0,
            "raw": raw or {},
        }
    )
    return m.InboundMessageReceived(id=payload.message_sid, organization_id="org-a", payload=payload)


def test_a_short_codes_message_is_found_under_its_country_and_digits() -> None:
    us, ca = _number("US:12345"), _number("CA:12345")
    numbers = {"US:12345": us, "CA:12345": ca, "+4930123456": _number()}
    assert inventory_number(numbers, _inbound("12345", raw={"ToCountry": ["CA"]}).payload) is ca
    assert inventory_number(numbers, _inbound("+4930123456").payload) is numbers["+4930123456"]
    # Without ToCountry: the one short code with those digits of the message's integration.
    assert inventory_number({"US:12345": us}, _inbound("12345").payload) is us
    assert inventory_number(numbers, _inbound("12345").payload) is None  # two candidates: none guessed
    other = {"US:12345": _number("US:12345", integration_id="int-b")}
    assert inventory_number(other, _inbound("12345").payload) is None
    assert inventory_number(numbers, _inbound("+4930999999").payload) is None


def _integration(status: m.IntegrationStatus = m.IntegrationStatus.ACTIVE) -> m.IntegrationState:
    return m.IntegrationState(
        organization_id="org-a",
        payload=m.IntegrationStatePayload(integration_id="int-a", region="eu-central-1", status=status, version=1),
    )


def test_a_reply_is_due_only_with_a_text_to_send_from_an_active_number() -> None:
    answer = KeywordMatch(KeywordKind.OPT_OUT, "STOP", "Stop text")
    assert reply_due(answer, _number("US:12345"), _integration())
    assert not reply_due(KeywordMatch(KeywordKind.OPT_OUT, "STOP"), _number("US:12345"), _integration())
    assert not reply_due(None, _number("US:12345"), _integration())
    assert not reply_due(answer, _number("US:12345", state=m.NumberState.INACTIVE), _integration())
    assert not reply_due(answer, _number("US:12345"), _integration(m.IntegrationStatus.INACTIVE))
    assert not reply_due(answer, None, _integration())


def test_the_reply_has_ids_derived_from_the_inbound_message_and_only_its_recorded_text_passes() -> None:
    event = _inbound("12345")
    command = reply_command(event, _number("US:12345"), "Stop text")
    assert command == reply_command(event, _number("US:12345"), "Stop text")  # a redelivery: the same command
    assert command.id == f"{event.payload.message_sid}:compliance_reply_command"
    assert command.payload.message_id == reply_message_id(event.payload.message_sid)
    assert (command.payload.from_, command.payload.to, command.payload.body) == (
        "US:12345",
        event.payload.from_,
        "Stop text",
    )
    digest = content_digest(command.payload.message_id, "Stop text")
    assert is_recorded_reply(command, digest)
    forged = command.model_copy(
        update={"payload": command.payload.model_copy(update={"body": "Buy now!"})}
    )  # same id, other text
    assert not is_recorded_reply(forged, digest)
    assert not is_recorded_reply(command, None)


def test_a_send_refused_by_the_services_opt_out_names_the_service() -> None:
    command = m.SendMessage(
        organization_id="org-a",
        payload=m.SendMessagePayload.model_validate({"from": "+4930123456", "to": "+4915112345678", "body": "Hi"}),
    )
    integration = m.IntegrationState(
        organization_id="org-a",
        payload=m.IntegrationStatePayload(
            integration_id="int-a",
            account_sid="AC" + "1" * 32,
            auth_token=m.SealedSecret(kek_id="k", wrapped_key="w", nonce="n", ciphertext="c"),
            region="eu-central-1",
            status=m.IntegrationStatus.ACTIVE,
            version=1,
        ),
    )
    refusal = check_send(command, _number(service=MG), integration, opted_out=True, opted_out_of_service=MG)
    assert getattr(refusal, "code", None) == "recipient_opted_out_of_service"
    assert getattr(refusal, "params", None) == {"service": MG}
    refusal = check_send(command, _number(), integration, opted_out=True)
    assert getattr(refusal, "code", None) == "recipient_opted_out"


def test_a_long_message_is_never_a_keyword_but_long_padding_around_one_is_ignored() -> None:
    assert classify("STOP" + " " * 500 + "!" * 300, {}, SC, BLOCKS) == KeywordMatch(
        KeywordKind.OPT_OUT, "STOP", "Stop text"
    )
    assert classify("STOP " + "bitte " * 100, {}, SC, BLOCKS) is None
    assert classify("\u200b" * 300 + "help", {}, NumberType.LOCAL, None) == KeywordMatch(KeywordKind.HELP, "HELP")


def test_a_senders_service_is_recorded_only_when_it_changed_and_only_for_its_own_tenant() -> None:
    event = _inbound("+4930123456", body="Hallo")
    event = event.model_copy(update={"payload": event.payload.model_copy(update={"messaging_service_sid": MG})})
    record = Record(message=event, topic="t", partition=0, offset=1, key=None)
    plan = subscribers.Planned(_number(), _integration(), None)
    recorded = {
        event.payload.message_sid: RecordedDecision(event.payload.message_sid, "org-a", "routed", "ok", "t:0:1", T0)
    }
    [seen] = subscribers.sender_services([record], [plan], recorded, {})
    assert (seen.organization_id, seen.sender, seen.messaging_service_sid) == ("org-a", "+4930123456", MG)
    assert subscribers.sender_services([record], [plan], recorded, {("org-a", "+4930123456"): MG}) == []
    assert subscribers.sender_services([record], [plan], recorded, {("org-a", "+4930123456"): None}) != []
    foreign = subscribers.Planned(_number(integration_id="int-b"), _integration(), None)
    assert subscribers.sender_services([record], [foreign], recorded, {}) == []
    assert subscribers.sender_services([record], [plan], {}, {}) == []  # not the deciding record

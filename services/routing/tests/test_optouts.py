"""Which inbound keywords may change consent (pure), and which Twilio failures a create retries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from byosms_common.messages import (
    ImportedNumber,
    InboundMessagePayload,
    InboundMessageReceived,
    IntegrationState,
    IntegrationStatePayload,
    IntegrationStatus,
    NumberState,
    NumberStatePayload,
    NumberStateRecord,
    NumberType,
)
from byosms_common.twilio_client import FailureKind, TwilioFailure
from byosms_routing.optouts import keyword_applies
from byosms_routing.twilio_send import _retryable

pytestmark = pytest.mark.unit

SENDER = "+4930123456"


def _event(org: str = "org-a", integration_id: str = "int-a") -> InboundMessageReceived:
    payload = InboundMessagePayload.model_validate(
        {
            "message_sid": "SM" + "1" * 32,
            "account_sid": "AC" + "1" * 32,
            "from": "+4915112345678",
            "to": SENDER,
            "body": "START",
            "region": "eu-central-1",
            "integration_id": integration_id,
            "received_at": datetime.now(UTC),
            "raw": {},
        }
    )
    return InboundMessageReceived(id=payload.message_sid, organization_id=org, payload=payload)


def _number(
    org: str = "org-a", integration_id: str = "int-a", state: NumberState = NumberState.ACTIVE
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
    org: str = "org-a", integration_id: str = "int-a", status: IntegrationStatus = IntegrationStatus.ACTIVE
) -> IntegrationState:
    return IntegrationState(
        organization_id=org,
        payload=IntegrationStatePayload(integration_id=integration_id, region="eu-central-1", status=status, version=1),
    )


def test_a_keyword_counts_for_a_number_of_the_signing_integration_even_when_inactive() -> None:
    assert keyword_applies(_event(), _number(), _integration())
    assert keyword_applies(_event(), _number(state=NumberState.INACTIVE), _integration())
    assert keyword_applies(_event(), _number(), _integration(status=IntegrationStatus.INACTIVE))


@pytest.mark.parametrize(
    ("event", "number", "integration"),
    [
        (_event(org="org-b", integration_id="int-b"), _number(), _integration(org="org-b", integration_id="int-b")),
        (_event(integration_id="int-b"), _number(), _integration(integration_id="int-b")),
        (_event(org="org-b"), _number(), _integration()),
        (_event(), None, _integration()),
        (_event(), _number(state=NumberState.REMOVED), _integration()),
        (_event(), _number(), None),
        (_event(), _number(), _integration(org="org-b")),
    ],
)
def test_a_keyword_to_a_number_of_another_integration_or_tenant_never_counts(
    event: InboundMessageReceived, number: NumberStateRecord | None, integration: IntegrationState | None
) -> None:
    assert not keyword_applies(event, number, integration)


@pytest.mark.parametrize(
    ("failure", "retried"),
    [
        (TwilioFailure(FailureKind.ANSWERED, status=429, code=20429), True),
        (TwilioFailure(FailureKind.UNREACHABLE), True),
        (TwilioFailure(FailureKind.ANSWERED, status=500, code=20500), False),
        (TwilioFailure(FailureKind.ANSWERED, status=502), False),
        (TwilioFailure(FailureKind.ANSWERED, status=503, code=20503), False),
        (TwilioFailure(FailureKind.ANSWERED, status=504), False),
        (TwilioFailure(FailureKind.NO_ANSWER), False),
    ],
)
def test_a_create_is_retried_only_when_twilio_surely_did_not_act(failure: TwilioFailure, retried: bool) -> None:
    assert _retryable(failure) is retried

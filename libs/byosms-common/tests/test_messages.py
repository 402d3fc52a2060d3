from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from byosms_common import messages as m
from byosms_common.topics import ALL_TOPICS, all_topic_names

pytestmark = pytest.mark.unit


def _inbound() -> m.InboundMessageReceived:
    return m.InboundMessageReceived(
        id="SM0123",
        organization_id="org-1",
        payload=m.InboundMessagePayload.model_validate(
            {
                "message_sid": "SM0123",
                "account_sid": "AC1",
                "from": "+4915112345678",
                "to": "+4930123456",
                "body": "",
                "region": "eu-central-1",
                "integration_id": "int-1",
                "received_at": datetime(2026, 1, 1, tzinfo=UTC),
                "raw": {"Body": [""], "From": ["+4915112345678"]},
            }
        ),
    )


def test_round_trip_through_kafka_bytes_keeps_type_and_from_alias() -> None:
    event = _inbound()
    data = m.encode(event)
    assert b'"from":"+4915112345678"' in data
    assert m.decode(data) == event


def test_unknown_fields_and_types_are_rejected() -> None:
    data = m.encode(_inbound()).replace(b'"schema_version":1', b'"schema_version":1,"extra":1')
    with pytest.raises(ValidationError):
        m.decode(data)
    with pytest.raises(ValidationError):
        m.decode(b'{"type": "sms.no_such_event"}')


def test_every_message_type_is_unique_and_decodable() -> None:
    types = [m.message_type(cls) for cls in m.ALL_MESSAGES]
    assert len(types) == len(set(types))


def test_topic_names_are_unique_and_inputs_have_dead_letter_topics() -> None:
    names = all_topic_names()
    assert len(names) == len(set(names))
    assert all(t.dead_letter in names for t in ALL_TOPICS if t.has_dead_letter)
    assert {t.name for t in ALL_TOPICS if t.compacted} == {"byosms.integrations.state.v1", "byosms.numbers.state.v1"}

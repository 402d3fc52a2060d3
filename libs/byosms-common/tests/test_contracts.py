from pathlib import Path

import jsonschema
import pytest

from byosms_common import contracts, messages

pytestmark = pytest.mark.unit

CONTRACTS = Path(__file__).resolve().parents[3] / "contracts"


def test_checked_in_contracts_match_the_models() -> None:
    assert contracts.drift(CONTRACTS) == [], "run `make contracts` and commit the result"


def test_every_topic_channel_names_its_messages() -> None:
    document = contracts.asyncapi_document()
    carried = {name for channel in document["channels"].values() for name in channel["messages"]}
    assert carried == {messages.message_type(cls) for cls in messages.ALL_MESSAGES}


def test_a_real_event_validates_against_its_generated_schema() -> None:
    event = messages.SendMessage(
        organization_id="org-1",
        payload=messages.SendMessagePayload.model_validate({"from": "+1", "to": "+2", "body": "x"}),
    )
    schema = contracts.message_schema(messages.SendMessage)
    jsonschema.validate(event.model_dump(mode="json", by_alias=True), schema)

import sys
from pathlib import Path

import jsonschema
import pytest

from byosms_common import contracts, messages, topics

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


def test_an_orphaned_schema_is_drift_and_write_removes_it(tmp_path: Path) -> None:
    contracts.write(tmp_path)
    assert contracts.drift(tmp_path) == []
    orphan = tmp_path / "schemas" / "integration.renamed_long_ago.json"
    orphan.write_text("{}")
    assert contracts.drift(tmp_path) == ["schemas/integration.renamed_long_ago.json"]
    contracts.write(tmp_path)
    assert not orphan.exists()
    assert contracts.drift(tmp_path) == []


def test_every_consumer_has_a_receive_operation_and_every_producer_a_send() -> None:
    operations = contracts.asyncapi_document()["operations"].values()
    for spec in topics.ALL_TOPICS:
        mine = [op for op in operations if op["channel"]["$ref"].endswith("/" + contracts._slug(spec.name))]
        assert [op["summary"] for op in mine if op["action"] == "send"] == [f"{spec.producer} publishes"]
        receivers = sorted(op["x-consumer"] for op in mine if op["action"] == "receive")
        assert receivers == sorted(spec.consumers), spec.name
    routing = [op for op in operations if op.get("x-consumer") == "routing"]
    assert {op["channel"]["$ref"] for op in routing} >= {"#/channels/byosms_sms_inbound_v1"}


def test_operations_name_messages_of_their_channel() -> None:
    document = contracts.asyncapi_document()
    for operation in document["operations"].values():
        channel_id = operation["channel"]["$ref"].removeprefix("#/channels/")
        for ref in operation["messages"]:
            prefix = f"#/channels/{channel_id}/messages/"
            assert ref["$ref"].startswith(prefix)
            assert ref["$ref"].removeprefix(prefix) in document["channels"][channel_id]["messages"]


def test_a_topic_without_messages_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(contracts.TOPIC_MESSAGES)
    del table[topics.NUMBER_STATE.name]
    monkeypatch.setattr(contracts, "TOPIC_MESSAGES", table)
    with pytest.raises(contracts.ContractsError, match=r"topic byosms.numbers.state.v1 has no entry"):
        contracts.asyncapi_document()


def test_cli_check_reports_drift_in_english_and_german(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    contracts.write(tmp_path)
    (tmp_path / "schemas" / "gone.json").write_text("{}")
    monkeypatch.setattr(sys, "argv", ["byosms-contracts", "check", str(tmp_path)])
    with pytest.raises(SystemExit) as exited:
        contracts.main()
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        "byosms-contracts: contracts are out of date, run `make contracts`: schemas/gone.json"
        " / Verträge veraltet, `make contracts` ausführen: schemas/gone.json\n"
    )
    monkeypatch.setattr(sys, "argv", ["byosms-contracts", "frobnicate"])
    with pytest.raises(SystemExit) as exited:
        contracts.main()
    assert exited.value.code == 2
    assert " / Aufruf: byosms-contracts" in capsys.readouterr().err

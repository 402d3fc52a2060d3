"""The auth token and the webhook SharedKeys (current and previous) never appear in clear: not in the
database, not on Kafka, not in responses or logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from byosms_common.topics import INTEGRATION_EVENTS, INTEGRATION_STATE

if TYPE_CHECKING:
    from conftest import Harness

pytestmark = pytest.mark.integration


async def dump_schema(prov: Harness) -> bytes:
    """Every text, json and bytea value of every table in the service's schema, as raw bytes."""
    columns = await prov.ctx.pool.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = $1 AND data_type IN ('text', 'jsonb', 'json', 'bytea', 'character varying')",
        prov.schema,
    )
    assert {c["table_name"] for c in columns} >= {"integrations", "integration_audit", "outbox"}
    chunks: list[bytes] = []
    for c in columns:
        values = await prov.ctx.pool.fetch(
            f'SELECT "{c["column_name"]}" AS v FROM "{prov.schema}"."{c["table_name"]}"'  # noqa: S608
        )
        for row in values:
            value = row["v"]
            if value is not None:
                chunks.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(chunks)


async def test_token_is_nowhere_in_clear(
    prov: Harness, prov_records: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "feedc0de" * 4  # recognisable, and valid as a Twilio token
    shared_old, shared_new = "0ld-shared-key-c0ffee-1", "new-shared-key-c0ffee-2"
    old_id, new_id = "SK" + "1" * 32, "SK" + "2" * 32
    acct = await prov.emulator.control.create_account(auth_token=token)
    credentials = {"account_sid": acct.sid, "auth_token": token}
    seen_in_responses: list[str] = []
    created = await prov.client.post(
        "/api/v2/integrations", json={"name": "n", "region": "us-east-1"}, headers=prov.headers()
    )
    iid = (await created.json())["id"]
    for method, path, body in [
        ("PUT", f"/api/v2/integrations/{iid}/credentials", credentials),
        ("POST", f"/api/v2/integrations/{iid}/activate", None),
        # a SharedKey, then a rotation to another one (the first stays valid, sealed as the previous key)
        (
            "PUT",
            f"/api/v2/integrations/{iid}/credentials",
            credentials | {"shared_key": shared_old, "shared_key_id": old_id},
        ),
        (
            "PUT",
            f"/api/v2/integrations/{iid}/credentials",
            credentials | {"shared_key": shared_new, "shared_key_id": new_id},
        ),
        ("GET", f"/api/v2/integrations/{iid}", None),
        ("GET", "/api/v2/integrations", None),
        # a rejected attempt with the same token must not leak it either
        ("PUT", f"/api/v2/integrations/{iid}/credentials", {"account_sid": "AC" + "0" * 32, "auth_token": token}),
    ]:
        response = await prov.client.request(method, path, json=body, headers=prov.headers())
        seen_in_responses.append(await response.text())
    assert "auth_token_set" in seen_in_responses[0]
    assert f'"previous": "{old_id}"' in seen_in_responses[3]  # the rotation happened: ids are shown
    secrets = [token, shared_old, shared_new]

    state = await prov_records(INTEGRATION_STATE, key=iid, until=lambda rs: len(rs) >= 5)
    events = await prov_records(INTEGRATION_EVENTS, key=iid, until=lambda rs: len(rs) >= 5)
    topic_bytes = b"".join(r.value or b"" for r in state + events)
    assert b"ciphertext" in topic_bytes  # the sealed secrets are there...
    assert b"previous_shared_key" in topic_bytes
    for secret in secrets:
        assert secret.encode() not in topic_bytes  # ...but never in clear

    database = await dump_schema(prov)
    assert b"wrapped_key" in database
    assert old_id.encode() in database  # key ids are no secret (audit, columns)
    for secret in secrets:
        assert secret.encode() not in database
        assert all(secret not in text for text in seen_in_responses)
        assert secret not in caplog.text

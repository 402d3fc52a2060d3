"""Auth Token rotation and the signature mode through the admin API (real PostgreSQL and Kafka, Twilio
emulated): the next token is checked with Twilio, stored sealed, published on the state topic with its
window, becomes the token on confirmation and is dropped when the window closes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from byosms_common.crypto import associated_data, open_sealed
from byosms_common.messages import IntegrationState, decode
from byosms_common.topics import INTEGRATION_STATE
from byosms_provisioning.integrations import repo, token_rotation_service
from byosms_provisioning.integrations.model import NEXT_AUTH_TOKEN_FIELD

if TYPE_CHECKING:
    from conftest import Harness

pytestmark = pytest.mark.integration

BASE = "/api/v2/integrations"


async def connected(prov: Harness) -> tuple[str, Any, str]:
    """An integration with credentials, and a secondary token created for its account in the emulator."""
    created = await prov.client.post(BASE, json={"name": "n", "region": "us-east-1"}, headers=prov.headers())
    iid = (await created.json())["id"]
    acct = await prov.emulator.control.create_account()
    body = {"account_sid": acct.sid, "auth_token": acct.auth_token}
    response = await prov.client.put(f"{BASE}/{iid}/credentials", json=body, headers=prov.headers())
    assert response.status == 200, await response.text()
    secondary = await prov.emulator.control.create_secondary_auth_token(acct.sid, acct.auth_token)
    return iid, acct, secondary


async def call(prov: Harness, method: str, path: str, expect: int, **kwargs: Any) -> dict[str, Any]:
    response = await prov.client.request(method, path, headers=prov.headers(), **kwargs)
    assert response.status == expect, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def state_at(prov_records: Callable[..., Any], iid: str, version: int) -> IntegrationState:
    def reached(records: list[Any]) -> bool:
        return any(r.value and decode(r.value).payload.version == version for r in records)  # type: ignore[union-attr]

    records = await prov_records(INTEGRATION_STATE, key=iid, until=reached)
    state = decode(next(r.value for r in records if r.value and decode(r.value).payload.version == version))  # type: ignore[union-attr]
    assert isinstance(state, IntegrationState)
    return state


async def test_a_rotation_holds_the_next_token_sealed_until_it_is_confirmed(
    prov: Harness, prov_records: Callable[..., Any]
) -> None:
    iid, _, secondary = await connected(prov)
    rotation = f"{BASE}/{iid}/auth-token-rotation"

    started = await call(prov, "POST", rotation, 200, json={"auth_token": secondary})

    window = started["auth_token_rotation"]
    opened, closes = datetime.fromisoformat(window["started_at"]), datetime.fromisoformat(window["expires_at"])
    assert closes - opened == timedelta(hours=24)  # BYOSMS_PROVISIONING_AUTH_TOKEN_ROTATION_HOURS
    assert secondary not in str(started)
    stored = await repo.get(prov.ctx.pool, prov.org, iid)
    assert stored is not None
    assert stored.next_auth_token is not None
    assert secondary not in stored.next_auth_token.model_dump_json()
    aad = associated_data(prov.org, iid, NEXT_AUTH_TOKEN_FIELD)
    assert open_sealed(prov.ctx.keyring, stored.next_auth_token, aad) == secondary
    state = await state_at(prov_records, iid, started["version"])
    assert state.payload.next_auth_token == stored.next_auth_token
    assert state.payload.next_auth_token_expires_at == closes
    assert state.payload.auth_token == stored.auth_token  # the current token stays valid meanwhile

    confirmed = await call(prov, "POST", rotation + "/confirm", 200)

    assert confirmed["auth_token_rotation"] is None
    after = await state_at(prov_records, iid, confirmed["version"])
    assert after.payload.next_auth_token is None
    assert after.payload.next_auth_token_expires_at is None
    assert after.payload.auth_token is not None
    current = open_sealed(prov.ctx.keyring, after.payload.auth_token, associated_data(prov.org, iid, "auth_token"))
    assert current == secondary
    problem = await call(prov, "POST", rotation + "/confirm", 409)
    assert problem["code"] == "auth_token_rotation_not_started"


async def test_a_token_twilio_refuses_or_the_current_one_opens_no_window(prov: Harness) -> None:
    iid, acct, _ = await connected(prov)
    rotation = f"{BASE}/{iid}/auth-token-rotation"

    refused = await call(prov, "POST", rotation, 422, json={"auth_token": "f" * 32})
    same = await call(prov, "POST", rotation, 409, json={"auth_token": acct.auth_token})

    assert same["code"] == "auth_token_rotation_same_token"
    assert refused["code"]
    view = await call(prov, "GET", f"{BASE}/{iid}", 200)
    assert view["auth_token_rotation"] is None


async def test_a_window_is_cancelled_ended_by_new_credentials_or_closed_when_its_time_is_up(
    prov: Harness, prov_records: Callable[..., Any]
) -> None:
    iid, acct, secondary = await connected(prov)
    rotation = f"{BASE}/{iid}/auth-token-rotation"
    await call(prov, "POST", rotation, 200, json={"auth_token": secondary})
    cancelled = await call(prov, "DELETE", rotation, 200)
    assert cancelled["auth_token_rotation"] is None

    await call(prov, "POST", rotation, 200, json={"auth_token": secondary})
    body = {"account_sid": acct.sid, "auth_token": acct.auth_token}
    reset = await call(prov, "PUT", f"{BASE}/{iid}/credentials", 200, json=body)
    assert reset["auth_token_rotation"] is None

    await call(prov, "POST", rotation, 200, json={"auth_token": secondary})
    await prov.ctx.pool.execute(
        "UPDATE integrations SET next_auth_token_expires_at = $2 WHERE id = $1",
        iid,
        datetime.now(UTC) - timedelta(seconds=1),
    )
    assert await token_rotation_service.end_expired(prov.ctx) == 1
    assert await token_rotation_service.end_expired(prov.ctx) == 0
    view = await call(prov, "GET", f"{BASE}/{iid}", 200)
    assert view["auth_token_rotation"] is None
    state = await state_at(prov_records, iid, view["version"])
    assert state.payload.next_auth_token is None


async def test_the_signature_mode_is_set_and_published(prov: Harness, prov_records: Callable[..., Any]) -> None:
    iid, _, _ = await connected(prov)
    mode = f"{BASE}/{iid}/signature-mode"
    assert (await call(prov, "GET", f"{BASE}/{iid}", 200))["signature_mode"] == "enforce"

    observed = await call(prov, "PUT", mode, 200, json={"mode": "observe"})

    assert observed["signature_mode"] == "observe"
    assert (await state_at(prov_records, iid, observed["version"])).payload.signature_mode == "observe"
    bad = await call(prov, "PUT", mode, 400, json={"mode": "lenient"})
    assert bad["code"]
    enforced = await call(prov, "PUT", mode, 200, json={"mode": "enforce"})
    same = await call(prov, "PUT", mode, 200, json={"mode": "enforce"})
    assert same["version"] == enforced["version"]  # nothing changed


async def test_observe_mode_ends_by_itself_and_enforce_is_published_again(
    prov: Harness, prov_records: Callable[..., Any]
) -> None:
    iid, _, _ = await connected(prov)
    mode = f"{BASE}/{iid}/signature-mode"
    before = datetime.now(UTC)
    observed = await call(prov, "PUT", mode, 200, json={"mode": "observe"})
    expires = datetime.fromisoformat(observed["signature_mode_expires_at"])
    assert before + timedelta(hours=24) <= expires <= datetime.now(UTC) + timedelta(hours=24)
    state = await state_at(prov_records, iid, observed["version"])
    assert (state.payload.signature_mode, state.payload.signature_mode_expires_at) == ("observe", expires)

    two_hours = await call(prov, "PUT", mode, 200, json={"mode": "observe", "observe_hours": 2})
    expires = datetime.fromisoformat(two_hours["signature_mode_expires_at"])
    assert expires <= datetime.now(UTC) + timedelta(hours=2)
    assert await token_rotation_service.end_expired_observe_modes(prov.ctx) == 0  # not yet

    # Its time is up: the API says enforce at once, the job stores and publishes it.
    await prov.ctx.pool.execute(
        "UPDATE integrations SET signature_mode_expires_at = $2 WHERE id = $1",
        iid,
        datetime.now(UTC) - timedelta(seconds=1),
    )
    shown = await call(prov, "GET", f"{BASE}/{iid}", 200)
    assert (shown["signature_mode"], shown["signature_mode_expires_at"]) == ("enforce", None)
    assert await token_rotation_service.end_expired_observe_modes(prov.ctx) == 1
    assert await token_rotation_service.end_expired_observe_modes(prov.ctx) == 0
    view = await call(prov, "GET", f"{BASE}/{iid}", 200)
    assert view["version"] == two_hours["version"] + 1
    assert (view["signature_mode"], view["signature_mode_expires_at"]) == ("enforce", None)
    state = await state_at(prov_records, iid, view["version"])
    assert (state.payload.signature_mode, state.payload.signature_mode_expires_at) == ("enforce", None)
    stored = await repo.get(prov.ctx.pool, state.organization_id, iid)
    assert stored is not None
    assert (stored.signature_mode, stored.signature_mode_expires_at) == ("enforce", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "observe", "observe_hours": 169}, "observe_hours"),
        ({"mode": "observe", "observe_hours": 0}, "observe_hours"),
        ({"mode": "observe", "observe_hours": 0.01}, "observe_hours"),
        ({"mode": "enforce", "observe_hours": 1}, "observe_hours"),
    ],
)
async def test_a_bad_observe_duration_is_refused_in_english_and_german(
    prov: Harness, body: dict[str, Any], field: str
) -> None:
    iid, _, _ = await connected(prov)
    details = {}
    for language in ("en", "de"):
        response = await prov.client.put(
            f"{BASE}/{iid}/signature-mode", json=body, headers=prov.headers(language=language)
        )
        assert response.status == 400, await response.text()
        problem = await response.json()
        assert [e["field"] for e in problem["errors"]] == [field], problem
        details[language] = problem["errors"][0]["message"]
    assert details["en"] != details["de"]
    assert (await call(prov, "GET", f"{BASE}/{iid}", 200))["signature_mode"] == "enforce"  # nothing changed

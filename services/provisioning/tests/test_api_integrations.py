"""The integrations admin API against real PostgreSQL and Kafka, with Twilio emulated in-process."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from byosms_common.crypto import CryptoError, associated_data, open_sealed
from byosms_common.messages import IntegrationState, decode
from byosms_common.topics import INTEGRATION_EVENTS, INTEGRATION_STATE
from byosms_provisioning import auth
from byosms_provisioning.integrations import credential_sealing, repo

if TYPE_CHECKING:
    from conftest import Harness

pytestmark = pytest.mark.integration

BASE = "/api/v2/integrations"


async def create(prov: Harness, **body: Any) -> dict[str, Any]:
    payload = {"name": "Main Twilio", "notes": "subaccount for EU", "region": "eu-central-1"} | body
    response = await prov.client.post(BASE, json=payload, headers=prov.headers())
    assert response.status == 201, await response.text()
    data: dict[str, Any] = await response.json()
    assert response.headers["Location"] == f"{BASE}/{data['id']}"
    return data


async def connect(prov: Harness, integration_id: str, **account: Any) -> tuple[dict[str, Any], str]:
    acct = await prov.emulator.control.create_account(**account)
    response = await prov.client.put(
        f"{BASE}/{integration_id}/credentials",
        json={"account_sid": acct.sid, "auth_token": acct.auth_token},
        headers=prov.headers(),
    )
    assert response.status == 200, await response.text()
    return await response.json(), acct.auth_token


async def test_lifecycle_publishes_events_state_and_audit(prov: Harness, prov_records: Callable[..., Any]) -> None:
    created = await create(prov)
    iid = created["id"]
    assert created["status"] == "inactive"
    assert created["credentials"] == {"auth_token_set": False, "shared_key_set": False, "shared_key_ids": {}}
    assert created["inbound_webhook_url"].endswith("/vendors/v1/twilio/3d904439dc3f4eceb2e574b43c8f5ac5/mo")

    response = await prov.client.post(f"{BASE}/{iid}/activate", headers=prov.headers())
    assert response.status == 409
    assert (await response.json())["code"] == "integration_no_credentials"

    connected, token = await connect(prov, iid)
    assert connected["credentials"]["auth_token_set"] is True
    assert "auth_token" not in connected
    assert token not in str(connected)

    response = await prov.client.post(f"{BASE}/{iid}/activate", headers=prov.headers())
    assert (response.status, (await response.json())["status"]) == (200, "active")
    response = await prov.client.post(f"{BASE}/{iid}/deactivate", headers=prov.headers())
    assert (response.status, (await response.json())["status"]) == (200, "inactive")
    response = await prov.client.patch(f"{BASE}/{iid}", json={"name": "Renamed"}, headers=prov.headers())
    assert (await response.json())["name"] == "Renamed"
    response = await prov.client.delete(f"{BASE}/{iid}", headers=prov.headers())
    assert response.status == 204
    response = await prov.client.get(f"{BASE}/{iid}", headers=prov.headers())
    assert response.status == 404

    expected = [
        "integration.created",
        "integration.updated",
        "integration.activated",
        "integration.deactivated",
        "integration.updated",
        "integration.deleted",
    ]
    events = await prov_records(INTEGRATION_EVENTS, key=iid, until=lambda rs: len(rs) >= len(expected))
    decoded = [decode(r.value or b"") for r in events]
    assert [m.type for m in decoded] == expected
    assert all(m.organization_id == prov.org for m in decoded)
    assert decoded[0].payload.actor == "alice@example.com"  # type: ignore[union-attr]

    states = await prov_records(INTEGRATION_STATE, key=iid, until=lambda rs: bool(rs) and rs[-1].value is None)
    assert len(states) == 6  # create, credentials, activate, deactivate, rename, tombstone
    active = decode(states[2].value or b"")
    assert isinstance(active, IntegrationState)
    assert active.payload.status == "active"
    assert active.payload.auth_token is not None
    aad = associated_data(prov.org, iid, "auth_token")
    assert open_sealed(prov.ctx.keyring, active.payload.auth_token, aad) == token
    with pytest.raises(CryptoError):  # bound to its organization and integration
        open_sealed(prov.ctx.keyring, active.payload.auth_token, associated_data("other-org", iid, "auth_token"))

    audit = await repo.audit_entries(prov.ctx.pool, prov.org, iid)
    assert [a["action"] for a in audit] == [
        "created",
        "credentials_set",
        "activated",
        "deactivated",
        "edited",
        "deleted",
    ]
    assert audit[1]["before"]["has_credentials"] is False
    assert audit[1]["after"]["has_credentials"] is True
    assert audit[-1]["after"] is None
    assert all(a["actor"] == "alice@example.com" for a in audit)
    assert token not in str(audit)


@pytest.mark.parametrize("language", ["en", "de"])
async def test_wrong_token_is_refused_and_nothing_is_stored(prov: Harness, language: str) -> None:
    created = await create(prov)
    acct = await prov.emulator.control.create_account()
    response = await prov.client.put(
        f"{BASE}/{created['id']}/credentials",
        json={"account_sid": acct.sid, "auth_token": "0" * 32},
        headers=prov.headers(language=language),
    )
    assert response.status == 422
    problem = await response.json()
    assert problem["code"] == "credentials_rejected"
    assert response.headers["Content-Language"] == language
    assert ("sekundäre" if language == "de" else "secondary auth tokens are not supported") in problem["detail"]
    after = await (await prov.client.get(f"{BASE}/{created['id']}", headers=prov.headers())).json()
    assert after["credentials"]["auth_token_set"] is False
    assert after["version"] == 1


@pytest.mark.parametrize("status", ["suspended", "closed"])
async def test_inactive_twilio_account_is_refused(prov: Harness, status: str) -> None:
    created = await create(prov)
    acct = await prov.emulator.control.create_account(status=status)  # type: ignore[arg-type]
    response = await prov.client.put(
        f"{BASE}/{created['id']}/credentials",
        json={"account_sid": acct.sid, "auth_token": acct.auth_token},
        headers=prov.headers(),
    )
    assert response.status == 422
    problem = await response.json()
    assert problem["code"] in {"credentials_rejected", "account_not_active"}
    assert "suspended or closed" in problem["detail"] or status in problem["detail"]
    after = await (await prov.client.get(f"{BASE}/{created['id']}", headers=prov.headers())).json()
    assert after["account_sid"] is None


async def test_twilio_down_is_retryable_503(prov: Harness) -> None:
    created = await create(prov)
    acct = await prov.emulator.control.create_account()
    await prov.emulator.control.add_fault(status=503, path_contains="/Accounts/", count=1)
    response = await prov.client.put(
        f"{BASE}/{created['id']}/credentials",
        json={"account_sid": acct.sid, "auth_token": acct.auth_token},
        headers=prov.headers(),
    )
    assert response.status == 503
    problem = await response.json()
    assert (problem["code"], problem["retryable"]) == ("vendor_unavailable", True)


async def test_credentials_check_was_sent_to_twilio_accounts_api(prov: Harness) -> None:
    created = await create(prov)
    _, _ = await connect(prov, created["id"])
    requests = await prov.emulator.control.requests(path_contains="/Accounts/")
    assert requests
    assert requests[-1].method == "GET"
    assert requests[-1].path.startswith("/2010-04-01/Accounts/AC")
    assert requests[-1].status == 200


async def test_other_organizations_integration_is_404(prov: Harness) -> None:
    created = await create(prov)
    other = {"org": f"org-{uuid.uuid4().hex[:8]}"}
    for method, path in [
        ("GET", f"{BASE}/{created['id']}"),
        ("PATCH", f"{BASE}/{created['id']}"),
        ("DELETE", f"{BASE}/{created['id']}"),
        ("POST", f"{BASE}/{created['id']}/activate"),
    ]:
        kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "PATCH" else {}
        response = await prov.client.request(method, path, headers=prov.headers(**other), **kwargs)
        assert response.status == 404, (method, path)
        assert (await response.json())["code"] == "integration_not_found"
    listing = await (await prov.client.get(BASE, headers=prov.headers(**other))).json()
    assert listing["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "permission"),
    [
        ("POST", BASE, auth.INTEGRATION_ADD),
        ("GET", BASE, auth.INTEGRATION_VIEW),
        ("GET", BASE + "/x", auth.INTEGRATION_VIEW),
        ("PATCH", BASE + "/x", auth.INTEGRATION_EDIT),
        ("PUT", BASE + "/x/credentials", auth.INTEGRATION_EDIT),
        ("POST", BASE + "/x/activate", auth.INTEGRATION_EDIT),
        ("POST", BASE + "/x/deactivate", auth.INTEGRATION_EDIT),
        ("DELETE", BASE + "/x", auth.INTEGRATION_DELETE),
    ],
)
async def test_each_operation_needs_its_permission(prov: Harness, method: str, path: str, permission: str) -> None:
    others = [p for p in auth.ALL_PERMISSIONS if p != permission]
    response = await prov.client.request(method, path, headers=prov.headers(*others, language="de"))
    assert response.status == 403
    problem = await response.json()
    assert problem["code"] == "forbidden"
    assert permission in problem["detail"]
    assert problem["title"] == "Keine Berechtigung"
    response = await prov.client.request(method, path)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("label", "body", "content_type", "status", "field"),
    [
        ("bad json", b'{"name": ', "application/json", 400, None),
        ("not an object", b"[1, 2]", "application/json", 400, "(body)"),
        (
            "unknown field",
            b'{"name": "a", "region": "eu-central-1", "colour": "red"}',
            "application/json",
            400,
            "colour",
        ),
        ("wrong type", b'{"name": 5, "region": "eu-central-1"}', "application/json", 400, "name"),
        ("missing field", b'{"name": "a"}', "application/json", 400, "region"),
        ("too long", b'{"name": "' + b"x" * 300 + b'", "region": "eu-central-1"}', "application/json", 400, "name"),
        ("oversized", b'{"name": "' + b"x" * 5000 + b'"}', "application/json", 413, None),
        ("form body", b"name=a", "application/x-www-form-urlencoded", 415, None),
        ("unknown region", b'{"name": "a", "region": "mars-1"}', "application/json", 422, None),
    ],
)
async def test_bad_input_is_4xx_naming_the_field(
    prov: Harness, label: str, body: bytes, content_type: str, status: int, field: str | None
) -> None:
    headers = prov.headers() | {"Content-Type": content_type}
    response = await prov.client.post(BASE, data=body, headers=headers)
    assert response.status == status, label
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]], problem
        assert field in problem["detail"]


async def test_credentials_body_errors_never_echo_the_token(prov: Harness) -> None:
    created = await create(prov)
    secret = "S3cretTokenValue1234567890abcdef"
    response = await prov.client.put(
        f"{BASE}/{created['id']}/credentials",
        json={"account_sid": 42, "auth_token": secret, "extra": secret},
        headers=prov.headers(),
    )
    assert response.status == 400
    text = await response.text()
    assert secret not in text
    assert "account_sid" in text
    assert "extra" in text


async def test_unknown_route_and_method_are_problems(prov: Harness) -> None:
    response = await prov.client.get("/api/v2/nothing-here", headers=prov.headers())
    assert (response.status, response.content_type) == (404, "application/problem+json")
    response = await prov.client.put(BASE, headers=prov.headers())
    assert response.status == 405
    assert (await response.json())["code"] == "method_not_allowed"


async def test_list_pages_and_filters(prov: Harness) -> None:
    ids = [
        (await create(prov, name=f"Account {n}", region=region))["id"]
        for n, region in enumerate(["eu-central-1", "us-east-1", "eu-central-1", "eu-central-1", "us-east-1"])
    ]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await (await prov.client.get(BASE + query, headers=prov.headers())).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    eu = await (await prov.client.get(BASE + "?region=eu-central-1", headers=prov.headers())).json()
    assert len(eu["items"]) == 3
    named = await (await prov.client.get(BASE + "?name=account%203", headers=prov.headers())).json()
    assert [i["id"] for i in named["items"]] == [ids[3]]
    inactive = await (await prov.client.get(BASE + "?status=inactive", headers=prov.headers())).json()
    assert len(inactive["items"]) == 5
    for bad in ("?limit=0", "?limit=x", "?status=paused", "?cursor=%%%", "?colour=red"):
        response = await prov.client.get(BASE + bad, headers=prov.headers())
        assert response.status == 400, bad


async def test_if_match_detects_concurrent_edits(prov: Harness) -> None:
    created = await create(prov)
    path = f"{BASE}/{created['id']}"
    first = await prov.client.patch(path, json={"notes": "a"}, headers=prov.headers() | {"If-Match": '"1"'})
    assert first.status == 200
    assert first.headers["ETag"] == '"2"'
    stale = await prov.client.patch(path, json={"notes": "b"}, headers=prov.headers() | {"If-Match": '"1"'})
    assert stale.status == 409
    assert (await stale.json())["code"] == "version_conflict"


async def test_ids_are_generated_and_a_chosen_id_is_refused_alike_whether_taken_or_not(prov: Harness) -> None:
    taken = (await create(prov))["id"]
    assert uuid.UUID(taken).hex == taken
    other_org = f"org-{uuid.uuid4().hex[:8]}"
    answers = []
    for chosen in (taken, f"int-{uuid.uuid4().hex[:8]}"):
        response = await prov.client.post(
            BASE, json={"id": chosen, "name": "mine", "region": "eu-central-1"}, headers=prov.headers(org=other_org)
        )
        answers.append((response.status, (await response.json())["code"]))
    # Another organization learns nothing: a taken and a free id get the same answer.
    assert answers[0] == answers[1] == (400, "invalid_request")


async def test_request_id_makes_create_repeatable_per_organization(prov: Harness) -> None:
    first = await create(prov, request_id="create-1")
    assert first["request_id"] == "create-1"
    again = await prov.client.post(
        BASE, json={"name": "Main Twilio", "region": "eu-central-1", "request_id": "create-1"}, headers=prov.headers()
    )
    assert again.status == 200
    assert again.headers["Location"] == f"{BASE}/{first['id']}"
    assert (await again.json())["id"] == first["id"]
    listed = await (await prov.client.get(BASE, headers=prov.headers())).json()
    assert [i["id"] for i in listed["items"]] == [first["id"]]

    # The same request id in another organization is just another create there.
    other_org = f"org-{uuid.uuid4().hex[:8]}"
    response = await prov.client.post(
        BASE,
        json={"name": "Theirs", "region": "eu-central-1", "request_id": "create-1"},
        headers=prov.headers(org=other_org),
    )
    assert response.status == 201
    theirs = await response.json()
    assert theirs["id"] != first["id"]
    assert theirs["organization_id"] == other_org


async def test_openapi_document_is_served(prov: Harness) -> None:
    response = await prov.client.get("/api/v2/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert "/api/v2/integrations/{id}/credentials" in document["paths"]
    assert "secondary auth tokens are not supported" in str(document)


@pytest.mark.parametrize(
    ("label", "method", "path", "body", "field"),
    [
        ("query value", "GET", BASE + "?account_sid=AC%00x", None, "query.account_sid"),
        ("query name filter", "GET", BASE + "?name=a%00", None, "query.name"),
        ("path id", "GET", BASE + "/abc%00def", None, "path.id"),
        ("json value", "POST", BASE, {"name": "a\x00b", "region": "eu-central-1"}, "name"),
        ("json notes", "POST", BASE, {"name": "a", "notes": "x\x00", "region": "eu-central-1"}, "notes"),
    ],
)
@pytest.mark.parametrize("language", ["en", "de"])
async def test_nul_characters_are_refused_naming_the_field(
    prov: Harness, label: str, method: str, path: str, body: dict[str, str] | None, field: str, language: str
) -> None:
    # PostgreSQL text cannot hold U+0000; without this check the value reached the database (500).
    headers = prov.headers(language=language)
    response = await prov.client.request(method, path, json=body, headers=headers)
    assert response.status == 400, label
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert [e["field"] for e in problem["errors"]] == [field]
    expected = "darf keine NUL-Zeichen enthalten" if language == "de" else "must not contain NUL characters"
    assert problem["errors"][0]["message"] == expected
    listed = await (await prov.client.get(BASE, headers=prov.headers())).json()
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("language", "detail"),
    [
        ("en", "account_sid: must be 'AC' followed by 32 hexadecimal digits"),
        ("de", "account_sid: muss 'AC' gefolgt von 32 Hexadezimalziffern sein"),
    ],
)
async def test_a_refused_field_is_named_in_the_callers_language(prov: Harness, language: str, detail: str) -> None:
    created = await create(prov)
    response = await prov.client.put(
        f"{BASE}/{created['id']}/credentials",
        json={"account_sid": "AC123", "auth_token": "0123456789abcdef0123456789abcdef"},
        headers=prov.headers(language=language),
    )
    assert response.status == 400
    problem = await response.json()
    assert detail in problem["detail"]
    assert problem["errors"] == [{"field": "account_sid", "type": "invalid", "message": detail.split(": ", 1)[1]}]


async def test_sealing_public_keys_are_served_never_the_private_ones(prov: Harness) -> None:
    prov.ctx.sealing_keys = None
    response = await prov.client.get("/api/v2/sealing-keys", headers=prov.headers(language="de"))
    assert response.status == 404
    assert (await response.json())["code"] == "sealing_not_configured"

    private = credential_sealing.generate_private_key()
    prov.ctx.sealing_keys = credential_sealing.SealingKeyring.from_config(json.dumps({"s1": private}), "s1")
    response = await prov.client.get("/api/v2/sealing-keys", headers=prov.headers())
    assert response.status == 200
    text = await response.text()
    assert private not in text
    body = json.loads(text)
    assert body["active"] == "s1"
    assert body["keys"] == {"s1": credential_sealing.public_key_b64(private)}

    viewer_only = prov.headers("integrations:integration:view")
    assert (await prov.client.get("/api/v2/sealing-keys", headers=viewer_only)).status == 403

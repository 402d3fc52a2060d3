"""The integration lifecycle as pure transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from byosms_common.errors import ByosmsError, Conflict, InvalidInput
from byosms_common.messages import IntegrationStatus, SealedSecret
from byosms_provisioning.integrations import model as integrations
from byosms_provisioning.integrations.model import Action

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
SEALED = SealedSecret(kek_id="k1", wrapped_key="d3JhcA==", nonce="bm9uY2U=", ciphertext="Y2lwaGVy")
SID = "AC" + "a" * 32


def new() -> integrations.Integration:
    change = integrations.create(
        integration_id="i-1", organization_id="org-1", name=" Main ", notes="n", region="eu-central-1", now=T0
    )
    assert change.after is not None
    return change.after


def with_credentials() -> integrations.Integration:
    return integrations.set_credentials(new(), account_sid=SID, auth_token=SEALED, shared_key=None, now=T1).current


def test_created_integration_is_inactive_without_credentials() -> None:
    created = new()
    assert created.status is IntegrationStatus.INACTIVE
    assert not created.has_credentials
    assert created.version == 1
    assert created.name == "Main"


def test_activate_without_credentials_is_refused() -> None:
    with pytest.raises(Conflict) as caught:
        integrations.activate(new(), now=T1)
    assert caught.value.code == "integration_no_credentials"


def test_set_credentials_keeps_status_and_bumps_version() -> None:
    change = integrations.set_credentials(new(), account_sid=SID, auth_token=SEALED, shared_key=SEALED, now=T1)
    assert change.action is Action.CREDENTIALS_SET
    assert change.changed
    assert change.current.status is IntegrationStatus.INACTIVE
    assert change.current.version == 2
    assert change.current.updated_at == T1


@pytest.mark.parametrize(
    ("label", "steps", "status", "version"),
    [
        ("activate", ["activate"], IntegrationStatus.ACTIVE, 3),
        ("activate twice is a no-op", ["activate", "activate"], IntegrationStatus.ACTIVE, 3),
        ("deactivate", ["activate", "deactivate"], IntegrationStatus.INACTIVE, 4),
        ("deactivate inactive is a no-op", ["deactivate"], IntegrationStatus.INACTIVE, 2),
        ("reactivate", ["activate", "deactivate", "activate"], IntegrationStatus.ACTIVE, 5),
    ],
)
def test_status_transitions(label: str, steps: list[str], status: IntegrationStatus, version: int) -> None:
    current = with_credentials()
    for step in steps:
        current = getattr(integrations, step)(current, now=T1).current
    assert (current.status, current.version) == (status, version), label


def test_noop_changes_report_unchanged() -> None:
    current = with_credentials()
    assert not integrations.deactivate(current, now=T1).changed
    assert not integrations.edit(current, name=None, notes=None, now=T1).changed
    assert not integrations.edit(current, name="Main", notes="n", now=T1).changed


def test_edit_changes_name_and_notes() -> None:
    change = integrations.edit(new(), name="Other", notes="", now=T1)
    assert (change.current.name, change.current.notes, change.current.version) == ("Other", "", 2)


def test_delete_has_no_after() -> None:
    change = integrations.delete(new())
    assert change.after is None
    assert change.changed
    assert change.current.id == "i-1"


@pytest.mark.parametrize(
    ("call", "value"),
    [
        (integrations.check_name, "   "),
        (integrations.check_name, "x" * 201),
        (integrations.check_notes, "x" * 2001),
        (integrations.check_integration_id, "has space"),
        (integrations.check_account_sid, "AC123"),
        (integrations.check_account_sid, "PN" + "a" * 32),
        (integrations.check_auth_token, "short"),
        (integrations.check_auth_token, "not-alnum-" * 3),
        (integrations.check_shared_key, "short"),
    ],
)
def test_invalid_values_are_refused(call: object, value: str) -> None:
    with pytest.raises(InvalidInput):
        call(value)  # type: ignore[operator]


def test_token_value_never_appears_in_validation_errors() -> None:
    token = "secret-token-with-dashes"
    with pytest.raises(ByosmsError) as caught:
        integrations.check_auth_token(token)
    assert token not in caught.value.message("en")
    assert token not in caught.value.message("de")


def test_version_check() -> None:
    current = new()
    integrations.check_version(current, None)
    integrations.check_version(current, 1)
    with pytest.raises(Conflict):
        integrations.check_version(current, 2)


def test_snapshot_and_state_hide_or_seal_secrets() -> None:
    current = with_credentials()
    snap = integrations.snapshot(current)
    assert snap.has_credentials
    assert not snap.has_shared_key
    assert "auth_token" not in snap.model_dump()
    state = integrations.state_payload(current)
    assert state.auth_token == SEALED
    audit = integrations.audit_view(current)
    assert audit is not None
    assert "auth_token" not in audit
    assert integrations.audit_view(None) is None

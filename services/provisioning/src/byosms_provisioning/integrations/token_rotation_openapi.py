"""Auth Token rotation's and the signature mode's part of the OpenAPI document (``token_rotation_routes``)."""

from __future__ import annotations

from byosms_provisioning import auth
from byosms_provisioning.integrations.token_rotation_routes import (
    ROTATION,
    SIGNATURE_MODE,
    AuthTokenRotationBody,
    SignatureModeBody,
)
from byosms_provisioning.openapi_common import ID_PARAMETER, IF_MATCH_PARAMETER, JSON, operation, ref, schema_of

ROTATION_TEXT = (
    "Twilio signs webhooks with the account's primary Auth Token, and promoting the secondary token deletes "
    "the old primary at once, so webhooks in flight would fail. Rotate without loss: create a secondary "
    "token in Twilio and give it here first. It is checked with Twilio and stored encrypted; from then on "
    "(once the ingresses see the change, normally within a second) webhooks signed with either token are "
    "accepted and their events say which one matched (`signed_with`: `auth_token` or `auth_token_next`). "
    "Then promote the token in Twilio and confirm it here (`.../confirm`): only the new token validates "
    "after that. A window not confirmed closes by itself after `BYOSMS_PROVISIONING_AUTH_TOKEN_ROTATION_HOURS` "
    "(24) hours, dropping the next token; `DELETE` closes it at once. A token Twilio does not accept answers "
    "422 and nothing is stored; the current token again answers 409 `auth_token_rotation_same_token`."
)

SIGNATURE_MODE_TEXT = (
    "`enforce` (the default): a webhook whose signature fails is refused (403). `observe`: it is counted "
    '(metric `byosms_ingress_signature_rejections_total{mode="observe"}`), logged without secrets, reported '
    "on the integration's webhook health and accepted, its event marked with `signature_failure`; for the "
    "first hours behind a new proxy that may change what Twilio signed. Observe mode ends by itself after "
    "`observe_hours` (default 24, at least 1 minute, at most 168 = 7 days; `signature_mode_expires_at` says "
    "when): the ingresses refuse bad signatures from that moment on, and the integration shows and publishes "
    "`enforce` again within a minute. `observe` again starts the time anew; `observe_hours` with `enforce`, "
    "or outside its range, answers 400."
)


def token_rotation_part() -> tuple[JSON, JSON]:
    paths: JSON = {
        ROTATION: {
            "post": operation(
                "Start an Auth Token rotation with the next token",
                auth.INTEGRATION_EDIT,
                description=ROTATION_TEXT,
                body=ref("AuthTokenRotationBody"),
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409, 422),
                parameters=[ID_PARAMETER, IF_MATCH_PARAMETER],
            ),
            "delete": operation(
                "Cancel the Auth Token rotation",
                auth.INTEGRATION_EDIT,
                description="Closes the rotation window without the next token: only the current token validates.",
                ok=(200, ref("Integration")),
                errors=(401, 403, 404, 409),
                parameters=[ID_PARAMETER, IF_MATCH_PARAMETER],
            ),
        },
        ROTATION + "/confirm": {
            "post": operation(
                "Confirm the new Auth Token (after promoting it in Twilio)",
                auth.INTEGRATION_EDIT,
                description="The next token becomes the integration's token and the rotation window closes: "
                "webhooks signed with the old token are refused from now on. 409 `auth_token_rotation_not_started` "
                "without a rotation.",
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409),
                parameters=[ID_PARAMETER, IF_MATCH_PARAMETER],
            ),
        },
        SIGNATURE_MODE: {
            "put": operation(
                "Set the webhook signature mode",
                auth.INTEGRATION_EDIT,
                description=SIGNATURE_MODE_TEXT,
                body=ref("SignatureModeBody"),
                ok=(200, ref("Integration")),
                errors=(400, 401, 403, 404, 409),
                parameters=[ID_PARAMETER, IF_MATCH_PARAMETER],
            ),
        },
    }
    schemas: JSON = {
        "AuthTokenRotationBody": schema_of(AuthTokenRotationBody),
        "SignatureModeBody": schema_of(SignatureModeBody),
    }
    return paths, schemas

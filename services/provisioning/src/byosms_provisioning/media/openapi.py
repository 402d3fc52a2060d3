"""The media endpoint's part of the OpenAPI document, merged by ``byosms_provisioning.openapi``."""

from __future__ import annotations

from byosms_provisioning import auth
from byosms_provisioning.integrations.model import INTEGRATION_ID
from byosms_provisioning.media import routes
from byosms_provisioning.openapi_common import JSON, operation, problem_responses

MEDIA_TEXT = (
    "One media item of an inbound MMS of your organization, fetched from Twilio with the integration's "
    "credentials and streamed back. `url` is the item's URL as in the routed event (Twilio's `MediaUrlN`): "
    "only `https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}` "
    "is accepted, anything else is refused (400 `media_url_not_allowed`) and never requested. The account "
    "must be one of your organization's integrations (`integration_id` picks one; by default the active "
    "one on that account), otherwise 404 `media_not_found`. The credentials go with the first request "
    "to Twilio only, never with its redirect to the media CDN; redirects are followed only to "
    "`BYOSMS_PROVISIONING_MEDIA_REDIRECT_HOSTS` over https (else 502 `media_redirect_refused`). An item over "
    "`BYOSMS_PROVISIONING_MEDIA_MAX_BYTES` (5 MiB) answers 422 `media_too_large`, a content type outside "
    "`BYOSMS_PROVISIONING_MEDIA_ALLOWED_TYPES` (images, audio, video, vCard, calendar, PDF) 422 "
    "`media_type_not_allowed`; more than `BYOSMS_PROVISIONING_MEDIA_MAX_CONCURRENT` fetches at once 503 "
    "`media_busy`."
)


def media_part() -> tuple[JSON, JSON]:
    op = operation(
        "Fetch an inbound MMS media item",
        auth.PHONE_NUMBER_VIEW,
        description=MEDIA_TEXT,
        errors=(400, 401, 403, 404, 422, 503),
        parameters=[
            {
                "name": "url",
                "in": "query",
                "required": True,
                "description": "Twilio's MediaUrlN of the inbound message.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 500},
            },
            {
                "name": "integration_id",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "pattern": INTEGRATION_ID.pattern},
            },
        ],
    )
    op["responses"]["200"] = {
        "description": "The media item's bytes, with its content type.",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }
    op["responses"].update(problem_responses(502))
    return {routes.PATH: {"get": op}}, {}

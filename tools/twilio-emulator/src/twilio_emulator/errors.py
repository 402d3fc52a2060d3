"""Twilio's legacy REST error body and the error codes the emulator produces."""

from __future__ import annotations

from typing import Any

# code -> (HTTP status, message). Messages follow the wording Twilio uses; tests must branch on codes.
CATALOGUE: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource {path} was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21211: (400, "Invalid 'To' Phone Number: {value}"),
    21266: (400, "'To' and 'From' number cannot be the same"),
    21408: (400, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21606: (
        400,
        "The From phone number {value} is not a valid, SMS-capable inbound phone number or short code "
        "for your account.",
    ),
    21609: (400, "Invalid StatusCallback url"),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21612: (400, "The 'To' phone number is not currently reachable via SMS"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21623: (400, "Number of media files exceeds allowed limit. A maximum of 10 media files is supported."),
    21635: (400, "The 'To' number cannot be reached: it is a landline"),
    21701: (400, "The Messaging Service Sid {value} is invalid."),
    21703: (400, "The Messaging Service does not have a phone number available to send a message."),
    20001: (400, "Invalid parameter {value}"),
}

# Delivery (asynchronous) error codes reported in status callbacks and Message.error_code.
ASYNC_ERROR_MESSAGES: dict[int, str] = {
    30001: "Queue overflow",
    30002: "Account suspended",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
    30032: "Toll-Free Number Has Not Been Verified",
    30034: "Message from an Unregistered Number",
}


def more_info(code: int) -> str:
    return f"https://www.twilio.com/docs/errors/{code}"


class TwilioApiError(Exception):
    """Raised by route handlers; rendered as Twilio's error JSON by the middleware."""

    def __init__(self, code: int, status: int | None = None, message: str | None = None, **fmt: str) -> None:
        default_status, template = CATALOGUE.get(code, (400, "Error"))
        self.code = code
        self.status = status if status is not None else default_status
        self.message = message if message is not None else _format(template, fmt)
        super().__init__(f"{self.code}: {self.message}")

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.status)


def _format(template: str, fmt: dict[str, str]) -> str:
    try:
        return template.format(**fmt)
    except KeyError:
        return template


def error_body(code: int, message: str, status: int) -> dict[str, Any]:
    """Twilio's legacy error body: ``{"code", "message", "more_info", "status"}``."""
    return {"code": code, "message": message, "more_info": more_info(code), "status": status}

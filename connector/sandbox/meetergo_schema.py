"""meetergo's request rules and error shape, shared by the state and the HTTP handlers.

meetergo is a NestJS service: errors are `{statusCode, message, error}`, and request validation
answers 400 with `message` as a list of problems (plus `errors: [{field, message}]`). Validation
here is class-validator strict: wrong types and malformed emails are refused, unknown fields
are ignored.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from .common import ApiError, Json, hook_url_problem, is_valid_email

PLATFORM_KEY_PREFIX = "ak_live:"
USER_ID_HEADER = "x-meetergo-api-user-id"
WEBHOOK_EVENTS = (
    "booking_created",
    "booking_cancelled",
    "booking_rescheduled",
    "new_employee",
    "form_submission",
)
WEBHOOK_ENVELOPES = ("flat", "event_data")
MAX_WEBHOOKS = 6
SORT_FIELDS = ("firstName", "lastName", "email", "createdAt")
WRITABLE_FIELDS = (
    "firstName",
    "lastName",
    "email",
    "phoneNumber",
    "language",
    "tags",
    "notes",
    "crmCompanyId",
    "accountOwnerId",
    "additionalData",
)
_STRING_FIELDS = (
    "firstName",
    "lastName",
    "phoneNumber",
    "language",
    "notes",
    "crmCompanyId",
    "accountOwnerId",
)


def error_body(status: int, message: str, field: str | None = None) -> Json:
    """The NestJS error shape; a field-level problem becomes a validation error list."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    if field is None:
        return {"statusCode": status, "message": message, "error": phrase}
    return {
        "statusCode": status,
        "message": [message],
        "error": phrase,
        "errors": [{"field": field, "message": message}],
    }


def validate_contact(body: Any, *, creating: bool, prefix: str = "") -> Json:
    """The writable fields of a contact body, or ApiError(400) naming the first bad field.

    On create, email or phoneNumber must be present (either one is enough).
    """
    if not isinstance(body, dict):
        raise ApiError(400, f"{prefix or 'body'} must be an object", prefix or None)
    fields = {k: v for k, v in body.items() if k in WRITABLE_FIELDS}
    for name in _STRING_FIELDS:
        value = fields.get(name)
        if value is not None and not isinstance(value, str):
            raise ApiError(400, f"{prefix}{name} must be a string", f"{prefix}{name}")
    email = fields.get("email")
    if email is not None and not is_valid_email(email):
        raise ApiError(400, f"{prefix}email must be an email", f"{prefix}email")
    tags = fields.get("tags")
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
    ):
        raise ApiError(400, f"{prefix}tags must be an array of strings", f"{prefix}tags")
    extra = fields.get("additionalData")
    if extra is not None and not isinstance(extra, dict):
        raise ApiError(400, f"{prefix}additionalData must be an object", f"{prefix}additionalData")
    if creating and not email and not fields.get("phoneNumber"):
        message = f"{prefix}email or {prefix}phoneNumber must be provided"
        raise ApiError(400, message, f"{prefix}email")
    return fields


def validate_webhook(body: Json, *, partial: bool) -> Json:
    """The fields of a webhook body (all required unless `partial`), or ApiError(400)."""
    fields: Json = {}
    if "endpoint" in body or not partial:
        problem = hook_url_problem(body.get("endpoint"))
        if problem is not None:
            raise ApiError(400, f"endpoint {problem}", "endpoint")
        fields["endpoint"] = body["endpoint"]
    if "eventTypes" in body or not partial:
        types = body.get("eventTypes")
        if not isinstance(types, list) or not types or not all(t in WEBHOOK_EVENTS for t in types):
            raise ApiError(
                400,
                f"eventTypes must be a non-empty array of: {', '.join(WEBHOOK_EVENTS)}",
                "eventTypes",
            )
        fields["eventTypes"] = list(dict.fromkeys(types))
    if "description" in body:
        description = body["description"]
        if description is not None and not isinstance(description, str):
            raise ApiError(400, "description must be a string", "description")
        fields["description"] = description
    return fields

"""The HTTP face of the simulated meetergo API: /crm and /webhooks as documented.

Handlers parse, validate and shape answers; the state (meetergo.py) owns the data. Paging is
computed on the live list at every request, so a contact created between two page requests
shifts every later page by one, exactly as a real offset-paged server behaves.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .common import ApiError, guarded_route, json_response, read_json_object, utcnow
from .meetergo_schema import MAX_WEBHOOKS, SORT_FIELDS, validate_contact, validate_webhook

if TYPE_CHECKING:
    from .meetergo import MeetergoState

MAX_BULK = 1000


def _int_param(query: QueryParams, name: str, default: int, low: int, high: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer", name) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ApiError(400, f"{name} must be {bound}", name)
    return value


def _uuid_param(request: Request) -> str:
    """The {id} path parameter; like NestJS's ParseUUIDPipe, a non-uuid is a 400, not a 404."""
    value: str = request.path_params["id"]
    try:
        uuid.UUID(value)
    except ValueError:
        raise ApiError(400, "Validation failed (uuid is expected)") from None
    return value


def routes(state: MeetergoState) -> list[Route]:
    """Every meetergo endpoint the sandbox serves, each behind auth, rate limit and faults."""

    async def search(request: Request) -> Response:
        query = request.query_params
        limit = _int_param(query, "limit", 20, 1, 100)
        page = _int_param(query, "page", 1, 1, None)
        sort_by = query.get("sortBy", "createdAt")
        if sort_by not in SORT_FIELDS:
            raise ApiError(400, f"sortBy must be one of: {', '.join(SORT_FIELDS)}", "sortBy")
        sort_order = query.get("sortOrder", "DESC")
        if sort_order not in ("ASC", "DESC"):
            raise ApiError(400, "sortOrder must be one of: ASC, DESC", "sortOrder")
        window, total = state.search_page(
            page,
            limit,
            search_term=query.get("searchTerm") or None,
            tags=query.getlist("tags") + query.getlist("tags[]"),
            owner_id=query.get("ownerId") or None,
            sort_by=sort_by,
            descending=sort_order == "DESC",
        )
        return json_response(
            {
                "result": [state.row(contact) for contact in window],
                "page": page,
                "limit": limit,
                "total": total,
                "totalPages": math.ceil(total / limit),
            }
        )

    async def create(request: Request) -> Response:
        fields = validate_contact(await read_json_object(request), creating=True)
        return json_response(state.row(state.create_contact(fields)), 201)

    async def bulk(request: Request) -> Response:
        body = await read_json_object(request)
        entries = body.get("contacts")
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_BULK:
            raise ApiError(
                400, f"contacts must be an array of 1 to {MAX_BULK} contacts", "contacts"
            )
        # All or nothing: every entry is validated before the first one is created.
        valid = [
            validate_contact(entry, creating=True, prefix=f"contacts.{index}.")
            for index, entry in enumerate(entries)
        ]
        # One transaction, one clock reading: every contact of a bulk call has the same createdAt.
        moment = utcnow()
        for fields in valid:
            state.create_contact(fields, created_at=moment)
        # The real answer's shape is undocumented; the least convenient plausible one has no ids.
        return json_response({"success": True, "count": len(valid)}, 201)

    async def details(request: Request) -> Response:
        contact_id = request.query_params.get("contactId")
        attendee_id = request.query_params.get("attendeeId")
        if not contact_id and not attendee_id:
            raise ApiError(400, "contactId or attendeeId is required", "contactId")
        found = state.details(contact_id=contact_id or None, attendee_id=attendee_id or None)
        if found is None:
            raise ApiError(404, "Contact not found")
        return json_response(found)

    async def update(request: Request) -> Response:
        contact_id = _uuid_param(request)
        fields = validate_contact(await read_json_object(request), creating=False)
        updated = state.update_contact(contact_id, fields)
        if updated is None:
            raise ApiError(404, f"Contact with id {contact_id} not found")
        return json_response(state.row(updated))

    async def delete(request: Request) -> Response:
        contact_id = _uuid_param(request)
        if not state.delete_contact(contact_id):
            raise ApiError(404, f"Contact with id {contact_id} not found")
        return json_response({"success": True})

    async def list_webhooks(request: Request) -> Response:
        return json_response(state.webhook_list())

    async def create_webhook(request: Request) -> Response:
        fields = validate_webhook(await read_json_object(request), partial=False)
        if len(state.webhooks) >= MAX_WEBHOOKS:
            raise ApiError(400, f"A company can have at most {MAX_WEBHOOKS} webhooks")
        hook = state.add_webhook(
            fields["endpoint"], fields["eventTypes"], fields.get("description")
        )
        return json_response(hook, 201)

    async def update_webhook(request: Request) -> Response:
        hook_id = _uuid_param(request)
        fields = validate_webhook(await read_json_object(request), partial=True)
        hook = state.webhooks.get(hook_id)
        if hook is None:
            raise ApiError(404, f"Webhook with id {hook_id} not found")
        hook.update(fields)
        return json_response(dict(hook))

    async def delete_webhook(request: Request) -> Response:
        hook_id = _uuid_param(request)
        if state.webhooks.pop(hook_id, None) is None:
            raise ApiError(404, f"Webhook with id {hook_id} not found")
        return json_response({"success": True})

    return [
        guarded_route(state, "GET", "/crm", search),
        guarded_route(state, "POST", "/crm", create),
        guarded_route(state, "POST", "/crm/bulk", bulk, bulk=True),
        guarded_route(state, "GET", "/crm/details", details),
        guarded_route(state, "PATCH", "/crm/{id}", update),
        guarded_route(state, "DELETE", "/crm/{id}", delete),
        guarded_route(state, "GET", "/webhooks", list_webhooks),
        guarded_route(state, "POST", "/webhooks", create_webhook),
        guarded_route(state, "PATCH", "/webhooks/{id}", update_webhook),
        guarded_route(state, "DELETE", "/webhooks/{id}", delete_webhook),
    ]

"""The HTTP face of the simulated MeetMatch API: one handler per documented endpoint.

Handlers only parse and validate requests and shape answers; the state (meetmatch.py) owns the
data. Validation follows MeetMatch's API reference and, where it is silent, is strict: a sync
client should learn about a bad request here rather than in production.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .common import (
    ApiError,
    Json,
    guarded_route,
    hook_url_problem,
    is_valid_email,
    json_response,
    optional_object,
    optional_str,
    read_json_object,
)
from .meetmatch_records import APPOINTMENT_STATUSES, DEAL_PRIORITIES, EVENTS

if TYPE_CHECKING:
    from .meetmatch import MeetMatchState


def _parse_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return 25
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, "limit must be an integer between 1 and 100", "limit") from None
    if not 1 <= limit <= 100:
        raise ApiError(400, "limit must be an integer between 1 and 100", "limit")
    return limit


def routes(state: MeetMatchState) -> list[Route]:
    def listing(kind: str, statuses: tuple[str, ...] | None) -> Callable[..., Any]:
        async def handler(request: Request) -> Response:
            limit = _parse_limit(request)
            status = request.query_params.get("status") if statuses is not None else None
            if status is not None and statuses and status not in statuses:
                raise ApiError(400, f"status must be one of {', '.join(statuses)}", "status")
            rows = state.newest(kind, limit, status)
            envelope = state.list_envelope
            return json_response({envelope: rows} if envelope else rows)

        return handler

    async def auth(request: Request) -> Response:
        return json_response(state.organization)

    async def pipelines(request: Request) -> Response:
        return json_response([dict(p) for p in state.pipelines])

    async def create_contact(request: Request) -> Response:
        body = await read_json_object(request)
        full_name = body.get("full_name")
        if not isinstance(full_name, str) or not full_name.strip():
            raise ApiError(400, "full_name is required and must be a non-empty string", "full_name")
        email = body.get("email")
        if not isinstance(email, str) or not is_valid_email(email):
            raise ApiError(400, "email is required and must be a valid email address", "email")
        for name in ("company", "phone", "lead_source"):
            optional_str(body, name)
        optional_object(body, "custom_fields")
        existing = state.contact_by_email(email)
        if existing is not None:
            return json_response(existing, 200)
        record = state.add_contact(
            full_name,
            email,
            company=body.get("company"),
            phone=body.get("phone"),
            lead_source=body.get("lead_source"),
            custom_fields=body.get("custom_fields"),
        )
        return json_response(record, 201)

    async def create_deal(request: Request) -> Response:
        body = await read_json_object(request)
        fields = _deal_fields(body)
        prospect_id, pipeline_id = body.get("prospect_id"), body.get("pipeline_id")
        for name, value in (("prospect_id", prospect_id), ("pipeline_id", pipeline_id)):
            if not isinstance(value, str) or not value:
                raise ApiError(400, f"{name} is required", name)
        if state.contact_by_id(prospect_id) is None:
            raise ApiError(404, f"prospect_id {prospect_id} not found", "prospect_id")
        if state.pipeline(pipeline_id) is None:
            raise ApiError(404, f"pipeline_id {pipeline_id} not found", "pipeline_id")
        record = state.add_deal(prospect_id=prospect_id, pipeline_id=pipeline_id, **fields)
        return json_response(record, 201)

    async def create_hook(request: Request) -> Response:
        body = await read_json_object(request)
        problem = hook_url_problem(body.get("target_url"))
        if problem is not None:
            raise ApiError(400, f"target_url {problem}", "target_url")
        event = body.get("event")
        if event not in EVENTS:
            raise ApiError(400, f"event must be one of {', '.join(EVENTS)}", "event")
        return json_response({"id": state.subscribe(body["target_url"], event)}, 201)

    async def delete_hook(request: Request) -> Response:
        hook_id = request.path_params["id"]
        state.unsubscribe(hook_id)
        return json_response({"id": hook_id, "deleted": True})

    async def no_update(request: Request) -> Response:
        raise ApiError(405, "Contacts cannot be updated or deleted through the API")

    routes = [
        guarded_route(state, "GET", "/auth", auth),
        guarded_route(state, "GET", "/pipelines", pipelines),
        guarded_route(state, "GET", "/contacts", listing("contacts", None)),
        guarded_route(state, "GET", "/appointments", listing("appointments", APPOINTMENT_STATUSES)),
        guarded_route(state, "GET", "/deals", listing("deals", ())),
        guarded_route(state, "GET", "/outcomes", listing("outcomes", None)),
        guarded_route(state, "GET", "/form-submissions", listing("form-submissions", None)),
        guarded_route(state, "POST", "/contacts", create_contact, scope="write"),
        guarded_route(state, "POST", "/deals", create_deal, scope="write"),
        guarded_route(state, "POST", "/hooks", create_hook),
        guarded_route(state, "DELETE", "/hooks/{id}", delete_hook),
    ]
    for method in ("PUT", "PATCH", "DELETE"):
        routes.append(guarded_route(state, method, "/contacts", no_update))
        routes.append(guarded_route(state, method, "/contacts/{id}", no_update))
    return routes


def _deal_fields(body: Json) -> Json:
    """The optional fields of POST /deals, validated as MeetMatch's API reference describes them."""
    fields: Json = {}
    if body.get("deal_name") is not None:
        fields["deal_name"] = optional_str(body, "deal_name")
    value = body.get("deal_value")
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ApiError(400, "deal_value must be a non-negative number", "deal_value")
        fields["deal_value"] = value
    close = body.get("expected_close_date")
    if close is not None:
        try:
            valid = isinstance(close, str) and len(close) == 10 and bool(date.fromisoformat(close))
        except ValueError:
            valid = False
        if not valid:
            raise ApiError(
                400, "expected_close_date must be a date (YYYY-MM-DD)", "expected_close_date"
            )
        fields["expected_close_date"] = close
    priority = body.get("priority")
    if priority is not None:
        if priority not in DEAL_PRIORITIES:
            raise ApiError(400, "priority must be one of low, medium, high", "priority")
        fields["priority"] = priority
    return fields

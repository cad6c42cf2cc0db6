"""Control API of the sandbox (mounted at /_sandbox): what users and testers do, not clients.

Through it a test or demo plays the humans ("a user creates a contact in meetergo", "someone
books a meeting"), reads the truth behind the APIs (every record, not just the newest 100), and
turns the knobs (faults, limits, envelopes). Nothing here is counted, rate limited or faulted,
so observing the sandbox never disturbs what is being measured.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .common import ApiError, Json, VendorState, json_response, read_json_object
from .meetergo_schema import WEBHOOK_ENVELOPES
from .meetmatch import LIST_ENVELOPES
from .meetmatch_records import KINDS

if TYPE_CHECKING:
    from .app import Sandbox

# Switches the control API may flip on each vendor's state (POST /_sandbox/options).
OPTIONS: dict[str, dict[str, tuple[type, ...]]] = {
    "meetmatch": {"list_envelope": (str, type(None)), "webhook_secret": (str,)},
    "meetergo": {
        "webhook_envelope": (str,),
        "duplicate_deliveries": (bool,),
        "send_retry_after": (bool,),
    },
}
_LIMIT_FIELDS = ("requests_per_minute", "burst", "bulk_per_minute", "bulk_burst")


def _handled(handler: Callable[[Request], Awaitable[Response]]) -> Callable[..., Any]:
    """Turn the ApiError/ValueError/KeyError of a control call into a plain JSON error."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return json_response({"error": exc.message}, exc.status)
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        except KeyError as exc:
            return json_response({"error": f"not found: {exc.args[0]}"}, 404)

    return endpoint


def _created_at(body: Json) -> datetime | None:
    raw = body.pop("created_at", None)
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def control_app(sandbox: Sandbox) -> Starlette:
    """The /_sandbox app over both vendor states of `sandbox`."""
    mm, mg = sandbox.meetmatch, sandbox.meetergo

    def vendor_of(body: Json) -> VendorState:
        vendor = body.pop("vendor", None)
        if vendor == "meetmatch":
            return mm
        if vendor == "meetergo":
            return mg
        raise ValueError('vendor must be "meetmatch" or "meetergo"')

    async def stats(request: Request) -> Response:
        return json_response(sandbox.stats())

    async def reset_stats(request: Request) -> Response:
        sandbox.reset_counters()
        return json_response(sandbox.stats())

    async def faults(request: Request) -> Response:
        body = await read_json_object(request)
        state = vendor_of(body)
        state.faults.update(body)
        return json_response(state.faults.as_dict())

    async def limits(request: Request) -> Response:
        body = await read_json_object(request)
        state = vendor_of(body)
        for name, value in body.items():
            if name not in _LIMIT_FIELDS:
                raise ValueError(f"unknown limit field {name!r}")
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
            ):
                raise ValueError(f"{name} must be a positive number or null")
        if state is mm:
            mm.set_limits(body.get("requests_per_minute"), body.get("burst"))
            return json_response({"requests_per_minute": mm.requests_per_minute, "burst": mm.burst})
        mg.set_limits(**body)
        return json_response({name: getattr(mg, name) for name in _LIMIT_FIELDS})

    async def keys(request: Request) -> Response:
        """Revoke a key (`scopes` null) or grant it scopes: how an admin breaks or fixes a key.

        meetergo keys have no scopes: any list makes the key valid again.
        """
        body = await read_json_object(request)
        state = vendor_of(body)
        key, scopes = body.get("key"), body.get("scopes")
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        if scopes is not None and (
            not isinstance(scopes, list) or not set(scopes) <= {"read", "write"}
        ):
            raise ValueError('scopes must be null or a list of "read" and "write"')
        if state is mm:
            if scopes is None:
                mm.api_keys.pop(key, None)
            else:
                mm.api_keys[key] = set(scopes)
            return json_response({k: sorted(v) for k, v in mm.api_keys.items()})
        if scopes is None:
            mg.api_keys.discard(key)
        else:
            mg.api_keys.add(key)
        return json_response(sorted(mg.api_keys))

    async def options(request: Request) -> Response:
        body = await read_json_object(request)
        state = vendor_of(body)
        allowed = OPTIONS[state.vendor]
        for name, value in body.items():
            if name not in allowed or not isinstance(value, allowed[name]):
                raise ValueError(f"{name} is not a settable option of {state.vendor}")
        if body.get("list_envelope") not in (None, *LIST_ENVELOPES):
            raise ValueError(f"list_envelope must be null or one of {', '.join(LIST_ENVELOPES)}")
        if body.get("webhook_envelope", "flat") not in WEBHOOK_ENVELOPES:
            raise ValueError(f"webhook_envelope must be one of {', '.join(WEBHOOK_ENVELOPES)}")
        for name, value in body.items():
            setattr(state, name, value)
        return json_response({name: getattr(state, name) for name in allowed})

    async def deliveries(request: Request) -> Response:
        return json_response(
            {state.vendor: [dataclasses.asdict(a) for a in state.deliveries] for state in (mm, mg)}
        )

    async def drain(request: Request) -> Response:
        await sandbox.drain_deliveries()
        return json_response({"pending": 0})

    async def mm_list(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in KINDS:
            raise KeyError(kind)
        return json_response(mm.all_records(kind))

    async def mm_create(request: Request) -> Response:
        kind = request.path_params["kind"]
        body = await read_json_object(request)
        created_at = _created_at(body)
        if kind == "contacts":
            record = mm.add_contact(
                body.pop("full_name", None), body.pop("email", None), created_at=created_at, **body
            )
        elif kind in KINDS:
            add = {
                "appointments": mm.add_appointment,
                "deals": mm.add_deal,
                "outcomes": mm.add_outcome,
                "form-submissions": mm.add_form_submission,
            }[kind]
            record = add(created_at=created_at, **body)
        else:
            raise KeyError(kind)
        return json_response(record, 201)

    async def mm_hooks(request: Request) -> Response:
        return json_response(mm.hook_list())

    async def mg_contacts(request: Request) -> Response:
        return json_response(mg.all_contacts())

    async def mg_create(request: Request) -> Response:
        body = await read_json_object(request)
        created_at = _created_at(body)
        return json_response(mg.user_create_contact(created_at=created_at, **body), 201)

    async def mg_update(request: Request) -> Response:
        body = await read_json_object(request)
        return json_response(mg.user_update_contact(request.path_params["id"], **body))

    async def mg_delete(request: Request) -> Response:
        mg.user_delete_contact(request.path_params["id"])
        return json_response({"success": True})

    async def mg_book(request: Request) -> Response:
        body = await read_json_object(request)
        email = body.pop("email", None)
        if not isinstance(email, str) or not email:
            raise ValueError("email is required")
        start = body.pop("start", None)
        booking = mg.book(
            email, start=datetime.fromisoformat(start) if isinstance(start, str) else None, **body
        )
        return json_response(booking, 201)

    async def mg_webhooks(request: Request) -> Response:
        return json_response(mg.webhook_list())

    table: list[tuple[str, str, Callable[[Request], Awaitable[Response]]]] = [
        ("GET", "/stats", stats),
        ("POST", "/reset-stats", reset_stats),
        ("POST", "/faults", faults),
        ("POST", "/limits", limits),
        ("POST", "/options", options),
        ("POST", "/keys", keys),
        ("GET", "/deliveries", deliveries),
        ("POST", "/drain", drain),
        ("GET", "/meetmatch/hooks", mm_hooks),
        ("GET", "/meetmatch/{kind}", mm_list),
        ("POST", "/meetmatch/{kind}", mm_create),
        ("GET", "/meetergo/contacts", mg_contacts),
        ("POST", "/meetergo/contacts", mg_create),
        ("PATCH", "/meetergo/contacts/{id}", mg_update),
        ("DELETE", "/meetergo/contacts/{id}", mg_delete),
        ("POST", "/meetergo/bookings", mg_book),
        ("GET", "/meetergo/webhooks", mg_webhooks),
    ]
    return Starlette(
        routes=[Route(path, _handled(fn), methods=[method]) for method, path, fn in table]
    )

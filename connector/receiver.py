"""The webhook receiver: verify a delivery, store it in the inbox, answer. No sync logic.

A 2xx answer promises the vendor that the delivery is safe, so it is given only after the inbox
holds it (invariant 5); when the database fails the answer is 503 and the vendor retries. Nothing
that is unsigned, wrongly signed, oversized or malformed reaches the inbox (invariant 7):

- MeetMatch signs the raw body (`X-MeetMatch-Signature: sha256=<hex HMAC-SHA256>`). The HMAC is
  checked over the exact bytes received, before any parsing, against each configured secret, so a
  secret can be rotated without losing deliveries, and with `hmac.compare_digest` so the answer
  time tells nothing about how close a guess was.
- meetergo signs nothing: the unguessable token in the path is the credential. A wrong token gets
  the same 404 as a path that does not exist, so the endpoint cannot be told apart from nothing.
- Bodies are read with a hard cap: a Content-Length over it is refused before reading, and the
  stream is cut off once it passes the cap whatever the header said.

The receiver never answers 410: vendors following Zapier's REST-hook convention delete the
subscription on 410. Echoes of meetbridge's own writes and events it does not consume get 200.

Each refusal is logged once at WARNING with its reason and the client address; bodies, secrets,
signatures and the path token are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing, suppress
from typing import Any, NoReturn

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from connector.errors import StoreError
from connector.metrics import CONTENT_TYPE, Metrics
from connector.store.inbox import Inbox

log = logging.getLogger(__name__)

MEETMATCH = "meetmatch"
MEETERGO = "meetergo"

# The MeetMatch events meetbridge subscribes to and the worker applies.
MEETMATCH_EVENTS = frozenset(
    {
        "appointment.created",
        "appointment.completed",
        "appointment.no_show",
        "appointment.cancelled",
        "appointment.rescheduled",
        "contact.created",
        "deal.created",
        "deal.stage_changed",
        "deal.won",
        "deal.lost",
        "outcome.recorded",
        "form.submitted",
    }
)

# meetergo events that carry a person the worker can sync. booking_cancelled and new_employee
# are answered 200 and dropped: a cancellation changes no contact, an employee is not a contact.
MEETERGO_EVENTS = frozenset({"booking_created", "booking_rescheduled", "form_submission"})

_SIGNATURE_HEADER = "x-meetmatch-signature"
_EVENT_HEADER = "x-meetmatch-event"
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")

Json = dict[str, Any]

# How deeply a delivery's JSON may nest (objects and arrays). Real deliveries nest a few levels;
# the worker's handling of a record breaks at a few hundred (see `_unstorable`).
MAX_JSON_DEPTH = 64

Ready = Callable[[], Awaitable[str | None]]


class _Refused(Exception):
    """A delivery the receiver will not store: the answer to give and the reason to log.

    `error` is the answer's `{"error": ...}` (None: the plain 404 of an unknown path); `reason`
    goes to the log only and must never quote the body, a secret or a signature.
    """

    def __init__(self, status: int, error: str | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason


def _reject_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON; PostgreSQL would refuse to store them, and a delivery the
    # database refuses would get 503 and be retried by the vendor forever.
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf: the same trouble as Infinity
        raise ValueError("number out of range")
    return value


def _unstorable(body: Any) -> str | None:
    """Why parsed JSON must not be stored although it parsed, or None.

    Both would be stored, fail on every try of the worker and never be applied (or, on
    PostgreSQL, be refused by the database: 503, retried by the vendor forever):

    - nesting deeper than MAX_JSON_DEPTH: the worker's copying, validation and serialization of
      a record recurse, and a few hundred levels exhaust them;
    - a lone surrogate escape (`"\\ud800"`): JSON syntax, but not Unicode text, so it cannot be
      encoded as UTF-8 for the database or for a vendor request.

    Walked with an explicit stack, so the check itself cannot exhaust the recursion limit.
    """
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return "lone surrogate in a string"
            continue
        if isinstance(value, dict):
            children: list[Any] = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            return "nested too deeply"
        stack.extend((child, depth + 1) for child in children)
    return None


def _parse_json_object(raw: bytes) -> Json:
    """The body as a JSON object; anything else (or no JSON at all) is a 400."""
    try:
        body = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        reason = f"malformed JSON ({type(exc).__name__})"
        raise _Refused(400, "body is not valid JSON", reason) from None
    problem = _unstorable(body)
    if problem is not None:
        raise _Refused(400, "body is not valid JSON", f"unusable JSON ({problem})")
    if not isinstance(body, dict):
        raise _Refused(400, "body must be a JSON object", "JSON body is not an object")
    return body


async def _read_capped(request: Request, limit: int) -> bytes:
    """The raw body, or a 413 as soon as it is known to exceed `limit` bytes.

    Content-Length is only a hint: a sender may lie or send chunked, so the count that matters is
    of the bytes actually read.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise _Refused(400, "malformed Content-Length", "malformed Content-Length header")
        # Compared by length first: int() refuses strings of more than 4300 digits (ValueError).
        digits = declared.lstrip("0")
        if len(digits) > len(str(limit)) or int(digits or "0") > limit:
            raise _Refused(413, "body too large", "declared body length over the limit")
    body = bytearray()
    try:
        async with aclosing(request.stream()) as chunks:
            async for chunk in chunks:
                body += chunk
                if len(body) > limit:
                    raise _Refused(413, "body too large", "body over the limit")
    except ClientDisconnect:
        raise _Refused(400, "incomplete body", "client disconnected mid-body") from None
    return bytes(body)


def _signature_of(request: Request) -> str:
    """The hex digest from X-MeetMatch-Signature (lowercased), or a 401."""
    header = request.headers.get(_SIGNATURE_HEADER)
    if header is None:
        raise _Refused(401, "invalid signature", "no X-MeetMatch-Signature header")
    found = _SIGNATURE.fullmatch(header.strip())
    if found is None:
        raise _Refused(401, "invalid signature", "malformed X-MeetMatch-Signature header")
    return found.group(1).lower()


def _signed_by_any(raw: bytes, digest: str, secrets: Sequence[bytes]) -> bool:
    """Whether `digest` is the HMAC-SHA256 of `raw` under any of `secrets`.

    Every secret is tried, even after a match, so the time taken does not reveal which one matched.
    """
    matched = False
    for secret in secrets:
        expected = hmac.new(secret, raw, hashlib.sha256).hexdigest()
        matched |= hmac.compare_digest(expected, digest)
    return matched


def _meetmatch_event(request: Request, body: Json) -> str:
    """The event of a MeetMatch `{"event", "data"}` body, checked against X-MeetMatch-Event."""
    event = body.get("event")
    if not isinstance(event, str) or not isinstance(body.get("data"), dict):
        raise _Refused(
            400,
            "body must be an object with a string 'event' and an object 'data'",
            "body is not a MeetMatch event envelope",
        )
    header = request.headers.get(_EVENT_HEADER)
    if header is not None and header != event:
        raise _Refused(
            400,
            "X-MeetMatch-Event does not match the body's event",
            "X-MeetMatch-Event header differs from the body's event",
        )
    return event


def _meetergo_event(body: Json) -> str:
    """The event of a meetergo body in either envelope.

    Current deliveries are flat with `webhookType`; older ones wrap the booking as
    `{"event", "data"}`. The whole body is stored either way; the worker reads both.
    """
    if "webhookType" in body:
        event = body["webhookType"]
        if isinstance(event, str):
            return event
    elif isinstance(body.get("event"), str) and isinstance(body.get("data"), dict):
        return str(body["event"])
    raise _Refused(
        400,
        "body must carry a string 'webhookType', or a string 'event' and an object 'data'",
        "body is not a meetergo event envelope",
    )


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def receiver_app(
    inbox: Inbox,
    *,
    meetmatch_secrets: Sequence[str],
    meetergo_token: str,
    metrics: Metrics,
    ready: Ready,
    max_body: int = 1024 * 1024,
) -> Starlette:
    """The ASGI app serving the webhook endpoints, health, readiness and metrics.

    `meetmatch_secrets` are all accepted, so a secret can be rotated without a gap; empty ones are
    dropped, since an HMAC under an empty key is one anybody can compute. With no secret left,
    or an empty `meetergo_token`, that vendor's deliveries are all refused. `ready` returns None
    when the daemon can do its work, or the reason it cannot.
    """
    if isinstance(meetmatch_secrets, str):
        # A bare string is a Sequence[str] too: each character would become a "secret".
        raise TypeError("meetmatch_secrets must be a sequence of secrets, not one string")
    secrets = [secret.encode() for secret in meetmatch_secrets if secret]
    token = meetergo_token.encode()

    async def store(vendor: str, event: str, raw: bytes, body: Json) -> Response:
        try:
            fresh = await inbox.enqueue(vendor, event, raw, body)
        except StoreError as exc:
            # The message of a database error can quote the statement's parameters (the body):
            # only the kind of failure is logged.
            cause = type(exc.__cause__ or exc).__name__
            reason = f"storing failed ({cause})"
            raise _Refused(503, "state database unavailable", reason) from None
        return JSONResponse({"status": "stored" if fresh else "duplicate"})

    def ignored(vendor: str, event: str) -> Response:
        log.info("ignored %s event %r", vendor, event[:64])
        return JSONResponse({"status": "ignored"})

    async def meetmatch(request: Request) -> Response:
        raw = await _read_capped(request, max_body)
        digest = _signature_of(request)
        if not secrets:
            raise _Refused(401, "invalid signature", "no MeetMatch webhook secret is configured")
        if not _signed_by_any(raw, digest, secrets):
            raise _Refused(401, "invalid signature", "signature matches no configured secret")
        body = _parse_json_object(raw)
        event = _meetmatch_event(request, body)
        if event not in MEETMATCH_EVENTS:
            return ignored(MEETMATCH, event)
        return await store(MEETMATCH, event, raw, body)

    async def meetergo(request: Request) -> Response:
        given = str(request.path_params["token"]).encode()
        if not token or not hmac.compare_digest(given, token):
            raise _Refused(404, None, "wrong meetergo path token")
        raw = await _read_capped(request, max_body)
        body = _parse_json_object(raw)
        event = _meetergo_event(body)
        if event not in MEETERGO_EVENTS:
            return ignored(MEETERGO, event)
        return await store(MEETERGO, event, raw, body)

    def webhook(path: str, vendor: str, handler: Callable[[Request], Awaitable[Response]]) -> Route:
        """Wrap a handler: turn refusals into answers, log them, observe every answer."""

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            status = 500  # what Starlette answers if the handler fails unexpectedly
            try:
                response = await answer(request)
                status = response.status_code
                return response
            finally:
                metrics.observe_webhook(vendor, status, time.perf_counter() - started)

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except _Refused as refused:
                log.warning(
                    "refused %s delivery from %s: %s (HTTP %d)",
                    vendor,
                    _client(request),
                    refused.reason,
                    refused.status,
                )
                if refused.error is None:
                    # Exactly what an unknown path gets, so a wrong token reveals nothing.
                    return PlainTextResponse("Not Found", status_code=refused.status)
                return JSONResponse({"error": refused.error}, status_code=refused.status)

        return Route(path, endpoint, methods=["POST"])

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        reason = await ready()
        if reason is None:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)

    async def metrics_endpoint(_request: Request) -> Response:
        # Gauges read from the database at each scrape (a replica's own view would go stale);
        # on a database failure they keep their last values: /readyz is where that shows.
        with suppress(StoreError):
            metrics.set_inbox_depth(await inbox.depth())
            metrics.set_dead_letters(await inbox.store.count_open_dead_letters())
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return Starlette(
        routes=[
            webhook("/hooks/meetmatch", MEETMATCH, meetmatch),
            webhook("/hooks/meetergo/{token}", MEETERGO, meetergo),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )

"""Hostile input at the receiver, in-process: never a 5xx, never a stored forgery, never a write.

The real `receiver_app` runs on a real SQLite inbox behind `httpx.ASGITransport`, which hands an
unexpected exception of the app to the test (instead of a 500), so "no 5xx" here also means "no
exception escaped". Hypothesis throws at it random bytes, JSON of every shape in several
encodings, odd headers, paths and sizes:

- an unsigned or wrongly signed MeetMatch delivery, a wrong meetergo token or an unknown path
  stores nothing;
- what a valid signature or the right token lets in is then applied by the live worker
  (`LiveSync.apply_delivery`) against the in-process sandbox: it may only raise meetbridge's own
  errors, and writes to a vendor only for a delivery naming a person with a valid email.

The receiver publishes no OpenAPI schema, so there is nothing for schemathesis to run against.
Examples are derandomized, so CI sees the same ones every run.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from connector.errors import MeetbridgeError
from connector.metrics import Metrics
from connector.receiver import MAX_JSON_DEPTH, MEETERGO_EVENTS, MEETMATCH_EVENTS
from connector.runtime import Runtime
from connector.sandbox.app import Sandbox
from connector.store.inbox import Inbox
from connector.store.state import Store
from connector.sync.live import LiveSync
from mappings import normalize_email
from tests.faults.hostile import json_of
from tests.receiver.conftest import MIB, TOKEN, Readiness, build_app, sign

MEETMATCH_PATH = "/hooks/meetmatch"
MEETERGO_PATH = f"/hooks/meetergo/{TOKEN}"
# The statuses hostile input may get. Seen: 200, 307 (Starlette's redirect of a trailing slash
# to the route without it), 400, 401, 404, 405, 413. 415 is allowed but never answered: the
# receiver ignores Content-Type (vendors' senders vary) and judges the bytes.
STATUSES = {200, 307, 400, 401, 404, 405, 413, 415}


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# --- strategies ----------------------------------------------------------------------------

# Text no one types in a form: NUL and other controls, bidi overrides, combining marks without a
# base, a BOM, emoji, private use, injections. Lone surrogates (valid JSON escapes, but not
# Unicode, refused by the receiver) come separately and more rarely, so that most examples get
# past the receiver to the worker.
HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "\u202eevil\u202c",
    "\u200f\u200e",
    "\u0301\u0301",
    "e\u0301",
    "\ufeff",
    "\U0001f600\u200d\U0001f4bb",
    "\ue000\U000f0000",
    "%s%n%x",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "\r\nX-Injected: 1",
    "".join(chr(ord(c) + 0xFEE0) for c in "ada@example.com"),  # fullwidth
    "a" * 5000,
]
hostile_text = (
    st.text(max_size=20)
    | st.sampled_from(HOSTILE_STRINGS)
    | st.text(st.characters(categories=["Cc", "Cf", "Co", "Mn", "Zs", "So"]), max_size=8)
)
surrogate_text = st.sampled_from(["\ud800", "\udfff\ud800", "x\udc00"]) | st.text(
    st.characters(categories=["Cs"]), min_size=1, max_size=3
)


json_values = json_of(hostile_text)
any_json = json_of(hostile_text | surrogate_text)


def nested(depth: int, leaf: Any = None) -> Any:
    value = leaf
    for n in range(depth):
        value = [value] if n % 2 else {"k": value}
    return value


emails = (
    st.emails()
    | st.emails()
    | st.emails().map(lambda e: f"  {e.upper()}\t")
    | st.sampled_from(
        ["ü@exämple.de", "a@b", "@example.com", "a@@b.io", "ada@example.com\x00", "Anna <a@x.io>"]
    )
    | hostile_text
)


def _valid_email(value: Any) -> bool:
    return isinstance(value, str) and isinstance(normalize_email(value), str)


# The fields of MeetMatch records the worker reads, each given a hostile value (or left out).
_PERSON_FIELDS = {
    "id": st.text(max_size=12) | st.text(max_size=12) | hostile_text | json_values,
    "full_name": hostile_text | json_values,
    "email": emails | json_values,
    "company": hostile_text | json_values,
    "phone": st.sampled_from(["+15551234567", "030 1234567", "+4930123456789012345"])
    | hostile_text,
    "lead_source": hostile_text,
    "custom_fields": st.dictionaries(hostile_text, json_values, max_size=4)
    | json_values
    | st.integers(0, MAX_JSON_DEPTH - 4).map(lambda d: {"deep": nested(d)}),
    "created_at": st.sampled_from(["2026-06-01T14:55:00Z", "99999-01-01", "", "yesterday"])
    | json_values,
    "prospect_id": st.text(max_size=12) | hostile_text | json_values,
    "prospect_name": hostile_text,
    "prospect_email": emails | json_values,
    "prospect_company": hostile_text,
    "prospect_phone": hostile_text,
    "answers": json_values,
}
# Half the time the fields that name a person are all there (so the worker gets to a write).
_NAMING = {"id": st.text(max_size=12), "email": emails, "prospect_id": st.text(max_size=12)}
_NAMING["prospect_email"] = emails
_named = st.fixed_dictionaries(
    _NAMING, optional={k: v for k, v in _PERSON_FIELDS.items() if k not in _NAMING}
)
meetmatch_data = (_named | st.fixed_dictionaries({}, optional=_PERSON_FIELDS)).flatmap(
    lambda known: st.dictionaries(hostile_text, json_values, max_size=3).map(
        lambda extra: {**extra, **known}
    )
)


def mostly(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`common` three times in four, else `rare`."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda c: common if c else rare)


meetmatch_events = mostly(st.sampled_from(sorted(MEETMATCH_EVENTS)), hostile_text)


@st.composite
def meetmatch_envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A MeetMatch envelope with hostile data; one in eight carries a lone surrogate."""
    envelope: dict[str, Any] = {"event": draw(meetmatch_events), "data": draw(meetmatch_data)}
    envelope.update(draw(st.dictionaries(hostile_text, json_values, max_size=2)))
    if draw(st.sampled_from([False] * 7 + [True])):
        where = draw(st.sampled_from(["full_name", "email", "custom_fields", "key"]))
        poison = draw(surrogate_text)
        data = envelope["data"]
        if where == "custom_fields":
            data["custom_fields"] = {"k": poison}
        elif where == "key":
            data[poison] = 1
        else:
            data[where] = poison
    return envelope


def has_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


attendee_ids = (
    st.text(max_size=40)
    | st.sampled_from(["", " ", "../crm/1", "a/b?c#d", "\x00", "é", "1; DROP TABLE"])
    | json_values
)
attendee = st.fixed_dictionaries(
    {}, optional={"id": attendee_ids, "email": emails, "fullname": hostile_text}
)


@st.composite
def meetergo_bodies(draw: st.DrawFn) -> Any:
    """A meetergo delivery in either envelope, with hostile attendees (or none, or junk)."""
    event = draw(mostly(st.sampled_from(sorted(MEETERGO_EVENTS)), hostile_text))
    attendees = draw(st.lists(attendee, max_size=3) | json_values)
    booking = {"id": draw(hostile_text), "attendees": attendees}
    booking.update(draw(st.dictionaries(hostile_text, json_values, max_size=2)))
    if draw(st.booleans()):
        return {"webhookType": event, **booking}
    return {"event": event, "data": booking}


def _encode(value: Any, how: str) -> bytes:
    if how == "ascii":
        return json.dumps(value).encode()
    text = json.dumps(value, ensure_ascii=False)
    if how == "utf-8-raw-surrogates":  # a lone surrogate as the (invalid) UTF-8 bytes ED A0 80
        return text.encode("utf-8", "surrogatepass")
    if how == "utf-8-bom":
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    if how == "latin-1":
        return text.encode("latin-1", "replace")
    return text.encode(how, "surrogatepass")  # utf-16, utf-16-be, utf-32


ENCODINGS = [
    "ascii",
    "ascii",
    "ascii",
    "utf-8-raw-surrogates",
    "utf-8-bom",
    "latin-1",
    "utf-16",
    "utf-16-be",
    "utf-32",
]


def encoded(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return st.tuples(values, st.sampled_from(ENCODINGS)).map(lambda pair: _encode(*pair))


# Bodies no JSON encoder would produce, built directly as bytes.
CRAFTED = [
    b"",
    b"\x00" * 64,
    b"\xff\xfe\x00\x00",
    b"GET / HTTP/1.1\r\n\r\n",
    b"[" * 100_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"event":"contact.created","data":{"id":"1","n":' + b"9" * 5000 + b"}}",
    b'{"event":"contact.created","data":{"id":"1","n":1' + b"0" * 400 + b"}}",
    b'{"event":"contact.created","data":{"id":"1","n":1e999}}',
    b'{"event":"contact.created","data":{"id":"1","n":-1e999}}',
    b'{"event":"contact.created","data":{"id":"1","n":NaN}}',
    b'{"event":"contact.created","data":{"id":"1","n":Infinity}}',
    b'{"event":"contact.created","data":{"id":"1","n":-Infinity}}',
    b'{"event":"contact.created","data":{"id":"\\ud800","email":"a@b.io"}}',
    b'{"event":"contact.created","data":{"id":"1","email":"\\udfff@b.io"}}',
    b'{"event":"contact.created","data":{"id":"1","email":"\xed\xa0\x80@b.io"}}',
    b'{"event":"contact.created","data":{"id":"1","email":"\xff@b.io"}}',
    b'{"event":"contact.created","event":"deal.won","data":{},"data":[]}',
    b'{"event":"contact.created","data":{"id":"1"}}' + b"garbage",
    b'{"webhookType":"booking_created","attendees":[{"id":"\\ud800"}]}',
    b'{"webhookType":"booking_created","attendees":' + b"[" * 900 + b"]" * 900 + b"}",
    b'\xef\xbb\xbf{"webhookType":"booking_created","attendees":[]}',
    '{"webhookType":"booking_created","attendees":[]}'.encode("utf-16"),
    b'"just a string"',
    b"[]",
    b"1" * 10_000,
]

bodies = (
    st.binary(max_size=2048)
    | st.sampled_from(CRAFTED)
    | encoded(any_json)
    | encoded(meetmatch_envelopes())
    | encoded(meetergo_bodies())
)

_no_crlf = st.binary(max_size=80).filter(lambda b: b"\r" not in b and b"\n" not in b)
content_types = (
    st.sampled_from(
        [
            b"application/json",
            b"application/json; charset=utf-16",
            b"text/plain",
            b"text/html",
            b"application/xml",
            b"multipart/form-data; boundary=----x",
            b"application/x-www-form-urlencoded",
            b"*/*",
            b"",
            b"\xff\xfe",
        ]
    )
    | _no_crlf
)
EXTRA_HEADERS = st.sampled_from(
    [b"x-meetmatch-event", b"accept", b"transfer-encoding", b"content-encoding", b"expect"]
)
content_lengths = st.sampled_from(
    [b"0", b"1", b"-1", b"+5", b" 5", b"5, 5", b"0x10", b"1e3", b"\xd9\xa1", b"1048577"]
) | st.integers(0, 10**40).map(lambda n: str(n).encode())


def forged_signatures(raw: bytes) -> st.SearchStrategy[bytes]:
    """X-MeetMatch-Signature values that do not sign `raw` under the receiver's secrets."""
    hex64 = st.text("0123456789abcdefABCDEF", min_size=64, max_size=64)
    return st.one_of(
        _no_crlf,
        hex64.map(lambda h: b"sha256=" + h.encode()),
        st.just(sign(raw, "not-the-secret").encode()),
        st.just(sign(raw + b" ").encode()),
        st.just(sign(raw)[7:].encode()),  # the right digest without its "sha256=" prefix
        st.just(("sha256=" + "é" * 64).encode("utf-8")),
        st.just(b"sha512=" + sign(raw)[7:].encode()),
        st.just(sign(raw).encode() + b"00"),
    )


def wrong_tokens() -> st.SearchStrategy[str]:
    """meetergo path tokens other than the right one, as they appear in a URL path."""
    near = st.sampled_from(
        [
            TOKEN[:-1],
            TOKEN + "x",
            TOKEN.upper(),
            " " + TOKEN,
            TOKEN + "%00",
            quote_from_bytes(TOKEN.encode() + b"\xff"),
            "x" * 30_000,
            "%C3%A9" * 200,
            "%ED%A0%80",
        ]
    )
    random = st.binary(min_size=1, max_size=64).map(lambda b: quote_from_bytes(b, safe=""))
    return (near | random).filter(lambda t: t not in (TOKEN, quote_from_bytes(TOKEN.encode())))


# --- harness -------------------------------------------------------------------------------


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r")


async def stored(inbox: Inbox) -> int:
    return sum((await inbox.counts()).values())


async def chunks(raw: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


def check_status(answer: httpx.Response) -> None:
    assert answer.status_code < 500, answer.text[:200]
    assert answer.status_code in STATUSES, (answer.status_code, answer.text[:200])


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[Inbox]:
    store = await Store.open(f"sqlite:///{tmp_path}/receiver.db")
    yield Inbox(store)
    await store.close()


@pytest.fixture
async def client(inbox: Inbox) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(build_app(inbox, Metrics(), Readiness())) as opened:
        yield opened


class Worker:
    """The receiver on the runtime's own database, and the live worker applying what it stored."""

    def __init__(self, rt: Runtime, live: LiveSync, sandbox: Sandbox) -> None:
        self.inbox = Inbox(rt.store)
        self.live = live
        self.sandbox = sandbox
        self.client = client_for(build_app(self.inbox, Metrics(), Readiness()))

    async def apply_stored(self) -> dict[str, int]:
        """Apply every pending delivery as the daemon's worker would; the writes it made."""
        self.sandbox.reset_counters()
        for delivery in await self.inbox.pending(limit=1000):
            # meetbridge's own errors are fine: the worker retries or dead-letters them.
            with contextlib.suppress(MeetbridgeError):
                await self.live.apply_delivery(delivery)
            await self.inbox.done(delivery.id)
        stats = self.sandbox.stats()
        return {vendor: int(stats[vendor]["writes"]) for vendor in ("meetmatch", "meetergo")}


@pytest.fixture
async def worker(runtime: Runtime, sandbox: Sandbox) -> AsyncIterator[Worker]:
    made = Worker(runtime, await LiveSync.create(runtime), sandbox)
    async with made.client:
        yield made


# --- nothing unauthenticated gets in -------------------------------------------------------


@fuzz(300)
@given(
    target=st.sampled_from(["meetmatch", "meetergo-wrong", "other"]),
    body=bodies,
    data=st.data(),
)
async def test_unauthenticated_garbage_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, inbox: Inbox, target: str, body: bytes, data: st.DataObject
) -> None:
    headers: list[tuple[bytes, bytes]] = []
    draw = data.draw
    if target == "meetmatch":
        path = MEETMATCH_PATH
        signature = draw(st.none() | forged_signatures(body))
        if signature is not None:
            headers.append((b"x-meetmatch-signature", signature))
    elif target == "meetergo-wrong":
        path = "/hooks/meetergo/" + draw(wrong_tokens())
    else:
        path = draw(
            st.sampled_from(
                [
                    "/",
                    "/hooks",
                    "/hooks/",
                    "/hooks/meetergo",
                    "/hooks/meetergo/",
                    "/hooks/meetmatch/",
                    "/hooks/meetmatch/x",
                    f"/hooks/meetergo/{TOKEN}/x",
                    "/hooks/%2e%2e/meetmatch",
                    "//hooks/meetmatch",
                    "/healthz/../hooks/meetmatch",
                ]
            )
            | st.binary(max_size=40).map(lambda b: "/" + quote_from_bytes(b, safe="/"))
        )
    content_type = draw(st.none() | content_types)
    if content_type is not None:
        headers.append((b"content-type", content_type))
    headers.extend(draw(st.lists(st.tuples(EXTRA_HEADERS, _no_crlf), max_size=3)))
    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"]))

    answer = await client.request(method, path, content=body, headers=headers)

    check_status(answer)
    if target != "other":
        assert answer.status_code in {400, 401, 404, 405, 413}
    assert await stored(inbox) == 0


@fuzz(120)
@given(
    length=content_lengths,
    body=st.sampled_from([b"", b"{}", b"x" * 300]),
    path=st.sampled_from([MEETMATCH_PATH, MEETERGO_PATH]),
)
@example(length=b"9" * 5000, body=b"{}", path=MEETERGO_PATH)  # int() refused it: was a 500
@example(length=b"9" * 5000, body=b"{}", path=MEETMATCH_PATH)
@example(length=b"0" * 5000 + b"2", body=b"{}", path=MEETERGO_PATH)
async def test_any_content_length_header_is_answered_without_a_5xx(
    client: httpx.AsyncClient, inbox: Inbox, length: bytes, body: bytes, path: str
) -> None:
    headers = [(b"content-length", length), (b"x-meetmatch-signature", sign(body).encode())]

    answer = await client.post(path, content=chunks(body), headers=headers)

    check_status(answer)
    assert answer.status_code in {400, 413}  # none of these bodies is an envelope
    assert await stored(inbox) == 0


# --- sizes around the 1 MiB cap ------------------------------------------------------------


def _sized(size: int, valid: bool) -> bytes:
    head = b'{"event":"contact.created","data":{"id":"c1","email":"size@example.com"}}'
    if not valid:
        return b"\xff" * size
    return head + b" " * (size - len(head))


@pytest.mark.parametrize("size", [MIB - 1, MIB, MIB + 1])
@pytest.mark.parametrize("sending", ["content-length", "chunked", "lying-low", "lying-high"])
@pytest.mark.parametrize("valid", [True, False], ids=["envelope", "garbage"])
async def test_sizes_around_the_cap(
    client: httpx.AsyncClient, inbox: Inbox, size: int, sending: str, valid: bool
) -> None:
    raw = _sized(size, valid)
    headers = {"X-MeetMatch-Signature": sign(raw)}
    content: bytes | AsyncIterator[bytes] = raw if sending == "content-length" else chunks(raw)
    if sending == "lying-low":
        headers["Content-Length"] = "10"
    if sending == "lying-high":
        headers["Content-Length"] = str(MIB)  # at the cap: read on, cut off by the real count

    answer = await client.post(MEETMATCH_PATH, content=content, headers=headers)

    check_status(answer)
    if size > MIB:
        assert answer.status_code == 413
        assert await stored(inbox) == 0
    elif valid:
        assert answer.json() == {"status": "stored"}
    else:
        assert answer.status_code == 400
        assert await stored(inbox) == 0


async def test_a_declared_gigabyte_is_refused_before_reading(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    pulled = 0

    async def trickle() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(1000):
            pulled += 1
            yield b"x" * 1024

    headers = {"Content-Length": str(1 << 30), "X-MeetMatch-Signature": sign(b"x")}
    answer = await client.post(MEETERGO_PATH, content=trickle(), headers=headers)

    assert answer.status_code == 413
    assert pulled <= 1  # the stream is opened, not read on
    assert await stored(inbox) == 0


# --- what does get in must not hurt the worker ---------------------------------------------


@pytest.mark.parametrize("raw", CRAFTED, ids=[f"crafted-{n}" for n in range(len(CRAFTED))])
async def test_crafted_bodies_signed_or_with_the_token_never_5xx(
    worker: Worker, raw: bytes
) -> None:
    for path in (MEETMATCH_PATH, MEETERGO_PATH):
        answer = await worker.client.post(
            path, content=raw, headers={"X-MeetMatch-Signature": sign(raw)}
        )
        check_status(answer)
        assert answer.status_code in {200, 400}
    writes = await worker.apply_stored()
    assert writes == {"meetmatch": 0, "meetergo": 0}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            json.dumps(
                {"event": "contact.created", "data": {"id": "d", "custom_fields": nested(300)}}
            ).encode(),
            "300 levels: stored, then RecursionError/ValueError in the worker",
        ),
        (
            json.dumps(
                {"event": "contact.created", "data": {"id": "s", "email": "\ud800@b.io"}}
            ).encode(),
            "lone surrogate: stored, then UnicodeEncodeError writing the sighting",
        ),
        (
            b'{"event":"contact.created","data":{"id":"s","full_name":"\xed\xa0\x80"}}',
            "a surrogate as raw bytes: json.loads decodes them with surrogatepass",
        ),
    ],
    ids=["deep", "escaped-surrogate", "raw-surrogate"],
)
async def test_signed_bodies_the_worker_could_never_apply_are_refused(
    worker: Worker, raw: bytes, reason: str
) -> None:
    """Regressions: these were stored (200) and then crashed the worker with a non-meetbridge
    exception, which ends the daemon's inbox worker task: live sync stopped for good."""
    answer = await worker.client.post(
        MEETMATCH_PATH, content=raw, headers={"X-MeetMatch-Signature": sign(raw)}
    )
    assert answer.status_code == 400, reason
    assert await stored(worker.inbox) == 0


async def test_nesting_up_to_the_limit_is_stored_and_applied(worker: Worker) -> None:
    data = {
        "id": "deep-1",
        "email": "deep@example.com",
        "custom_fields": {"deep": nested(MAX_JSON_DEPTH - 3)},  # body, data, custom_fields
    }
    raw = json.dumps({"event": "contact.created", "data": data}).encode()
    answer = await worker.client.post(
        MEETMATCH_PATH, content=raw, headers={"X-MeetMatch-Signature": sign(raw)}
    )
    assert answer.json() == {"status": "stored"}
    assert await worker.apply_stored() == {"meetmatch": 0, "meetergo": 1}


@fuzz(150)
@given(envelope=meetmatch_envelopes(), how=st.sampled_from(ENCODINGS), header=st.booleans())
@example(
    envelope={"event": "contact.created", "data": {"id": "x", "custom_fields": nested(300)}},
    how="ascii",
    header=False,
)
@example(
    envelope={"event": "contact.created", "data": {"id": "x", "email": "\ud800@b.io"}},
    how="ascii",
    header=False,
)
async def test_signed_meetmatch_deliveries_with_hostile_data(
    worker: Worker, envelope: dict[str, Any], how: str, header: bool
) -> None:
    raw = _encode(envelope, how)
    headers = {"X-MeetMatch-Signature": sign(raw)}
    if header:
        headers["X-MeetMatch-Event"] = "contact.created"

    answer = await worker.client.post(MEETMATCH_PATH, content=raw, headers=headers)

    check_status(answer)
    assert answer.status_code in {200, 400}
    if has_surrogate(envelope) and how != "latin-1":  # latin-1 replaced it with "?"
        assert answer.status_code == 400
    writes = await worker.apply_stored()  # raises if anything but a MeetbridgeError escapes
    assert writes["meetmatch"] == 0  # a MeetMatch delivery only ever writes to meetergo
    data = envelope["data"]
    kind = str(envelope["event"]).split(".", 1)[0]
    field = "email" if kind == "contact" else "prospect_email"
    names_a_person = kind in {"contact", "appointment", "deal", "form"} and _valid_email(
        data.get(field)
    )
    assert writes["meetergo"] <= (1 if names_a_person else 0)


@fuzz(120)
@given(body=meetergo_bodies(), how=st.sampled_from(ENCODINGS))
async def test_meetergo_deliveries_with_the_right_token_never_write(
    worker: Worker, body: Any, how: str
) -> None:
    """The body is only a pointer: each attendee is re-read by id, and no random id exists."""
    raw = _encode(body, how)
    answer = await worker.client.post(MEETERGO_PATH, content=raw)

    check_status(answer)
    assert answer.status_code in {200, 400}
    assert await worker.apply_stored() == {"meetmatch": 0, "meetergo": 0}


async def test_an_attendee_id_too_long_for_a_url_is_a_meetbridge_error(worker: Worker) -> None:
    raw = json.dumps({"webhookType": "booking_created", "attendees": [{"id": "x" * 70_000}]})
    answer = await worker.client.post(MEETERGO_PATH, content=raw.encode())
    assert answer.json() == {"status": "stored"}
    assert await worker.apply_stored() == {"meetmatch": 0, "meetergo": 0}

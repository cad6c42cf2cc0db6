"""MeetMatch simulator: auth, the newest-N window, create-or-return, no update endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from connector.sandbox import MeetMatchState, Sandbox

from .conftest import MM, FakeClock

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


async def test_auth_answers_the_organization(client: httpx.AsyncClient) -> None:
    response = await client.get("/meetmatch/auth", headers=MM)
    assert response.status_code == 200
    assert response.json() == {"id": "org_sandbox", "name": "Sandbox Org"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer mm_live_nope"}, {"Authorization": "mm_live_sandbox"}],
)
async def test_missing_or_unknown_key_is_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/meetmatch/contacts", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_api_key"


async def test_read_only_key_cannot_write() -> None:
    sandbox = Sandbox(meetmatch=MeetMatchState(api_keys={"mm_live_ro": {"read"}}))
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        headers = {"Authorization": "Bearer mm_live_ro"}
        assert (await client.get("/meetmatch/contacts", headers=headers)).status_code == 200
        body = {"full_name": "A", "email": "a@example.com"}
        denied = await client.post("/meetmatch/contacts", headers=headers, json=body)
        assert denied.status_code == 403
        assert denied.json()["error"] == "insufficient_scope"
        assert sandbox.meetmatch.all_contacts() == []


async def test_list_shows_only_newest_limit_records(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    mm = sandbox.meetmatch
    for i in range(130):
        mm.add_contact(f"P {i}", f"p{i}@example.com", created_at=T0 + timedelta(minutes=i))
    default = (await client.get("/meetmatch/contacts", headers=MM)).json()
    assert len(default) == 25
    assert default[0]["email"] == "p129@example.com"
    page = (await client.get("/meetmatch/contacts?limit=100&page=2&offset=100", headers=MM)).json()
    assert len(page) == 100  # paging parameters are ignored: the same newest 100 again
    assert page[-1]["email"] == "p30@example.com"
    assert "p0@example.com" not in {c["email"] for c in page}
    assert len(mm.all_contacts()) == 130


@pytest.mark.parametrize("limit", ["0", "101", "abc", "", "2.5", "-1"])
async def test_invalid_limit_is_400(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get(f"/meetmatch/contacts?limit={limit}", headers=MM)
    assert response.status_code == 400
    assert "limit" in response.json()["message"]


async def test_ties_in_created_at_show_later_insert_first(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    for name in ("first", "second", "third"):
        sandbox.meetmatch.add_contact(name, f"{name}@example.com", created_at=T0)
    rows = (await client.get("/meetmatch/contacts", headers=MM)).json()
    assert [r["full_name"] for r in rows] == ["third", "second", "first"]


@pytest.mark.parametrize("envelope", ["data", "results", "items"])
async def test_list_envelope_wraps_the_array(
    client: httpx.AsyncClient, sandbox: Sandbox, envelope: str
) -> None:
    sandbox.meetmatch.add_contact("A", "a@example.com")
    sandbox.meetmatch.list_envelope = envelope
    body = (await client.get("/meetmatch/contacts", headers=MM)).json()
    assert list(body) == [envelope]
    assert body[envelope][0]["email"] == "a@example.com"


async def test_post_contact_creates_then_returns_existing(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.meetmatch.add_contact("Anna Müller", "  Anna.Mueller@Example.com ")
    existing = await client.post(
        "/meetmatch/contacts",
        headers=MM,
        json={"full_name": "Someone Else", "email": "anna.mueller@example.com", "company": "X"},
    )
    assert existing.status_code == 200
    assert existing.json()["full_name"] == "Anna Müller"  # unchanged
    assert existing.json()["company"] is None
    created = await client.post(
        "/meetmatch/contacts",
        headers=MM,
        json={"full_name": "Jordan Avery", "email": "jordan@acme.com", "custom_fields": {"a": 1}},
    )
    assert created.status_code == 201
    record = created.json()
    assert set(record) == {
        "id",
        "full_name",
        "email",
        "company",
        "phone",
        "lead_source",
        "custom_fields",
        "created_at",
    }
    assert record["created_at"].endswith("Z")
    assert record["custom_fields"] == {"a": 1}
    again = await client.post(
        "/meetmatch/contacts", headers=MM, json={"full_name": "J", "email": "JORDAN@acme.com"}
    )
    assert again.status_code == 200
    assert again.json()["id"] == record["id"]
    assert len(sandbox.meetmatch.all_contacts()) == 2


async def test_exact_email_dedupe_tells_letter_case_apart(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    """The vendor page only says "the same email": the exact reading makes a second contact."""
    sandbox.meetmatch.add_contact("Anna Müller", "Anna.Mueller@Example.com", notify=False)
    sandbox.meetmatch.email_dedupe = "exact"
    same = {"full_name": "A", "email": "Anna.Mueller@Example.com"}
    other_case = {"full_name": "A", "email": "anna.mueller@example.com"}
    assert (await client.post("/meetmatch/contacts", headers=MM, json=same)).status_code == 200
    assert (
        await client.post("/meetmatch/contacts", headers=MM, json=other_case)
    ).status_code == 201
    # A booking's prospect is matched the same way.
    sandbox.meetmatch.add_appointment(prospect_email="ANNA.MUELLER@EXAMPLE.COM", notify=False)
    assert len(sandbox.meetmatch.all_contacts()) == 3
    # Back to case-insensitive: the oldest contact with the email answers again.
    sandbox.meetmatch.email_dedupe = "casefold"
    again = await client.post("/meetmatch/contacts", headers=MM, json=other_case)
    assert again.status_code == 200 and again.json()["full_name"] == "Anna Müller"
    with pytest.raises(ValueError, match="email_dedupe"):
        sandbox.meetmatch.email_dedupe = "fuzzy"
    assert MeetMatchState(email_dedupe="exact").email_dedupe == "exact"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com"}, "full_name"),
        ({"full_name": "  ", "email": "a@example.com"}, "full_name"),
        ({"full_name": "A"}, "email"),
        ({"full_name": "A", "email": "not-an-email"}, "email"),
        ({"full_name": "A", "email": "a b@example.com"}, "email"),
        ({"full_name": "A", "email": "a@localhost"}, "email"),
        ({"full_name": "A", "email": "a@example.com", "custom_fields": []}, "custom_fields"),
        ({"full_name": "A", "email": "a@example.com", "phone": 5}, "phone"),
    ],
)
async def test_post_contact_validation_names_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/meetmatch/contacts", headers=MM, json=body)
    assert response.status_code == 400
    assert field in response.json()["message"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_contacts_cannot_be_updated_or_deleted(
    client: httpx.AsyncClient, sandbox: Sandbox, method: str
) -> None:
    contact = sandbox.meetmatch.add_contact("A", "a@example.com")
    for path in ("/meetmatch/contacts", f"/meetmatch/contacts/{contact['id']}"):
        response = await client.request(method, path, headers=MM, json={"full_name": "B"})
        assert response.status_code == 405
    assert sandbox.meetmatch.all_contacts()[0]["full_name"] == "A"


async def test_deals_need_existing_prospect_and_pipeline(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    contact = sandbox.meetmatch.add_contact("Jordan Avery", "jordan@acme.com", company="Acme")
    pipelines = (await client.get("/meetmatch/pipelines", headers=MM)).json()
    assert [set(p) for p in pipelines] == [{"id", "name"}]
    pipeline_id = pipelines[0]["id"]
    missing = await client.post("/meetmatch/deals", headers=MM, json={"pipeline_id": pipeline_id})
    assert missing.status_code == 400
    for body in (
        {"prospect_id": "nope", "pipeline_id": pipeline_id},
        {"prospect_id": contact["id"], "pipeline_id": "nope"},
    ):
        assert (await client.post("/meetmatch/deals", headers=MM, json=body)).status_code == 404
    bad = {"prospect_id": contact["id"], "pipeline_id": pipeline_id, "deal_value": -1}
    assert (await client.post("/meetmatch/deals", headers=MM, json=bad)).status_code == 400
    body = {"prospect_id": contact["id"], "pipeline_id": pipeline_id, "deal_value": 4999}
    created = await client.post("/meetmatch/deals", headers=MM, json=body)
    assert created.status_code == 201
    deal = created.json()
    assert deal["prospect_email"] == "jordan@acme.com"
    assert deal["pipeline_name"] == "Inbound Sales"
    listed = (await client.get("/meetmatch/deals?status=open", headers=MM)).json()
    assert [d["id"] for d in listed] == [deal["id"]]
    assert (await client.get("/meetmatch/deals?status=won", headers=MM)).json() == []


async def test_prospects_of_old_contacts_appear_in_records(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    mm = sandbox.meetmatch
    old = mm.add_contact("Old Prospect", "old@example.com", created_at=T0)
    for i in range(100):
        mm.add_contact(f"New {i}", f"new{i}@example.com", created_at=T0 + timedelta(hours=i + 1))
    mm.add_appointment(prospect_id=old["id"], status="completed")
    mm.add_form_submission(prospect_email="OLD@example.com", answers={"Budget?": "$5k"})
    contacts = (await client.get("/meetmatch/contacts?limit=100", headers=MM)).json()
    assert old["id"] not in {c["id"] for c in contacts}
    appointments = (await client.get("/meetmatch/appointments", headers=MM)).json()
    assert appointments[0]["prospect_id"] == old["id"]
    assert appointments[0]["prospect_email"] == "old@example.com"
    completed = await client.get("/meetmatch/appointments?status=completed", headers=MM)
    assert len(completed.json()) == 1
    bad = await client.get("/meetmatch/appointments?status=bogus", headers=MM)
    assert bad.status_code == 400
    forms = (await client.get("/meetmatch/form-submissions", headers=MM)).json()
    assert forms[0]["prospect_id"] == old["id"]
    assert forms[0]["answers"] == {"Budget?": "$5k"}
    assert len(mm.all_contacts()) == 101  # the known email created no new contact


async def test_optional_rate_limit(clock: FakeClock) -> None:
    sandbox = Sandbox(meetmatch=MeetMatchState(requests_per_minute=2, clock=clock))
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        statuses = [(await client.get("/meetmatch/auth", headers=MM)) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert statuses[2].json()["error"] == "rate_limited"
        assert statuses[2].headers["Retry-After"] == "30"
        clock.advance(30)
        assert (await client.get("/meetmatch/auth", headers=MM)).status_code == 200

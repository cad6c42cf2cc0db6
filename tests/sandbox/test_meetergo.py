"""meetergo simulator: item-wrapped rows, live paging, no dedupe, bulk, PATCH replace, details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from connector.sandbox import MeetergoState, Sandbox

from .conftest import MG

EPOCH = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

PLATFORM_KEY = "ak_live:5d1c0a4e-0000-4000-8000-000000000001:secret"


async def create(client: httpx.AsyncClient, **fields: object) -> dict[str, object]:
    response = await client.post("/meetergo/crm", headers=MG, json=fields)
    assert response.status_code == 201, response.text
    row: dict[str, object] = response.json()
    return row


async def test_create_answers_item_wrapper_and_never_dedupes(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    first = await create(client, firstName="Anna", email="anna@example.com", tags=["Lead"])
    second = await create(client, firstName="Anna", email="anna@example.com")
    assert set(first) == {"item", "appointments", "nextAppointmentIso"}
    item = first["item"]
    assert isinstance(item, dict)
    assert set(item) == {
        "id",
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
        "noShowCount",
        "createdAt",
        "updatedAt",
    }
    assert item["tags"] == ["Lead"] and item["additionalData"] == {}
    assert second["item"]["id"] != item["id"]  # type: ignore[index]
    assert len(sandbox.meetergo.all_contacts()) == 2


@pytest.mark.parametrize(
    "body",
    [{"firstName": "Nobody"}, {"email": "not-an-email"}, {"email": "a@example.com", "tags": "x"}],
)
async def test_create_validation(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    response = await client.post("/meetergo/crm", headers=MG, json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["statusCode"] == 400 and error["error"] == "Bad Request"
    assert isinstance(error["message"], list) and error["errors"][0]["field"]


async def test_phone_only_contact_is_allowed(client: httpx.AsyncClient) -> None:
    row = await create(client, firstName="Sting", phoneNumber="+44 20 7946 0000")
    assert row["item"]["email"] is None  # type: ignore[index]


async def test_search_pages_over_the_live_list(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    for i in range(5):
        sandbox.meetergo.user_create_contact(
            firstName=f"P{i}", email=f"p{i}@example.com", created_at=EPOCH + timedelta(minutes=i)
        )
    page1 = (await client.get("/meetergo/crm?limit=2&page=1", headers=MG)).json()
    assert {k: page1[k] for k in ("page", "limit", "total", "totalPages")} == {
        "page": 1,
        "limit": 2,
        "total": 5,
        "totalPages": 3,
    }
    assert [r["item"]["firstName"] for r in page1["result"]] == ["P4", "P3"]
    sandbox.meetergo.user_create_contact(firstName="P5", email="p5@example.com")
    page2 = (await client.get("/meetergo/crm?limit=2&page=2", headers=MG)).json()
    # the insert shifted the list: P3 shows again on page 2
    assert [r["item"]["firstName"] for r in page2["result"]] == ["P3", "P2"]
    assert page2["total"] == 6
    beyond = (await client.get("/meetergo/crm?limit=2&page=9", headers=MG)).json()
    assert beyond["result"] == []
    asc = (await client.get("/meetergo/crm?sortOrder=ASC&limit=1", headers=MG)).json()
    assert asc["result"][0]["item"]["firstName"] == "P0"


async def test_created_at_has_second_resolution_and_ties_have_no_stable_order(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    moment = EPOCH.replace(microsecond=123456)
    stamps = {
        sandbox.meetergo.user_create_contact(email=f"{i}@x.io", created_at=moment)["createdAt"]
        for i in range(50)
    }
    assert stamps == {"2025-03-01T09:00:00Z"}
    # A database without a unique tiebreak may order tied rows differently at every request:
    # paging through them, pages overlap and rows go missing.
    seen: set[str] = set()
    for page in range(1, 6):
        rows = (await client.get(f"/meetergo/crm?limit=10&page={page}", headers=MG)).json()
        seen |= {r["item"]["email"] for r in rows["result"]}
    assert len(seen) < 50


def test_pages_without_filters_match_a_full_sort_and_follow_every_write() -> None:
    """Paging keeps its order between requests for speed; it must answer as a full sort would."""
    mg = MeetergoState(["k"])
    names = ["Zoe", "anna", "Bea", "anna", None, "Carl", "bea", "Dora"]
    for i, name in enumerate(names):
        mg.user_create_contact(
            firstName=name, email=f"{i}@x.io", created_at=EPOCH + timedelta(seconds=i)
        )

    def paged(sort_by: str, descending: bool, limit: int = 3) -> list[str]:
        rows, total = [], None
        for page in range(1, 5):
            window, total = mg.search_page(page, limit, sort_by=sort_by, descending=descending)
            rows += [c["email"] for c in window]
        assert total == len(mg.all_contacts())
        return rows

    for sort_by in ("createdAt", "firstName", "email"):
        for descending in (False, True):
            full = [c["email"] for c in mg.search(sort_by=sort_by, descending=descending)]
            assert paged(sort_by, descending) == full  # no ties: createdAt breaks them all

    # Writes change the order at once: an older contact, a rename, a deletion.
    oldest = mg.user_create_contact(
        firstName="Old", email="old@x.io", created_at=EPOCH - timedelta(days=1)
    )
    assert mg.search_page(1, 1, descending=False)[0][0]["id"] == oldest["id"]
    mg.user_update_contact(oldest["id"], firstName="Aaron")
    assert mg.search_page(1, 1, sort_by="firstName", descending=False)[0][0]["firstName"] == "Aaron"
    mg.user_delete_contact(oldest["id"])
    assert oldest["id"] not in {c["id"] for c in mg.search_page(1, 100, descending=False)[0]}


def test_search_term_follows_every_write() -> None:
    mg = MeetergoState(["k"])
    anna = mg.user_create_contact(firstName="Anna", email="anna@x.io")
    mg.user_create_contact(firstName="Joanna", email="jo@x.io")

    def found(term: str) -> set[str]:
        return {c["email"] for c in mg.search_page(1, 100, search_term=term)[0]}

    assert found("ANNA") == {"anna@x.io", "jo@x.io"}  # substring, case-insensitive
    mg.user_update_contact(anna["id"], firstName="Berta", email="berta@x.io")
    assert found("anna") == {"jo@x.io"}
    assert found("berta@") == {"berta@x.io"}
    mg.user_delete_contact(anna["id"])
    assert found("berta") == set()
    mg.book("carl@x.io", "Carl", None)
    assert found("carl") == {"carl@x.io"}


def test_tied_rows_are_shuffled_anew_on_every_page_request() -> None:
    mg = MeetergoState(["k"])
    for i in range(40):
        mg.user_create_contact(email=f"{i}@x.io", created_at=EPOCH)
    firsts = {tuple(c["email"] for c in mg.search_page(1, 10)[0]) for _ in range(20)}
    assert len(firsts) > 1  # the same page, different rows: no stable order among ties
    assert all(len(set(page)) == 10 for page in firsts)


async def test_a_bulk_call_stamps_all_its_contacts_alike(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    body = {"contacts": [{"email": f"b{i}@x.io"} for i in range(5)]}
    assert (await client.post("/meetergo/crm/bulk", headers=MG, json=body)).status_code == 201
    assert len({c["createdAt"] for c in sandbox.meetergo.all_contacts()}) == 1


async def test_search_term_tags_and_sort(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    mg = sandbox.meetergo
    at = [EPOCH + timedelta(minutes=i) for i in range(4)]
    mg.user_create_contact(
        firstName="Zoë", lastName="Ångström", email="zoe@example.com", tags=["A"], created_at=at[0]
    )
    mg.user_create_contact(
        firstName="anna", lastName="Berg", phoneNumber="+49 151 777", tags=["B"], created_at=at[1]
    )
    mg.user_create_contact(
        firstName="Carl", email="CARL@annex.io", tags=["A", "B"], created_at=at[2]
    )
    mg.user_create_contact(firstName=None, email="nobody@example.com", created_at=at[3])

    async def names(query: str) -> list[object]:
        body = (await client.get(f"/meetergo/crm?{query}", headers=MG)).json()
        return [r["item"]["firstName"] for r in body["result"]]

    assert await names("searchTerm=ANN") == ["Carl", "anna"]
    assert await names("searchTerm=151%20777") == ["anna"]
    assert await names("searchTerm=ångström") == ["Zoë"]
    assert await names("tags=B") == ["Carl", "anna"]
    assert await names("tags=A&tags=B&sortBy=createdAt&sortOrder=ASC") == ["Zoë", "anna", "Carl"]
    assert await names("sortBy=firstName&sortOrder=ASC") == ["anna", "Carl", "Zoë", None]


@pytest.mark.parametrize(
    "query", ["limit=101", "limit=0", "limit=x", "page=0", "sortBy=updatedAt", "sortOrder=desc"]
)
async def test_search_parameter_validation(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/meetergo/crm?{query}", headers=MG)
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400


async def test_bulk_creates_without_ids_all_or_nothing(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    contacts = [{"email": f"b{i}@example.com"} for i in range(3)] + [{"phoneNumber": "+1 555"}]
    response = await client.post("/meetergo/crm/bulk", headers=MG, json={"contacts": contacts})
    assert response.status_code == 201
    assert response.json() == {"success": True, "count": 4}
    assert len(sandbox.meetergo.all_contacts()) == 4
    bad = [{"email": "ok@example.com"}, {"firstName": "no contact point"}]
    rejected = await client.post("/meetergo/crm/bulk", headers=MG, json={"contacts": bad})
    assert rejected.status_code == 400
    assert rejected.json()["errors"][0]["field"].startswith("contacts.1.")
    assert len(sandbox.meetergo.all_contacts()) == 4
    empty = await client.post("/meetergo/crm/bulk", headers=MG, json={"contacts": []})
    assert empty.status_code == 400


async def test_bulk_over_1000_is_rejected(client: httpx.AsyncClient) -> None:
    contacts = [{"email": f"b{i}@example.com"} for i in range(1001)]
    response = await client.post("/meetergo/crm/bulk", headers=MG, json={"contacts": contacts})
    assert response.status_code == 400


async def test_patch_replaces_tags_and_additional_data(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    contact = sandbox.meetergo.user_create_contact(
        firstName="Anna",
        email="anna@example.com",
        tags=["Lead", "Optin"],
        additionalData={"company": "Acme", "jobTitle": "CEO"},
        created_at=EPOCH,
    )
    response = await client.patch(
        f"/meetergo/crm/{contact['id']}",
        headers=MG,
        json={"tags": ["MeetMatch"], "additionalData": {"source": "x"}, "notes": "hi"},
    )
    assert response.status_code == 200
    item = response.json()["item"]
    assert item["tags"] == ["MeetMatch"]
    assert item["additionalData"] == {"source": "x"}
    assert item["firstName"] == "Anna" and item["notes"] == "hi"
    assert item["updatedAt"] > contact["updatedAt"]
    assert item["createdAt"] == contact["createdAt"]


async def test_patch_delete_unknown_and_malformed_ids(client: httpx.AsyncClient) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (await client.patch(f"/meetergo/crm/{unknown}", headers=MG, json={})).status_code == 404
    assert (await client.delete(f"/meetergo/crm/{unknown}", headers=MG)).status_code == 404
    assert (await client.delete("/meetergo/crm/not-a-uuid", headers=MG)).status_code == 400


async def test_delete_and_details(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    contact = sandbox.meetergo.user_create_contact(email="anna@example.com")
    details = await client.get(f"/meetergo/crm/details?contactId={contact['id']}", headers=MG)
    assert details.status_code == 200
    assert set(details.json()) == {"item", "appointments", "formSubmissions"}
    deleted = await client.delete(f"/meetergo/crm/{contact['id']}", headers=MG)
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    gone = await client.get(f"/meetergo/crm/details?contactId={contact['id']}", headers=MG)
    assert gone.status_code == 404
    assert (await client.get("/meetergo/crm/details", headers=MG)).status_code == 400


async def test_unknown_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/meetergo/crm", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "message": "Unauthorized",
        "error": "Unauthorized",
    }
    assert (await client.get("/meetergo/crm")).status_code == 401


async def test_platform_key_needs_user_id_header_and_personal_token_must_not_send_it() -> None:
    sandbox = Sandbox(meetergo=MeetergoState(api_keys={PLATFORM_KEY, "mg_personal"}))
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        platform = {"Authorization": f"Bearer {PLATFORM_KEY}"}
        missing = await client.get("/meetergo/crm", headers=platform)
        assert missing.status_code == 400
        assert missing.json() == {
            "statusCode": 400,
            "message": "Missing required header 'x-meetergo-api-user-id' for platform API keys",
            "error": "Bad Request",
        }
        with_user = {**platform, "x-meetergo-api-user-id": "user-1"}
        assert (await client.get("/meetergo/crm", headers=with_user)).status_code == 200
        personal = {"Authorization": "Bearer mg_personal"}
        assert (await client.get("/meetergo/crm", headers=personal)).status_code == 200
        extra = {**personal, "x-meetergo-api-user-id": "user-1"}
        refused = await client.get("/meetergo/crm", headers=extra)
        assert refused.status_code == 400
        assert "x-meetergo-api-user-id" in refused.json()["message"]

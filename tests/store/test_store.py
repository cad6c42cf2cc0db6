"""The state store on every backend: SQLite always, PostgreSQL when configured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from connector.errors import StoreConflictError, StoreError
from connector.store.lock import AlreadyRunningError, writer_lock
from connector.store.state import Link, Skip, Store, Synced
from connector.store.tables import sync_runs


@pytest.fixture
async def store(any_state_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(any_state_url)
    try:
        yield opened
    finally:
        await opened.close()


async def test_migrations_are_idempotent(any_state_url: str) -> None:
    first = await Store.open(any_state_url)
    await first.save_link(Link(email="a@example.com", meetmatch_id="m1", origin="meetmatch"))
    await first.close()
    second = await Store.open(any_state_url)  # migrates again: nothing to do, nothing lost
    assert [link.email for link in await second.all_links()] == ["a@example.com"]
    await second.close()


async def test_links_are_found_by_any_key_and_updated_in_place(store: Store) -> None:
    saved = await store.save_link(
        Link(email="a@example.com", meetmatch_id="m1", origin="meetmatch")
    )
    assert saved.id is not None
    again = await store.save_link(saved.but(meetergo_id="g1", meetergo_hash="h"))
    assert again.id == saved.id
    for key in ({"email": "a@example.com"}, {"meetmatch_id": "m1"}, {"meetergo_id": "g1"}):
        found = await store.find_link(**key)
        assert found is not None and found.meetergo_hash == "h", key
    assert await store.find_link(email="nobody@example.com") is None
    await store.save_link(Link(email="b@example.com", meetmatch_id="m2", origin="meetmatch"))
    await store.save_link(Link(email="c@example.com", meetergo_id="g3", origin="meetergo"))
    counts = await store.link_counts()
    assert (counts["total"], counts["both_sides"]) == (3, 1)
    assert (counts["meetmatch_only"], counts["meetergo_only"]) == (1, 1)


async def test_one_email_cannot_hold_two_links(store: Store) -> None:
    await store.save_link(Link(email="a@example.com", meetmatch_id="m1", origin="meetmatch"))
    with pytest.raises(StoreConflictError):
        await store.save_link(Link(email="b@example.com", meetmatch_id="m1", origin="meetmatch"))


async def test_sightings_stay_until_settled(store: Store) -> None:
    await store.record_sightings([("m1", "a@example.com", {"id": "m1", "source": "contact"})])
    await store.record_sightings([("m2", None, {"id": "m2", "source": "deal"})])
    assert {p["id"] for p in await store.unsettled_sightings()} == {"m1", "m2"}
    await store.settle_sightings(["m1"])
    assert [p["id"] for p in await store.unsettled_sightings()] == ["m2"]
    # Seen again after settling: stays settled (the link carries it from now on). Only what
    # is new, changed or unsettled is worth syncing again.
    news = await store.record_sightings(
        [
            ("m1", "a@example.com", {"id": "m1", "source": "contact"}),
            ("m2", None, {"id": "m2", "source": "deal"}),
            ("m3", None, {"id": "m3", "source": "deal"}),
        ]
    )
    assert news == {"m2", "m3"}  # m1 unchanged and settled, m2 unsettled, m3 new
    await store.settle_sightings(["m1", "m2", "m3"])
    again = [("m1", "a@example.com", {"id": "m1", "source": "contact"})]
    assert await store.record_sightings(again) == set()
    changed = [("m1", "a@example.com", {"id": "m1", "source": "contact", "phone": "+1"})]
    assert await store.record_sightings(changed) == {"m1"}
    # A change unsettles it until synced: a sync cut short is found by the next look.
    assert [p["id"] for p in await store.unsettled_sightings()] == ["m1"]
    assert await store.record_sightings(changed) == {"m1"}
    assert await store.get_sighting("m1") == {"id": "m1", "source": "contact", "phone": "+1"}


async def test_one_new_sighting_recorded_twice_at_once(store: Store) -> None:
    """A poll and a delivery may see a new person at the same moment: no conflict error."""
    seen = [("m1", "a@example.com", {"id": "m1", "source": "contact"})]
    first, second = await asyncio.gather(store.record_sightings(seen), store.record_sightings(seen))
    assert first == second == {"m1"}
    assert [p["id"] for p in await store.unsettled_sightings()] == ["m1"]


async def test_skips_are_recorded_once_per_record_and_cleared(store: Store) -> None:
    await store.record_skip(Skip("meetergo", "g1", None, "no_email", None))
    await store.record_skip(Skip("meetergo", "g1", "x@", "invalid_email", "bad syntax"))
    assert [(s.record_id, s.reason) for s in await store.skipped()] == [("g1", "invalid_email")]
    await store.record_skip(Skip("meetmatch", "m1", None, "no_email", None))
    await store.record_synced(Synced(skip=("meetergo", "g1"), records=[]))
    assert [(s.side, s.record_id) for s in await store.skipped()] == [("meetmatch", "m1")]


async def test_dead_letters_count_attempts_and_resolve(store: Store) -> None:
    kwargs = {
        "target": "meetmatch",
        "operation": "create",
        "source_side": "meetergo",
        "source_id": "g1",
        "email": "a@example.com",
        "payload": {"meetmatch": {"full_name": "A"}},
    }
    first = await store.add_dead_letter(error="HTTP 500", **kwargs)  # type: ignore[arg-type]
    second = await store.add_dead_letter(error="HTTP 502", **kwargs)  # type: ignore[arg-type]
    assert first == second
    [letter] = await store.open_dead_letters()
    assert (letter.attempts, letter.error, letter.payload) == (2, "HTTP 502", kwargs["payload"])
    other = await store.add_dead_letter(error="HTTP 500", **{**kwargs, "source_id": "g2"})  # type: ignore[arg-type]
    await store.record_synced(Synced(skip=None, records=[("meetmatch", "m9"), ("meetergo", "g1")]))
    assert [letter.id for letter in await store.open_dead_letters()] == [other]


async def test_runs_and_cursors(store: Store) -> None:
    run = await store.start_run("backfill")
    await store.finish_run(run, "ok", {"meetmatch": {"created": 3}})
    assert (await store.last_runs())["backfill"]["summary"] == {"meetmatch": {"created": 3}}
    assert await store.get_cursor("poll") is None
    await store.set_cursor("poll", "abc")
    await store.set_cursor("poll", "def")
    assert await store.get_cursor("poll") == "def"


async def test_a_run_left_open_by_a_dead_process_is_marked_interrupted(store: Store) -> None:
    """A kill -9 leaves its run "running"; the next run (the writer lock holder) closes it."""
    killed = await store.start_run("backfill")
    assert (await store.last_runs())["backfill"]["status"] == "running"
    done = await store.start_run("backfill")
    await store.finish_run(done, "ok", {})
    async with store.tx() as conn:
        rows = {
            r.id: (r.status, r.finished_at is not None)
            for r in await conn.execute(select(sync_runs))
        }
    assert rows == {killed: ("interrupted", True), done: ("ok", True)}
    assert (await store.last_runs())["backfill"]["status"] == "ok"


async def test_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        await Store.open("postgresql+psycopg://nobody@127.0.0.1:1/none")


async def test_one_writer_at_a_time(any_state_url: str) -> None:
    await (await Store.open(any_state_url)).close()
    async with writer_lock(any_state_url):
        with pytest.raises(AlreadyRunningError, match="another meetbridge process"):
            async with writer_lock(any_state_url):
                pass
    # Released on exit: the next writer gets it.
    async with writer_lock(any_state_url):
        pass


async def test_a_link_saved_by_email_is_upserted_with_what_its_write_settles(store: Store) -> None:
    first = await store.save_link(Link(email="a@example.com", meetmatch_id="m1", origin="x"))
    await store.record_skip(Skip("meetergo", "g1", "a@example.com", "no_email", None))
    await store.record_sightings([("m1", "a@example.com", {"id": "m1"})])
    synced = Synced(skip=("meetergo", "g1"), records=[("meetergo", "g1")], settle="m1")
    again = await store.save_link(Link(email="a@example.com", meetergo_id="g1", origin="x"), synced)
    assert again.id == first.id  # the same person's link, found by its email
    assert (await store.find_link(email="a@example.com")) == again
    assert await store.skipped() == []
    assert await store.unsettled_sightings() == []

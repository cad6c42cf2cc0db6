"""Live sync in-process: deliveries in any order and any number converge to one state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from connector import commands
from connector.clients.retry import RetryPolicy
from connector.runtime import Runtime, open_runtime
from connector.sandbox.app import Sandbox
from connector.settings import Settings
from connector.store.inbox import Delivery
from connector.sync.live import LiveSync
from tests.invariants import email_of


@pytest.fixture
async def live(runtime: Runtime) -> AsyncIterator[LiveSync]:
    yield await LiveSync.create(runtime)


def _delivery(n: int, vendor: str, event: str, payload: dict[str, object]) -> Delivery:
    return Delivery(n, vendor, event, payload, 0)


async def test_out_of_order_and_repeated_deliveries_converge(
    sandbox: Sandbox, live: LiveSync
) -> None:
    contact = sandbox.meetmatch.add_contact("Ola Nordmann", "ola@example.no", notify=False)
    appointment = sandbox.meetmatch.add_appointment(prospect_id=contact["id"], notify=False)
    deal = sandbox.meetmatch.add_deal(
        prospect_id=contact["id"], pipeline_id=sandbox.meetmatch.pipelines[0]["id"], notify=False
    )
    # The appointment and the deal arrive before the contact, each twice.
    deliveries = [
        ("appointment.created", appointment),
        ("deal.created", deal),
        ("appointment.created", appointment),
        ("contact.created", contact),
        ("deal.created", deal),
    ]
    for n, (event, data) in enumerate(deliveries):
        await live.apply_delivery(_delivery(n, "meetmatch", event, {"event": event, "data": data}))

    assert [email_of(c) for c in sandbox.meetergo.all_contacts()] == ["ola@example.no"]
    assert sandbox.stats()["meetergo"]["writes"] == 1
    sandbox.reset_counters()
    await live.apply_delivery(
        _delivery(9, "meetmatch", "contact.created", {"event": "contact.created", "data": contact})
    )
    assert sandbox.stats()["meetergo"]["requests"] == 0  # an echo costs nothing


@pytest.mark.parametrize("envelope", ["flat", "event_data"])
async def test_a_booking_is_re_read_from_meetergo_not_trusted(
    sandbox: Sandbox, live: LiveSync, envelope: str
) -> None:
    sandbox.meetergo.webhook_envelope = envelope
    booking = sandbox.meetergo.book("Booker@Example.com", "Bo", "Oker")
    payload = (
        {"webhookType": "booking_created", **booking}
        if envelope == "flat"
        else {"event": "booking_created", "data": booking}
    )
    # A forged name in the payload is not what reaches MeetMatch: meetergo's record is.
    forged = dict(payload)
    if envelope == "flat":
        forged["attendees"] = [{**booking["attendees"][0], "fullname": "Mallory"}]
    await live.apply_delivery(_delivery(1, "meetergo", "booking_created", forged))
    await live.apply_delivery(_delivery(2, "meetergo", "booking_created", payload))

    [person] = sandbox.meetmatch.all_contacts()
    assert person["email"] == "Booker@Example.com" and person["full_name"] == "Bo Oker"


async def test_polls_find_what_no_webhook_told(sandbox: Sandbox, live: LiveSync) -> None:
    sandbox.meetergo.user_create_contact(firstName="Quiet", email="quiet@example.com")
    sandbox.meetmatch.add_contact("Silent Sam", "sam@example.com", notify=False)

    assert await live.poll_meetergo() == 1
    await live.poll_meetmatch()

    assert {email_of(c) for c in sandbox.meetmatch.all_contacts()} == {
        "quiet@example.com",
        "sam@example.com",
    }
    assert {email_of(c) for c in sandbox.meetergo.all_contacts()} == {
        "quiet@example.com",
        "sam@example.com",
    }
    sandbox.reset_counters()
    assert await live.poll_meetergo() == 0
    await live.poll_meetmatch()
    assert sandbox.stats()["meetergo"]["writes"] + sandbox.stats()["meetmatch"]["writes"] == 0


@pytest.mark.parametrize("on_delete", ["keep_deleted", "recreate"])
async def test_a_live_observation_of_a_tombstoned_person(
    sandbox: Sandbox, make_settings: Callable[..., Settings], on_delete: str
) -> None:
    """A user deleted the person in meetergo while `keep_deleted` was configured; then the
    setting says `on_delete`. The next MeetMatch delivery of the (unchanged) person recreates
    the contact only under `recreate`, and never twice."""
    transport = httpx.ASGITransport(app=sandbox.app)
    person = sandbox.meetmatch.add_contact("Tomb Stone", "tomb@example.com", notify=False)
    async with open_runtime(
        make_settings(), transport=transport, retry=RetryPolicy.no_wait()
    ) as rt:
        await commands.backfill(rt)
        [contact] = sandbox.meetergo.all_contacts()
        sandbox.meetergo.user_delete_contact(contact["id"])
        await commands.backfill(rt)  # the deletion is found: a tombstone
    assert sandbox.meetergo.all_contacts() == []

    settings = make_settings(sync={"on_meetergo_delete": on_delete})
    async with open_runtime(settings, transport=transport, retry=RetryPolicy.no_wait()) as rt:
        live = await LiveSync.create(rt)
        event = {"event": "contact.created", "data": person}
        sandbox.reset_counters()
        for n in range(2):
            await live.apply_delivery(_delivery(n, "meetmatch", "contact.created", event))
        held = [email_of(c) for c in sandbox.meetergo.all_contacts()]
        if on_delete == "recreate":
            assert held == ["tomb@example.com"]
            assert sandbox.stats()["meetergo"]["writes"] == 1
        else:
            assert held == []
            assert sandbox.stats()["meetergo"]["writes"] == 0
            facts = await commands.status(rt)
            assert {"side": "meetmatch", "reason": "deleted_on_other_side", "count": 1} in facts[
                "skipped_by_reason"
            ]


async def test_every_live_action_is_one_log_line(
    sandbox: Sandbox, live: LiveSync, caplog: pytest.LogCaptureFixture
) -> None:
    """Pairing two existing records is an action too: it gets its line, like a create."""
    sandbox.meetergo.user_create_contact(firstName="Pa", lastName="Ir", email="pair@example.com")
    both = sandbox.meetmatch.add_contact("Pa Ir", "pair@example.com", notify=False)
    new = sandbox.meetmatch.add_contact("Ne W", "new@example.com", notify=False)
    caplog.set_level("INFO", logger="meetbridge.sync")
    for n, person in enumerate((both, new)):
        event = {"event": "contact.created", "data": person}
        await live.apply_delivery(_delivery(n, "meetmatch", "contact.created", event))

    actions = [r.sync for r in caplog.records if hasattr(r, "sync")]  # type: ignore[attr-defined]
    assert [(a["action"], a["vendor"], a["source"]) for a in actions] == [
        ("link", "meetmatch", f"meetmatch:{both['id']}"),
        ("create", "meetergo", f"meetmatch:{new['id']}"),
    ]
    assert all(a["target_id"] for a in actions)

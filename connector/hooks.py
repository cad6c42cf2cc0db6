"""Webhook subscriptions on both vendors: made once, remembered, reused after a restart.

meetergo allows at most 6 webhooks per company, so piling up a new one at every start would
soon lock meetbridge out; MeetMatch would deliver every event once per stale subscription.
Subscriptions are therefore stored, checked against the vendor where it can list them, and
left in place on shutdown (a restart must not miss deliveries); `meetbridge hooks remove`
deletes them.
"""

from __future__ import annotations

import logging

from connector.errors import RecordError
from connector.runtime import Runtime
from connector.store.inbox import Subscription, Subscriptions

log = logging.getLogger("meetbridge.hooks")

MEETMATCH_EVENTS = (
    "contact.created",
    "appointment.created",
    "appointment.rescheduled",
    "deal.created",
    "form.submitted",
)
MEETERGO_EVENTS = ("booking_created", "booking_rescheduled", "form_submission")


def targets(rt: Runtime) -> tuple[str, str]:
    """The receiver URLs both vendors deliver to."""
    receiver = rt.settings.receiver
    token = receiver.meetergo_path_token.get_secret_value() if receiver.meetergo_path_token else ""
    return f"{receiver.public_url}/hooks/meetmatch", f"{receiver.public_url}/hooks/meetergo/{token}"


async def _drop_stale(rt: Runtime, registry: Subscriptions, held: list[Subscription]) -> None:
    """Remove subscriptions meetbridge made for a receiver URL it no longer uses.

    After a new `public_url` or path token, the old subscriptions would keep delivering to an
    address that answers 404, and on meetergo they would count against its six webhooks. Only
    subscriptions in meetbridge's own registry are removed: a webhook someone else made (or
    another meetbridge installation on the same company) is never touched.
    """
    current = dict(zip(("meetmatch", "meetergo"), targets(rt), strict=True))
    stale = [sub for sub in held if sub.target_url != current[sub.vendor]]
    for sub in await _unsubscribe(rt, registry, stale):
        log.info("removed stale %s subscription %s (old receiver URL)", sub.vendor, sub.remote_id)


async def _unsubscribe(
    rt: Runtime, registry: Subscriptions, subs: list[Subscription]
) -> list[Subscription]:
    """Delete subscriptions on their vendor and in the registry; returns those removed (one
    meetergo webhook serves several events: each remote id is deleted once)."""
    removed: list[Subscription] = []
    done: set[tuple[str, str]] = set()
    for sub in subs:
        if (sub.vendor, sub.remote_id) in done:
            continue
        try:
            if sub.vendor == "meetmatch":
                await rt.meetmatch.unsubscribe_hook(sub.remote_id)
            else:
                await rt.meetergo.delete_webhook(sub.remote_id)
        except RecordError as exc:
            if exc.status != 404:  # already gone on the vendor's side is what we want
                raise
        await registry.remove(sub.vendor, sub.remote_id)
        done.add((sub.vendor, sub.remote_id))
        removed.append(sub)
    return removed


async def ensure_subscriptions(rt: Runtime) -> list[Subscription]:
    """Make sure every event meetbridge consumes has exactly one live subscription."""
    registry = Subscriptions(rt.store)
    await _drop_stale(rt, registry, await registry.all())
    held = await registry.all()
    meetmatch_target, meetergo_target = targets(rt)
    have = {(s.vendor, s.event, s.target_url) for s in held}
    for event in MEETMATCH_EVENTS:
        if ("meetmatch", event, meetmatch_target) in have:
            continue
        remote_id = await rt.meetmatch.subscribe_hook(meetmatch_target, event)
        await registry.add(Subscription("meetmatch", event, remote_id, meetmatch_target))
        log.info("subscribed to MeetMatch %s (%s)", event, remote_id)

    # meetergo can list its webhooks: one deleted by a user is made again, and one made by an
    # earlier meetbridge whose state was lost is adopted instead of adding a seventh.
    mine = [s for s in held if s.vendor == "meetergo" and s.target_url == meetergo_target]
    remote = {w.id: w for w in await rt.meetergo.list_webhooks()}
    if not mine or any(s.remote_id not in remote for s in mine):
        for stale in mine:
            await registry.remove("meetergo", stale.remote_id)
        adopted = next((w for w in remote.values() if w.endpoint == meetergo_target), None)
        webhook = adopted or await rt.meetergo.create_webhook(meetergo_target, MEETERGO_EVENTS)
        for event in MEETERGO_EVENTS:
            await registry.add(Subscription("meetergo", event, webhook.id, meetergo_target))
        log.info("%s meetergo webhook %s", "adopted" if adopted else "created", webhook.id)
    return await registry.all()


async def remove_subscriptions(rt: Runtime) -> list[Subscription]:
    """Delete every subscription meetbridge made, on the vendors and in the registry."""
    registry = Subscriptions(rt.store)
    held = await registry.all()
    await _unsubscribe(rt, registry, held)
    return held

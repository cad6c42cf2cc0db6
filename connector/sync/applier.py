"""Carrying out plans through the vendor clients, remembering every link it makes.

A write that fails after its retries becomes a dead letter (with what is needed to replay it)
and the run goes on; a refused key (AuthError) or a broken state database stops the run, since
every further write would fail the same way.

meetergo does not deduplicate creates, so a create whose answer was lost is never simply sent
again: the applier looks for the email first. A bulk create answers nothing to link by, so the
applier re-reads the newest contacts to learn the new ids.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from connector.clients.budget import yield_to_live
from connector.clients.meetergo import BULK_LIMIT, PAGE_LIMIT, MeetergoClient
from connector.clients.meetmatch import MeetMatchClient
from connector.errors import (
    AuthError,
    RecordError,
    StoreConflictError,
    UncertainWriteError,
    VendorError,
)
from connector.store.state import Link, Skip, Store, Synced
from connector.sync.gate import PersonGate
from connector.sync.links import LinkIndex
from connector.sync.planner import meetergo_hash
from connector.sync.plans import Action, Plan, Side, Summary
from mappings import EmailProblem, MappingOptions, content_hash, from_meetmatch, normalize_email
from mappings.records import MeetergoContact, MeetergoDraft

log = logging.getLogger("meetbridge.sync")

# How often a meetergo create is re-sent after a lost answer and a search that found nothing.
CREATE_ATTEMPTS = 3

Progress = Callable[[int], None]


class Applier:
    def __init__(
        self,
        store: Store,
        links: LinkIndex,
        meetmatch: MeetMatchClient,
        meetergo: MeetergoClient,
        options: MappingOptions,
        summary: Summary,
        *,
        concurrency: int = 8,
        bulk_threshold: int = 3,
        dry_run: bool = False,
        gate: PersonGate | None = None,
    ) -> None:
        self.store = store
        self.links = links
        self.meetmatch = meetmatch
        self.meetergo = meetergo
        self.options = options
        self.summary = summary
        self.concurrency = concurrency
        self.bulk_threshold = bulk_threshold
        self.dry_run = dry_run
        # Shared by live sync and the reconcile scan: each plan is applied holding its person's
        # gate, after checking the plan still stands (the other writer may have done it since).
        self.gate = gate
        # Emails to search meetergo for before creating them there: the bulk re-read missed
        # them, or the scan could not vouch that meetergo holds nobody with that email.
        self.look_first: set[str] = set()
        self.look_first_all = False
        # Told of every sync action (the status page keeps the recent ones).
        self.on_action: Callable[[dict[str, Any]], None] | None = None
        self.settled: list[str] = []

    # --- entry points ----------------------------------------------------------------------

    async def apply_all(self, plans: Sequence[Plan], progress: Progress | None = None) -> None:
        """Apply plans; meetergo creates go in bulk when there are enough of them.

        Not when the scan could not vouch for meetergo (`look_first_all`): a bulk call cannot
        look before it leaps, and would duplicate whoever the walk missed. Each create then
        goes singly, after searching for its email (two requests each instead of a share of
        one bulk call: slower, never doubled).
        """
        creates = [p for p in plans if p.action is Action.CREATE and p.side is Side.MEETERGO]
        others = [p for p in plans if not (p.action is Action.CREATE and p.side is Side.MEETERGO)]
        await self._gather([self._guarded(p, progress) for p in others])
        if self.dry_run or self.look_first_all or len(creates) < self.bulk_threshold:
            await self._gather([self._guarded(p, progress) for p in creates])
        else:
            for start in range(0, len(creates), BULK_LIMIT):
                await self._bulk(creates[start : start + BULK_LIMIT], progress)
        await self._settle()

    async def apply(self, plan: Plan) -> None:
        """Apply one plan (a failed write becomes a dead letter)."""
        await self._guarded(plan, None)
        await self._settle()

    async def _settle(self) -> None:
        """Settle the sightings of the plans applied so far. The list is taken before the
        await, not cleared after it: another task sharing this applier (live sync runs
        deliveries and polls side by side) may add to it meanwhile."""
        settled, self.settled = self.settled, []
        if settled and not self.dry_run:
            await self.store.settle_sightings(settled)

    # --- one plan --------------------------------------------------------------------------

    async def _gather(self, calls: list[Awaitable[None]]) -> None:
        gate = asyncio.Semaphore(self.concurrency)

        async def gated(call: Awaitable[None]) -> None:
            async with gate:
                await call

        await asyncio.gather(*(gated(c) for c in calls))

    async def _guarded(self, plan: Plan, progress: Progress | None) -> None:
        # A reconcile's plan waits while a webhook is applied (a live plan only yields).
        await yield_to_live()
        try:
            if self.dry_run:
                self._count(plan)
            elif self.gate is None or self.gate.held_here(plan.email):
                # No other writer, or the plan was made holding the person's gate (a live
                # resync): nobody can have acted on the person since; nothing to check again.
                await self._apply_one(plan)
            else:
                async with self.gate.hold(plan.email):
                    if await self._still_needed(plan):
                        await self._apply_one(plan)
        except AuthError:
            raise
        except (VendorError, StoreConflictError) as exc:
            await self._dead_letter(plan, exc)
        finally:
            if progress:
                progress(1)

    async def _apply_one(self, plan: Plan) -> None:
        if plan.action is Action.SKIP:
            await self._skip(plan)
        elif plan.action in (Action.UNCHANGED, Action.LINK):
            changed = plan.link is not None and plan.link != self.links.peek(email=plan.link.email)
            await self._linked(plan, plan.link if changed else None)
            self._count(plan)
            if plan.action is Action.LINK:
                # Two existing records paired: a sync action like any write, logged as one.
                target = plan.link.meetergo_id if plan.link else plan.meetergo_id
                self._act("link", plan.side, plan, target)
        elif plan.action is Action.UPDATE:
            assert plan.meetergo_id and plan.meetergo_draft and plan.link
            contact = await self.meetergo.update(plan.meetergo_id, plan.meetergo_draft)
            await self._linked(
                plan, plan.link.but(meetergo_hash=meetergo_hash(contact, self.options))
            )
            self._count(plan)
            self._act("update", Side.MEETERGO, plan, contact.id)
        elif plan.side is Side.MEETMATCH:
            await self._create_in_meetmatch(plan)
        else:
            contact = await self._create_in_meetergo(plan)
            await self._link_created_meetergo(plan, contact)

    def _act(self, *args: Any, **kwargs: Any) -> None:
        fields = _log_action(*args, **kwargs)
        if self.on_action is not None:
            self.on_action(fields)

    async def _still_needed(self, plan: Plan) -> bool:
        """False when a create was planned from a snapshot and the person got linked since."""
        if plan.action is not Action.CREATE or plan.email is None:
            return True
        fresh = await self.links.refresh(email=plan.email)
        if fresh is None:
            return True
        done = fresh.meetergo_id if plan.side is Side.MEETERGO else fresh.meetmatch_id
        if done is None:
            return True
        if plan.side is Side.MEETERGO and fresh.state == "meetergo_deleted":
            return True  # a tombstone: the create is the recreate the configuration asked for
        self.summary.add(plan.side, "linked")
        return False

    def _count(self, plan: Plan, *, created: bool = True) -> None:
        if plan.action is Action.SKIP:
            self.summary.skip(plan.side, plan.reason.value if plan.reason else "unknown")
            return
        outcome = {
            Action.CREATE: "created" if created else "linked",
            Action.UPDATE: "updated",
            Action.LINK: "linked",
            Action.UNCHANGED: "unchanged",
        }[plan.action]
        self.summary.add(plan.side, outcome)
        if plan.also_link_side is not None:
            also = "unchanged" if plan.action is Action.UNCHANGED else "linked"
            self.summary.add(plan.also_link_side, also)

    async def _skip(self, plan: Plan) -> None:
        if plan.link is not None:
            await self.links.save(plan.link)
        await self.store.record_skip(
            Skip(
                plan.side.value,
                plan.source_id,
                plan.email,
                plan.reason.value if plan.reason else "unknown",
                plan.detail,
            )
        )
        if plan.settles:
            self.settled.append(plan.settles)
        self._count(plan)
        self._act("skip", plan.side, plan, None, reason=plan.reason)

    async def _linked(self, plan: Plan, link: Link | None = None) -> None:
        """The record is in sync now: save its `link` (when it changed), settle the record
        and close what earlier failures left open, in one transaction."""
        if plan.action is Action.UNCHANGED:
            if link is not None:
                await self.links.save(link)
            if plan.settles:
                self.settled.append(plan.settles)
        else:
            # Not for an ambiguous pair's person created in MeetMatch: its meetergo contacts
            # stay unlinked, and `status` must go on listing both of them.
            keep_skip = plan.link is not None and plan.link.state == "ambiguous"
            # Failures recorded for either record of the pair are settled now.
            records = {(plan.source_side.value, plan.source_id)}
            if plan.link is not None:
                records.add(("meetmatch", plan.link.meetmatch_id or ""))
                records.add(("meetergo", plan.link.meetergo_id or ""))
            synced = Synced(
                skip=None if keep_skip else (plan.source_side.value, plan.source_id),
                records=sorted((side, record_id) for side, record_id in records if record_id),
                settle=plan.settles,
            )
            if link is not None:
                await self.links.save(link, synced)
            else:
                await self.store.record_synced(synced)

    async def _dead_letter(self, plan: Plan, exc: Exception) -> None:
        message = f"{plan.describe()}: {exc}"
        self._act("failed", plan.side, plan, None, reason=str(exc), level=logging.ERROR)
        self.summary.fail(plan.side, message)
        if self.dry_run:
            return
        payload: dict[str, Any] = {"plan": plan.describe()}
        if plan.meetergo_draft is not None:
            payload["meetergo"] = plan.meetergo_draft.body()
        if plan.meetmatch_draft is not None:
            payload["meetmatch"] = plan.meetmatch_draft.model_dump(mode="json")
        payload.update(plan.extra)
        await self.store.add_dead_letter(
            target=plan.side.value,
            operation=plan.action.value,
            source_side=plan.source_side.value,
            source_id=plan.source_id,
            email=plan.email,
            payload=payload,
            error=str(exc),
        )

    # --- creates ---------------------------------------------------------------------------

    async def _create_in_meetmatch(self, plan: Plan) -> None:
        assert plan.meetmatch_draft is not None and plan.link is not None
        # Safe to repeat: MeetMatch answers an existing email with the existing record.
        contact, created = await self.meetmatch.create_contact(plan.meetmatch_draft)
        canonical = from_meetmatch(contact, self.options)
        digest = None if isinstance(canonical, EmailProblem) else content_hash(canonical)
        await self._linked(plan, plan.link.but(meetmatch_id=contact.id, meetmatch_hash=digest))
        self._count(plan, created=created)
        self._act("create" if created else "link", Side.MEETMATCH, plan, contact.id)

    async def _create_in_meetergo(self, plan: Plan) -> MeetergoContact:
        """POST /crm, looking for the email first whenever an earlier answer was lost."""
        assert plan.meetergo_draft is not None and plan.email is not None
        if self.look_first_all or plan.email in self.look_first:
            found = await self.meetergo.find_by_email(plan.email)
            if found:
                return min(found, key=_created_key)
        for _ in range(CREATE_ATTEMPTS):
            try:
                return await self.meetergo.create(plan.meetergo_draft)
            except UncertainWriteError:
                found = await self.meetergo.find_by_email(plan.email)
                if found:
                    return min(found, key=_created_key)
        raise UncertainWriteError(
            "meetergo", f"create of {plan.email} got no answer {CREATE_ATTEMPTS} times"
        )

    async def _link_created_meetergo(self, plan: Plan, contact: MeetergoContact) -> None:
        assert plan.link is not None
        await self._linked(
            plan,
            plan.link.but(
                meetergo_id=contact.id, meetergo_hash=meetergo_hash(contact, self.options)
            ),
        )
        self._count(plan)
        self._act("create", Side.MEETERGO, plan, contact.id)

    async def _bulk(self, plans: Sequence[Plan], progress: Progress | None) -> None:
        """One bulk call, a re-read of the newest contacts to learn ids, singles for the rest."""
        if self.gate is None:
            leftovers = await self._bulk_now(plans, progress)
        else:
            async with self.gate.hold(*(p.email for p in plans)):
                plans = [p for p in plans if await self._still_needed(p)]
                leftovers = await self._bulk_now(plans, progress) if plans else []
        # Singles take the gate themselves, one write at a time.
        await self._gather([self._guarded(p, progress) for p in leftovers])

    async def _bulk_now(self, plans: Sequence[Plan], progress: Progress | None) -> list[Plan]:
        """The bulk call and the re-read; returns the plans still to create one by one."""
        drafts: list[MeetergoDraft] = [p.meetergo_draft for p in plans if p.meetergo_draft]
        try:
            await self.meetergo.bulk_create(drafts)
        except AuthError:
            raise
        except UncertainWriteError as exc:
            log.warning("bulk create answer lost (%s); re-reading to see what arrived", exc)
        except RecordError as exc:
            # All-or-nothing refusal: one bad entry; the singles find which one.
            log.warning("bulk create refused (%s); creating one by one", exc)
            return list(plans)
        except VendorError as exc:
            log.warning("bulk create failed (%s); re-reading to see what arrived", exc)
        found = await self._reread_newest({p.email for p in plans if p.email}, len(plans))
        leftovers = []
        for plan in plans:
            contact = found.get(plan.email or "")
            if contact is None:
                leftovers.append(plan)
                continue
            await self._link_created_meetergo(plan, contact)
            if progress:
                progress(1)
        # Whatever the re-read did not show may still have arrived (the bulk answer names
        # nothing): each is searched for by email before it is created singly.
        self.look_first.update(p.email for p in leftovers if p.email)
        return leftovers

    async def _reread_newest(self, emails: set[str], created: int) -> dict[str, MeetergoContact]:
        """Read newest-first pages until every email is found (or a page past the expected)."""
        found: dict[str, MeetergoContact] = {}
        pages = math.ceil(created / PAGE_LIMIT) + 1
        for page in range(1, pages + 1):
            current = await self.meetergo.list_page(page, PAGE_LIMIT, sort_order="DESC")
            for contact in current.contacts:
                email = normalize_email(contact.email)
                if isinstance(email, str) and email in emails and email not in found:
                    found[email] = contact
            if len(found) == len(emails) or page >= current.total_pages:
                break
        return found


def _log_action(
    action: str,
    side: Side,
    plan: Plan,
    target_id: str | None,
    *,
    reason: object = None,
    level: int = logging.INFO,
) -> dict[str, Any]:
    """One line per sync action: what, on which vendor, which records, why (no contact data)."""
    fields = {
        "at": datetime.now(UTC).isoformat(),
        "action": action,
        "vendor": side.value,
        "source": f"{plan.source_side.value}:{plan.source_id}",
        "target_id": target_id,
        "reason": str(reason) if reason is not None else None,
    }
    log.log(
        level,
        "%s %s %s (from %s)%s",
        action,
        side.label,
        target_id or plan.source_id,
        fields["source"],
        f": {reason}" if reason is not None else "",
        extra={"sync": fields},
    )
    return fields


def _created_key(contact: MeetergoContact) -> str:
    return contact.created_at.isoformat() if contact.created_at else ""

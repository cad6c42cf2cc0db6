"""From an observation to a plan: who this person is, and what, if anything, to write.

The planner does no I/O of its own: the caller hands it what the other side holds for the
person's email (from a full scan during a backfill, from a search in live sync) and the link
index. Rules, in order:

1. No usable email: skip with the reason (`no_email`, `invalid_email`).
2. A link found by id is the truth; the email only makes the first match.
3. An observation whose content hash equals the one the link remembers is an echo: no write.
4. Two meetergo contacts with one email are ambiguous: neither is modified or linked; MeetMatch
   may still get the person once.
5. MeetMatch contacts can never be updated, so only meetergo is ever patched, and only as far
   as the conflict policy allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from connector.settings import Direction
from connector.store.state import Link
from connector.sync.links import LinkIndex
from connector.sync.plans import Action, Plan, Side, SkipReason, meetergo_row_key
from mappings import (
    EmailProblem,
    MappingOptions,
    content_hash,
    from_meetergo,
    from_meetmatch,
    meetergo_patch,
    to_meetergo_create,
    to_meetmatch_create,
)
from mappings.merge import ConflictPolicy
from mappings.records import MeetergoContact, MeetMatchProspect

TO_MEETMATCH: Direction = "meetergo_to_meetmatch"
TO_MEETERGO: Direction = "meetmatch_to_meetergo"


@dataclass(frozen=True)
class PlannerConfig:
    options: MappingOptions
    policy: ConflictPolicy
    directions: frozenset[Direction]
    # What a MeetMatch observation of a person whose meetergo contact a user deleted does:
    # nothing (the deletion stands, recorded as a skip) or create the contact again.
    on_meetergo_delete: Literal["keep_deleted", "recreate"] = "keep_deleted"


Source = tuple[Side, str, str | None]  # side, record id, email


def _plan(action: Action, side: Side, src: Source, **fields: Any) -> Plan:
    return Plan(action, side, src[0], src[1], src[2], **fields)


def _skip(side: Side, record_id: str, raw_email: str | None, reason: SkipReason, **kw: Any) -> Plan:
    return Plan(Action.SKIP, side, side, record_id, raw_email, reason=reason, **kw)


def _email_reason(problem: EmailProblem) -> SkipReason:
    return SkipReason.NO_EMAIL if problem is EmailProblem.NO_EMAIL else SkipReason.INVALID_EMAIL


def meetergo_hash(contact: MeetergoContact, options: MappingOptions) -> str | None:
    canonical = from_meetergo(contact, options)
    return None if isinstance(canonical, EmailProblem) else content_hash(canonical)


class Planner:
    def __init__(self, config: PlannerConfig, links: LinkIndex) -> None:
        self.config = config
        self.links = links
        # meetergo ids confirmed deleted (a 404 when fetched); filled by whoever looked.
        self.deleted_meetergo: set[str] = set()

    @property
    def to_meetergo(self) -> bool:
        return TO_MEETERGO in self.config.directions

    @property
    def to_meetmatch(self) -> bool:
        return TO_MEETMATCH in self.config.directions

    # --- a MeetMatch person ---------------------------------------------------------------

    def plan_meetmatch(
        self,
        prospect: MeetMatchProspect,
        candidates: Sequence[MeetergoContact],
        linked_contact: MeetergoContact | None,
        linked_contact_deleted: bool = False,
    ) -> Plan | None:
        """Plan for one MeetMatch person.

        `candidates`: meetergo contacts with the person's normalized email. `linked_contact`:
        the current meetergo contact of the person's link, if it has one and it still exists
        (`linked_contact_deleted` says it was looked for and is gone).
        """
        options = self.config.options
        canonical = from_meetmatch(prospect, options)
        if isinstance(canonical, EmailProblem):
            return _skip(
                Side.MEETMATCH,
                prospect.id,
                prospect.email,
                _email_reason(canonical),
                settles=prospect.id,
            )
        email = canonical.email
        digest = content_hash(canonical)
        link = self.links.find(meetmatch_id=prospect.id, email=email)
        src = (Side.MEETMATCH, prospect.id, email)

        if link is not None and link.meetmatch_id not in (None, prospect.id):
            return self.duplicate_meetmatch(prospect, email, link.meetmatch_id or "")

        if link is not None and link.state == "meetergo_deleted":
            linked_contact_deleted = True  # tombstoned by an earlier run
        if (
            link is not None
            and link.meetergo_id is not None
            and linked_contact is None
            and linked_contact_deleted
            and (len(candidates) == 1 or self.config.on_meetergo_delete == "recreate")
        ):
            # The linked meetergo contact is gone, and a user made a new one for this person
            # (pair with it), or the configuration says to create it again: go on as if the
            # link had never had a meetergo side.
            link = link.but(meetergo_id=None, meetergo_hash=None, state="active")

        if (
            link is not None
            and link.state == "meetergo_deleted"
            and (candidates or self.config.on_meetergo_delete == "recreate")
        ):
            link = link.but(meetergo_id=None, meetergo_hash=None, state="active")

        if link is not None and link.meetergo_id is not None:
            if linked_contact is None:
                if not linked_contact_deleted:
                    return None  # not seen this time; nothing to decide on
                return _skip(
                    Side.MEETMATCH,
                    prospect.id,
                    email,
                    SkipReason.DELETED_ON_OTHER_SIDE,
                    link=link.but(meetmatch_id=prospect.id, state="meetergo_deleted"),
                    detail=f"meetergo contact {link.meetergo_id} was deleted",
                    settles=prospect.id,
                )
            both = {"also_link_side": Side.MEETERGO, "settles": prospect.id}
            if link.meetmatch_hash == digest and link.meetmatch_id == prospect.id:
                return _plan(Action.UNCHANGED, Side.MEETMATCH, src, link=link, **both)
            updated = link.but(meetmatch_id=prospect.id, meetmatch_hash=digest, state="active")
            patch = (
                meetergo_patch(linked_contact, canonical, self.config.policy, options)
                if self.to_meetergo
                else None
            )
            if patch is None:
                return _plan(Action.UNCHANGED, Side.MEETMATCH, src, link=updated, **both)
            return _plan(
                Action.UPDATE,
                Side.MEETERGO,
                src,
                link=updated,
                meetergo_draft=patch,
                meetergo_id=linked_contact.id,
                source_hash=digest,
                settles=prospect.id,
            )

        if link is not None and link.state == "meetergo_deleted":
            return _skip(
                Side.MEETMATCH,
                prospect.id,
                email,
                SkipReason.DELETED_ON_OTHER_SIDE,
                detail="its meetergo contact was deleted",
                settles=prospect.id,
            )

        if len(candidates) > 1:
            ids = ", ".join(c.id for c in sorted(candidates, key=meetergo_row_key))
            return _skip(
                Side.MEETMATCH,
                prospect.id,
                email,
                SkipReason.AMBIGUOUS_MATCH,
                detail=f"meetergo holds several contacts with this email: {ids}",
                link=Link(
                    email=email,
                    meetmatch_id=prospect.id,
                    meetmatch_hash=digest,
                    origin="meetmatch",
                    state="ambiguous",
                ),
                settles=prospect.id,
            )

        if len(candidates) == 1 and self._linked_elsewhere(candidates[0], email):
            holder = self.links.find(meetergo_id=candidates[0].id)
            return _skip(
                Side.MEETMATCH,
                prospect.id,
                email,
                SkipReason.AMBIGUOUS_MATCH,
                detail=(
                    f"meetergo contact {candidates[0].id} has this email but is linked to "
                    f"{holder.email if holder else 'another person'}"
                ),
                settles=prospect.id,
            )

        if len(candidates) == 1:
            contact = candidates[0]
            pair = Link(
                email=email,
                meetmatch_id=prospect.id,
                meetergo_id=contact.id,
                meetmatch_hash=digest,
                meetergo_hash=meetergo_hash(contact, options),
                origin="both",
            )
            patch = (
                meetergo_patch(contact, canonical, self.config.policy, options)
                if self.to_meetergo
                else None
            )
            if patch is None:
                return _plan(
                    Action.LINK,
                    Side.MEETMATCH,
                    src,
                    link=pair,
                    also_link_side=Side.MEETERGO,
                    settles=prospect.id,
                )
            return _plan(
                Action.UPDATE,
                Side.MEETERGO,
                src,
                link=pair,
                meetergo_draft=patch,
                meetergo_id=contact.id,
                source_hash=digest,
                also_link_side=Side.MEETMATCH,
                settles=prospect.id,
            )

        if not self.to_meetergo:
            return None
        return _plan(
            Action.CREATE,
            Side.MEETERGO,
            src,
            link=(link or Link(email=email, origin="meetmatch")).but(
                meetmatch_id=prospect.id, meetmatch_hash=digest, state="active"
            ),
            meetergo_draft=to_meetergo_create(canonical, options),
            source_hash=digest,
            settles=prospect.id,
        )

    def tombstone(self, link: Link) -> Plan:
        """A linked meetergo contact was deleted by a user: remember it, so it stays deleted."""
        return _skip(
            Side.MEETMATCH,
            link.meetmatch_id or "",
            link.email,
            SkipReason.DELETED_ON_OTHER_SIDE,
            link=link.but(state="meetergo_deleted"),
            detail=f"meetergo contact {link.meetergo_id} was deleted",
        )

    def _linked_elsewhere(self, contact: MeetergoContact, email: str) -> bool:
        """The meetergo contact already stands for another person (its email changed)."""
        holder = self.links.find(meetergo_id=contact.id)
        return holder is not None and holder.email != email

    def duplicate_meetmatch(self, prospect: MeetMatchProspect, email: str, holder: str) -> Plan:
        """MeetMatch holds two contacts with one email; the other one carries the sync.

        MeetMatch dedupes API creates by email, but contacts made in its UI may share one.
        Linking both would make one link flap between them; the person reaches meetergo once.
        """
        return _skip(
            Side.MEETMATCH,
            prospect.id,
            email,
            SkipReason.AMBIGUOUS_MATCH,
            detail=f"MeetMatch contact {holder} has the same email and is the one synced",
            settles=prospect.id,
        )

    # --- a meetergo contact ---------------------------------------------------------------

    def plan_meetergo(
        self,
        contact: MeetergoContact,
        same_email: Sequence[MeetergoContact],
        *,
        in_meetmatch: bool = False,
    ) -> list[Plan]:
        """Plans for one meetergo contact not already paired with a MeetMatch sighting.

        `same_email`: every meetergo contact with this normalized email, this one included.
        `in_meetmatch`: MeetMatch is known to hold this email already (seen in this run), so
        creating it there would only fetch the existing record.
        """
        options = self.config.options
        canonical = from_meetergo(contact, options)
        if isinstance(canonical, EmailProblem):
            return [_skip(Side.MEETERGO, contact.id, contact.email, _email_reason(canonical))]
        email = canonical.email
        digest = content_hash(canonical)
        src = (Side.MEETERGO, contact.id, email)
        link = self.links.find(meetergo_id=contact.id)

        if link is not None and link.meetmatch_id is not None:
            if link.meetergo_hash == digest:
                return [_plan(Action.UNCHANGED, Side.MEETERGO, src, link=link)]
            # MeetMatch contacts cannot be updated: remember what meetergo holds now, so the
            # same state is not looked at again, and leave MeetMatch as it is.
            return [
                _plan(Action.UNCHANGED, Side.MEETERGO, src, link=link.but(meetergo_hash=digest))
            ]

        if len(same_email) > 1:
            others = ", ".join(
                c.id for c in sorted(same_email, key=meetergo_row_key) if c.id != contact.id
            )
            plans = [
                _skip(
                    Side.MEETERGO,
                    contact.id,
                    email,
                    SkipReason.AMBIGUOUS_MATCH,
                    detail=f"same email as meetergo contact(s) {others}",
                )
            ]
            oldest = min(same_email, key=meetergo_row_key)
            by_email = self.links.find(email=email)
            if (
                contact.id == oldest.id
                and self.to_meetmatch
                and not in_meetmatch
                and (by_email is None or by_email.meetmatch_id is None)
            ):
                # MeetMatch still gets the person once; no meetergo contact is linked.
                plans.append(
                    _plan(
                        Action.CREATE,
                        Side.MEETMATCH,
                        src,
                        link=Link(email=email, origin="meetergo", state="ambiguous"),
                        meetmatch_draft=to_meetmatch_create(canonical, options),
                        source_hash=None,
                    )
                )
            return plans

        by_email = link or self.links.find(email=email)
        if (
            by_email is not None
            and by_email.meetergo_id not in (None, contact.id)
            and by_email.meetergo_id not in self.deleted_meetergo
            and by_email.state != "meetergo_deleted"
        ):
            # The link is the truth: the person is linked to another meetergo contact that
            # still exists (this one took over an email that contact had before).
            return [
                _skip(
                    Side.MEETERGO,
                    contact.id,
                    email,
                    SkipReason.AMBIGUOUS_MATCH,
                    detail=f"its person is linked to meetergo contact {by_email.meetergo_id}",
                )
            ]
        if by_email is not None and by_email.meetmatch_id is not None:
            # The person is known from MeetMatch (an earlier ambiguous match, a deleted and
            # re-created meetergo contact, or a meetergo create whose answer was lost).
            return [
                _plan(
                    Action.LINK,
                    Side.MEETERGO,
                    src,
                    link=by_email.but(meetergo_id=contact.id, meetergo_hash=digest, state="active"),
                )
            ]

        if not self.to_meetmatch or in_meetmatch:
            return []
        return [
            _plan(
                Action.CREATE,
                Side.MEETMATCH,
                src,
                link=(by_email or Link(email=email, origin="meetergo")).but(
                    meetergo_id=contact.id, meetergo_hash=digest, state="active"
                ),
                meetmatch_draft=to_meetmatch_create(canonical, options),
                source_hash=digest,
            )
        ]

"""Tickets: filing (with duplicate and outage linking), the lifecycle, notes and queries.

Functions take a SQLAlchemy ``Session`` inside the caller's transaction and return plain
dataclasses; ``bot`` renders them and writes the audit row in the same transaction. Every
path is idempotent: a report is keyed by where it came from (``source_ref``), so a Slack
retry or a double click finds the ticket it already made; a transition that has already
happened changes nothing and says so.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import and_, delete, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import NotFound, Refused, UserError
from core.privacy import Detector
from tickets.config import CATEGORIES, URGENCIES, TicketSettings
from tickets.intake import (
    MAX_DESCRIPTION,
    PhiFinding,
    find_accession,
    find_location,
    find_modality,
    find_phi,
    guess_category,
    guess_urgency,
    summarize,
    validate_accession,
)
from tickets.models import Incident, Ticket, TicketEvent, TicketFollower, WebhookDelivery
from tickets.routing import Facts, Route, route

OPEN = ("new", "acknowledged")
PRIORITY_ORDER = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}


@dataclass(frozen=True)
class Report:
    """What someone reported, from any intake path."""

    reporter: str
    description: str
    source: str  # modal | command | message | reaction | answer
    source_ref: str  # unique per intake event, e.g. "reaction:C123:1700000000.0001"
    category: str | None = None
    urgency: str | None = None
    accession: str | None = None
    modality: str | None = None
    location: str | None = None
    source_channel: str | None = None
    source_ts: str | None = None
    permalink: str | None = None
    original_author: str | None = None
    link_to: int | None = None  # an open ticket this report belongs to (a known outage), if any


@dataclass(frozen=True)
class TicketView:
    id: int
    ref: str
    status: str
    category: str
    urgency: str
    priority: str
    queue: str
    channel: str | None
    card_ts: str | None
    reporter: str
    assignee: str | None
    summary: str
    masked_summary: str
    description: str
    phi_suspected: bool
    accession: str | None
    modality: str | None
    location: str | None
    permalink: str | None
    parent_id: int | None
    parent_ref: str | None
    is_incident: bool
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    reports: int  # this report plus every report linked to it

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


@dataclass(frozen=True)
class Filed:
    ticket: TicketView  # the ticket the reporter should follow (the original when linked)
    own: TicketView  # the record of this very report
    created: bool  # False: this report was already filed (retry, double click)
    linked: bool  # True: a duplicate of an open ticket, now followed
    position: int  # "you're the 4th to report this"
    route: Route
    phi: PhiFinding
    incident: TicketView | None = None  # an outage declared by this report
    incident_reports: int = 0  # how many reports declared it
    merged: tuple[TicketView, ...] = ()  # other tickets gathered under the outage


@dataclass(frozen=True)
class Change:
    ticket: TicketView
    changed: bool
    message: str  # for the person who clicked
    event: str  # acknowledged | assigned | resolved | reopened | note | note_public
    notify: tuple[str, ...] = ()  # followers to DM (public changes only)
    text: str = ""
    event_id: int | None = None  # the history row of this change (a unique key for its messages)


@dataclass
class TicketService:
    settings: TicketSettings
    timezone: str = "UTC"
    mrn_patterns: Sequence[str] = field(default_factory=tuple)
    # The product's PHI detector; the bot gives its privacy gate's (site patterns, names the
    # archive returned). Alone, one with this section's patterns.
    detector: Detector | None = None

    def __post_init__(self) -> None:
        self.mrn_patterns = tuple(self.settings.phi.mrn_patterns)
        if self.detector is None:
            self.detector = Detector(self.mrn_patterns, mask_accessions=self.settings.phi.mask_accession_in_channel)

    def phi(self, text: str) -> PhiFinding:
        return find_phi(text, detector=self.detector)

    def ref(self, number: int) -> str:
        return f"{self.settings.prefix}-{number}"

    # -- views ----------------------------------------------------------------------------
    def view(self, session: Session, t: Ticket) -> TicketView:
        root = t.parent_id or t.id
        reports = session.scalar(select(func.count()).select_from(Ticket).where(or_(Ticket.id == root, Ticket.parent_id == root))) or 1
        masked = self.phi(t.summary).masked
        return TicketView(
            id=t.id, ref=self.ref(t.id), status=t.status, category=t.category, urgency=t.urgency, priority=t.priority,
            queue=t.queue, channel=t.channel, card_ts=t.card_ts, reporter=t.reporter, assignee=t.assignee,
            summary=t.summary, masked_summary=masked, description=t.description, phi_suspected=t.phi_suspected,
            accession=t.accession, modality=t.modality, location=t.location, permalink=t.permalink,
            parent_id=t.parent_id, parent_ref=self.ref(t.parent_id) if t.parent_id else None, is_incident=t.is_incident,
            created_at=t.created_at, updated_at=t.updated_at, acknowledged_at=t.acknowledged_at,
            acknowledged_by=t.acknowledged_by, resolved_at=t.resolved_at, resolved_by=t.resolved_by,
            resolution=t.resolution, reports=int(reports),
        )

    def get(self, session: Session, number: int, *, lock: bool = False) -> Ticket:
        ticket = session.get(Ticket, number, with_for_update=lock) if lock else session.get(Ticket, number)
        if ticket is None:
            raise NotFound(f"There is no ticket {self.ref(number)}.")
        return ticket

    def parse_number(self, text: str) -> int:
        cleaned = text.strip().upper().lstrip("#")
        if cleaned.startswith(self.settings.prefix + "-"):
            cleaned = cleaned[len(self.settings.prefix) + 1:]
        if not cleaned.isdigit() or len(cleaned) > 12:
            raise UserError(f"“{text.strip()[:30]}” is not a ticket number; use e.g. 123 or {self.settings.prefix}-123.")
        return int(cleaned)

    # -- filing ---------------------------------------------------------------------------
    def prepare(self, report: Report) -> Report:
        """Validate a report and fill what can be guessed from its text."""
        text = (report.description or "").strip()
        if not text:
            raise UserError("Please describe the problem in a few words (what, where, which study).")
        if len(text) > MAX_DESCRIPTION:
            raise UserError(f"That description is {len(text)} characters long; please keep it under {MAX_DESCRIPTION}.")
        category = report.category or guess_category(text)
        if category not in CATEGORIES:
            raise UserError(f"“{category}” is not a ticket category.")
        urgency = report.urgency or guess_urgency(text)
        if urgency not in URGENCIES:
            raise UserError(f"“{urgency}” is not an urgency; use STAT, urgent or routine.")
        accession = validate_accession(report.accession) if report.accession else validate_accession(find_accession(text))
        modality = (report.modality or find_modality(text) or None)
        location = (report.location or find_location(text) or None)
        return replace(report, description=text, category=category, urgency=urgency, accession=accession,
                       modality=modality.upper()[:8] if modality else None, location=location[:100] if location else None)

    def find_duplicate(self, session: Session, report: Report, now: datetime, *, guessed_category: bool = False) -> Ticket | None:
        """An open ticket this report repeats: same category, and the same accession, or a
        declared outage in that category, or similar text (and a similar place, where both
        name one) within the window."""
        since = now - timedelta(minutes=self.settings.duplicates.window_minutes)
        if report.link_to is not None:
            known = session.get(Ticket, report.link_to)
            if known is not None and known.status in OPEN and known.parent_id is None:
                return known  # the caller knows which outage this is about
        if report.accession and guessed_category:
            # the same study reported in other words: the category was only a guess from the text
            same_study = session.scalar(
                select(Ticket).where(Ticket.status.in_(OPEN), Ticket.parent_id.is_(None), Ticket.accession == report.accession,
                                     Ticket.created_at >= since).order_by(Ticket.id).limit(1))
            if same_study is not None:
                return same_study
        candidates = session.scalars(
            select(Ticket).where(
                Ticket.status.in_(OPEN), Ticket.parent_id.is_(None), Ticket.category == report.category,
                Ticket.created_at >= since,
            ).order_by(Ticket.id)
        ).all()
        if report.accession:
            for t in candidates:
                if t.accession and t.accession == report.accession:
                    return t
        incident = session.scalar(select(Ticket).where(Ticket.status.in_(OPEN), Ticket.parent_id.is_(None),
                                                       Ticket.category == report.category, Ticket.is_incident.is_(True))
                                  .order_by(Ticket.id).limit(1))
        if incident is not None:
            return incident  # during a declared outage, every report in its category joins it
        threshold = self.settings.duplicates.text_similarity
        best, best_score = None, 0.0
        for t in candidates:
            if report.accession and t.accession and t.accession != report.accession:
                continue  # two different studies are two problems
            same_place = False
            if report.location and t.location:
                if fuzz.ratio(report.location.lower(), t.location.lower()) < 80:
                    continue
                same_place = True
            score = fuzz.token_set_ratio(report.description.lower(), t.description.lower())
            # the same kind of problem at the same place needs less textual likeness
            if score >= (threshold - 20 if same_place else threshold) and score > best_score:
                best, best_score = t, score
        return best

    def file(self, session: Session, report: Report, now: datetime) -> Filed:
        """File a report: a new ticket, or a linked report on an open one. Idempotent by source_ref."""
        guessed = report.category is None
        report = self.prepare(report)
        existing = session.scalar(select(Ticket).where(Ticket.source_ref == report.source_ref))
        if existing is not None:
            return self._already_filed(session, existing, report, now)
        assert report.category and report.urgency
        self._serialise_filing(session, report.category)
        existing = session.scalar(select(Ticket).where(Ticket.source_ref == report.source_ref))
        if existing is not None:  # filed by a concurrent delivery while we waited
            return self._already_filed(session, existing, report, now)
        facts = Facts(report.category, report.urgency, report.description, report.modality, report.location)
        parent = self.find_duplicate(session, report, now, guessed_category=guessed)
        chosen = route(self.settings, facts, now, self.timezone)
        phi = self.phi(report.description)
        ticket = Ticket(
            source_ref=report.source_ref[:160], source=report.source, status="duplicate" if parent else "new",
            category=report.category, urgency=report.urgency,
            priority=parent.priority if parent else chosen.priority,
            queue=parent.queue if parent else chosen.queue, channel=parent.channel if parent else chosen.channel,
            reporter=report.reporter, summary=summarize(report.description), description=report.description,
            phi_suspected=phi.found, accession=report.accession, modality=report.modality, location=report.location,
            source_channel=report.source_channel, source_ts=report.source_ts, permalink=report.permalink,
            parent_id=parent.id if parent else None, is_incident=False, created_at=now, updated_at=now, reopen_count=0,
        )
        try:
            with session.begin_nested():
                session.add(ticket)
                session.flush()
        except IntegrityError:
            # the same report delivered twice at once: the other delivery filed it
            existing = session.scalar(select(Ticket).where(Ticket.source_ref == report.source_ref))
            if existing is None:
                raise
            return self._already_filed(session, existing, report, now)
        detail: dict[str, Any] = {"source": report.source, "category": report.category, "urgency": report.urgency}
        if report.original_author:
            detail["original_author"] = report.original_author
        self._event(session, ticket.id, now, report.reporter, "created", report.description, detail)
        self._follow(session, ticket.id, report.reporter, now)
        if parent is not None:
            parent.updated_at = now
            self._follow(session, parent.id, report.reporter, now)
            self._event(session, parent.id, now, report.reporter, "linked", report.description, {"report": ticket.id})
        outage = self._check_outage(session, parent or ticket, report.category, now)
        if ticket.parent_id is not None and parent is None:
            parent = session.get(Ticket, ticket.parent_id)  # this report was merged into the outage it declared
        root = parent or ticket
        self.enqueue_webhook(session, root, "linked" if parent else "created", now, event_id=f"{ticket.id}")
        own = self.view(session, ticket)
        shown = self.view(session, root)
        incident, reports, merged = outage if outage else (None, 0, [])
        return Filed(ticket=shown, own=own, created=True, linked=parent is not None, position=shown.reports,
                     route=Route(shown.queue, shown.channel, shown.priority, chosen.oncall if parent is None else self._oncall(shown.queue), chosen.rule),
                     phi=phi, incident=incident, incident_reports=reports,
                     merged=tuple(m for m in merged if m.id != ticket.id))

    def _already_filed(self, session: Session, existing: Ticket, report: Report, now: datetime) -> Filed:
        root = session.get(Ticket, existing.parent_id) if existing.parent_id else existing
        assert root is not None
        if report.reporter != existing.reporter:
            self._follow(session, root.id, report.reporter, now)  # someone else flagged the same message
        shown = self.view(session, root)
        return Filed(ticket=shown, own=self.view(session, existing), created=False, linked=existing.parent_id is not None,
                     position=shown.reports, route=Route(shown.queue, shown.channel, shown.priority, self._oncall(shown.queue), None),
                     phi=self.phi(existing.description))

    def _oncall(self, queue: str) -> str | None:
        q = self.settings.queue(queue)
        return q.oncall if q else None

    def _check_outage(self, session: Session, root: Ticket, category: str, now: datetime) -> tuple[TicketView, int, list[TicketView]] | None:
        """N reports in M minutes in one category: declare one incident, once, and gather the
        open tickets of that burst under it, so the team sees one incident, not twenty tickets.

        Returns the incident's ticket, the number of reports that declared it, and the tickets
        that were merged into it (for their cards to be updated).
        """
        outage = self.settings.outage
        since = now - timedelta(minutes=outage.minutes)
        count = session.scalar(select(func.count()).select_from(Ticket).where(Ticket.category == category, Ticket.created_at >= since)) or 0
        if count < outage.reports or category == "other":
            return None
        if session.scalar(select(Incident.id).join(Ticket, Ticket.id == Incident.ticket_id)
                          .where(Incident.category == category, Ticket.status.in_(OPEN))) is not None:
            return None  # this outage is already declared
        burst = list(session.scalars(
            select(Ticket).where(Ticket.category == category, Ticket.status.in_(OPEN), Ticket.parent_id.is_(None),
                                 Ticket.created_at >= since).order_by(Ticket.id)))
        anchor = burst[0] if burst else root
        try:
            with session.begin_nested():
                session.add(Incident(category=category, window_key=f"{category}:{anchor.id}", ticket_id=anchor.id, opened_at=now, reports=int(count)))
                session.flush()
        except IntegrityError:
            return None
        anchor.is_incident = True
        anchor.updated_at = now
        anchor.priority = "P1"
        self._event(session, anchor.id, now, "pacsbot", "incident", f"{count} reports in {outage.minutes} minutes", {"reports": int(count)})
        merged = []
        for other in burst[1:]:
            for child in session.scalars(select(Ticket).where(Ticket.parent_id == other.id)):
                child.parent_id = anchor.id
            other.parent_id, other.status, other.updated_at = anchor.id, "duplicate", now
            for user in self.followers(session, other.id):
                self._follow(session, anchor.id, user, now)
            self._event(session, anchor.id, now, other.reporter, "linked", other.description, {"report": other.id, "merged": True})
            self._event(session, other.id, now, "pacsbot", "linked", f"merged into {self.ref(anchor.id)}, a possible outage", {})
            merged.append(other)
        session.flush()
        return self.view(session, anchor), int(count), [self.view(session, t) for t in merged]

    def declare_outage(self, session: Session, report: Report, now: datetime, *, key: str) -> tuple[TicketView, bool]:
        """An outage noticed by monitoring (not by reports): reuse the open incident of that
        category if there is one (a note says what monitoring saw), else file ``report`` and
        make it an incident. Returns the incident and whether a new ticket was created.
        ``key`` (e.g. ``watch:pacs:<first failure>``) makes it idempotent."""
        assert report.category
        self._serialise_filing(session, report.category)
        existing = session.scalar(select(Ticket).where(Ticket.is_incident.is_(True), Ticket.status.in_(OPEN),
                                                       Ticket.parent_id.is_(None), Ticket.category == report.category)
                                  .order_by(Ticket.id).limit(1))
        if existing is not None:
            self._event(session, existing.id, now, report.reporter, "note", report.description, {"monitoring": key},
                        dedupe_key=f"outage:{key}"[:160])
            existing.updated_at = now
            return self.view(session, existing), False
        filed = self.file(session, replace(report, source_ref=f"outage:{key}"[:160]), now)
        root = session.get(Ticket, filed.ticket.id)
        assert root is not None
        # monitoring is not a person to send updates to
        session.execute(delete(TicketFollower).where(TicketFollower.user_id == report.reporter,
                                                     TicketFollower.ticket_id.in_((root.id, filed.own.id))))
        if not root.is_incident:
            root.is_incident, root.priority, root.updated_at = True, "P1", now
            try:
                with session.begin_nested():
                    session.add(Incident(category=root.category, window_key=f"outage:{key}"[:64], ticket_id=root.id,
                                         opened_at=now, reports=filed.ticket.reports))
                    session.flush()
            except IntegrityError:
                pass
            self._event(session, root.id, now, report.reporter, "incident", "declared by monitoring", {"monitoring": key})
        return self.view(session, root), filed.created and not filed.linked

    def open_incidents(self, session: Session, category: str | None = None) -> list[TicketView]:
        stmt = select(Ticket).where(Ticket.is_incident.is_(True), Ticket.status.in_(OPEN)).order_by(Ticket.id)
        if category:
            stmt = stmt.where(Ticket.category == category)
        return [self.view(session, t) for t in session.scalars(stmt)]

    # -- lifecycle ------------------------------------------------------------------------
    def act(self, session: Session, number: int, action: str, actor: str, now: datetime, *, note: str | None = None, assignee: str | None = None) -> Change:
        """Apply one team action. Repeats (double clicks, retries) change nothing."""
        ticket = self.get(session, number, lock=True)
        if ticket.parent_id is not None and action in ("acknowledge", "assign", "resolve", "reopen"):
            raise Refused(f"{self.ref(ticket.id)} is a report linked to {self.ref(ticket.parent_id)}; act on {self.ref(ticket.parent_id)} instead.")
        ref = self.ref(ticket.id)
        if action == "acknowledge":
            if ticket.status != "new":
                who = f" by <@{ticket.acknowledged_by}>" if ticket.acknowledged_by else ""
                state = "resolved" if ticket.status == "resolved" else f"acknowledged{who}"
                return Change(self.view(session, ticket), False, f"{ref} is already {state}; nothing changed.", "acknowledged")
            ticket.status, ticket.acknowledged_at, ticket.acknowledged_by = "acknowledged", now, actor
            return self._changed(session, ticket, now, actor, "acknowledged", "", public=True)
        if action == "assign":
            target = assignee or actor
            if ticket.status == "resolved":
                return Change(self.view(session, ticket), False, f"{ref} is resolved; reopen it before assigning it.", "assigned")
            if ticket.assignee == target:
                return Change(self.view(session, ticket), False, f"{ref} is already assigned to <@{target}>; nothing changed.", "assigned")
            ticket.assignee = target
            if ticket.status == "new":
                ticket.status, ticket.acknowledged_at, ticket.acknowledged_by = "acknowledged", now, actor
            return self._changed(session, ticket, now, actor, "assigned", "", public=True, details={"assignee": target})
        if action == "resolve":
            if ticket.status == "resolved":
                return Change(self.view(session, ticket), False, f"{ref} was already resolved by <@{ticket.resolved_by}>; nothing changed.", "resolved")
            text = (note or "").strip()
            if not text:
                raise UserError("Please say how it was resolved; the reporter will read it.")
            ticket.status, ticket.resolved_at, ticket.resolved_by, ticket.resolution = "resolved", now, actor, text[:MAX_DESCRIPTION]
            if ticket.acknowledged_at is None:
                ticket.acknowledged_at, ticket.acknowledged_by = now, actor
            for child in session.scalars(select(Ticket).where(Ticket.parent_id == ticket.id, Ticket.resolved_at.is_(None))):
                child.resolved_at, child.resolved_by, child.resolution, child.updated_at = now, actor, ticket.resolution, now
            return self._changed(session, ticket, now, actor, "resolved", text, public=True)
        if action == "reopen":
            if ticket.status != "resolved":
                return Change(self.view(session, ticket), False, f"{ref} is still open; nothing changed.", "reopened")
            ticket.status, ticket.resolved_at, ticket.resolved_by = "acknowledged", None, None
            ticket.reopen_count += 1
            return self._changed(session, ticket, now, actor, "reopened", (note or "").strip(), public=True)
        if action in ("note", "note_public"):
            text = (note or "").strip()
            if not text:
                raise UserError("The note is empty.")
            return self._changed(session, ticket, now, actor, action, text[:MAX_DESCRIPTION], public=action == "note_public")
        raise UserError(f"Unknown ticket action “{action}”.")

    def _changed(self, session: Session, ticket: Ticket, now: datetime, actor: str, kind: str, text: str, *, public: bool,
                 details: dict[str, Any] | None = None) -> Change:
        ticket.updated_at = now
        event_id = self._event(session, ticket.id, now, actor, kind, text, details or {}, public=public)
        self.enqueue_webhook(session, ticket, kind, now, event_id=str(event_id))
        followers = tuple(self.followers(session, ticket.id)) if public else ()
        messages = {
            "acknowledged": f"{self.ref(ticket.id)} acknowledged.", "assigned": f"{self.ref(ticket.id)} assigned to <@{ticket.assignee}>.",
            "resolved": f"{self.ref(ticket.id)} resolved.", "reopened": f"{self.ref(ticket.id)} reopened.",
            "note": "Private note added (the team only).", "note_public": "Note added and sent to the reporter.",
        }
        return Change(self.view(session, ticket), True, messages[kind], kind, followers, text, event_id)

    def add_reply(self, session: Session, channel: str, thread_ts: str, user: str, text: str, ts: str, now: datetime) -> TicketView | None:
        """A reply in a ticket card's thread becomes part of the ticket's history (once)."""
        ticket = session.scalar(select(Ticket).where(Ticket.channel == channel, Ticket.card_ts == thread_ts))
        if ticket is None or not text.strip():
            return None
        if self._event(session, ticket.id, now, user, "reply", text.strip()[:MAX_DESCRIPTION], {"ts": ts}, dedupe_key=f"reply:{channel}:{ts}") is None:
            return None
        ticket.updated_at = now
        return self.view(session, ticket)

    def add_diagnostics(self, session: Session, number: int, text: str, details: dict[str, Any], now: datetime) -> None:
        self._event(session, number, now, "pacsbot", "diagnostics", text, details)

    def set_card(self, session: Session, number: int, channel: str, ts: str) -> None:
        ticket = self.get(session, number)
        ticket.channel, ticket.card_ts = channel, ts

    def without_card(self, session: Session, now: datetime, *, older_than: timedelta = timedelta(seconds=30),
                     limit: int = 20) -> list[TicketView]:
        """Open tickets whose queue card never reached their channel (Slack refused it), oldest first."""
        stmt = (select(Ticket).where(Ticket.card_ts.is_(None), Ticket.channel.is_not(None), Ticket.parent_id.is_(None),
                                     Ticket.status.in_(("new", "acknowledged")), Ticket.created_at <= now - older_than)
                .order_by(Ticket.id).limit(limit))
        return [self.view(session, t) for t in session.scalars(stmt)]

    def followers(self, session: Session, number: int) -> list[str]:
        return list(session.scalars(select(TicketFollower.user_id).where(TicketFollower.ticket_id == number).order_by(TicketFollower.since)))

    def history(self, session: Session, number: int, *, include_private: bool = True) -> list[TicketEvent]:
        stmt = select(TicketEvent).where(TicketEvent.ticket_id == number).order_by(TicketEvent.at, TicketEvent.id)
        if not include_private:
            stmt = stmt.where(or_(TicketEvent.public.is_(True), TicketEvent.kind.in_(("created", "acknowledged", "resolved", "reopened"))))
        return list(session.scalars(stmt))

    # -- queries --------------------------------------------------------------------------
    def listing(self, session: Session, which: str, user: str, now: datetime, limit: int = 20) -> list[TicketView]:
        base = select(Ticket).where(Ticket.parent_id.is_(None))
        if which == "mine":
            stmt = base.where(or_(Ticket.reporter == user, Ticket.assignee == user, Ticket.id.in_(
                select(TicketFollower.ticket_id).where(TicketFollower.user_id == user)))).order_by(Ticket.id.desc())
        elif which == "open":
            stmt = base.where(Ticket.status.in_(OPEN)).order_by(Ticket.id.desc())
        elif which == "unassigned":
            stmt = base.where(Ticket.status.in_(OPEN), Ticket.assignee.is_(None)).order_by(Ticket.id)
        elif which == "stale":
            cutoff = now - timedelta(hours=self.settings.stale_after_hours)
            stmt = base.where(Ticket.status.in_(OPEN), Ticket.updated_at < cutoff).order_by(Ticket.updated_at)
        else:
            raise UserError(f"“{which}” is not a list; use mine, open, unassigned or stale.")
        rows = [self.view(session, t) for t in session.scalars(stmt.limit(limit))]
        if which == "unassigned":
            rows.sort(key=lambda v: (PRIORITY_ORDER.get(v.priority, 9), v.created_at))
        return rows

    def triage(self, session: Session, now: datetime, limit: int = 20) -> list[TicketView]:
        """What still needs an owner: open, unassigned, most urgent and oldest first."""
        return self.listing(session, "unassigned", "", now, limit)

    def counts(self, session: Session) -> dict[str, int]:
        rows = session.execute(select(Ticket.status, func.count()).where(Ticket.parent_id.is_(None)).group_by(Ticket.status)).all()
        return {status: int(n) for status, n in rows}

    # -- SLAs -----------------------------------------------------------------------------
    def due_reminders(self, session: Session, now: datetime) -> list[tuple[TicketView, str, int]]:
        """Tickets past their acknowledge or resolve target, one reminder per interval.

        Returns ``(ticket, "acknowledge"|"resolve", step)``; step 0 is the first breach,
        which is also when the on-call group is paged. Recorded with a unique key, so a
        reminder is never sent twice for the same step, whichever replica runs the job.
        """
        out = []
        every = timedelta(minutes=self.settings.remind_every_minutes)
        for ticket in session.scalars(select(Ticket).where(Ticket.status.in_(OPEN), Ticket.parent_id.is_(None)).order_by(Ticket.id)):
            target = self.settings.sla.get(ticket.priority)  # type: ignore[call-overload]
            if target is None:
                continue
            if ticket.status == "new":
                kind, deadline = "acknowledge", ticket.created_at + timedelta(minutes=target.acknowledge_minutes)
            else:
                kind, deadline = "resolve", ticket.created_at + timedelta(minutes=target.resolve_minutes)
            if now < deadline:
                continue
            step = int((now - deadline) / every)
            if self._event(session, ticket.id, now, "pacsbot", "reminder", f"{kind} target passed", {"kind": kind, "step": step},
                           dedupe_key=f"sla:{ticket.id}:{kind}:{ticket.reopen_count}:{step}") is not None:
                out.append((self.view(session, ticket), kind, step))
        return out

    # -- webhooks -------------------------------------------------------------------------
    def enqueue_webhook(self, session: Session, ticket: Ticket, kind: str, now: datetime, event_id: str | None = None) -> None:
        queue = self.settings.queue(ticket.queue)
        if queue is None or queue.webhook is None:
            return
        key = f"{ticket.id}:{kind}:{event_id or now.isoformat()}"
        payload = {
            "event": kind, "event_id": key, "ticket": self.ref(ticket.id), "status": ticket.status,
            "category": ticket.category, "urgency": ticket.urgency, "priority": ticket.priority, "queue": ticket.queue,
            "summary": self.phi(ticket.summary).masked, "accession": ticket.accession,
            "modality": ticket.modality, "location": ticket.location, "reporter": ticket.reporter, "assignee": ticket.assignee,
            "created_at": ticket.created_at.isoformat(), "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else None,
            "resolution": self.phi(ticket.resolution or "").masked or None, "at": now.isoformat(),
        }
        try:
            with session.begin_nested():
                session.add(WebhookDelivery(dedupe_key=key[:160], ticket_id=ticket.id, queue=ticket.queue, payload=payload,
                                            created_at=now, attempts=0, next_attempt_at=now))
                session.flush()
        except IntegrityError:
            pass

    # -- helpers --------------------------------------------------------------------------
    @staticmethod
    def _serialise_filing(session: Session, category: str) -> None:
        """Reports in one category are filed one at a time, so that twenty people reporting
        the same outage at once are linked to one ticket, not split over several.
        (SQLite already serialises writers; PostgreSQL takes a transaction-scoped lock.)"""
        if session.get_bind().dialect.name == "postgresql":
            key = 0x7AC50000 + zlib.crc32(category.encode()) % 0xFFFF
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def _event(self, session: Session, ticket_id: int, now: datetime, actor: str, kind: str, text: str, details: dict[str, Any],
               *, public: bool = False, dedupe_key: str | None = None) -> int | None:
        """Add a history row; its id, or None when ``dedupe_key`` says it was already added."""
        event = TicketEvent(ticket_id=ticket_id, at=now, actor=actor, kind=kind, public=public, text=text,
                            details=details, dedupe_key=dedupe_key)
        try:
            with session.begin_nested():
                session.add(event)
                session.flush()
        except IntegrityError:
            if dedupe_key is None:
                raise
            return None
        return event.id

    def _follow(self, session: Session, ticket_id: int, user: str, now: datetime) -> None:
        exists = session.scalar(select(TicketFollower.user_id).where(and_(TicketFollower.ticket_id == ticket_id, TicketFollower.user_id == user)))
        if exists:
            return
        try:
            with session.begin_nested():
                session.add(TicketFollower(ticket_id=ticket_id, user_id=user, since=now))
                session.flush()
        except IntegrityError:
            pass

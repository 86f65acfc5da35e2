"""Tickets: filing (with duplicate and outage linking), the lifecycle, notes and queries.

References: a ticket of its own is PACS-<number>, numbers given one after the other; a report
linked to a ticket when it is filed is PACS-<that number>.<n> and takes no number. Functions
take and return row ids (``Ticket.id``, what buttons carry); :meth:`TicketService.find` reads
a reference someone typed.

Functions take a SQLAlchemy ``Session`` inside the caller's transaction and return plain
dataclasses; ``bot`` renders them and writes the audit row in the same transaction. Every
path is idempotent: a report is keyed by where it came from (``source_ref``), so a Slack
retry or a double click finds the ticket it already made; a transition that has already
happened changes nothing and says so.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import and_, delete, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pacsbot.core.errors import NotFound, Refused, UserError
from pacsbot.core.privacy import Detector
from pacsbot.tickets import export
from pacsbot.tickets.config import CATEGORIES, URGENCIES, TicketSettings
from pacsbot.tickets.intake import (
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
from pacsbot.tickets.models import Incident, Ticket, TicketEvent, TicketFollower, WebhookDelivery
from pacsbot.tickets.reminders import DigestEntry, ReminderPolicy, Sent, Step, TicketFacts
from pacsbot.tickets.routing import Facts, Route, route

OPEN = ("new", "acknowledged")
PRIORITY_ORDER = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}
# PostgreSQL advisory lock taken to give out the next ticket number (the per-category filing
# locks use 0x7AC50000 + 0..0xFFFE)
NUMBERING_LOCK = 0x7AC5FFFF
_REFERENCE = re.compile(r"^(\d{1,12})(?:\.(\d{1,6}))?$")


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
    # an incident: the node the watch saw down, when it came back, and (declared by reports)
    # the end of its quiet window: it takes new reports until then
    node: str | None = None
    recovered_at: datetime | None = None
    live_until: datetime | None = None
    # a report just split off its ticket: the reference it had while linked (PACS-12.1)
    former_ref: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def live(self, now: datetime) -> bool:
        """An open incident that still takes new reports."""
        if not (self.is_incident and self.is_open) or self.recovered_at is not None:
            return False
        return self.node is not None or (self.live_until is not None and now <= self.live_until)


@dataclass(frozen=True)
class Listener:
    """Someone to tell about an outage ticket, and what they told us (their own reports under it)."""

    user: str
    via: str  # "report": they reported it (or a report linked to it); "told": they were told it is down
    reports: tuple[TicketView, ...] = ()


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
    incident_people: int = 0  # ... from how many people
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
    listeners: tuple[Listener, ...] = ()  # the followers in ``notify``, with their own reports


@dataclass(frozen=True)
class Declared:
    """An outage the node watch declared: its ticket, whether it is new, and the reports gathered under it."""

    ticket: TicketView
    created: bool
    merged: tuple[TicketView, ...] = ()


@dataclass(frozen=True)
class Moved:
    """A report split off an outage (now a ticket of its own) or merged into another ticket."""

    ticket: TicketView  # the report, after the move
    other: TicketView  # the ticket it left (split) or joined (merge)
    changed: bool
    message: str  # for the admin who clicked
    listeners: tuple[Listener, ...] = ()  # whom to tell: the report's followers
    event_id: int | None = None


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

    def ref(self, ticket: Ticket) -> str:
        """``PACS-12``, or ``PACS-12.1`` for the first report linked to PACS-12 when it was filed."""
        return self.reference(ticket.number, ticket.sub)

    def reference(self, number: int, sub: int = 0) -> str:
        return f"{self.settings.prefix}-{number}" + (f".{sub}" if sub else "")

    def ref_of(self, session: Session, ticket_id: int) -> str:
        """The reference of the ticket with row id ``ticket_id`` (what buttons and other features keep)."""
        return self.ref(self.get(session, ticket_id))

    # -- views ----------------------------------------------------------------------------
    def view(self, session: Session, t: Ticket) -> TicketView:
        root = t.parent_id or t.id
        reports = session.scalar(select(func.count()).select_from(Ticket).where(or_(Ticket.id == root, Ticket.parent_id == root))) or 1
        masked = self.phi(t.summary).masked
        incident = session.scalar(select(Incident).where(Incident.ticket_id == t.id).order_by(Incident.id.desc()).limit(1)) \
            if t.is_incident else None
        parent = session.get(Ticket, t.parent_id) if t.parent_id else None
        return TicketView(
            id=t.id, ref=self.ref(t), status=t.status, category=t.category, urgency=t.urgency, priority=t.priority,
            queue=t.queue, channel=t.channel, card_ts=t.card_ts, reporter=t.reporter, assignee=t.assignee,
            summary=t.summary, masked_summary=masked, description=t.description, phi_suspected=t.phi_suspected,
            accession=t.accession, modality=t.modality, location=t.location, permalink=t.permalink,
            parent_id=t.parent_id, parent_ref=self.ref(parent) if parent else None, is_incident=t.is_incident,
            created_at=t.created_at, updated_at=t.updated_at, acknowledged_at=t.acknowledged_at,
            acknowledged_by=t.acknowledged_by, resolved_at=t.resolved_at, resolved_by=t.resolved_by,
            resolution=t.resolution, reports=int(reports),
            node=incident.node if incident else None, recovered_at=incident.recovered_at if incident else None,
            live_until=self._quiet_after(incident) if incident else None,
        )

    def get(self, session: Session, number: int, *, lock: bool = False) -> Ticket:
        """The ticket with row id ``number`` (what buttons, forms and jobs carry); :meth:`find` reads a reference."""
        # locked: read afresh, whatever this session had loaded before the lock
        ticket = session.get(Ticket, number, with_for_update=True, populate_existing=True) if lock else session.get(Ticket, number)
        if ticket is None:
            raise NotFound("That ticket does not exist (any more).")
        return ticket

    def parse_number(self, text: str) -> int:
        """The row id a button or form carries (``"123"``). A reference someone typed is read by :meth:`find`."""
        cleaned = text.strip().upper().lstrip("#")
        if cleaned.startswith(self.settings.prefix + "-"):
            cleaned = cleaned[len(self.settings.prefix) + 1:]
        if not cleaned.isdigit() or len(cleaned) > 12:
            raise UserError(f"“{text.strip()[:30]}” is not a ticket number; use e.g. 123 or {self.settings.prefix}-123.")
        return int(cleaned)

    def parse_reference(self, text: str) -> tuple[int, int]:
        """``PACS-12``, ``pacs-12.1``, ``#12``, ``12.1`` -> (number, sub)."""
        cleaned = text.strip().upper().lstrip("#")
        if cleaned.startswith(self.settings.prefix + "-"):
            cleaned = cleaned[len(self.settings.prefix) + 1:]
        m = _REFERENCE.match(cleaned)
        if m is None:
            p = self.settings.prefix
            raise UserError(f"“{text.strip()[:30]}” is not a ticket number; use e.g. 123, {p}-123 or {p}-123.1.")
        return int(m.group(1)), int(m.group(2) or 0)

    def find(self, session: Session, text: str) -> Ticket:
        """The ticket someone named: ``PACS-12`` (or ``12``), or a linked report ``PACS-12.1`` —
        also by the reference a report had before it was split off into a ticket of its own."""
        number, sub = self.parse_reference(text)
        ticket = session.scalar(select(Ticket).where(Ticket.number == number, Ticket.sub == sub))
        if ticket is None and sub:
            moved = session.scalar(select(TicketEvent.ticket_id).where(TicketEvent.dedupe_key == f"was:{number}.{sub}"))
            ticket = session.get(Ticket, moved) if moved is not None else None
        if ticket is None:
            raise NotFound(f"There is no ticket {self.reference(number, sub)}.")
        return ticket

    def _next_number(self, session: Session) -> int:
        """The number for a new ticket of the team's: one more than the highest given. Writers
        take it one at a time (SQLite serialises them; PostgreSQL takes a transaction-scoped
        lock), so it is never given twice and the queue has no gaps."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": NUMBERING_LOCK})
        return int(session.scalar(select(func.max(Ticket.number))) or 0) + 1

    def _next_sub(self, session: Session, root: Ticket) -> int:
        """The place of a new report under ``root`` (PACS-12.<n>), with ``root`` locked meanwhile:
        after every report under its number, and after those split off (their reference still
        finds them, so it is never given again)."""
        session.execute(select(Ticket.id).where(Ticket.id == root.id).with_for_update())
        last = int(session.scalar(select(func.max(Ticket.sub)).where(Ticket.number == root.number)) or 0)
        for key in session.scalars(select(TicketEvent.dedupe_key).where(TicketEvent.dedupe_key.like(f"was:{root.number}.%"))):
            last = max(last, int(str(key).rpartition(".")[2]))
        return last + 1

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
        incident = self._live_incident(session, report.category or "", now)
        if incident is not None:
            return incident  # while an outage is live, every report in its category joins it
        threshold = self.settings.duplicates.text_similarity
        best, best_score = None, 0.0
        for t in candidates:
            if report.accession and t.accession and t.accession != report.accession:
                continue  # two different studies are two problems
            same_place = False
            mine, theirs = report.description.lower(), t.description.lower()
            if report.location and t.location:
                if fuzz.ratio(report.location.lower(), t.location.lower()) < 80:
                    continue
                same_place = True
                # the place already counts; the words must be alike about the problem itself
                mine, theirs = mine.replace(report.location.lower(), " "), theirs.replace(t.location.lower(), " ")
            score = fuzz.token_set_ratio(mine, theirs)
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
        # a linked report is PACS-<its ticket>.<n>; only a ticket of its own takes a number
        number, sub = (parent.number, self._next_sub(session, parent)) if parent else (self._next_number(session), 0)
        ticket = Ticket(
            number=number, sub=sub, source_ref=report.source_ref[:160], source=report.source, status="duplicate" if parent else "new",
            category=report.category, urgency=report.urgency, priority=chosen.priority,
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
            if parent.is_incident:
                self._joined_incident(session, parent.id, now)
        outage = self._check_outage(session, parent or ticket, report.category, now)
        if ticket.parent_id is not None and parent is None:
            parent = session.get(Ticket, ticket.parent_id)  # this report was merged into the outage it declared
            assert parent is not None
            # nobody has seen its number yet: it is a report of the outage, and the number stays free
            ticket.number, ticket.sub = parent.number, self._next_sub(session, parent)
            session.flush()
        root = parent or ticket
        self.enqueue_webhook(session, root, "linked" if parent else "created", now, event_id=f"{ticket.id}")
        own = self.view(session, ticket)
        shown = self.view(session, root)
        incident, reports, people, merged = outage if outage else (None, 0, 0, [])
        return Filed(ticket=shown, own=own, created=True, linked=parent is not None, position=shown.reports,
                     route=Route(shown.queue, shown.channel, shown.priority, chosen.oncall if parent is None else self._oncall(shown.queue), chosen.rule),
                     phi=phi, incident=incident, incident_reports=reports, incident_people=people,
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
        return self.settings.oncall_of(queue)

    # -- outages ---------------------------------------------------------------------------
    def _quiet_after(self, incident: Incident) -> datetime | None:
        """Until when an incident declared by reports takes new ones (None: while its node is down)."""
        if incident.node is not None:
            return None
        return (incident.last_report_at or incident.opened_at) + timedelta(minutes=self.settings.outage.minutes)

    def _is_live(self, incident: Incident, now: datetime) -> bool:
        if incident.recovered_at is not None:
            return False
        until = self._quiet_after(incident)
        return until is None or now <= until

    def _live_incident(self, session: Session, category: str, now: datetime) -> Ticket | None:
        """The open incident in ``category`` that still takes new reports, if any."""
        rows = session.execute(select(Ticket, Incident).join(Incident, Incident.ticket_id == Ticket.id)
                               .where(Ticket.status.in_(OPEN), Ticket.parent_id.is_(None), Ticket.is_incident.is_(True),
                                      Ticket.category == category).order_by(Ticket.id)).all()
        return next((t for t, incident in rows if self._is_live(incident, now)), None)

    def _joined_incident(self, session: Session, ticket_id: int, now: datetime) -> None:
        """A report joined an outage: it stays live for another quiet window."""
        for incident in session.scalars(select(Incident).where(Incident.ticket_id == ticket_id)):
            incident.last_report_at, incident.reports = now, incident.reports + 1

    def _check_outage(self, session: Session, root: Ticket, category: str, now: datetime) -> tuple[TicketView, int, int, list[TicketView]] | None:
        """Reports in one category from ``outage.people`` different people (or from
        ``outage.places`` places, by at least two people) within ``outage.minutes``: declare
        one incident and gather the open tickets of that burst under it, so the team sees
        one incident, not twenty tickets. One person's reports never declare one alone.

        Returns the incident's ticket, the reports and people that declared it, and the
        tickets merged into it (for their cards to be updated).
        """
        outage = self.settings.outage
        if category == "other" or self._live_incident(session, category, now) is not None:
            return None  # nothing to declare, or this outage is already declared and live
        since = now - timedelta(minutes=outage.minutes)
        rows = session.execute(select(Ticket.reporter, Ticket.location, Ticket.modality).where(
            Ticket.category == category, Ticket.created_at >= since, Ticket.source != "watch")).all()
        people = {r.reporter for r in rows}
        places = {" ".join((r.location or r.modality or "").lower().split()) for r in rows} - {""}
        if not (len(people) >= outage.people or (len(places) >= outage.places and len(people) >= 2)):
            return None
        burst = list(session.scalars(
            select(Ticket).where(Ticket.category == category, Ticket.status.in_(OPEN), Ticket.parent_id.is_(None),
                                 Ticket.is_incident.is_(False), Ticket.created_at >= since).order_by(Ticket.id)))
        anchor = burst[0] if burst else root
        try:
            with session.begin_nested():
                session.add(Incident(category=category, window_key=f"{category}:{anchor.id}", ticket_id=anchor.id, opened_at=now,
                                     reports=len(rows), last_report_at=now))
                session.flush()
        except IntegrityError:
            return None
        anchor.is_incident = True
        anchor.updated_at = now
        anchor.priority = "P1"
        self._event(session, anchor.id, now, "pacsbot", "incident",
                    f"{len(people)} people reported {category} problems in {outage.minutes} minutes",
                    {"reports": len(rows), "people": len(people), "places": len(places)})
        merged = []
        for other in burst[1:]:
            self._move_under(session, other, anchor, now, "pacsbot", why="a possible outage")
            merged.append(other)
        session.flush()
        return self.view(session, anchor), len(rows), len(people), [self.view(session, t) for t in merged]

    def _move_under(self, session: Session, ticket: Ticket, root: Ticket, now: datetime, actor: str, *, why: str) -> None:
        """``ticket`` (and the reports linked to it) become reports of ``root``; its followers follow ``root``."""
        for child in session.scalars(select(Ticket).where(Ticket.parent_id == ticket.id)):
            child.parent_id = root.id
        ticket.parent_id, ticket.status, ticket.updated_at = root.id, "duplicate", now
        for follower in session.scalars(select(TicketFollower).where(TicketFollower.ticket_id == ticket.id)).all():
            self._follow(session, root.id, follower.user_id, now, via=follower.via)
        self._event(session, root.id, now, ticket.reporter, "linked", ticket.description,
                    {"report": ticket.id, "merged": True, "by": actor})
        self._event(session, ticket.id, now, actor, "linked", f"merged into {self.ref(root)}, {why}", {"into": root.id})
        root.updated_at = now

    def declare_outage(self, session: Session, report: Report, now: datetime, *, key: str, node: str | None = None,
                       since: datetime | None = None, gather: Callable[[Ticket], bool] | None = None) -> Declared:
        """An outage noticed by monitoring (not by reports): adopt the live incident of that
        category if reports already declared one (a note says what monitoring saw), else file
        ``report`` and make it an incident. Either way the incident now lives as long as the
        watch says ``node`` is down, and the open tickets filed since the first failure
        (``since``) that ``gather`` says the outage explains are merged into it: people
        usually report before monitoring is sure. ``key`` (e.g. ``watch:pacs:<first
        failure>``) makes it idempotent."""
        assert report.category
        self._serialise_filing(session, report.category)
        existing = self._live_incident(session, report.category, now)
        if existing is not None:
            self._event(session, existing.id, now, report.reporter, "note", report.description, {"monitoring": key},
                        dedupe_key=f"outage:{key}"[:160])
            existing.updated_at = now
            for incident in session.scalars(select(Incident).where(Incident.ticket_id == existing.id)):
                incident.node = incident.node or node
            merged = self._gather(session, existing, now, since, gather)
            return Declared(self.view(session, existing), False, merged)
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
                                         opened_at=now, reports=filed.ticket.reports, node=node, last_report_at=now))
                    session.flush()
            except IntegrityError:
                pass
            self._event(session, root.id, now, report.reporter, "incident", "declared by monitoring", {"monitoring": key})
        merged = self._gather(session, root, now, since, gather)
        return Declared(self.view(session, root), filed.created and not filed.linked, merged)

    def _gather(self, session: Session, root: Ticket, now: datetime, since: datetime | None,
                gather: Callable[[Ticket], bool] | None) -> tuple[TicketView, ...]:
        if since is None or gather is None:
            return ()
        found = [t for t in session.scalars(select(Ticket).where(
            Ticket.status.in_(OPEN), Ticket.parent_id.is_(None), Ticket.is_incident.is_(False), Ticket.id != root.id,
            Ticket.created_at >= since, Ticket.source != "watch").order_by(Ticket.id)) if gather(t)]
        for t in found:
            self._move_under(session, t, root, now, "pacsbot", why="an outage the node watch saw")
            self._joined_incident(session, root.id, now)
        session.flush()
        return tuple(self.view(session, t) for t in found)

    def recovered(self, session: Session, number: int, now: datetime) -> list[Listener]:
        """The watch saw the system come back: the incident stops taking reports (later ones
        are tickets of their own). Returns who should hear it is back (once: [] if it was
        already marked)."""
        changed = False
        for incident in session.scalars(select(Incident).where(Incident.ticket_id == number, Incident.recovered_at.is_(None))):
            incident.recovered_at, changed = now, True
        ticket = session.get(Ticket, number)
        if not changed or ticket is None or ticket.status not in OPEN:
            return []
        ticket.updated_at = now
        return self.listeners(session, number)

    def listeners(self, session: Session, number: int) -> list[Listener]:
        """Everyone following ``number`` (not the bot), each with their own reports under it, first followers first."""
        root = self.get(session, number)
        mine: dict[str, list[TicketView]] = {}
        reports = [root, *session.scalars(select(Ticket).where(Ticket.parent_id == number).order_by(Ticket.id))]
        for t in reports:
            if t.source != "watch":
                mine.setdefault(t.reporter, []).append(self.view(session, t))
        rows = session.scalars(select(TicketFollower).where(TicketFollower.ticket_id == number)
                               .order_by(TicketFollower.since, TicketFollower.user_id)).all()
        return [Listener(f.user_id, f.via, tuple(mine.get(f.user_id, ()))) for f in rows if f.user_id != "pacsbot"]

    def follow_told(self, session: Session, number: int, user: str, now: datetime) -> bool:
        """``user`` was told "this system is down, the team is on it (``number``)": they hear when
        it is back and when it is resolved. True when they were not following it yet."""
        ticket = session.get(Ticket, number)
        if ticket is None or ticket.status not in OPEN or user == "pacsbot":
            return False
        return self._follow(session, ticket.parent_id or ticket.id, user, now, via="told")

    def split(self, session: Session, number: int, actor: str, now: datetime) -> Moved:
        """An admin says a linked report is not part of the ticket it was linked to (an outage):
        it becomes a ticket of its own, routed and prioritised on its own facts. A report that
        was PACS-12.1 takes the next number (its old reference still finds it)."""
        # the numbering lock (for a PACS-12.1) before the row lock, in the order filing takes them
        new_number = self._next_number(session) if session.scalar(select(Ticket.sub).where(Ticket.id == number)) else 0
        ticket = self.get(session, number, lock=True)
        ref = self.ref(ticket)
        if ticket.parent_id is None:
            return Moved(self.view(session, ticket), self.view(session, ticket), False,
                         f"{ref} is already a ticket of its own; nothing changed.")
        parent = self.get(session, ticket.parent_id)
        parent_ref = self.ref(parent)
        if parent.status == "resolved":
            raise Refused(f"{parent_ref} is resolved; reopen it before splitting reports off it.")
        chosen = route(self.settings, Facts(ticket.category, ticket.urgency, ticket.description, ticket.modality, ticket.location),
                       now, self.timezone)
        former = None
        if ticket.sub:
            former = (ticket.number, ticket.sub)
            ticket.number, ticket.sub = new_number, 0
        ticket.parent_id, ticket.status, ticket.updated_at = None, "new", now
        ticket.priority, ticket.queue, ticket.channel, ticket.card_ts = chosen.priority, chosen.queue, chosen.channel, None
        ticket.resolved_at = ticket.resolved_by = ticket.resolution = None
        parent.updated_at = now
        # its reporter now follows it; they keep following the outage only for another report of theirs
        still_there = session.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.parent_id == parent.id, Ticket.reporter == ticket.reporter)) or 0
        if not still_there and parent.reporter != ticket.reporter:
            session.execute(delete(TicketFollower).where(TicketFollower.ticket_id == parent.id,
                                                         TicketFollower.user_id == ticket.reporter,
                                                         TicketFollower.via == "report"))
        self._follow(session, ticket.id, ticket.reporter, now)
        new_ref = self.ref(ticket)
        now_named = f" (now {new_ref})" if former else ""
        self._event(session, parent.id, now, actor, "split", f"{ref} is not part of this{now_named}", {"report": ticket.id})
        if former:
            # the reference it had keeps finding it (a unique key: given once)
            self._event(session, ticket.id, now, actor, "renumbered", f"was {ref}, now {new_ref}",
                        {"number": former[0], "sub": former[1]}, dedupe_key=f"was:{former[0]}.{former[1]}")
        event_id = self._event(session, ticket.id, now, actor, "split", f"not part of {parent_ref}",
                               {"from": parent.id}, public=True)
        self.enqueue_webhook(session, ticket, "created", now, event_id=f"split:{event_id}")
        view = self.view(session, ticket)
        return Moved(replace(view, former_ref=ref) if former else view, self.view(session, parent), True,
                     f"{ref} is now a ticket of its own{now_named}, no longer part of {parent_ref}.",
                     tuple(self.listeners(session, ticket.id)), event_id)

    def merge(self, session: Session, number: int, into: int, actor: str, now: datetime) -> Moved:
        """An admin says ticket ``number`` is part of ``into`` (an outage, or the same problem)."""
        if number == into:
            raise UserError("A ticket cannot be merged into itself.")
        ticket = self.get(session, number, lock=True)
        target = self.get(session, into, lock=True)
        ref, target_ref = self.ref(ticket), self.ref(target)
        if ticket.parent_id == target.id:
            return Moved(self.view(session, ticket), self.view(session, target), False,
                         f"{ref} is already part of {target_ref}; nothing changed.")
        if ticket.parent_id is not None:
            raise Refused(f"{ref} is a report linked to {self.ref_of(session, ticket.parent_id)}; split it off first.")
        if target.parent_id is not None:
            raise Refused(f"{target_ref} is itself linked to {self.ref_of(session, target.parent_id)}; merge into that one.")
        if ticket.status not in OPEN or target.status not in OPEN:
            raise Refused(f"Only open tickets can be merged; {ref if ticket.status not in OPEN else target_ref} is resolved.")
        if ticket.is_incident:
            raise Refused(f"{ref} is an outage itself; merge the other ticket into it instead.")
        moved = {ticket.id, *session.scalars(select(Ticket.id).where(Ticket.parent_id == ticket.id))}
        self._move_under(session, ticket, target, now, actor, why=f"by <@{actor}>" if actor.startswith(("U", "W")) else "")
        if target.is_incident:
            self._joined_incident(session, target.id, now)
        event_id = self._event(session, ticket.id, now, actor, "merged", f"part of {target_ref}", {"into": target.id}, public=True)
        self.enqueue_webhook(session, target, "linked", now, event_id=f"merge:{event_id}")
        session.flush()
        told = tuple(x for x in self.listeners(session, target.id) if any(r.id in moved for r in x.reports))
        return Moved(self.view(session, ticket), self.view(session, target), True, f"{ref} is now part of {target_ref}.",
                     told, event_id)

    def open_incidents(self, session: Session, category: str | None = None, *, live_at: datetime | None = None) -> list[TicketView]:
        """Open incidents (in ``category``); with ``live_at``, only those still taking new reports then."""
        stmt = select(Ticket).where(Ticket.is_incident.is_(True), Ticket.status.in_(OPEN)).order_by(Ticket.id)
        if category:
            stmt = stmt.where(Ticket.category == category)
        views = [self.view(session, t) for t in session.scalars(stmt)]
        return [v for v in views if v.live(live_at)] if live_at is not None else views

    # -- lifecycle ------------------------------------------------------------------------
    def act(self, session: Session, number: int, action: str, actor: str, now: datetime, *, note: str | None = None, assignee: str | None = None) -> Change:
        """Apply one team action. Repeats (double clicks, retries) change nothing."""
        ticket = self.get(session, number, lock=True)
        ref = self.ref(ticket)
        if ticket.parent_id is not None and action in ("acknowledge", "assign", "resolve", "reopen"):
            parent_ref = self.ref_of(session, ticket.parent_id)
            raise Refused(f"{ref} is a report linked to {parent_ref}; act on {parent_ref} instead.")
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
                who = "you" if target == actor else f"<@{target}>"
                return Change(self.view(session, ticket), False, f"{ref} is already assigned to {who}; nothing changed.", "assigned")
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
            # the resolution no longer holds: the history keeps it, the ticket (and its reports) drop it
            ticket.status, ticket.resolved_at, ticket.resolved_by, ticket.resolution = "acknowledged", None, None, None
            for child in session.scalars(select(Ticket).where(Ticket.parent_id == ticket.id, Ticket.resolved_at.is_not(None))):
                child.resolved_at, child.resolved_by, child.resolution, child.updated_at = None, None, None, now
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
        listeners = tuple(x for x in self.listeners(session, ticket.id) if x.via == "report" or kind == "resolved") if public else ()
        followers = tuple(x.user for x in listeners)
        ref = self.ref(ticket)
        assigned = f"You took {ref}." if ticket.assignee == actor else f"{ref} assigned to <@{ticket.assignee}>."
        messages = {
            "acknowledged": f"{ref} acknowledged.", "assigned": assigned,
            "resolved": f"{ref} resolved.", "reopened": f"{ref} reopened.",
            "note": "Private note added (the team only).", "note_public": "Note added and sent to the reporter.",
        }
        return Change(self.view(session, ticket), True, messages[kind], kind, followers, text, event_id, listeners)

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

    def last_diagnostics(self, session: Session, number: int) -> str | None:
        """The headline of the last check of this report's accession, if any ran."""
        return session.scalar(select(TicketEvent.text).where(TicketEvent.ticket_id == number, TicketEvent.kind == "diagnostics")
                              .order_by(TicketEvent.id.desc()).limit(1))

    def unchecked_reports(self, session: Session, number: int) -> list[int]:
        """Reports under ``number`` with an accession that no complete check has looked at yet
        (none ran, or a node could not be searched, e.g. during the outage itself)."""
        out = []
        for t in session.scalars(select(Ticket).where(Ticket.parent_id == number, Ticket.accession.is_not(None)).order_by(Ticket.id)):
            last = session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == t.id, TicketEvent.kind == "diagnostics")
                                  .order_by(TicketEvent.id.desc()).limit(1))
            if last is None or (last.details or {}).get("failed_nodes"):
                out.append(t.id)
        return out

    def merge_candidates(self, session: Session, number: int, limit: int = 100) -> list[TicketView]:
        """Open tickets ``number`` could be part of: live outages first, then the newest others."""
        rows = session.scalars(select(Ticket).where(Ticket.status.in_(OPEN), Ticket.parent_id.is_(None), Ticket.id != number)
                               .order_by(Ticket.is_incident.desc(), Ticket.number.desc()).limit(limit))
        return [self.view(session, t) for t in rows]

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

    def people(self, session: Session, since: datetime | None = None) -> list[str]:
        """Everyone tickets filed since ``since`` name (reporters, assignees): whose names the
        bot should look up, so that the ticket export can show them."""
        return export.people(session, since)

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
                select(TicketFollower.ticket_id).where(TicketFollower.user_id == user)))).order_by(Ticket.number.desc())
        elif which == "open":
            stmt = base.where(Ticket.status.in_(OPEN)).order_by(Ticket.number.desc())
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
    @property
    def reminder_policy(self) -> ReminderPolicy:
        return ReminderPolicy(self.settings, self.timezone)

    def due_reminders(self, session: Session, now: datetime) -> list[tuple[TicketView, Step]]:
        """The reminders due now (tickets/reminders.py decides which), each recorded as a
        ``reminder`` history row under a unique key ``sla:<ticket>:<phase>:<reopen>:<step>``:
        a step is returned once, whichever replica asks, and never again."""
        policy = self.reminder_policy
        tickets = list(session.scalars(select(Ticket).where(Ticket.status.in_(OPEN), Ticket.parent_id.is_(None)).order_by(Ticket.id)))
        facts = self._reminder_facts(session, tickets)
        # Cheap first pass without history; the reminders so far only for tickets with a step due.
        candidates = [t for t in tickets if policy.due(facts[t.id], now) is not None]
        sent = self._sent_reminders(session, [t.id for t in candidates])
        out = []
        for ticket in candidates:
            step = policy.due(facts[ticket.id], now, sent.get(ticket.id, ()))
            if step is None:
                continue
            details = {"kind": step.phase, "step": step.index, "reopen": step.reopen, "oncall": step.oncall,
                       "broadcast": step.broadcast, "due_at": step.at.isoformat()}
            if self._event(session, ticket.id, now, "pacsbot", "reminder", f"{step.phase} target passed", details,
                           dedupe_key=f"sla:{ticket.id}:{step.phase}:{step.reopen}:{step.index}") is not None:
                out.append((self.view(session, ticket), step))
        return out

    def digest(self, session: Session, now: datetime) -> dict[str, list[tuple[TicketView, DigestEntry]]]:
        """Per queue channel, the open tickets for today's digest (overdue with no per-ticket
        reminders to come, or stale), most urgent and oldest first. Channels with none are left out."""
        policy = self.reminder_policy
        tickets = list(session.scalars(select(Ticket).where(Ticket.status.in_(OPEN), Ticket.parent_id.is_(None),
                                                            Ticket.channel.is_not(None)).order_by(Ticket.id)))
        facts = self._reminder_facts(session, tickets)
        out: dict[str, list[tuple[TicketView, DigestEntry]]] = {}
        for ticket in tickets:
            entry = policy.digest_entry(facts[ticket.id], now)
            if entry is not None:
                out.setdefault(str(ticket.channel), []).append((self.view(session, ticket), entry))
        for rows in out.values():
            rows.sort(key=lambda row: (PRIORITY_ORDER.get(row[0].priority, 9), row[1].since))
        return out

    def _reminder_facts(self, session: Session, tickets: list[Ticket]) -> dict[int, TicketFacts]:
        reopened: dict[int, datetime] = {}
        ids = [t.id for t in tickets if t.reopen_count]
        for start in range(0, len(ids), 500):
            rows = session.execute(select(TicketEvent.ticket_id, func.max(TicketEvent.at))
                                   .where(TicketEvent.ticket_id.in_(ids[start:start + 500]), TicketEvent.kind == "reopened")
                                   .group_by(TicketEvent.ticket_id))
            reopened.update({int(number): at for number, at in rows})
        return {t.id: TicketFacts(priority=t.priority, status=t.status, created_at=t.created_at, acknowledged_at=t.acknowledged_at,
                                  reopen_count=t.reopen_count, reopened_at=reopened.get(t.id), updated_at=t.updated_at)
                for t in tickets}

    @staticmethod
    def _sent_reminders(session: Session, ids: list[int]) -> dict[int, list[Sent]]:
        out: dict[int, list[Sent]] = {}
        for start in range(0, len(ids), 500):
            rows = session.execute(select(TicketEvent.ticket_id, TicketEvent.dedupe_key, TicketEvent.details)
                                   .where(TicketEvent.ticket_id.in_(ids[start:start + 500]), TicketEvent.kind == "reminder",
                                          TicketEvent.dedupe_key.like("sla:%")))
            for number, key, details in rows:
                parts = str(key).split(":")  # sla:<ticket>:<phase>:<reopen>:<step>
                if len(parts) != 5 or not parts[3].isdigit() or not parts[4].isdigit():
                    continue
                step, details = int(parts[4]), details or {}
                # Rows written before tickets/reminders.py were all broadcast, and step 0 paged.
                legacy = "oncall" not in details
                out.setdefault(int(number), []).append(Sent(
                    phase=parts[2], step=step, reopen=int(parts[3]),
                    oncall=(step == 0) if legacy else bool(details.get("oncall")),
                    broadcast=True if legacy else bool(details.get("broadcast"))))
        return out

    # -- webhooks -------------------------------------------------------------------------
    def enqueue_webhook(self, session: Session, ticket: Ticket, kind: str, now: datetime, event_id: str | None = None) -> None:
        queue = self.settings.queue(ticket.queue)
        if queue is None or queue.webhook is None:
            return
        key = f"{ticket.id}:{kind}:{event_id or now.isoformat()}"
        payload = {
            "event": kind, "event_id": key, "ticket": self.ref(ticket), "status": ticket.status,
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

    def _follow(self, session: Session, ticket_id: int, user: str, now: datetime, *, via: str = "report") -> bool:
        """``user`` follows the ticket (True when they did not before). Someone who was only
        told about it and then reports it too is now a reporter."""
        existing = session.scalar(select(TicketFollower).where(and_(TicketFollower.ticket_id == ticket_id, TicketFollower.user_id == user)))
        if existing is not None:
            if existing.via == "told" and via == "report":
                existing.via = "report"
            return False
        try:
            with session.begin_nested():
                session.add(TicketFollower(ticket_id=ticket_id, user_id=user, since=now, via=via))
                session.flush()
        except IntegrityError:
            return False
        return True

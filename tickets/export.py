"""``pacsbot tickets export --csv``: tickets for reports and audits (masked summaries).

One row per ticket and per linked report, in the order of their references (PACS-2,
PACS-2.1, PACS-3). People are given by Slack user id and, next to it, by the name the bot
last looked up (``*_name``; empty while it has not): the export itself never calls Slack.
A reopened ticket has no resolution (the history keeps every one).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import select, union
from sqlalchemy.orm import Session, aliased

from pacsbot.tickets.intake import find_phi
from pacsbot.tickets.models import Ticket
from pacsbot.training.records import names

FIELDS = (
    "ticket", "created_at", "status", "category", "urgency", "priority", "queue", "reporter", "reporter_name",
    "assignee", "assignee_name", "accession", "modality", "location", "summary", "linked_to", "acknowledged_at",
    "resolved_at", "minutes_to_acknowledge", "minutes_to_resolve", "resolution",
)

# who files the tickets the node watch opens (bot.render.tickets.MONITORING_REPORTER)
MONITORING = {"pacsbot": "pacsbot node watch"}

Names = Callable[[Session, Iterable[str]], dict[str, str]]


def known_names(session: Session, user_ids: Iterable[str]) -> dict[str, str]:
    """The display names the bot has looked up (the training feature keeps them, refreshed by
    its names job); people it has not looked up yet are left out."""
    return {user: name for user, name in names(session, user_ids).items() if name}


def people(session: Session, since: datetime | None = None) -> list[str]:
    """Everyone tickets name (reporters, assignees; filed since ``since``), for the job that
    looks up names, so that the export can show them."""
    reporters = select(Ticket.reporter.label("user"))
    assignees = select(Ticket.assignee.label("user")).where(Ticket.assignee.is_not(None))
    if since is not None:
        reporters, assignees = reporters.where(Ticket.created_at >= since), assignees.where(Ticket.created_at >= since)
    found = session.scalars(union(reporters, assignees))
    return sorted(str(u) for u in found if u and u not in MONITORING)


def _minutes(start: datetime, end: datetime | None) -> str:
    return "" if end is None else f"{(end - start).total_seconds() / 60:.0f}"


def _ref(prefix: str, number: int, sub: int) -> str:
    return f"{prefix}-{number}" + (f".{sub}" if sub else "")


def export_csv(session: Session, prefix: str, since: datetime | None = None, mrn_patterns: tuple[str, ...] = (),
               *, mask: Callable[[str], str] | None = None, names: Names | None = known_names) -> str:
    """Tickets as CSV for sharing: free text (summary, resolution) masked by ``mask`` (the
    bot's privacy gate) or, alone, by the PHI detector with ``mrn_patterns``. ``names`` gives
    display names for user ids (None: the name columns stay empty)."""
    if mask is None:
        def mask(text: str) -> str:
            return find_phi(text, mrn_patterns).masked
    parent = aliased(Ticket)
    stmt = (select(Ticket, parent.number, parent.sub).outerjoin(parent, parent.id == Ticket.parent_id)
            .order_by(Ticket.number, Ticket.sub))
    if since is not None:
        stmt = stmt.where(Ticket.created_at >= since)
    rows = session.execute(stmt).all()
    users = {u for t, _, _ in rows for u in (t.reporter, t.assignee) if u}
    shown = dict(MONITORING)
    if names is not None and users:
        shown.update(names(session, sorted(users - set(MONITORING))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for t, parent_number, parent_sub in rows:
        writer.writerow([
            _ref(prefix, t.number, t.sub), t.created_at.isoformat(), t.status, t.category, t.urgency, t.priority, t.queue,
            t.reporter, shown.get(t.reporter, ""), t.assignee or "", shown.get(t.assignee or "", ""),
            t.accession or "", t.modality or "", t.location or "", mask(t.summary),
            _ref(prefix, parent_number, parent_sub) if t.parent_id else "",
            t.acknowledged_at.isoformat() if t.acknowledged_at else "", t.resolved_at.isoformat() if t.resolved_at else "",
            _minutes(t.created_at, t.acknowledged_at), _minutes(t.created_at, t.resolved_at), mask(t.resolution or ""),
        ])
    return out.getvalue()

"""``pacsbot tickets export --csv``: tickets for reports and audits (masked summaries)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tickets.intake import find_phi
from tickets.models import Ticket

FIELDS = (
    "ticket", "created_at", "status", "category", "urgency", "priority", "queue", "reporter", "assignee",
    "accession", "modality", "location", "summary", "linked_to", "acknowledged_at", "resolved_at",
    "minutes_to_acknowledge", "minutes_to_resolve", "resolution",
)


def _minutes(start: datetime, end: datetime | None) -> str:
    return "" if end is None else f"{(end - start).total_seconds() / 60:.0f}"


def export_csv(session: Session, prefix: str, since: datetime | None = None, mrn_patterns: tuple[str, ...] = (),
               *, mask: Callable[[str], str] | None = None) -> str:
    """Tickets as CSV for sharing: free text (summary, resolution) masked by ``mask`` (the
    bot's privacy gate) or, alone, by the PHI detector with ``mrn_patterns``."""
    if mask is None:
        def mask(text: str) -> str:
            return find_phi(text, mrn_patterns).masked
    stmt = select(Ticket).order_by(Ticket.id)
    if since is not None:
        stmt = stmt.where(Ticket.created_at >= since)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for t in session.scalars(stmt):
        writer.writerow([
            f"{prefix}-{t.id}", t.created_at.isoformat(), t.status, t.category, t.urgency, t.priority, t.queue, t.reporter,
            t.assignee or "", t.accession or "", t.modality or "", t.location or "", mask(t.summary),
            f"{prefix}-{t.parent_id}" if t.parent_id else "", t.acknowledged_at.isoformat() if t.acknowledged_at else "",
            t.resolved_at.isoformat() if t.resolved_at else "", _minutes(t.created_at, t.acknowledged_at),
            _minutes(t.created_at, t.resolved_at), mask(t.resolution or ""),
        ])
    return out.getvalue()

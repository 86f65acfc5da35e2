"""Ticket timings for reports: what was opened, acknowledged and resolved in a period.

Read-only; the weekly report (``reports.weekly``) turns these rows into medians per category.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from pacsbot.tickets.models import Ticket


@dataclass(frozen=True)
class Period:
    """``created``: (category, linked?) of every ticket filed in the period; ``acknowledged`` and
    ``resolved``: (category, minutes from filing) of top-level tickets acknowledged or
    resolved in it (a linked report is not counted again)."""

    created: list[tuple[str, bool]]
    acknowledged: list[tuple[str, float]]
    resolved: list[tuple[str, float]]


def _minutes(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds() / 60)


def period(session: Session, start: datetime, end: datetime) -> Period:
    created = [(category, parent_id is not None) for category, parent_id in session.execute(
        select(Ticket.category, Ticket.parent_id).where(Ticket.created_at >= start, Ticket.created_at < end))]
    # the WHERE clauses exclude NULL acknowledged_at / resolved_at, which the column types allow
    acked = [(category, _minutes(created_at, cast(datetime, at))) for category, created_at, at in session.execute(
        select(Ticket.category, Ticket.created_at, Ticket.acknowledged_at).where(
            Ticket.parent_id.is_(None), Ticket.acknowledged_at >= start, Ticket.acknowledged_at < end))]
    resolved = [(category, _minutes(created_at, cast(datetime, at))) for category, created_at, at in session.execute(
        select(Ticket.category, Ticket.created_at, Ticket.resolved_at).where(
            Ticket.parent_id.is_(None), Ticket.status == "resolved", Ticket.resolved_at >= start, Ticket.resolved_at < end))]
    return Period(created, acked, resolved)

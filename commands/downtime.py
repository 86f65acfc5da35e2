"""Planned downtime of a node: parsing ``/pacs downtime add``, and the queries behind it.

Times are typed in the site's time zone (``timezone`` in the configuration) and stored in UTC:
``2026-12-01 22:00``, ``22:00`` (today), ``today 22:00`` or ``tomorrow 06:00``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from pacsbot.commands.models import Downtime
from pacsbot.core.errors import NotFound, UserError

ADD_USAGE = '/pacs downtime add <node> <start> <end> "<reason>"   e.g. /pacs downtime add pacs tomorrow 22:00 tomorrow 23:30 "PACS upgrade"'
MAX_REASON = 200
MAX_LENGTH = timedelta(days=7)
PAST_GRACE = timedelta(minutes=2)  # "22:00" typed at 22:00:40 still means now

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class DowntimeRequest:
    node: str
    starts_at: datetime
    ends_at: datetime
    reason: str


@dataclass(frozen=True)
class DowntimeView:
    id: int
    node: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    cancelled: bool

    def current(self, now: datetime) -> bool:
        return not self.cancelled and self.starts_at <= now < self.ends_at


def _view(d: Downtime) -> DowntimeView:
    return DowntimeView(d.id, d.node, d.starts_at, d.ends_at, d.reason, d.created_by, d.cancelled_at is not None)


def _time_of(word: str, what: str) -> time:
    match = _TIME.match(word)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise UserError(f"“{word}” is not a time for the {what}; use 24-hour HH:MM, like 22:00 or 06:30.")
    return time(int(match.group(1)), int(match.group(2)))


def _take_when(words: list[str], what: str, today: date, zone: ZoneInfo) -> datetime:
    """Consume ``[DATE|today|tomorrow] HH:MM`` from the front of ``words``."""
    if not words:
        raise UserError(f"The {what} time is missing. Usage: {ADD_USAGE}")
    first = words.pop(0)
    lowered = first.lower()
    day = today
    if lowered in ("today", "tomorrow"):
        day = today + timedelta(days=1 if lowered == "tomorrow" else 0)
        if not words:
            raise UserError(f"Give a time after “{first}” for the {what}, like {first} 22:00.")
        clock = _time_of(words.pop(0), what)
    elif date_match := _DATE.match(first):
        y, m, d = (int(x) for x in date_match.groups())
        try:
            day = date(y, m, d)
        except ValueError:
            raise UserError(f"“{first}” is not a real date.") from None
        if not words:
            raise UserError(f"Give a time after {first} for the {what}, like {first} 22:00.")
        clock = _time_of(words.pop(0), what)
    else:
        clock = _time_of(first, what)
    return datetime.combine(day, clock, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def parse_add(args: str, nodes: Sequence[str], *, now: datetime, tz: str) -> DowntimeRequest:
    """``<node> <start> <end> "<reason>"`` -> a checked request, or a UserError saying what is wrong."""
    try:
        words = shlex.split(args)
    except ValueError:
        raise UserError('The reason needs a closing quote: "PACS upgrade".') from None
    if not words:
        raise UserError(f"Which node, when, and why? Usage: {ADD_USAGE}")
    node = words.pop(0).lower()
    if node not in nodes:
        known = ", ".join(nodes) or "none are configured"
        raise UserError(f"There is no node called “{node[:32]}”. Configured nodes: {known}.")
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    starts = _take_when(words, "start", today, zone)
    ends = _take_when(words, "end", today, zone)
    reason = " ".join(" ".join(words).split())
    if not reason:
        raise UserError(f'Please give a reason people will read, in quotes: "PACS upgrade". Usage: {ADD_USAGE}')
    if len(reason) > MAX_REASON:
        raise UserError(f"The reason is {len(reason)} characters long; please keep it under {MAX_REASON}.")
    if ends <= starts:
        raise UserError("The end is before the start. Give the end after the start (for a night, e.g. "
                        "“today 23:00 tomorrow 02:00”).")
    if starts < now - PAST_GRACE:
        raise UserError("That start time is in the past. Give a time from now on (for tonight after "
                        "midnight, say “tomorrow 01:00”).")
    if ends - starts > MAX_LENGTH:
        raise UserError("A planned downtime can last at most 7 days; split a longer one.")
    return DowntimeRequest(node, starts, ends, reason)


def add(session: Session, request: DowntimeRequest, *, actor: str, now: datetime) -> DowntimeView:
    overlap = session.scalar(select(Downtime).where(
        Downtime.node == request.node, Downtime.cancelled_at.is_(None),
        Downtime.starts_at < request.ends_at, Downtime.ends_at > request.starts_at).limit(1))
    if overlap is not None:
        raise UserError(f"That overlaps planned downtime #{overlap.id} of {overlap.node}; cancel it first "
                        f"(`/pacs downtime cancel {overlap.id}`) or choose other times.")
    row = Downtime(node=request.node, starts_at=request.starts_at, ends_at=request.ends_at, reason=request.reason,
                   created_by=actor[:64], created_at=now, announced_at=now)
    session.add(row)
    session.flush()
    return _view(row)


def cancel(session: Session, number: str, *, actor: str, now: datetime) -> DowntimeView:
    cleaned = number.strip().lstrip("#")
    if not cleaned.isdigit() or len(cleaned) > 12:
        raise UserError(f"“{number.strip()[:20]}” is not a downtime number; see `/pacs downtime list`.")
    row = session.get(Downtime, int(cleaned))
    if row is None:
        raise NotFound(f"There is no planned downtime #{cleaned}; see `/pacs downtime list`.")
    if row.cancelled_at is not None:
        raise UserError(f"Planned downtime #{row.id} was already cancelled.")
    if row.ends_at <= now:
        raise UserError(f"Planned downtime #{row.id} is over; there is nothing to cancel.")
    row.cancelled_at, row.cancelled_by = now, actor[:64]
    session.flush()
    return _view(row)


def upcoming(session: Session, now: datetime, limit: int = 20) -> list[DowntimeView]:
    """Current and future planned downtimes, soonest first."""
    rows = session.scalars(select(Downtime).where(Downtime.cancelled_at.is_(None), Downtime.ends_at > now)
                           .order_by(Downtime.starts_at).limit(limit))
    return [_view(r) for r in rows]


def active(session: Session, node: str, now: datetime) -> DowntimeView | None:
    row = session.scalar(select(Downtime).where(Downtime.node == node, Downtime.cancelled_at.is_(None),
                                                Downtime.starts_at <= now, Downtime.ends_at > now).limit(1))
    return _view(row) if row else None


def _mark(session: Session, downtime_id: int, column: str, now: datetime) -> bool:
    """Set a notice column once (compare-and-set on NULL): True for the one caller that did."""
    col = getattr(Downtime, column)
    result = session.execute(update(Downtime).where(Downtime.id == downtime_id, col.is_(None)).values({column: now})
                             .execution_options(synchronize_session=False))
    return cast(CursorResult[Any], result).rowcount == 1


def due_notices(session: Session, now: datetime, remind_before: timedelta) -> list[tuple[str, DowntimeView]]:
    """``("reminder"|"started"|"ended", downtime)`` due now, each returned once across replicas."""
    out: list[tuple[str, DowntimeView]] = []
    rows = list(session.scalars(select(Downtime).where(
        Downtime.cancelled_at.is_(None), Downtime.ends_at > now - timedelta(hours=1),
        Downtime.starts_at <= now + remind_before).order_by(Downtime.starts_at)))
    for row in rows:
        view = _view(row)
        if now < row.starts_at:
            if remind_before and row.reminded_at is None and row.starts_at - now <= remind_before \
                    and row.created_at < row.starts_at - remind_before and _mark(session, row.id, "reminded_at", now):
                out.append(("reminder", view))
        elif now < row.ends_at:
            if row.started_notice_at is None and _mark(session, row.id, "started_notice_at", now):
                out.append(("started", view))
        elif row.ended_notice_at is None and _mark(session, row.id, "ended_notice_at", now):
            out.append(("ended", view))
    return out

"""The weekly figures: node uptime and latency, tickets, knowledge gaps, training completion.

A week is an ISO week, Monday 00:00 to the next Monday 00:00 in the site's time zone
(:func:`parse_week`). :func:`gather` reads the records of that week and returns a
:class:`WeeklyReport` of plain numbers and names — nothing a patient could be identified by:

* **Nodes** — from the node watch's scheduled C-ECHOs (``dicom_node_checks``). Checks that
  fell inside a planned downtime are left out of uptime, latency and failures (and counted
  separately). Uptime is ok checks / checks; latency is the median and 95th percentile of
  the ok checks.
* **Tickets** — root tickets only: a report linked to an existing ticket (a duplicate, or one
  merged into an outage) is counted as a *linked report* of its category, not as a ticket.
  *Opened*: created in the week. *Resolved*: resolved in the week (whenever opened). Time to
  acknowledge is measured on tickets acknowledged in the week, time to resolve on tickets
  resolved in the week, so a finished week's figures never change.
* **Knowledge gaps** — questions the manuals could not answer, asked in the week: how many,
  how many distinct, and the manual sections that came closest. The questions themselves are
  never shown (they are masked when stored, but masking cannot catch every name).
* **Training** — completion by module as the training report computes it
  (:func:`training.records.module_status`), as of when the report is made.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from pacsbot.commands.store import checks_between
from pacsbot.core.errors import UserError
from pacsbot.knowledge.store import gaps_between
from pacsbot.tickets.config import CATEGORIES
from pacsbot.tickets.stats import period as ticket_period
from pacsbot.training.records import assigned_module_ids, module_status

_ISO_WEEK = re.compile(r"^(\d{4})-?[Ww](\d{1,2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WEEK_HELP = ("Give a week like 2026-W47, a date inside it like 2026-11-18, `last` (the last complete week, the default) "
             "or `this` (the week so far).")


# --------------------------------------------------------------------------------------
# the week

@dataclass(frozen=True)
class Week:
    """An ISO week in a time zone: ``[start, end)`` in UTC, Monday 00:00 local to Monday 00:00."""

    year: int
    number: int
    tz: str
    start: datetime
    end: datetime

    @classmethod
    def of(cls, year: int, number: int, tz: str) -> "Week":
        try:
            monday = date.fromisocalendar(year, number, 1)
        except ValueError:
            raise UserError(f"{year} has no week {number}. {WEEK_HELP}") from None
        zone = ZoneInfo(tz)
        start = datetime.combine(monday, time(0), tzinfo=zone).astimezone(timezone.utc)
        end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone).astimezone(timezone.utc)
        return cls(year, number, tz, start, end)

    @classmethod
    def containing(cls, day: date, tz: str) -> "Week":
        year, number, _ = day.isocalendar()
        return cls.of(year, number, tz)

    @property
    def label(self) -> str:
        """``2026-W47``: in file names, audit rows and the scheduler's claim."""
        return f"{self.year}-W{self.number:02d}"

    @property
    def first_day(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=6)

    @property
    def title(self) -> str:
        """``Week 47 (17–23 Nov 2026)``."""
        a, b = self.first_day, self.last_day
        if a.month == b.month:
            span = f"{a.day}–{b.day} {b:%b %Y}"
        elif a.year == b.year:
            span = f"{a.day} {a:%b} – {b.day} {b:%b %Y}"
        else:
            span = f"{a.day} {a:%b %Y} – {b.day} {b:%b %Y}"
        return f"Week {self.number} ({span})"

    def previous(self) -> "Week":
        return Week.containing(self.first_day - timedelta(days=7), self.tz)


def last_complete_week(now: datetime, tz: str) -> Week:
    return Week.containing(now.astimezone(ZoneInfo(tz)).date(), tz).previous()


def parse_week(text: str | None, *, now: datetime, tz: str) -> Week:
    """``None``/``last`` -> the last complete week; ``this`` -> the current one (so far);
    ``2026-W47`` -> that ISO week; ``2026-11-18`` -> the week containing that date.

    Raises :class:`UserError` for anything else, and for a week that has not started.
    """
    value = (text or "").strip()
    if value.lower() in ("", "last", "last-week", "previous"):
        return last_complete_week(now, tz)
    if value.lower() in ("this", "current", "this-week"):
        return Week.containing(now.astimezone(ZoneInfo(tz)).date(), tz)
    match = _ISO_WEEK.match(value)
    if match:
        week = Week.of(int(match.group(1)), int(match.group(2)), tz)
    elif _DATE.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise UserError(f"“{value}” is not a date. {WEEK_HELP}") from None
        week = Week.containing(day, tz)
    else:
        raise UserError(f"“{value[:40]}” is not a week. {WEEK_HELP}")
    if week.start > now:
        raise UserError(f"{week.label} has not started yet. {WEEK_HELP}")
    return week


# --------------------------------------------------------------------------------------
# the figures

@dataclass(frozen=True)
class NodeLine:
    node: str
    checks: int               # outside planned downtime
    ok: int
    failed: int
    downtime_checks: int      # left out of the figures
    median_ms: float | None
    p95_ms: float | None
    failure_codes: tuple[tuple[str, int], ...] = ()

    @property
    def uptime_pct(self) -> float | None:
        return 100.0 * self.ok / self.checks if self.checks else None


@dataclass(frozen=True)
class CategoryLine:
    category: str
    opened: int
    resolved: int
    linked_reports: int
    acknowledged: int                  # acknowledged in the week (the sample of the median)
    median_ack_minutes: float | None
    median_resolve_minutes: float | None


@dataclass(frozen=True)
class GapTopic:
    section: str | None       # file#anchor of the closest manual section; None: nothing close
    label: str
    count: int


@dataclass(frozen=True)
class GapSummary:
    count: int
    distinct: int
    topics: tuple[GapTopic, ...]


@dataclass(frozen=True)
class ModuleLine:
    module_id: str
    title: str
    assigned: int             # open + completed + failed (cancelled ones are not counted)
    completed: int
    open: int
    overdue: int
    failed: int
    completion_pct: int


@dataclass(frozen=True)
class WeeklyReport:
    week: Week
    site: str
    generated_at: datetime
    partial: bool                       # the week is not over yet
    nodes: tuple[NodeLine, ...]
    tickets: tuple[CategoryLine, ...]
    gaps: GapSummary
    training: tuple[ModuleLine, ...]
    ticket_totals: CategoryLine         # category "all": sums, and medians over every category

    @property
    def checks(self) -> int:
        return sum(n.checks for n in self.nodes)

    @property
    def overall_uptime_pct(self) -> float | None:
        checks = self.checks
        return 100.0 * sum(n.ok for n in self.nodes) / checks if checks else None


def gather(
    session: Session,
    week: Week,
    *,
    now: datetime,
    site: str = "",
    nodes: Sequence[str] = (),
    modules: Mapping[str, tuple[str, str | None]] | None = None,
    top_gaps: int = 5,
) -> WeeklyReport:
    """The figures of ``week``. ``nodes``: the configured node names (shown even without
    checks); ``modules``: ``{module_id: (title, current content hash)}`` from the catalog."""
    tz = ZoneInfo(week.tz)
    tickets, totals = ticket_lines(session, week.start, week.end)
    return WeeklyReport(
        week=week,
        site=site,
        generated_at=now,
        partial=now < week.end,
        nodes=tuple(node_lines(session, week.start, week.end, nodes)),
        tickets=tuple(tickets),
        ticket_totals=totals,
        gaps=gap_summary(session, week.start, week.end, top=top_gaps),
        training=tuple(training_lines(session, today=now.astimezone(tz).date(), modules=modules or {})),
    )


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (an observed value, so "p95 = 31 ms" is a real echo)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def node_lines(session: Session, start: datetime, end: datetime, configured: Iterable[str] = ()) -> list[NodeLine]:
    latencies: dict[str, list[int]] = defaultdict(list)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    codes: dict[str, Counter[str]] = defaultdict(Counter)
    for check in checks_between(session, start, end):
        c = counts[check.node]
        if check.in_downtime:
            c["downtime"] += 1
            continue
        c["checks"] += 1
        if check.ok:
            c["ok"] += 1
            latencies[check.node].append(check.elapsed_ms)
        else:
            c["failed"] += 1
            codes[check.node][check.failure_code or "unknown"] += 1
    names = list(dict.fromkeys([*configured, *sorted(counts)]))
    return [
        NodeLine(
            node=name, checks=counts[name]["checks"], ok=counts[name]["ok"], failed=counts[name]["failed"],
            downtime_checks=counts[name]["downtime"], median_ms=median(latencies[name]), p95_ms=percentile(latencies[name], 95),
            failure_codes=tuple(sorted(codes[name].items(), key=lambda kv: (-kv[1], kv[0]))),
        )
        for name in names
    ]


def ticket_lines(session: Session, start: datetime, end: datetime) -> tuple[list[CategoryLine], CategoryLine]:
    """Per category, in the usual category order; and the totals (category ``all``)."""
    opened: Counter[str] = Counter()
    linked: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    ack_times: dict[str, list[float]] = defaultdict(list)
    resolve_times: dict[str, list[float]] = defaultdict(list)

    times = ticket_period(session, start, end)
    for category, is_linked in times.created:
        (linked if is_linked else opened)[category] += 1
    for category, minutes in times.acknowledged:
        ack_times[category].append(minutes)
    for category, minutes in times.resolved:
        resolved[category] += 1
        resolve_times[category].append(minutes)

    seen = set(opened) | set(linked) | set(resolved) | set(ack_times)
    order = [c for c in CATEGORIES if c in seen] + sorted(seen - set(CATEGORIES))
    lines = [
        CategoryLine(category=c, opened=opened[c], resolved=resolved[c], linked_reports=linked[c], acknowledged=len(ack_times[c]),
                     median_ack_minutes=median(ack_times[c]), median_resolve_minutes=median(resolve_times[c]))
        for c in order
    ]
    all_ack = [m for c in order for m in ack_times[c]]
    all_resolve = [m for c in order for m in resolve_times[c]]
    totals = CategoryLine(
        category="all", opened=sum(opened.values()), resolved=sum(resolved.values()), linked_reports=sum(linked.values()),
        acknowledged=len(all_ack), median_ack_minutes=median(all_ack), median_resolve_minutes=median(all_resolve),
    )
    return lines, totals


def section_label(section: str | None) -> str:
    """``viewer-basics.md#hanging-protocols`` -> ``viewer basics › hanging protocols``."""
    if not section:
        return "(no manual came close)"
    page, _, anchor = section.partition("#")
    page = page.rsplit("/", 1)[-1]
    page = re.sub(r"\.(md|markdown)$", "", page)
    words = lambda s: re.sub(r"[-_]+", " ", s).strip()  # noqa: E731
    return f"{words(page)} › {words(anchor)}" if anchor else words(page)


def gap_summary(session: Session, start: datetime, end: datetime, *, top: int = 5) -> GapSummary:
    rows = gaps_between(session, start, end)
    sections = Counter(best for _, best in rows)
    topics = tuple(GapTopic(s, section_label(s), n)
                   for s, n in sorted(sections.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))[:top])
    return GapSummary(count=len(rows), distinct=len({norm for norm, _ in rows}), topics=topics)


def training_lines(session: Session, *, today: date, modules: Mapping[str, tuple[str, str | None]]) -> list[ModuleLine]:
    out = []
    for module_id in assigned_module_ids(session):
        title, current_hash = modules.get(module_id, (module_id, None))
        st = module_status(session, module_id, today=today, current_hash=current_hash, list_limit=0)
        out.append(ModuleLine(
            module_id=module_id, title=title or module_id, assigned=st.open + st.completed + st.failed,
            completed=st.completed, open=st.open, overdue=st.overdue, failed=st.failed, completion_pct=st.completion_rate,
        ))
    return sorted(out, key=lambda m: m.module_id)

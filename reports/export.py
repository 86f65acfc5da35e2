"""The weekly report as CSVs and as a few lines of text.

CSVs carry the same figures as the chart — node names, categories, manual sections and module
ids with counts, percentages and times — and nothing about patients or people.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pacsbot.commands.verdict import plural
from pacsbot.core.errors import UserError
from pacsbot.reports.chart import ChartsUnavailable, fmt_duration, fmt_ms, fmt_pct, render_png
from pacsbot.reports.weekly import WeeklyReport

CSV_FILES = ("nodes.csv", "tickets.csv", "knowledge_gaps.csv", "training.csv")


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _csv(header: tuple[str, ...], rows: list[list[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def csvs(report: WeeklyReport) -> dict[str, str]:
    """``{file name: CSV text}`` for :data:`CSV_FILES`."""
    week = report.week.label
    nodes = _csv(
        ("week", "node", "checks", "ok", "failed", "uptime_pct", "median_ms", "p95_ms", "downtime_checks_excluded", "failure_codes"),
        [[week, n.node, n.checks, n.ok, n.failed, _num(n.uptime_pct, 2), _num(n.median_ms), _num(n.p95_ms), n.downtime_checks,
          ";".join(f"{code}={count}" for code, count in n.failure_codes)] for n in report.nodes],
    )
    tickets = _csv(
        ("week", "category", "opened", "resolved", "linked_reports", "acknowledged", "median_minutes_to_acknowledge",
         "median_minutes_to_resolve"),
        [[week, c.category, c.opened, c.resolved, c.linked_reports, c.acknowledged, _num(c.median_ack_minutes),
          _num(c.median_resolve_minutes)] for c in (*report.tickets, report.ticket_totals)],
    )
    gaps = _csv(
        ("week", "closest_manual_section", "label", "questions"),
        [[week, t.section or "", t.label, t.count] for t in report.gaps.topics]
        + [[week, "(all)", f"{report.gaps.distinct} distinct", report.gaps.count]],
    )
    training = _csv(
        ("week", "module", "title", "assigned", "completed", "open", "overdue", "failed", "completion_pct"),
        [[week, m.module_id, m.title, m.assigned, m.completed, m.open, m.overdue, m.failed, m.completion_pct] for m in report.training],
    )
    return dict(zip(CSV_FILES, (nodes, tickets, gaps, training)))


def summary(report: WeeklyReport) -> str:
    """Five to eight short lines for the channel (Slack mrkdwn that also reads as plain text)."""
    where = f" at {report.site}" if report.site else ""
    so_far = " — so far, the week is not over" if report.partial else ""
    lines = [f"*PACS weekly report{where}: {report.week.title}*{so_far}"]

    checked = [n for n in report.nodes if n.checks]
    if checked:
        worst = min(checked, key=lambda n: (n.uptime_pct or 0.0, n.node))
        overall = report.overall_uptime_pct
        failed = sum(n.failed for n in checked)
        per_node = ", ".join(f"{n.node} {fmt_pct(n.uptime_pct)} (median echo {fmt_ms(n.median_ms)})" for n in checked[:4])
        more = f" and {len(checked) - 4} more" if len(checked) > 4 else ""
        lines.append(f"• Nodes: {fmt_pct(overall)} of checks answered — {per_node}{more}; "
                     f"{plural(failed, 'failed check')}" + (f", lowest {worst.node}." if failed else "."))
    else:
        lines.append("• Nodes: no scheduled checks recorded this week (is the node watch switched on?).")

    t = report.ticket_totals
    if t.opened or t.resolved or t.linked_reports:
        linked = f" (+{plural(t.linked_reports, 'linked report')})" if t.linked_reports else ""
        lines.append(f"• Tickets: {t.opened} opened{linked}, {t.resolved} resolved; median "
                     f"{fmt_duration(t.median_ack_minutes)} to acknowledge, {fmt_duration(t.median_resolve_minutes)} to resolve.")
        busiest = max(report.tickets, key=lambda c: (c.opened, c.linked_reports))
        if busiest.opened:
            lines.append(f"• Most reported: {busiest.category.replace('_', ' ')} ({busiest.opened} opened"
                         + (f", {busiest.linked_reports} linked" if busiest.linked_reports else "") + ").")
    else:
        lines.append("• Tickets: none opened or resolved.")

    g = report.gaps
    if g.count:
        top = next((x for x in g.topics if x.section), None)
        near = f"; most were closest to “{top.label}”" if top else ""
        lines.append(f"• Knowledge: {plural(g.count, 'unanswered question')} ({g.distinct} distinct){near}.")
    else:
        lines.append("• Knowledge: no unanswered questions.")

    modules = [m for m in report.training if m.assigned]
    if modules:
        parts = [f"{m.title} {m.completion_pct}% complete" + (f" ({m.overdue} overdue)" if m.overdue else "") for m in modules[:3]]
        more = f"; {len(modules) - 3} more in the chart" if len(modules) > 3 else ""
        lines.append(f"• Training: {'; '.join(parts)}{more}.")
    else:
        lines.append("• Training: nothing assigned.")
    return "\n".join(lines)


def png_name(report: WeeklyReport) -> str:
    return f"pacsbot-week-{report.week.label}.png"


def write_files(report: WeeklyReport, out_dir: Path) -> list[Path]:
    """Write ``weekly-<week>.png`` and the CSVs into ``out_dir`` (made if missing); return the paths.

    Raises :class:`UserError` when the directory cannot be made or written.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"{out_dir} exists and is not a directory; give --out a directory.") from None
    except OSError as exc:
        raise UserError(f"Cannot create {out_dir}: {exc.strerror or exc}.") from None
    if not out_dir.is_dir():
        raise UserError(f"{out_dir} is not a directory; give --out a directory.")
    files: dict[str, bytes] = {}
    try:
        files[f"weekly-{report.week.label}.png"] = render_png(report)
    except ChartsUnavailable:
        pass  # no matplotlib (the charts extra): the CSVs alone; the command line says so
    files.update({name: text.encode("utf-8") for name, text in csvs(report).items()})
    written = []
    for name, data in files.items():
        path = out_dir / name
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise UserError(f"Cannot write {path}: {exc.strerror or exc}.") from None
        written.append(path)
    return written

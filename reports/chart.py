"""The weekly report as one PNG: four panels that can be read at a glance.

Drawn with ``matplotlib.figure.Figure`` and the Agg canvas directly — no ``pyplot``, so no
global state, no display needed, and safe from several threads at once. Colours are the
Okabe–Ito palette (distinguishable with the common colour-vision deficiencies); every bar
carries its number as text, so nothing depends on colour alone. An empty panel says so.

Nothing runs off its panel however long a site's names are: free text (the site, node names,
module titles, manual sections, the grey notes) is shortened with an ellipsis or wrapped to
a width that fits, and the layout is matplotlib's constrained layout. The full names are in
the CSVs next to the chart.
"""

from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING, cast

from pacsbot.commands.verdict import plural
from pacsbot.reports.weekly import WeeklyReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

# Okabe & Ito (2008)
BLUE = "#0072B2"
ORANGE = "#E69F00"
GREEN = "#009E73"
VERMILLION = "#D55E00"
SKY = "#56B4E9"
GREY = "#999999"
INK = "#222222"

WIDTH_IN, HEIGHT_IN, DPI = 12.0, 8.0, 100  # 1200 x 800 pixels
SIZE = (int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI))

# How many characters fit, at the sizes used (a panel is a little under half the width)
SUPTITLE_CHARS = 95     # 15 pt bold across the figure
NOTE_CHARS = 56         # 8 pt under a panel title (the narrowest panel is about 330 px)
NODE_CHARS = 16         # an x label under a bar
LABEL_CHARS = 34        # a y label beside a horizontal bar (module titles, manual sections)


def fmt_duration(minutes: float | None) -> str:
    """``12 min``, ``3.5 h``, ``2.1 d``; ``–`` when there is nothing to measure."""
    if minutes is None:
        return "–"
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"


def fmt_ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def fmt_pct(value: float | None) -> str:
    if value is None:
        return "–"
    return "100%" if value >= 100 else f"{value:.1f}%"


CHARTS_HINT = "pip install 'pacsbot[charts]'"


class ChartsUnavailable(RuntimeError):
    """matplotlib (the ``charts`` extra) is not installed: the report goes out as text."""


def render_png(report: WeeklyReport) -> bytes:
    """The chart as PNG bytes (1200 × 800). Raises :class:`ChartsUnavailable` without matplotlib."""
    fig = draw(report)
    out = io.BytesIO()
    # No creation time or software version in the file: the same figures give the same bytes.
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def clip(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: shortened at a word with an ellipsis, or cut
    (a long name without spaces keeps its start)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    short = textwrap.shorten(text, width, placeholder="…")
    return short if len(short) > width // 2 else text[:width - 1].rstrip() + "…"


def wrap(text: str, width: int, lines: int = 2) -> str:
    """``text`` on at most ``lines`` lines of ``width`` characters, the last one shortened."""
    out = textwrap.wrap(" ".join(text.split()), width) or [""]
    if len(out) > lines:
        out = out[:lines - 1] + [clip(" ".join(out[lines - 1:]), width)]
    return "\n".join(out)


def draw(report: WeeklyReport) -> Figure:
    """The chart as a matplotlib figure on an Agg canvas (what :func:`render_png` saves)."""
    # matplotlib takes over a second to import: only the weekly chart pays for it, when drawn
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ChartsUnavailable(f"the weekly chart needs matplotlib: {CHARTS_HINT}") from None

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    so_far = " (so far)" if report.partial else ""
    tail = f": {report.week.title}{so_far}"
    head = "PACS weekly report"
    room = SUPTITLE_CHARS - len(head) - len(tail) - 3
    where = f" — {clip(report.site, room)}" if report.site else ""
    fig.suptitle(f"{head}{where}{tail}", fontsize=15, fontweight="bold", color=INK)
    (ax_nodes, ax_tickets), (ax_training, ax_gaps) = fig.subplots(2, 2)
    _nodes_panel(ax_nodes, report)
    _tickets_panel(ax_tickets, report)
    _training_panel(ax_training, report)
    _gaps_panel(ax_gaps, report)
    return fig


def _no_data(ax: Axes, title: str, message: str) -> None:
    _title(ax, title)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#DDDDDD")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color=GREY, transform=ax.transAxes, wrap=True)


def _title(ax: Axes, title: str, note: str = "") -> None:
    """The panel's title, and under it a grey line or two of context (totals, what was left out)."""
    note = wrap(note, NOTE_CHARS, lines=3) if note else ""
    lines = note.count("\n") + 1 if note else 0
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold", color=INK, pad=6 + 10 * lines)
    if note:
        ax.text(0.0, 1.015, note, ha="left", va="bottom", fontsize=8, color="#555555", transform=ax.transAxes,
                linespacing=1.1)


def _tidy(ax: Axes) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _nodes_panel(ax: Axes, report: WeeklyReport) -> None:
    title = "DICOM nodes: uptime (scheduled echoes)"
    nodes = [n for n in report.nodes if n.checks]
    if not nodes:
        _no_data(ax, title, "No scheduled checks this week.\nIs the node watch switched on?")
        return
    names = [clip(n.node, NODE_CHARS) for n in nodes]
    values = [n.uptime_pct or 0.0 for n in nodes]
    colours = [GREEN if v >= 99.5 else ORANGE if v >= 95 else VERMILLION for v in values]
    bars = ax.bar(range(len(nodes)), values, color=colours, width=0.6)
    low = min(values)
    floor = 0.0 if low < 50 else max(0.0, (int(low) // 10) * 10 - 10)
    ax.set_ylim(floor, 100 + (100 - floor) * 0.35)
    ax.set_yticks([v for v in range(int(floor), 101, 5 if floor >= 70 else 10 if floor >= 40 else 20)])
    ax.set_ylabel("uptime %" + ("" if floor == 0 else f" (axis from {floor:.0f}%)"))
    for bar, n in zip(bars, nodes):
        if len(nodes) <= 4:
            label = f"{fmt_pct(n.uptime_pct)}\nmedian {fmt_ms(n.median_ms)}\np95 {fmt_ms(n.p95_ms)}"
            if n.failed:
                label += f"\n{n.failed} failed"
        elif len(nodes) <= 10:   # narrow bars: the rest is in nodes.csv
            label = f"{fmt_pct(n.uptime_pct)}\n{fmt_ms(n.median_ms)}"
        else:
            label = fmt_pct(n.uptime_pct)
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), label, ha="center", va="bottom",
                fontsize=8 if len(nodes) <= 4 else 7, color=INK, rotation=0 if len(nodes) <= 10 else 90)
    excluded = sum(n.downtime_checks for n in report.nodes)
    note = plural(sum(n.checks for n in nodes), "check") + (f"; {excluded} in planned downtime left out" if excluded else "")
    _title(ax, title, note)
    ax.set_xticks(range(len(nodes)))
    # side by side while they fit, else upright (a slanted label reaches under its neighbours)
    ax.set_xticklabels(names, fontsize=9 if len(nodes) <= 6 else 8, rotation=0 if len(nodes) <= 4 else 90)
    _tidy(ax)


def _tickets_panel(ax: Axes, report: WeeklyReport) -> None:
    title = "Tickets by category: opened / resolved"
    lines = report.tickets
    if not lines:
        _no_data(ax, title, "No tickets opened or resolved this week.")
        return
    x = list(range(len(lines)))
    w = 0.38
    opened = ax.bar([i - w / 2 for i in x], [c.opened for c in lines], w, color=BLUE, label="opened")
    resolved = ax.bar([i + w / 2 for i in x], [c.resolved for c in lines], w, color=ORANGE, label="resolved", hatch="//",
                      edgecolor="white")
    narrow = len(lines) > 5   # numbers upright over narrow bars, the medians only in tickets.csv
    for group in (opened, resolved):
        for bar in group:
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{' ' if narrow else ''}{int(bar.get_height())}", ha="center", va="bottom",
                    fontsize=7 if narrow else 8, color=INK, rotation=90 if narrow else 0)
    ax.set_xticks(x)
    sep = "\n" if len(lines) > 3 else " "   # "missing images" on two lines where bars are narrow
    ax.set_xticklabels([c.category.replace("_", sep) if narrow else
                        f"{c.category.replace('_', sep)}\nack {fmt_duration(c.median_ack_minutes)}\nfix {fmt_duration(c.median_resolve_minutes)}"
                        for c in lines], fontsize=8 if len(lines) <= 4 else 7)
    top = max(max(c.opened, c.resolved) for c in lines)
    ax.set_ylim(0, max(1, top) * (1.45 if narrow else 1.3) + 0.5)   # room for the numbers and the legend
    cast("MaxNLocator", ax.yaxis.get_major_locator()).set_params(integer=True)  # the default locator: an AutoLocator
    ax.set_ylabel("tickets")
    ax.legend(loc="upper right", fontsize=8, frameon=False, ncols=2)
    t = report.ticket_totals
    linked = f", {t.linked_reports} linked" if t.linked_reports else ""
    per = "; per category in tickets.csv" if narrow else ""
    _title(ax, title, f"{t.opened} opened, {t.resolved} resolved{linked}; median: acknowledge "
                      f"{fmt_duration(t.median_ack_minutes)}, fix {fmt_duration(t.median_resolve_minutes)}{per}")
    _tidy(ax)


def _training_panel(ax: Axes, report: WeeklyReport) -> None:
    title = "Training: % complete by module"
    modules = [m for m in report.training if m.assigned]
    if not modules:
        _no_data(ax, title, "No training assigned.")
        return
    hidden = len(modules) - 10 if len(modules) > 10 else 0
    modules = sorted(modules, key=lambda m: (m.completion_pct, m.module_id))[:10]   # the furthest behind first
    labels = [clip(m.title, LABEL_CHARS) for m in modules]
    values = [m.completion_pct for m in modules]
    y = list(range(len(modules)))[::-1]
    ax.barh(y, [100] * len(modules), color="#EEEEEE", height=0.6)
    ax.barh(y, values, color=SKY, height=0.6, edgecolor=BLUE)
    for yi, m in zip(y, modules):
        overdue = f", {m.overdue} overdue" if m.overdue else ""
        ax.text(101, yi, f"{m.completion_pct}% ({m.completed}/{m.assigned}{overdue})", va="center", fontsize=8,
                color=VERMILLION if m.overdue else INK)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlim(0, 175)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("% of assigned people who completed it")
    overdue_total = sum(m.overdue for m in modules)
    _title(ax, title, f"as of {report.generated_at:%d %b %Y}" + (f"; {overdue_total} overdue" if overdue_total else "")
           + (f"; the 10 furthest behind shown, {hidden} more in training.csv" if hidden else ""))
    _tidy(ax)


def _gaps_panel(ax: Axes, report: WeeklyReport) -> None:
    title = "Questions the manuals could not answer"
    g = report.gaps
    if not g.count:
        _no_data(ax, title, "No unanswered questions this week.")
        return
    _title(ax, title, f"{plural(g.count, 'question')} asked ({g.distinct} distinct); the manual sections that came closest")
    topics = list(g.topics)
    y = list(range(len(topics)))[::-1]
    ax.barh(y, [t.count for t in topics], color=[GREY if t.section is None else GREEN for t in topics], height=0.6)
    for yi, t in zip(y, topics):
        ax.text(t.count, yi, f" {t.count}", va="center", fontsize=8, color=INK)
    ax.set_yticks(y)
    ax.set_yticklabels([clip(t.label, LABEL_CHARS) for t in topics], fontsize=8)
    ax.set_xlim(0, max((t.count for t in topics), default=0) * 1.25 + 0.5)
    cast("MaxNLocator", ax.xaxis.get_major_locator()).set_params(integer=True)  # the default locator: an AutoLocator
    ax.set_xlabel("unanswered questions")
    _tidy(ax)

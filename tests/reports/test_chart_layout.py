"""The weekly chart keeps every word on its own panel and on the page, however long a site's
names are: measured with the renderer's window extents after the constrained layout ran."""

from __future__ import annotations

from datetime import datetime, timezone
from itertools import combinations
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from matplotlib.text import Text  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from pacsbot.reports.chart import clip, draw, render_png, wrap  # noqa: E402
from pacsbot.reports.weekly import CategoryLine, GapSummary, GapTopic, ModuleLine, NodeLine, Week, WeeklyReport  # noqa: E402

SLACK = 1.0  # pixels: anti-aliasing and rounding

LONG_SITE = "St. Elsewhere University Hospital — Department of Radiology and Nuclear Medicine, North Campus"
LONG_NODE = "enterprise-vna-replica-{:02d}-datacenter-west"
LONG_MODULE = "HIPAA privacy and security in imaging — the annual refresher for every member of the radiology staff"
LONG_SECTION = "Hanging protocols › How to put the prior study next to the current one on the second monitor in reading rooms"
CATEGORIES = ("outage", "missing_images", "wrong_patient", "viewer", "worklist", "login", "slowness", "other")


def report(*, nodes: int, categories: int, modules: int, topics: int, big: bool = True) -> WeeklyReport:
    n = 1234 if big else 3
    return WeeklyReport(
        week=Week.of(2026, 47, "UTC"), site=LONG_SITE, generated_at=datetime(2026, 11, 23, 7, 30, tzinfo=timezone.utc),
        partial=True,
        nodes=tuple(NodeLine(LONG_NODE.format(i), 700, 690 - i, 10 + i, 12, 20.0 + i, 150.0, (("timeout", 5),))
                    for i in range(nodes)),
        tickets=tuple(CategoryLine(c, n + i, n, n // 3, n, 5000.0, 9000.0) for i, c in enumerate(CATEGORIES[:categories])),
        gaps=GapSummary(n * 10 if topics else 0, n * 8 if topics else 0, tuple(GapTopic(f"viewer/hanging-{i}.md#a", f"{LONG_SECTION} ({i})", 300 - i)
                                             for i in range(topics))),
        training=tuple(ModuleLine(f"module-{i}", f"{LONG_MODULE} {i}", 400, 10 * i, 400 - 10 * i, 123, 7, min(100, 7 * i))
                       for i in range(modules)),
        ticket_totals=CategoryLine("all", n * 9, n * 8, n * 3, n * 8, 65.0, 3000.0),
    )


def _shown(texts: list[Text]) -> list[Text]:
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _ticklabels(axis: Any) -> list[Text]:
    """The tick labels matplotlib draws: those of ticks inside the axis's view."""
    low, high = sorted(axis.get_view_interval())
    return _shown([t.label1 for t in axis.get_major_ticks() if low - 1e-9 <= t.get_loc() <= high + 1e-9])


def _texts(fig: Any) -> list[Text]:
    """Every text drawn: the title, and on each panel its titles, notes, numbers, tick and axis labels, legend."""
    out = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        out += [ax.title, ax._left_title, ax._right_title, *ax.texts, ax.xaxis.label, ax.yaxis.label]
        out += _ticklabels(ax.xaxis) + _ticklabels(ax.yaxis)
        if ax.get_legend() is not None:
            out += ax.get_legend().get_texts()
    return _shown(out)


def _overlap(a: Bbox, b: Bbox) -> float:
    """The overlapping area of two boxes, in square pixels."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(0.0, width) * max(0.0, height)


def _inside(inner: Bbox, outer: Bbox) -> bool:
    return (inner.x0 >= outer.x0 - SLACK and inner.y0 >= outer.y0 - SLACK
            and inner.x1 <= outer.x1 + SLACK and inner.y1 <= outer.y1 + SLACK)


def problems(fig: Any) -> list[str]:
    """Every text that leaves the figure, runs into another panel or into a neighbour."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    found = []
    for text in _texts(fig):
        box = text.get_window_extent(renderer)
        if not _inside(box, page):
            found.append(f"off the page: {text.get_text()!r} at {box.bounds}")
    panels = [(ax.get_title(loc="left") or f"panel {i}", ax, ax.get_tightbbox(renderer)) for i, ax in enumerate(fig.axes)]
    for (name_a, _, a), (name_b, _, b) in combinations(panels, 2):
        if _overlap(a, b) > SLACK:
            found.append(f"panels overlap: {name_a!r} and {name_b!r}")
    title = fig.get_suptitle()
    if title:
        box = fig._suptitle.get_window_extent(renderer)
        found += [f"the title runs into {name!r}" for name, _, panel in panels if _overlap(box, panel) > SLACK]
    for name, ax, _ in panels:
        legend = ax.get_legend()
        groups = {
            "x labels": _ticklabels(ax.xaxis),
            "y labels": _ticklabels(ax.yaxis),
            "numbers and notes": _shown(ax.texts) + ([ax.title] if ax.get_title(loc="left") else []),
        }
        for group, texts in groups.items():
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
            if legend is not None and group == "numbers and notes":
                boxes.append(("the legend", legend.get_window_extent(renderer)))
            for (ta, a), (tb, b) in combinations(boxes, 2):
                if _overlap(a, b) > SLACK:
                    found.append(f"{name}: {group} {ta!r} and {tb!r} overlap")
    return found


@pytest.mark.parametrize("shape", [
    dict(nodes=12, categories=8, modules=14, topics=8),       # a big site, long names everywhere
    dict(nodes=7, categories=6, modules=10, topics=5),
    dict(nodes=5, categories=5, modules=3, topics=3),
    dict(nodes=2, categories=3, modules=2, topics=2, big=False),
    dict(nodes=1, categories=1, modules=1, topics=1, big=False),
])
def test_no_text_leaves_its_panel_or_the_page(shape: dict[str, Any]) -> None:
    assert problems(draw(report(**shape))) == []


def test_long_names_are_shortened_with_an_ellipsis_and_the_rest_is_in_the_csvs() -> None:
    fig = draw(report(nodes=12, categories=8, modules=14, topics=8))
    fig.canvas.draw()
    nodes, tickets, training, gaps = fig.axes
    assert all(t.get_text().endswith("…") for t in _ticklabels(nodes.xaxis))
    assert all(t.get_text().endswith("…") for t in _ticklabels(training.yaxis) + _ticklabels(gaps.yaxis))
    assert "…" in fig.get_suptitle() and fig.get_suptitle().endswith("Week 47 (16–22 Nov 2026) (so far)")
    note = next(t.get_text() for t in tickets.texts if "opened" in t.get_text())
    assert "\n" in note and "per category in tickets.csv" in " ".join(note.split())  # wrapped; says where the medians went


def test_an_empty_week_fits_too_and_the_png_keeps_its_size() -> None:
    empty = report(nodes=0, categories=0, modules=0, topics=0)
    assert problems(draw(empty)) == []
    assert render_png(empty)[16:24] == (1200).to_bytes(4, "big") + (800).to_bytes(4, "big")


@pytest.mark.parametrize("text, width, expected", [
    ("pacs", 16, "pacs"),
    ("enterprise-vna-replica-00-datacenter-west", 16, "enterprise-vna-…"),   # no spaces: cut, the start kept
    ("HIPAA privacy and security in imaging", 20, "HIPAA privacy and…"),
    ("  spaced   out  ", 20, "spaced out"),
])
def test_clip(text: str, width: int, expected: str) -> None:
    assert clip(text, width) == expected and len(clip(text, width)) <= width


def test_wrap_keeps_to_its_lines_and_ends_with_an_ellipsis() -> None:
    text = " ".join(["word"] * 60)
    lines = wrap(text, 30, lines=3).split("\n")
    assert len(lines) == 3 and all(len(line) <= 30 for line in lines) and lines[-1].endswith("…")
    assert wrap("short note", 30) == "short note"


def test_one_of_anything_is_singular_in_the_notes() -> None:
    one = report(nodes=1, categories=1, modules=1, topics=1, big=False)
    one = WeeklyReport(**{**one.__dict__, "nodes": (NodeLine("pacs", 1, 1, 0, 0, 12.0, 12.0),),
                          "gaps": GapSummary(1, 1, (GapTopic("viewer.md#a", "Viewer basics", 1),))})
    fig = draw(one)
    notes = " | ".join(t.get_text().replace("\n", " ") for ax in fig.axes for t in ax.texts)
    assert "1 check" in notes and "1 checks" not in notes
    assert "1 question asked (1 distinct)" in notes

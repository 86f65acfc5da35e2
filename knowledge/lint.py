"""``kb check``: what is wrong with the manuals, as ``file:line: message`` lines.

Checks: files that cannot be read or whose front matter is broken; manuals with no title;
``reviewed`` dates older than the configured age (or missing, as a warning); duplicate
headings in one manual (their anchors get -1, -2 and links to them break easily); relative
links and images that point at nothing, including ``#anchors`` that do not exist.

The links (inline, reference definitions, HTML ``<a>`` / ``<img>``) and the anchors are what
the markdown parser found when the manual was read (:mod:`knowledge.manuals`), so an anchor
``kb check`` accepts is one the HTML site emits and answer links use.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote

from pacsbot.knowledge.manuals import Library, Manual, Problem, load_library

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _candidates(base: Path) -> list[Path]:
    """Where a relative link may point: the file itself, or a page as Hugo/MkDocs write them."""
    out = [base]
    text = str(base)
    if text.endswith("/"):
        base = Path(text.rstrip("/"))
    if base.suffix in ("", ".html"):
        stem = base.with_suffix("") if base.suffix == ".html" else base
        out += [stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".en.md"), stem / "index.md", stem / "_index.md",
                stem / "README.md", stem / "_index.en.md", stem / "index.en.md"]
    return out


def check_manual(manual: Manual, by_path: dict[Path, Manual], *, today: dt.date, max_age_days: int) -> list[Problem]:
    shown = _shown(manual.path)
    problems: list[Problem] = []
    if manual.title_from == "file name":
        problems.append(Problem(shown, 1, "no title: add 'title:' to the front matter or start with a '# Heading'"))
    if manual.reviewed is None:
        problems.append(Problem(shown, 1, "no 'reviewed:' date in the front matter (YYYY-MM-DD)", "warning"))
    else:
        age = (today - manual.reviewed).days
        if age > max_age_days:
            problems.append(Problem(shown, 1, f"last reviewed {manual.reviewed.isoformat()}, {age} days ago (limit {max_age_days}): review it and update 'reviewed:'"))
        elif age < -1:
            problems.append(Problem(shown, 1, f"'reviewed: {manual.reviewed.isoformat()}' is in the future", "warning"))
    for p in manual.problems:
        problems.append(Problem(shown, p.line, p.message, p.severity))
    seen: dict[str, int] = {}
    for line, _level, text, _anchor in manual.headings:
        key = text.strip().lower()
        if not key:
            problems.append(Problem(shown, line, "empty heading"))
            continue
        if key in seen:
            problems.append(Problem(shown, line, f"duplicate heading '{text}' (also on line {seen[key]}): make it distinct so its link is stable"))
        else:
            seen[key] = line
    if not manual.sections:
        problems.append(Problem(shown, 1, "no text: the manual is empty", "warning"))
    for link in manual.links:
        target = link.target.strip()
        if not target or _SCHEME.match(target) or target.startswith(("//", "{{", "<")):
            continue
        kind = "image" if link.image else "link"
        path_part, _, anchor = target.partition("#")
        path_part = unquote(path_part.split("?", 1)[0])
        anchor = unquote(anchor)
        if path_part.startswith("/"):
            continue  # site-absolute (Hugo static files): cannot be checked from here
        if not path_part:
            if anchor and anchor not in manual.anchors:
                problems.append(Problem(shown, link.line, f"broken {kind}: no heading with anchor '#{anchor}' in this manual"))
            continue
        base = manual.path.parent / path_part
        found = next((c for c in _candidates(base) if c.exists()), None)
        if found is None:
            problems.append(Problem(shown, link.line, f"broken {kind}: '{target}' does not exist"))
            continue
        if anchor and found.suffix.lower() in (".md", ".markdown"):
            other = by_path.get(found.resolve())
            if other is not None and anchor not in other.anchors:
                problems.append(Problem(shown, link.line, f"broken {kind}: '{target}' — {other.file} has no heading with anchor '#{anchor}'"))
    return problems


def check(directories: Sequence[Path], *, today: dt.date | None = None, max_age_days: int = 365, library: Library | None = None) -> list[Problem]:
    library = library or load_library(directories)
    today = today or dt.date.today()
    by_path = {m.path.resolve(): m for m in library.manuals}
    problems: list[Problem] = []
    for p in library.problems:
        problems.append(Problem(_shown(Path(p.file)), p.line, p.message, p.severity))
    seen_manual_problems = {(p.file, p.line, p.message) for p in problems}
    for manual in library.manuals:
        for p in check_manual(manual, by_path, today=today, max_age_days=max_age_days):
            if (p.file, p.line, p.message) not in seen_manual_problems:
                problems.append(p)
    return sorted(problems, key=lambda p: (p.file, p.line or 0))

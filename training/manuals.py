"""Links from training modules to sections of the manuals: shared content is linked, not copied.

In a module, write ``[the downtime forms](manual:admin/downtime-procedure.md#downtime-forms)``:
the path is relative to a manuals directory (``knowledge.manuals`` and the bundled manuals),
the anchor is the section's slug (GitHub style: lowercase, punctuation dropped, spaces to
hyphens; an explicit ``{#id}`` on the heading wins). ``pacsbot training check`` warns when the
manual or the section does not exist.

When ``knowledge.base_url`` is set (where ``pacsbot kb html`` output is published), the link
becomes ``<base_url>/<path without .md>.html#<anchor>``; without it, the learner sees the
manual's title and section name, which ``/pacs ask`` finds.

This reads only the manuals' headings. It is a small stand-in for the knowledge package's
section index, which it should call instead once that exposes a public lookup.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

MANUAL_LINK = re.compile(r"\[([^\]]+)\]\(manual:([^)#\s]+)(?:#([^)\s]+))?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_EXPLICIT = re.compile(r"\{#([^}\s]+)\}\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def slugify(heading: str) -> str:
    """GitHub-style anchor of a heading."""
    text = unicodedata.normalize("NFKC", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@dataclass(frozen=True)
class ManualSection:
    path: str           # relative to its manuals directory, with .md
    anchor: str | None
    manual_title: str
    heading: str | None

    def url(self, base_url: str) -> str:
        page = self.path[:-3] if self.path.endswith(".md") else self.path
        return f"{base_url.rstrip('/')}/{page}.html" + (f"#{self.anchor}" if self.anchor else "")


class ManualIndex:
    """Headings of every manual, read lazily and cached (manuals are small)."""

    def __init__(self, dirs: list[Path]):
        self.dirs = [Path(d) for d in dirs]
        self._cache: dict[str, tuple[str, dict[str, str]] | None] = {}

    def _load(self, rel: str) -> tuple[str, dict[str, str]] | None:
        if rel in self._cache:
            return self._cache[rel]
        found = None
        for base in self.dirs:
            candidate = base / rel
            if candidate.is_file():
                found = candidate
                break
        result = None
        if found is not None:
            try:
                result = _headings(found.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                result = None
        self._cache[rel] = result
        return result

    def resolve(self, path: str, anchor: str | None) -> tuple[ManualSection | None, str | None]:
        """(section, None) when the link works, else (None, why not)."""
        rel = path.strip().lstrip("/")
        if ".." in Path(rel).parts:
            return None, f"manual link '{path}' may not leave the manuals directory"
        if not rel.endswith(".md"):
            rel += ".md"
        loaded = self._load(rel)
        if loaded is None:
            return None, f"links to the manual '{rel}', which is not in any manuals directory"
        title, anchors = loaded
        if anchor and anchor not in anchors:
            return None, f"links to section '#{anchor}' of '{rel}', which has no such heading"
        return ManualSection(rel, anchor, title, anchors.get(anchor) if anchor else None), None


def _headings(text: str) -> tuple[str, dict[str, str]]:
    title = ""
    body = text
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            try:
                meta = yaml.safe_load(text[3:end]) or {}
                if isinstance(meta, dict) and meta.get("title"):
                    title = str(meta["title"])
            except yaml.YAMLError:
                pass
            body = text[end + 4:]
    anchors: dict[str, str] = {}
    fence = None
    for line in body.splitlines():
        fm = _FENCE.match(line)
        if fence:
            if fm and fm.group(1) == fence:
                fence = None
            continue
        if fm:
            fence = fm.group(1)
            continue
        match = _HEADING.match(line)
        if not match:
            continue
        heading = match.group(2)
        explicit = _EXPLICIT.search(heading)
        clean = _EXPLICIT.sub("", heading).strip()
        if len(match.group(1)) == 1 and not title:
            title = clean
        anchor = explicit.group(1) if explicit else slugify(clean)
        base, n = anchor, 1
        while anchor in anchors:
            anchor = f"{base}-{n}"
            n += 1
        anchors[anchor] = clean
    return title or "manual", anchors


def rewrite_links(markdown: str, index: ManualIndex, base_url: str | None) -> tuple[str, list[str]]:
    """Turn ``manual:`` links into web links (or named references); return the text and problems."""
    problems: list[str] = []

    def replace(match: re.Match[str]) -> str:
        label, path, anchor = match.group(1), match.group(2), match.group(3)
        section, why = index.resolve(path, anchor)
        if section is None:
            problems.append(why or "bad manual link")
            return f"**{label}**"
        if base_url:
            return f"[{label}]({section.url(base_url)})"
        where = f"the manual “{section.manual_title}”"
        if section.heading and section.heading.strip().lower() != label.strip().lower():
            where += f", section “{section.heading}”"
        return f"**{label}** (in {where})"

    return MANUAL_LINK.sub(replace, markdown), problems

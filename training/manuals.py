"""Links from training modules to sections of the manuals: shared content is linked, not copied.

In a module, write ``[the downtime forms](manual:admin/downtime-procedure.md#downtime-forms)``:
the path is relative to a manuals directory (``knowledge.manuals`` and the bundled manuals),
the anchor is the section's anchor, exactly as the bot and the HTML site give it
(:func:`core.markdown.slugify` of the heading as a reader sees it, numbered when repeated; an
explicit ``{#id}`` on the heading wins; a MyST ``(label)=`` target works too). ``pacsbot
training check`` warns when the manual or the section does not exist.

When ``knowledge.base_url`` is set (where ``pacsbot kb html`` output is published), the link
becomes ``<base_url>/<path without .md>.html#<anchor>``; without it, the learner sees the
manual's title and section name, which ``/pacs ask`` finds.

The manuals are read by the knowledge package (:func:`knowledge.manuals.load_file`), so a
module links to the sections the bot answers from; as there, a manual in a later directory
replaces one with the same path in an earlier one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pacsbot.knowledge.manuals import Manual, ManualError, load_file

MANUAL_LINK = re.compile(r"\[([^\]]+)\]\(manual:([^)#\s]+)(?:#([^)\s]+))?\)")


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
    """The manuals that modules link to, read lazily (``load_file`` caches them by file)."""

    def __init__(self, dirs: list[Path]):
        self.dirs = [Path(d) for d in dirs]
        self._cache: dict[str, Manual | str | None] = {}

    def _load(self, rel: str) -> Manual | str | None:
        """The manual, or why it cannot be read (a string), or None when no directory has it."""
        if rel in self._cache:
            return self._cache[rel]
        result: Manual | str | None = None
        for base in reversed(self.dirs):
            candidate = base / rel
            if candidate.is_file():
                try:
                    result = load_file(candidate, base)
                except ManualError as exc:
                    result = exc.message
                break
        self._cache[rel] = result
        return result

    def resolve(self, path: str, anchor: str | None) -> tuple[ManualSection | None, str | None]:
        """(section, None) when the link works, else (None, why not)."""
        rel = path.strip().lstrip("/")
        if ".." in Path(rel).parts:
            return None, f"manual link '{path}' may not leave the manuals directory"
        if not rel.endswith(".md"):
            rel += ".md"
        manual = self._load(rel)
        if manual is None:
            return None, f"links to the manual '{rel}', which is not in any manuals directory"
        if isinstance(manual, str):
            return None, f"links to the manual '{rel}', which cannot be read: {manual}"
        if not anchor:
            return ManualSection(rel, None, manual.title, None), None
        heading = _heading(manual, anchor)
        if heading is None:
            return None, f"links to section '#{anchor}' of '{rel}', which has no such heading"
        return ManualSection(rel, anchor, manual.title, heading), None


def _heading(manual: Manual, anchor: str) -> str | None:
    """The heading a link to ``#anchor`` lands on."""
    for section in manual.sections:
        if section.level and (section.anchor == anchor or anchor in section.aliases):
            return section.heading
    return next((text for _, _, text, a in manual.headings if a == anchor), None)


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

"""Links into the guides keep working when a guide is reorganised: every link to a heading of the
admin guide anywhere in the repository, every link with an anchor in the README and docs/, and every
section of the admin guide named in quotes elsewhere ("docs/admin-guide.md, "Install"") lead to
a heading that exists. The admin guide's contents list names every section, in order."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from tests.docs.markdown_doc import ROOT, anchors, headings, prose

GUIDE = ROOT / "docs" / "admin-guide.md"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP_DIRS = {".git", ".venv", "node_modules", "build", "dist", "site", "pacsbot-data", "__pycache__", ".ci"}
TEXT_SUFFIXES = {".md", ".py", ".yml", ".yaml", ".toml", ".txt", ".service", ".cfg", ".ini", ""}


def repository_texts() -> Iterator[tuple[Path, str]]:
    """Every text file of the repository (not the environments, caches or build output), read."""
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & SKIP_DIRS or any(p.startswith(".venv") or p.endswith(".egg-info") for p in parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES and path.stat().st_size < 2_000_000:
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue


def without_code(text: str) -> str:
    """Prose only: fenced blocks and inline code (an example of a link is not a link) blanked."""
    return re.sub(r"(`+)(?!`).+?(?<!`)\1(?!`)", lambda m: "\n" * m.group(0).count("\n"), prose(text), flags=re.DOTALL)


def test_every_admin_guide_anchor_in_the_repository_exists() -> None:
    known = anchors(GUIDE.read_text(encoding="utf-8"))
    broken = []
    for path, text in repository_texts():
        for match in re.finditer(r"admin-guide\.md#([\w-]+)", text):
            if match.group(1) not in known:
                line = text.count("\n", 0, match.start()) + 1
                broken.append(f"{path.relative_to(ROOT)}:{line}: admin-guide.md#{match.group(1)}")
    assert not broken, "links to headings the admin guide does not have:\n" + "\n".join(broken)


def test_every_anchored_link_in_the_docs_exists() -> None:
    broken, found = [], 0
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        body = without_code(text)
        for match in re.finditer(r"\]\(([^)\s#]*)#([^)\s]+)\)", body):
            target = (path.parent / match.group(1)).resolve() if match.group(1) else path
            found += 1
            line = body.count("\n", 0, match.start()) + 1
            if not target.is_file():
                broken.append(f"{path.relative_to(ROOT)}:{line}: {match.group(1)} does not exist")
            elif target.suffix == ".md" and match.group(2) not in anchors(target.read_text(encoding="utf-8")):
                broken.append(f"{path.relative_to(ROOT)}:{line}: no heading #{match.group(2)} in {target.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)
    assert found >= 30, found


def test_sections_of_the_admin_guide_named_elsewhere_exist() -> None:
    """``docs/admin-guide.md, "Install"``, ``docs/admin-guide.md ("Training")``, ``(admin guide, "Answers")``."""
    titles = [title for _, _, title in headings(GUIDE.read_text(encoding="utf-8"))]
    named, missing = 0, []
    for path, text in repository_texts():
        for match in re.finditer(r"admin[- ]guide(?:\.md)?,?\s+\(?\"([^\"]+)\"", text):
            named += 1
            if not any(title.startswith(match.group(1)) for title in titles):
                line = text.count("\n", 0, match.start()) + 1
                missing.append(f"{path.relative_to(ROOT)}:{line}: \"{match.group(1)}\"")
    assert not missing, "sections of the admin guide named elsewhere that it does not have:\n" + "\n".join(missing)
    assert named >= 4, named


def test_the_admin_guide_starts_with_day_one_and_lists_every_section_in_order() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    sections = [title for _, level, title in headings(text) if level == 2]
    assert sections[:3] == ["Install", "Create the Slack app", "First checks"]
    contents = text.split("\n## ", 1)[0]
    listed = re.findall(r"\]\(#([\w-]+)\)", contents)
    by_anchor = {anchor: title for anchor, title in anchors(text).items() if title in sections}
    assert [by_anchor.get(a, a) for a in listed] == sections, "the contents list must name every ## section, in order"

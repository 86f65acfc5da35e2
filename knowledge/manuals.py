"""Manual files -> :class:`Manual` objects with their :class:`Section` s.

A manual is one markdown file with optional front matter (YAML between ``---`` lines, or TOML
between ``+++`` lines) giving ``title``, ``tags`` (or Hugo's ``keywords``), ``audience``,
``owner`` and ``reviewed`` (a date). It is split into sections at its headings (ATX ``#`` or
setext underlines; never inside code blocks, directives, quotes or lists), as the project's
markdown parser (:func:`core.markdown.outline`) finds them. Each section has an anchor: the
GitHub-style slug of its heading as a reader sees it, made unique within the page (``x``,
``x-1``...), unless the heading carries an explicit ``{#id}`` (Hugo, MkDocs attr_list, pandoc),
which wins. The HTML site (``kb html``) gives each heading that anchor, answer links and
training modules' ``manual:`` links point at it, and ``kb check`` checks links against it.

A file that cannot be read or whose front matter is broken raises :class:`ManualError`; the
loader reports it and skips that file.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pacsbot.core import markdown
from pacsbot.knowledge.markup import clean, heading_text

MANUAL_SUFFIXES = (".md", ".markdown")
MAX_MANUAL_BYTES = 2_000_000


class ManualError(Exception):
    """A manual that cannot be used; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Problem:
    """Something wrong in a manual, for ``kb check`` and reload reports."""

    file: str           # shown path (relative to its manuals directory when known)
    line: int | None
    message: str
    severity: str = "error"   # error | warning

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Link:
    line: int
    target: str
    image: bool


@dataclass(frozen=True)
class Section:
    file: str                    # path relative to its manuals directory, with '/'
    anchor: str                  # slug, or "" for the text before the first heading
    heading: str                 # as a reader sees it
    level: int                   # 1-6; 0 for the text before the first heading
    path: tuple[str, ...]        # headings above this one (not including the manual title)
    markdown: str                # cleaned body (no heading line)
    text: str                    # plain words of the body
    line: int                    # line of the heading in the file (1-based)
    manual_title: str
    audience: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()    # MyST (label)= targets pointing at this heading

    @property
    def key(self) -> str:
        return f"{self.file}#{self.anchor}" if self.anchor else self.file

    @property
    def breadcrumb(self) -> str:
        parts = [self.manual_title, *self.path]
        if self.level and self.heading != self.manual_title:
            parts.append(self.heading)
        seen: list[str] = []
        for p in parts:
            if p and (not seen or seen[-1] != p):
                seen.append(p)
        return " > ".join(seen)


@dataclass(frozen=True)
class Manual:
    file: str                    # relative to root, '/' separated
    root: Path                   # its manuals directory
    path: Path                   # absolute file path
    title: str
    title_from: str              # front matter | heading | file name
    tags: tuple[str, ...]
    audience: tuple[str, ...]
    owner: str | None
    reviewed: dt.date | None
    description: str | None
    sections: tuple[Section, ...]
    links: tuple[Link, ...]
    headings: tuple[tuple[int, int, str, str], ...]   # (line, level, text, anchor)
    problems: tuple[Problem, ...] = ()
    body_start: int = 1          # first line after the front matter
    source: str = field(default="", repr=False)

    @property
    def anchors(self) -> frozenset[str]:
        names = {s.anchor for s in self.sections if s.anchor}
        names.update(a for s in self.sections for a in s.aliases)
        names.update(h[3] for h in self.headings)
        return frozenset(names)


# --------------------------------------------------------------------------------------
# front matter

def split_front_matter(text: str) -> tuple[dict[str, Any], str, int]:
    """``(metadata, body, body_start_line)``. Raises :class:`ManualError` on a broken block."""
    block = markdown.front_matter(text)
    if block is None:
        return {}, text[1:] if text.startswith("\ufeff") else text, 1
    if not block.closed:
        raise ManualError(f"front matter starts with '{block.marker}' on line 1 but is never closed", 1)
    try:
        if block.marker == "---":
            data = yaml.safe_load(block.source) if block.source.strip() else {}
        else:
            data = tomllib.loads(block.source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ManualError(f"front matter is not valid YAML: {problem}", line) from None
    except tomllib.TOMLDecodeError as exc:
        raise ManualError(f"front matter is not valid TOML: {exc}", 1) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ManualError("front matter must be a set of 'key: value' lines", 2)
    return data, block.body, block.body_start


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return (str(value),)


def _date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%Y-%m"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(text) from None


# --------------------------------------------------------------------------------------
# parsing

def humanise(stem: str) -> str:
    stem = re.sub(r"\.(en|fr|de|es|it)$", "", stem)
    words = re.sub(r"[_-]+", " ", stem).strip()
    return words[:1].upper() + words[1:] if words else stem


def parse_manual(text: str, *, file: str, root: Path | None = None, path: Path | None = None) -> Manual:
    """Parse one manual's text. Raises :class:`ManualError` if its front matter is broken."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    meta, body, body_start = split_front_matter(text)
    problems: list[Problem] = []
    lines = body.split("\n")
    found = markdown.outline(body)
    raw_headings = found.headings
    offset = body_start - 1
    links = [Link(link.line + offset, link.target, link.image) for link in found.links]

    title = str(meta.get("title") or meta.get("sidebar_label") or "").strip()
    title_from = "front matter" if title else ""
    first_h1 = next((h for h in raw_headings if h.level == 1), None)
    if not title and first_h1 is not None:
        title, title_from = heading_text(first_h1.raw), "heading"
    if not title:
        stem = Path(file).stem
        title, title_from = humanise(stem), "file name"

    reviewed = None
    for key in ("reviewed", "last_reviewed", "reviewed_on", "review_date", "last_review"):
        if key in meta:
            try:
                reviewed = _date(meta[key])
            except ValueError:
                problems.append(Problem(file, 1, f"'{key}: {meta[key]}' is not a date (use YYYY-MM-DD)"))
            break
    audience = tuple(a.lower() for a in _strings(meta.get("audience")))
    tags = _strings(meta.get("tags")) + _strings(meta.get("keywords"))
    owner = str(meta["owner"]).strip() if meta.get("owner") else None
    description = str(meta.get("description") or meta.get("summary") or "").strip() or None

    slugger = markdown.Slugger()
    heading_info: list[tuple[int, int, str, str]] = []
    for h in raw_headings:
        words = heading_text(h.raw)
        anchor = slugger.claim(h.explicit_id) if h.explicit_id else slugger.slug(words)
        heading_info.append((h.line + offset, h.level, words, anchor))

    sections: list[Section] = []
    preamble_end = raw_headings[0].line - 1 if raw_headings else len(lines)
    preamble = clean("\n".join(lines[:preamble_end]))
    if preamble.strip():
        sections.append(Section(file, "", title, 0, (), preamble, markdown.search_text(preamble), body_start, title, audience))
    stack: list[tuple[int, str]] = []
    for index, h in enumerate(raw_headings):
        next_line = raw_headings[index + 1].line if index + 1 < len(raw_headings) else len(lines) + 1
        body_lines = lines[h.end: next_line - 1]
        heading_line, _, text_, anchor = heading_info[index]
        while stack and stack[-1][0] >= h.level:
            stack.pop()
        crumbs = tuple(t for _, t in stack if t != title)
        stack.append((h.level, text_))
        section_markdown = clean("\n".join(body_lines))
        sections.append(Section(
            file=file, anchor=anchor, heading=text_, level=h.level, path=crumbs, markdown=section_markdown,
            text=markdown.search_text(section_markdown), line=heading_line, manual_title=title, audience=audience,
            aliases=h.aliases,
        ))
    return Manual(
        file=file, root=root or Path("."), path=path or Path(file), title=title, title_from=title_from,
        tags=tags, audience=audience, owner=owner, reviewed=reviewed, description=description,
        sections=tuple(sections), links=tuple(links), headings=tuple(heading_info),
        problems=tuple(problems), body_start=body_start, source=text,
    )


# --------------------------------------------------------------------------------------
# loading directories

@dataclass(frozen=True)
class Library:
    """Every manual found in the configured directories, and what could not be read."""

    manuals: tuple[Manual, ...]
    problems: tuple[Problem, ...]
    signature: tuple[Any, ...]       # (path, mtime_ns, size) of every file: changes on edit

    @property
    def sections(self) -> list[Section]:
        return [s for m in self.manuals for s in m.sections]


_CACHE: dict[tuple[str, int, int], Manual | ManualError] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 20_000


def manual_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    files = [p for p in directory.rglob("*") if p.suffix.lower() in MANUAL_SUFFIXES and p.is_file()]
    return sorted(f for f in files if not any(part.startswith(".") for part in f.relative_to(directory).parts))


def signature(directories: Sequence[Path]) -> tuple[Any, ...]:
    """A cheap fingerprint of the manual files (names, sizes, modification times)."""
    out: list[Any] = []
    for directory in directories:
        out.append(str(directory))
        for f in manual_files(directory):
            try:
                st = f.stat()
            except OSError:
                continue
            out.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)


def load_file(path: Path, root: Path) -> Manual:
    """Parse one file (cached by path, size and modification time)."""
    rel = path.relative_to(root).as_posix()
    try:
        st = path.stat()
    except OSError as exc:
        raise ManualError(f"cannot read the file ({exc.strerror or exc})") from None
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        if isinstance(cached, ManualError):
            raise cached
        if cached.root == root:
            return cached
    try:
        if st.st_size > MAX_MANUAL_BYTES:
            raise ManualError(f"the file is too large to be a manual ({st.st_size:,} bytes; the limit is {MAX_MANUAL_BYTES:,})")
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ManualError(f"not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
        except OSError as exc:
            raise ManualError(f"cannot read the file ({exc.strerror or exc})") from None
        result: Manual | ManualError = parse_manual(text, file=rel, root=root, path=path)
    except ManualError as exc:
        result = exc
    except Exception as exc:  # noqa: BLE001 - a parser bug must not take the bot down
        result = ManualError(f"could not be parsed ({type(exc).__name__}: {exc})")
    with _CACHE_LOCK:
        if len(_CACHE) > _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = result
    if isinstance(result, ManualError):
        raise result
    return result


def load_library(directories: Sequence[Path]) -> Library:
    """Read every manual; a file in a later directory replaces one with the same relative path."""
    by_file: dict[str, Manual] = {}
    problems: list[Problem] = []
    for directory in directories:
        if not directory.exists():
            problems.append(Problem(str(directory), None, "manuals directory does not exist"))
            continue
        if not directory.is_dir():
            problems.append(Problem(str(directory), None, "is not a directory"))
            continue
        for f in manual_files(directory):
            rel = f.relative_to(directory).as_posix()
            try:
                manual = load_file(f, directory)
            except ManualError as exc:
                problems.append(Problem(str(f), exc.line, exc.message))
                by_file.pop(rel, None)
                continue
            by_file[rel] = manual
            problems.extend(Problem(str(f), p.line, p.message, p.severity) for p in manual.problems)
    manuals = tuple(sorted(by_file.values(), key=lambda m: m.file))
    return Library(manuals, tuple(problems), signature(directories))

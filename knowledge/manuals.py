"""Manual files -> :class:`Manual` objects with their :class:`Section` s.

A manual is one markdown file with optional front matter (YAML between ``---`` lines, or TOML
between ``+++`` lines) giving ``title``, ``tags`` (or Hugo's ``keywords``), ``audience``,
``owner`` and ``reviewed`` (a date). It is split into sections at its headings (ATX ``#`` or
setext underlines; never inside code blocks or directives). Each section has an anchor: the
GitHub-style slug of its heading, made unique within the page (``x``, ``x-1``...), unless the
heading carries an explicit ``{#id}`` (Hugo, MkDocs attr_list, pandoc), which wins.

A file that cannot be read or whose front matter is broken raises :class:`ManualError`; the
loader reports it and skips that file.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from knowledge.markup import Slugger, clean, heading_text, plain_text, split_heading_id

MANUAL_SUFFIXES = (".md", ".markdown")
MAX_MANUAL_BYTES = 2_000_000

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})")
_HUGO_CODE_OPEN = re.compile(r"\{\{[<%]\s*(highlight|code|launch)\b")
_HUGO_CODE_CLOSE = re.compile(r"\{\{[<%]\s*/\s*(highlight|code|launch)\s*[%>]\}\}")
_MYST_TARGET = re.compile(r"^\s*\(([\w.:-]+)\)=\s*$")
_LINK_TARGET = re.compile(r"(!?)\[(?:[^\]]|\][^(])*?\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_HTML_REF = re.compile(r"<(img|a)\b[^>]*?\b(src|href)\s*=\s*[\"']([^\"']+)[\"']", re.I)


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
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if not lines or lines[0].strip() not in ("---", "+++"):
        return {}, text, 1
    marker = lines[0].strip()
    end = None
    for i in range(1, len(lines)):
        if lines[i].strip() == marker or (marker == "---" and lines[i].strip() == "..."):
            end = i
            break
    if end is None:
        raise ManualError(f"front matter starts with '{marker}' on line 1 but is never closed", 1)
    block = "\n".join(lines[1:end])
    body = "\n".join(lines[end + 1:])
    try:
        if marker == "---":
            data = yaml.safe_load(block) if block.strip() else {}
        else:
            data = tomllib.loads(block)
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
    return data, body, end + 2


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

@dataclass
class _RawHeading:
    line: int          # 1-based in the file
    level: int
    raw: str           # heading text with markup
    body_from: int     # index into body lines where its content starts
    aliases: list[str]


def _scan(lines: Sequence[str]) -> tuple[list[_RawHeading], list[tuple[int, str]]]:
    """Find headings and the lines outside code (for links), never inside fences/directives."""
    headings: list[_RawHeading] = []
    outside: list[tuple[int, str]] = []
    fence: str | None = None
    hugo_code = False
    in_comment = False
    pending_aliases: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if in_comment:
            if "-->" in line:
                in_comment = False
            continue
        if fence is not None:
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                fence = None
            elif fence[0] == ":" and re.match(r"^:{3,}\s*$", stripped) and len(stripped) >= len(fence):
                fence = None
            continue
        if hugo_code:
            if _HUGO_CODE_CLOSE.search(line):
                hugo_code = False
            continue
        m = _FENCE.match(line)
        if m:
            fence = m.group(1)
            if fence[0] == ":":
                fence = ":" * len(fence)
            continue
        if _HUGO_CODE_OPEN.search(line) and not _HUGO_CODE_CLOSE.search(line):
            hugo_code = True
            continue
        if stripped.startswith("<!--") and "-->" not in stripped:
            in_comment = True
            continue
        target = _MYST_TARGET.match(line)
        if target:
            pending_aliases.append(target.group(1))
            continue
        atx = _ATX.match(line)
        if atx:
            headings.append(_RawHeading(i + 1, len(atx.group(1)), atx.group(2) or "", i + 1, pending_aliases))
            pending_aliases = []
            continue
        setext = _SETEXT.match(line)
        if setext and i > 0 and outside and outside[-1][0] == i:
            prev = lines[i - 1]
            before = lines[i - 2] if i >= 2 else ""
            if (prev.strip() and (len(prev) - len(prev.lstrip())) < 4
                    and not prev.lstrip().startswith(("-", "*", "+", ">", "|", "<", "{{", "!"))
                    and not re.match(r"^\s*\d+[.)]\s", prev)
                    and (not before.strip() or _ATX.match(before))):
                # a one-line paragraph underlined with === or --- is a heading
                outside.pop()
                headings.append(_RawHeading(i, 1 if setext.group(1)[0] == "=" else 2, prev.strip(), i + 1, pending_aliases))
                pending_aliases = []
                continue
        outside.append((i + 1, line))
    return headings, outside


def _links(outside: Iterable[tuple[int, str]]) -> list[Link]:
    found: list[Link] = []
    for line_no, line in outside:
        for m in _LINK_TARGET.finditer(re.sub(r"`[^`]*`", "", line)):
            found.append(Link(line_no, m.group(2), bool(m.group(1))))
        ref = _REF_LINK.match(line)
        if ref:
            found.append(Link(line_no, ref.group(1), False))
        for m in _HTML_REF.finditer(line):
            found.append(Link(line_no, m.group(3), m.group(1).lower() == "img"))
    return found


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
    raw_headings, outside = _scan(lines)
    offset = body_start - 1
    links = [Link(link.line + offset, link.target, link.image) for link in _links(outside)]

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

    slugger = Slugger()
    heading_info: list[tuple[int, int, str, str]] = []
    anchors: list[str] = []
    for h in raw_headings:
        raw_text, explicit = split_heading_id(h.raw)
        anchor = slugger.claim(explicit) if explicit else slugger.slug(heading_text(raw_text))
        anchors.append(anchor)
        heading_info.append((h.line + offset, h.level, heading_text(raw_text), anchor))

    sections: list[Section] = []
    preamble_end = raw_headings[0].line - 1 if raw_headings else len(lines)
    preamble = clean("\n".join(lines[:preamble_end]))
    if preamble.strip():
        sections.append(Section(file, "", title, 0, (), preamble, plain_text(preamble), body_start, title, audience))
    stack: list[tuple[int, str]] = []
    for index, h in enumerate(raw_headings):
        next_line = raw_headings[index + 1].line if index + 1 < len(raw_headings) else len(lines) + 1
        body_lines = lines[h.body_from: next_line - 1]
        heading_line, _, text_, anchor = heading_info[index]
        while stack and stack[-1][0] >= h.level:
            stack.pop()
        crumbs = tuple(t for _, t in stack if t != title)
        stack.append((h.level, text_))
        markdown = clean("\n".join(body_lines))
        sections.append(Section(
            file=file, anchor=anchor, heading=text_, level=h.level, path=crumbs, markdown=markdown,
            text=plain_text(markdown), line=heading_line, manual_title=title, audience=audience,
            aliases=tuple(h.aliases),
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

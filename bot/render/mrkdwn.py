"""Markdown (as the knowledge package cleans it) -> Slack mrkdwn, and trimming it to size.

Slack's mrkdwn is not markdown: bold is ``*x*``, italic ``_x_``, links ``<url|text>``, no
headings, tables or images, and ``&``, ``<``, ``>`` must be escaped. The markdown is read by
the project's one parser (:mod:`core.markdown`) and its tokens become:

* headings -> bold lines; ``**bold**`` -> ``*bold*``; ``*italic*`` / ``_italic_`` -> ``_italic_``;
  ``~~strike~~`` -> ``~strike~``; inline code and fenced code blocks kept (language dropped);
* ``[text](url)`` -> ``<url|text>``; relative links to other manuals -> the published page when
  a ``base_url`` is set, else just their text; images -> a link labelled "image: alt";
* bullet lists -> "•" (nested: "◦"), task lists -> ☐ / ☑, numbered lists kept;
* tables -> one line per row, cells joined with " — " (the header row in italics);
* quotes (admonitions arrive as quotes) kept as Slack quotes, their bold label on its own line;
* paragraphs on one line (Slack would show the source's line breaks); blank lines between
  blocks kept where the source has them.

A section's mrkdwn is computed once and cached (it sits in the ack path of ``/pacs ask``).
Pure functions, no I/O.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from markdown_it.token import Token

from pacsbot.core.markdown import parse, parse_inline

LinkResolver = Callable[[str], "str | None"]

_ABSOLUTE = re.compile(r"^(https?|mailto):")


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _url(url: str) -> str:
    """A URL inside ``<url|label>``: what would end it (or start a mention) percent-encoded."""
    return url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")


@dataclass(frozen=True)
class RelativeResolver:
    """Resolves links found in ``page_file`` (a manual's relative path) to absolute URLs.

    A value, not a closure: equal resolvers are one cache key for :func:`to_mrkdwn`."""

    base_url: str | None
    page_file: str
    page_url: Callable[[str, str, str], str]

    def __call__(self, target: str) -> str | None:
        if _ABSOLUTE.match(target):
            return target
        base_url = self.base_url
        if not base_url or target.startswith(("/", "{")):
            return None
        path, _, anchor = target.partition("#")
        if not path:
            return self.page_url(base_url, self.page_file, anchor)
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(self.page_file), path))
        if joined.startswith(".."):
            return None
        if joined.endswith((".md", ".markdown")):
            return self.page_url(base_url, joined, anchor)
        return base_url.rstrip("/") + "/" + joined + (f"#{anchor}" if anchor else "")


def relative_resolver(base_url: str | None, page_file: str, page_url: Callable[[str, str, str], str]) -> LinkResolver:
    """Resolve links found in ``page_file`` (a manual's relative path) to absolute URLs."""
    return RelativeResolver(base_url, page_file, page_url)


def _absolute_only(target: str) -> str | None:
    return target if _ABSOLUTE.match(target) else None


# --------------------------------------------------------------------------------------
# inline

def _plain(children: Sequence[Token]) -> str:
    """The words of inline tokens: what a link label or a table header shows."""
    out = []
    for t in children:
        if t.type in ("text", "text_special", "code_inline", "html_inline"):
            out.append(t.content)
        elif t.type == "image":
            out.append(_plain(t.children or []))
        elif t.type in ("softbreak", "hardbreak"):
            out.append(" ")
    return "".join(out)


def _inline(children: Sequence[Token], resolve: LinkResolver, *, label_lines: bool = False) -> str:
    """Inline tokens -> mrkdwn. ``label_lines``: a line that is all bold (an admonition's
    label) keeps its line break."""
    out: list[str] = []
    i, n = 0, len(children)
    line_start = 0
    while i < n:
        t = children[i]
        kind = t.type
        if kind in ("text", "text_special"):
            out.append(escape(t.content))
        elif kind == "code_inline":
            out.append(f"`{escape(t.content.replace('`', 'ʼ'))}`")
        elif kind in ("strong_open", "strong_close"):
            out.append("*")
        elif kind in ("em_open", "em_close"):
            out.append("_")
        elif kind in ("s_open", "s_close"):
            out.append("~")
        elif kind == "softbreak":
            if label_lines and _all_bold(children, line_start, i):
                out.append("\n")
            else:
                out.append(" ")
            line_start = i + 1
        elif kind == "hardbreak":
            out.append("\n")
            line_start = i + 1
        elif kind == "link_open":
            close = _closing(children, i)
            href = str(t.attrGet("href") or "")
            label = _plain(children[i + 1: close])
            if t.markup == "autolink":
                out.append(f"<{_url(href)}>" if re.match(r"^https?://", href) else escape(label))
            else:
                url = resolve(href)
                out.append(f"<{_url(url)}|{escape(label)}>" if url else escape(label))
            i = close + 1
            continue
        elif kind == "image":
            alt = _plain(t.children or []).strip() or "image"
            url = resolve(str(t.attrGet("src") or ""))
            out.append(f"<{_url(url)}|image: {escape(alt)}>" if url else f"[image: {escape(alt)}]")
        elif kind == "html_inline":
            if "task-list-item-checkbox" in t.content:
                out.append("[x]" if "checked" in t.content else "[ ]")
            else:
                out.append(escape(t.content))
        i += 1
    return "".join(out)


def _closing(children: Sequence[Token], i: int) -> int:
    depth = 0
    for j in range(i, len(children)):
        if children[j].type == "link_open":
            depth += 1
        elif children[j].type == "link_close":
            depth -= 1
            if depth == 0:
                return j
    return len(children) - 1


def _all_bold(children: Sequence[Token], start: int, end: int) -> bool:
    line = [c for c in children[start:end] if not (c.type == "text" and not c.content.strip())]
    return len(line) >= 2 and line[0].type == "strong_open" and line[-1].type == "strong_close"


def inline(text: str) -> str:
    """One line of markdown (a quiz question, an option) -> mrkdwn; only absolute links kept."""
    return _inline(parse_inline(text), _absolute_only)


# --------------------------------------------------------------------------------------
# blocks

class _Renderer:
    def __init__(self, tokens: list[Token], resolve: LinkResolver):
        self.tokens = tokens
        self.resolve = resolve

    def blocks(self, start: int, end: int, *, depth: int = 0, in_quote: bool = False) -> list[str]:
        """Render the blocks of ``tokens[start:end]`` (one nesting level) to lines."""
        lines: list[str] = []
        previous_last: int | None = None
        i = start
        while i < end:
            token = self.tokens[i]
            close = self.close_of(i)
            rendered = self.block(i, close, depth=depth, in_quote=in_quote)
            if rendered is not None:
                if token.map and previous_last is not None and token.map[0] > previous_last + 1 and lines:
                    lines.append("")
                lines.extend(rendered)
                previous_last = self.last_line(i, close)
            i = close + 1
        return lines

    def close_of(self, i: int) -> int:
        """Index of the token that closes ``tokens[i]`` (itself for a self-contained token)."""
        token = self.tokens[i]
        if token.nesting != 1:
            return i
        level = token.level
        for j in range(i + 1, len(self.tokens)):
            if self.tokens[j].level == level and self.tokens[j].nesting == -1:
                return j
        return len(self.tokens) - 1

    def last_line(self, i: int, close: int) -> int:
        """0-based line of the last content of the block ``tokens[i:close + 1]``."""
        for j in range(close, i - 1, -1):
            m = self.tokens[j].map
            if m and self.tokens[j].nesting >= 0:
                return m[1] - 1
        m = self.tokens[i].map
        return m[1] - 1 if m else 0

    def block(self, i: int, close: int, *, depth: int, in_quote: bool) -> list[str] | None:
        token = self.tokens[i]
        kind = token.type
        if kind == "paragraph_open":
            return _inline(self.tokens[i + 1].children or [], self.resolve, label_lines=in_quote).split("\n")
        if kind == "heading_open":
            return [f"*{escape(_plain(self.tokens[i + 1].children or []))}*"]
        if kind in ("fence", "code_block", "hugo_code", "colon_fence"):
            code = token.content.strip("\n").replace("```", "ʼʼʼ")
            return ["```", *escape(code).split("\n"), "```"] if code else [""]
        if kind == "blockquote_open":
            inner = self.blocks(i + 1, close, depth=0, in_quote=True)
            return [f"> {line}" if line else ">" for line in inner] or [">"]
        if kind in ("bullet_list_open", "ordered_list_open"):
            return self.list_lines(i, close, depth=depth, in_quote=in_quote)
        if kind == "table_open":
            return self.table(i, close)
        if kind == "html_block":
            return [escape(line.strip()) for line in token.content.strip("\n").split("\n")]
        return None  # hr, definitions, targets

    def list_lines(self, i: int, close: int, *, depth: int, in_quote: bool) -> list[str]:
        ordered = self.tokens[i].type == "ordered_list_open"
        lines: list[str] = []
        previous_last: int | None = None
        j = i + 1
        while j < close:
            item = self.tokens[j]
            item_close = self.close_of(j)
            if item.map and previous_last is not None and item.map[0] > previous_last + 1:
                lines.append("")
            lines.extend(self.item(j, item_close, ordered=ordered, depth=depth, in_quote=in_quote))
            previous_last = self.last_line(j, item_close)
            j = item_close + 1
        return lines

    def item(self, i: int, close: int, *, ordered: bool, depth: int, in_quote: bool) -> list[str]:
        indent = "    " * min(depth, 3)
        item = self.tokens[i]
        body = self.blocks(i + 1, close, depth=depth + 1, in_quote=in_quote)
        first = body[0] if body else ""
        if ordered:
            mark = f"{item.info or '1'}."
        else:
            mark = "•" if depth == 0 else "◦"
            if first.startswith(("[ ] ", "[x] ")):
                mark, first = ("☐" if first[1] == " " else "☑"), first[4:]
        nested = self.tokens[i + 1].type in ("bullet_list_open", "ordered_list_open") if i + 1 < close else False
        if nested:
            return [f"{indent}{mark}", *body]
        return [f"{indent}{mark} {first}", *body[1:]]

    def table(self, i: int, close: int) -> list[str]:
        header: list[str] = []
        rows: list[list[str]] = []
        section = ""
        for j in range(i, close):
            t = self.tokens[j]
            if t.type in ("thead_open", "tbody_open"):
                section = t.type
            elif t.type == "tr_open":
                if section == "tbody_open":
                    rows.append([])
            elif t.type == "inline":
                if section == "thead_open":
                    header.append(escape(_plain(t.children or []).strip()))
                else:
                    rows[-1].append(_inline(t.children or [], self.resolve).strip())
        out = []
        if any(header):
            out.append("_" + " — ".join(c for c in header if c) + "_")
        for row in rows:
            cells = [c for c in row if c]
            if cells:
                out.append("• " + " — ".join(cells))
        return out


def to_mrkdwn(markdown: str, resolve: LinkResolver | None = None) -> str:
    """Convert cleaned markdown to Slack mrkdwn."""
    resolve = resolve or _absolute_only
    if resolve is _absolute_only or isinstance(resolve, RelativeResolver):
        return _cached(markdown, resolve)
    return _convert(markdown, resolve)


@lru_cache(maxsize=4096)
def _cached(markdown: str, resolve: LinkResolver) -> str:
    return _convert(markdown, resolve)


def _convert(markdown: str, resolve: LinkResolver) -> str:
    tokens = parse(markdown.replace("\r\n", "\n"))
    text = "\n".join(_Renderer(tokens, resolve).blocks(0, len(tokens)))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


# --------------------------------------------------------------------------------------
# trimming

@dataclass(frozen=True)
class _Piece:
    text: str
    item: bool
    open_end: bool = False      # ends where the text it was read from ends (may go on after it)


_CODE = ("fence", "code_block", "hugo_code", "colon_fence")


_Unit = tuple[int, int, str]     # (first line, last line, kind)


def _units(r: _Renderer, start: int, end: int, *, in_item: bool) -> list[_Unit]:
    """The blocks in ``tokens[start:end]``; a list item is one unit up to the end of its first
    block, and its later blocks are units of their own."""
    units: list[_Unit] = []
    i = start
    while i < end:
        t = r.tokens[i]
        close = r.close_of(i)
        if t.type in ("bullet_list_open", "ordered_list_open"):
            j = i + 1
            while j < close:
                item_close = r.close_of(j)
                first_line = (r.tokens[j].map or [0, 0])[0]
                kind = "subitem" if in_item else "item"
                if j + 1 < item_close:
                    child_close = r.close_of(j + 1)
                    units.append((first_line, r.last_line(j + 1, child_close), kind))
                    units.extend(_units(r, child_close + 1, item_close, in_item=True))
                else:
                    units.append((first_line, first_line, kind))
                j = item_close + 1
        elif t.map:
            units.append((t.map[0], r.last_line(i, close), "code" if t.type in _CODE else "text"))
        i = close + 1
    return units


def _pieces(markdown: str) -> list[_Piece]:
    """Pieces that can be cut between: paragraphs (with what follows them without a blank
    line), list items (up to a blank line), code blocks."""
    lines = markdown.split("\n")
    tokens = parse(markdown)
    units = _units(_Renderer(tokens, _absolute_only), 0, len(tokens), in_item=False)
    last = max((i for i, line in enumerate(lines) if line.strip()), default=0)
    pieces: list[_Piece] = []
    group: list[_Unit] = []

    def flush() -> None:
        if group:
            text = "\n".join(lines[group[0][0]: group[-1][1] + 1])
            if text.strip():
                pieces.append(_Piece(text, group[0][2] in ("item", "subitem"), group[-1][1] >= last))
            group.clear()

    for unit in units:
        first, _, kind = unit
        if kind in ("item", "code") or (group and (group[-1][2] == "code" or first > group[-1][1] + 1)):
            flush()
        group.append(unit)
        if kind == "code":
            flush()
    flush()
    return pieces


def _head(markdown: str, size: int) -> str:
    """The text to the end of the line at ``size`` characters. The lines after it can change
    only the block they run on from (a paragraph, a list item, a code block going on), never
    the blocks before it."""
    at = markdown.find("\n", size)
    return markdown if at < 0 else markdown[:at]


def trim(markdown: str, limit: int) -> tuple[str, bool]:
    """At most about ``limit`` characters of markdown, cut between blocks; True if cut."""
    if len(markdown) <= limit:
        return markdown, False
    return _trim(markdown, limit)


@lru_cache(maxsize=4096)
def _trim(markdown: str, limit: int) -> tuple[str, bool]:
    head = _head(markdown, limit + 128)
    kept = _take(_pieces(head), limit, partial=len(head) < len(markdown))
    if kept is None:  # the head ended before the limit did, or inside a block it needs: read it all
        kept = _take(_pieces(markdown), limit, partial=False)
    assert kept is not None
    text = ""
    for index, piece in enumerate(kept):
        if index:
            text += "\n" if piece.item and kept[index - 1].item else "\n\n"
        text += piece.text
    return text, True


def _take(pieces: list[_Piece], limit: int, *, partial: bool) -> list[_Piece] | None:
    kept: list[_Piece] = []
    size = 0
    for piece in pieces:
        # a piece cut short by the end of the head is only the start of the real one: enough
        # to know the real one does not fit, not to keep it or cut it
        if partial and piece.open_end and (size + len(piece.text) <= limit or (not kept and len(piece.text) < limit)):
            return None
        if size + len(piece.text) > limit:
            if not kept:
                cut = piece.text[:limit]
                stop = max(cut.rfind(". "), cut.rfind("\n"))
                kept.append(_Piece((cut[: stop + 1] if stop > limit // 3 else cut.rsplit(" ", 1)[0]) + " …", piece.item))
            return kept
        kept.append(piece)
        size += len(piece.text) + 2
    return None if partial else kept


def split_for_blocks(text: str, limit: int = 2900) -> list[str]:
    """Split mrkdwn into chunks that each fit one section block, between lines."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            chunks.append(current) if current else None
            current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) + 1 > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return [c for c in chunks if c.strip()] or [""]

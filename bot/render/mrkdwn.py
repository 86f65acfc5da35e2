"""Markdown (as the knowledge package cleans it) -> Slack mrkdwn, and trimming it to size.

Slack's mrkdwn is not markdown: bold is ``*x*``, italic ``_x_``, links ``<url|text>``, no
headings, tables or images, and ``&``, ``<``, ``>`` must be escaped. The conversion:

* headings -> bold lines; ``**bold**`` -> ``*bold*``; ``*italic*`` / ``_italic_`` -> ``_italic_``;
  ``~~strike~~`` -> ``~strike~``; inline code and fenced code blocks kept (language dropped);
* ``[text](url)`` -> ``<url|text>``; relative links to other manuals -> the published page when
  a ``base_url`` is set, else just their text; images -> a link labelled "image: alt";
* bullet lists -> "•" (nested: "◦"), task lists -> ☐ / ☑, numbered lists kept;
* tables -> one line per row, cells joined with " — " (the header row in italics);
* quotes (admonitions arrive as quotes) kept as Slack quotes.

Pure functions, no I/O.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(?:\[([ xX])\]\s+)?(.*)$")
_NUMBERED = re.compile(r"^(\s*)(\d+)[.)]\s+(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_QUOTE = re.compile(r"^\s*>\s?(.*)$")
_HR = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")

LinkResolver = Callable[[str], "str | None"]


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def relative_resolver(base_url: str | None, page_file: str, page_url: Callable[[str, str, str], str]) -> LinkResolver:
    """Resolve links found in ``page_file`` (a manual's relative path) to absolute URLs."""

    def resolve(target: str) -> str | None:
        if re.match(r"^(https?|mailto):", target):
            return target
        if not base_url or target.startswith(("/", "{")):
            return None
        path, _, anchor = target.partition("#")
        if not path:
            return page_url(base_url, page_file, anchor)
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(page_file), path))
        if joined.startswith(".."):
            return None
        if joined.endswith((".md", ".markdown")):
            return page_url(base_url, joined, anchor)
        return base_url.rstrip("/") + "/" + joined + (f"#{anchor}" if anchor else "")

    return resolve


def _inline(text: str, resolve: LinkResolver) -> str:
    placeholders: list[str] = []

    def keep(value: str) -> str:
        placeholders.append(value)
        return f"\x00{len(placeholders) - 1}\x00"

    # code spans first: nothing inside them is markup
    text = _CODE_SPAN.sub(lambda m: keep(f"`{escape(m.group(2).replace('`', 'ʼ'))}`"), text)

    def image(m: re.Match[str]) -> str:
        alt = m.group(1).strip() or "image"
        url = resolve(m.group(2))
        return keep(f"<{url}|image: {escape(alt)}>") if url else keep(f"[image: {escape(alt)}]")

    def link(m: re.Match[str]) -> str:
        label = _inline_plain(m.group(1))
        url = resolve(m.group(2))
        return keep(f"<{url}|{escape(label)}>") if url else escape(label)

    text = _IMAGE.sub(image, text)
    text = _LINK.sub(link, text)
    text = _AUTOLINK.sub(lambda m: keep(f"<{m.group(1)}>"), text)
    text = escape(text)
    text = re.sub(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", lambda m: keep(f"*{m.group(2)}*"), text)
    text = re.sub(r"(?<![\w*\\])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", r"_\1_", text)
    text = re.sub(r"(?<![\w\\])_(?=\S)(.+?)(?<=\S)_(?!\w)", r"_\1_", text)
    text = re.sub(r"~~(?=\S)(.+?)(?<=\S)~~", r"~\1~", text)
    text = text.replace("\\*", "*").replace("\\_", "_")
    for _ in range(3):  # placeholders may nest (a bold label holding code)
        text = re.sub(r"\x00(\d+)\x00", lambda m: placeholders[int(m.group(1))], text)
    return text


def inline(text: str) -> str:
    """One line of markdown (a quiz question, an option) -> mrkdwn; only absolute links kept."""
    return _inline(text, _absolute_only)


def _absolute_only(target: str) -> str | None:
    return target if re.match(r"^(https?|mailto):", target) else None


def _inline_plain(text: str) -> str:
    text = _CODE_SPAN.sub(lambda m: m.group(2), text)
    return re.sub(r"(\*\*|__|\*|_)(.+?)\1", r"\2", text)


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)]


def _starts_block(text: str) -> bool:
    return bool(not text.strip() or _HEADING.match(text) or _BULLET.match(text) or _NUMBERED.match(text)
                or text.strip().startswith("|") or _FENCE.match(text) or _HR.match(text))


def _unwrap(lines: list[str]) -> list[str]:
    """Join hard-wrapped paragraph lines (markdown soft breaks), which Slack would show as breaks."""
    out: list[str] = []
    in_code = False
    for line in lines:
        if _FENCE.match(line):
            in_code = not in_code
            out.append(line)
            continue
        if in_code or not out or not out[-1].strip():
            out.append(line)
            continue
        prev = out[-1]
        prev_quote, quote = _QUOTE.match(prev), _QUOTE.match(line)
        if quote and prev_quote:
            inner, prev_inner = quote.group(1), prev_quote.group(1)
            if (inner.strip() and prev_inner.strip() and not _starts_block(inner)
                    and not re.fullmatch(r"\*\*.*\*\*", prev_inner.strip()) and not _FENCE.match(prev_inner)):
                out[-1] = prev.rstrip() + " " + inner.strip()
                continue
            out.append(line)
            continue
        if quote or prev_quote or _starts_block(line) or _HEADING.match(prev) or prev.strip().startswith("|") or _FENCE.match(prev):
            out.append(line)
            continue
        out[-1] = prev.rstrip() + " " + line.strip()
    return out


def to_mrkdwn(markdown: str, resolve: LinkResolver | None = None) -> str:
    """Convert cleaned markdown to Slack mrkdwn."""
    resolve = resolve or _absolute_only
    lines = _unwrap(markdown.replace("\r\n", "\n").split("\n"))
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            marks = fence.group(2)
            body = []
            i += 1
            while i < len(lines) and not (lines[i].strip().startswith(marks[0] * len(marks)) and set(lines[i].strip()) == {marks[0]}):
                body.append(lines[i][len(fence.group(1)):] if lines[i].startswith(fence.group(1)) else lines[i])
                i += 1
            i += 1
            code = "\n".join(body).strip("\n").replace("```", "ʼʼʼ")
            out.append("```\n" + escape(code) + "\n```" if code else "")
            continue
        if line.strip().startswith("|") and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]):
            header = _cells(line)
            i += 2
            if any(header):
                out.append("_" + " — ".join(_inline_plain(c) for c in header if c) + "_")
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = [c for c in _cells(lines[i]) if c]
                if cells:
                    out.append("• " + " — ".join(_inline(c, resolve) for c in cells))
                i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            out.append(f"*{_inline_plain(escape(heading.group(1)))}*")
            i += 1
            continue
        if _HR.match(line):
            i += 1
            continue
        quote = _QUOTE.match(line)
        if quote:
            inner = quote.group(1)
            converted = to_mrkdwn(inner, resolve) if inner.strip() else ""
            out.append("> " + converted if converted else ">")
            i += 1
            continue
        bullet = _BULLET.match(line)
        if bullet:
            depth = len(bullet.group(1).expandtabs(4)) // 2
            mark = {None: "•" if depth == 0 else "◦", " ": "☐", "x": "☑", "X": "☑"}[bullet.group(2)]
            out.append("    " * min(depth, 3) + f"{mark} {_inline(bullet.group(3), resolve)}")
            i += 1
            continue
        numbered = _NUMBERED.match(line)
        if numbered:
            depth = len(numbered.group(1).expandtabs(4)) // 3
            out.append("    " * min(depth, 3) + f"{numbered.group(2)}. {_inline(numbered.group(3), resolve)}")
            i += 1
            continue
        indent = len(line) - len(line.lstrip(" "))
        converted = _inline(line.strip(), resolve)
        out.append(("    " if indent >= 2 and out and out[-1].strip() else "") + converted)
        i += 1
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


# --------------------------------------------------------------------------------------
# trimming

def blocks_of(markdown: str) -> list[str]:
    """Split markdown into pieces that can be cut between: paragraphs, list items, code blocks."""
    pieces: list[str] = []
    current: list[str] = []
    lines = markdown.split("\n")
    i = 0

    def flush() -> None:
        if current:
            pieces.append("\n".join(current))
            current.clear()

    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            marks = fence.group(2)
            block = [line]
            i += 1
            while i < len(lines):
                block.append(lines[i])
                if lines[i].strip().startswith(marks[0] * len(marks)) and set(lines[i].strip()) == {marks[0]}:
                    break
                i += 1
            pieces.append("\n".join(block))
            i += 1
            continue
        if not line.strip():
            flush()
        elif (_BULLET.match(line) or _NUMBERED.match(line)) and not line.startswith((" ", "\t")):
            flush()
            current.append(line)
        else:
            current.append(line)
        i += 1
    flush()
    return [p for p in pieces if p.strip()]


def trim(markdown: str, limit: int) -> tuple[str, bool]:
    """At most about ``limit`` characters of markdown, cut between blocks; True if cut."""
    if len(markdown) <= limit:
        return markdown, False
    kept: list[str] = []
    size = 0
    for piece in blocks_of(markdown):
        if size + len(piece) > limit:
            if not kept:
                cut = piece[:limit]
                stop = max(cut.rfind(". "), cut.rfind("\n"))
                kept.append((cut[: stop + 1] if stop > limit // 3 else cut.rsplit(" ", 1)[0]) + " …")
            break
        kept.append(piece)
        size += len(piece) + 2
    text = ""
    for piece in kept:
        is_item = bool(_BULLET.match(piece) or _NUMBERED.match(piece))
        text += ("\n" if is_item and text and (_BULLET.match(text.split("\n\n")[-1]) or _NUMBERED.match(text.split("\n\n")[-1])) else ("\n\n" if text else "")) + piece
    return text, True


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

"""The one markdown parser (markdown-it-py), and what every feature needs from it.

Manuals (``knowledge.manuals``), training modules (``training.content``), the HTML site
(``knowledge.site``), Slack mrkdwn (``bot.render.mrkdwn``) and ``kb check`` all read markdown
through :func:`parse`: CommonMark with GitHub's tables, strikethrough and task lists, raw HTML
recognised (never trusted), and the block syntax of the documentation sites the manuals come
from, so that nothing inside it is taken for a heading or a link:

* ``:::`` fences (MyST directives, Docusaurus admonitions), from mdit-py-plugins;
* Hugo code shortcodes (``{{< highlight >}}`` ... ``{{< /highlight >}}``) as code blocks;
* MyST targets (``(label)=``) as ``myst_target`` tokens, naming the heading that follows;
* an explicit id at the end of a heading (``## Tools {#tools}``, ``{: #tools .wide}``), which
  becomes the heading's ``id``.

Link destinations are kept as written (``[x](Schéma.md)`` stays ``Schéma.md``): the lint
reports them, Slack resolves them; the HTML renderer percent-encodes them on output.

Also here, because every consumer must agree on them: front matter (finding the block; each
feature reads its own keys), :func:`slugify` and :class:`Slugger` (GitHub's anchors: the HTML
site emits them and answer links point at them), :func:`outline` (headings, MyST targets and
link targets of a document, with line numbers) and :func:`inline_text` (inline markdown as a
reader sees it).

The search text (:func:`search_text`) is deliberately not taken from the token tree: it is
defined on the source, character for character, because the search index and its benchmarks
are calibrated on it (a token walk would, for instance, decode ``&amp;``, drop ``\\`` from
``\\*`` and read ``2*3*4`` as emphasis).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

__all__ = [
    "FrontMatter", "HTMLRenderer", "Heading", "Link", "Outline", "Slugger", "front_matter", "inline_text", "outline",
    "parse", "parse_inline", "parser", "search_text", "slugify", "split_heading_id",
]


# --------------------------------------------------------------------------------------
# front matter

@dataclass(frozen=True)
class FrontMatter:
    """The block between ``---`` (YAML) or ``+++`` (TOML) lines at the top of a document."""

    marker: str              # "---" or "+++"
    source: str              # the text between the markers
    closed: bool             # False: the block is never closed (``body`` is then empty)
    body: str                # the document after the block
    body_start: int          # 1-based line of the body's first line


def front_matter(text: str) -> FrontMatter | None:
    """The front matter block of ``text`` (a byte-order mark is skipped), or None."""
    if text.startswith("\ufeff"):
        text = text[1:]
    first, _, rest = text.partition("\n")
    marker = first.strip()
    if marker not in ("---", "+++"):
        return None
    lines = rest.split("\n")
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped == marker or (marker == "---" and stripped == "..."):
            return FrontMatter(marker, "\n".join(lines[:i]), True, "\n".join(lines[i + 1:]), i + 3)
    return FrontMatter(marker, rest, False, "", len(lines) + 2)


# --------------------------------------------------------------------------------------
# headings: explicit ids and slugs

_EXPLICIT_ID = re.compile(r"\s*\{\s*:?\s*#([A-Za-z0-9_][\w:.-]*)(?:\s+[^}]*)?\}\s*$")
_TRAILING_ATTRS = re.compile(r"\s*\{\s*:?\s*(?:[.#][\w-]+\s*|[\w-]+=(?:\"[^\"]*\"|'[^']*'|[^\s}]+)\s*)+\}\s*$")


def split_heading_id(text: str) -> tuple[str, str | None]:
    """``"Toolbars {#toolbars}"`` -> ``("Toolbars", "toolbars")``; also ``{: #id .cls}``;
    other trailing attributes (``{ .wide }``) are dropped."""
    match = _EXPLICIT_ID.search(text)
    if match:
        return text[: match.start()].rstrip(), match.group(1)
    match = _TRAILING_ATTRS.search(text)
    if match:
        return text[: match.start()].rstrip(), None
    return text, None


_SLUG_DROP = re.compile(r"[^\w\- ]", re.UNICODE)


def slugify(text: str) -> str:
    """GitHub's anchor for a heading's text (as a reader sees it, see :func:`inline_text`):
    lower case, punctuation removed, each space a hyphen.

    ``"Window / Level Adjustment"`` -> ``"window--level-adjustment"`` (GitHub does not collapse
    the hyphens), ``"Stop and don't re-send"`` -> ``"stop-and-dont-re-send"``.
    """
    return _SLUG_DROP.sub("", text.strip().lower()).replace(" ", "-")


class Slugger:
    """Unique anchors within one page, the way GitHub numbers repeats: ``x``, ``x-1``, ``x-2``."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def claim(self, explicit: str) -> str:
        self.used.add(explicit)
        return explicit

    def slug(self, text: str) -> str:
        base = slugify(text) or "section"
        candidate, n = base, 0
        while candidate in self.used:
            n += 1
            candidate = f"{base}-{n}"
        self.used.add(candidate)
        return candidate


# --------------------------------------------------------------------------------------
# the parser

_HUGO_CODE_OPEN = re.compile(r"\{\{[<%]\s*(highlight|code|launch)\b([^}]*)[%>]\}\}")
_HUGO_CODE_CLOSE = re.compile(r"\{\{[<%]\s*/\s*(highlight|code|launch)\s*[%>]\}\}")
_MYST_TARGET = re.compile(r"^\s*\(([\w.:-]+)\)=\s*$")


def _line(state: StateBlock, line: int) -> str:
    return state.src[state.bMarks[line] + state.tShift[line]: state.eMarks[line]]


def _hugo_code(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """``{{< highlight lang >}}`` ... ``{{< /highlight >}}`` (also ``code``, ``launch``): code.

    The opening shortcode may end a line of text (``Try it {{< launch >}}``); the text before
    it goes with the block, which is only ever read for its outline."""
    if state.is_code_block(start):
        return False
    text = _line(state, start)
    opened = _HUGO_CODE_OPEN.search(text)
    if opened is None or _HUGO_CODE_CLOSE.search(text, opened.end()):
        return False
    if silent:
        return True
    line = start + 1
    while line < end and not _HUGO_CODE_CLOSE.search(_line(state, line)):
        line += 1
    token = state.push("hugo_code", "code", 0)
    token.info = opened.group(2).strip()
    token.content = state.getLines(start + 1, line, state.sCount[start], True)
    token.markup = opened.group(0)
    token.map = [start, min(line + 1, end)]
    state.line = min(line + 1, end)
    return True


def _myst_target(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    if state.is_code_block(start):
        return False
    match = _MYST_TARGET.match(_line(state, start))
    if match is None:
        return False
    if silent:
        return True
    token = state.push("myst_target", "", 0)
    token.content = match.group(1)
    token.map = [start, start + 1]
    state.line = start + 1
    return True


def _heading_ids(state: StateCore) -> None:
    """A trailing ``{#id}`` on a heading becomes its ``id`` attribute (and leaves its text)."""
    tokens = state.tokens
    for i, token in enumerate(tokens):
        if token.type != "heading_open" or i + 1 >= len(tokens):
            continue
        inline = tokens[i + 1]
        children = inline.children or []
        if not children or children[-1].type != "text" or "{" not in children[-1].content:
            continue
        last = children[-1]
        rest, explicit = split_heading_id(last.content)
        if rest == last.content:
            continue
        last.content = rest
        inline.content = split_heading_id(inline.content)[0]
        if explicit:
            token.attrSet("id", explicit)


class HTMLRenderer(RendererHTML):
    """HTML for the tokens this parser adds: code shortcodes and ``:::`` blocks as code (they
    only reach HTML when a text was not cleaned first), targets and definitions as nothing."""

    def hugo_code(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return f"<pre><code>{escapeHtml(tokens[idx].content)}</code></pre>\n"

    colon_fence = hugo_code

    def myst_target(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return ""

    definition = myst_target


class _Markdown(MarkdownIt):
    """Link destinations as written: consumers resolve or encode them themselves."""

    def normalizeLink(self, url: str) -> str:
        return url

    def normalizeLinkText(self, link: str) -> str:
        return link


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    """The configured parser (one per process; markdown-it parsers are reentrant)."""
    md = _Markdown("commonmark", {"html": True, "xhtmlOut": False, "inline_definitions": True}, renderer_cls=HTMLRenderer)
    md.enable(["table", "strikethrough"])
    md.use(colon_fence_plugin)
    md.use(tasklists_plugin)
    md.block.ruler.before("fence", "hugo_code", _hugo_code, {"alt": ["paragraph", "reference", "blockquote", "list"]})
    md.block.ruler.before("hr", "myst_target", _myst_target, {"alt": ["paragraph", "reference", "blockquote", "list"]})
    md.core.ruler.after("inline", "heading_ids", _heading_ids)
    return md


def parse(text: str) -> list[Token]:
    """Block tokens of ``text`` (inline tokens are each ``inline`` token's children)."""
    return parser().parse(text)


def parse_inline(text: str) -> list[Token]:
    """Inline tokens of one line or paragraph."""
    tokens = parser().parseInline(text)
    return (tokens[0].children or []) if tokens else []


# --------------------------------------------------------------------------------------
# inline markdown -> the words a reader sees

def _plain(children: Iterable[Token], out: list[str]) -> None:
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline", "text_special"):
            out.append(child.content)
        elif kind == "image":
            _plain(child.children or [], out)
        elif kind in ("softbreak", "hardbreak"):
            out.append(" ")
        elif kind == "html_inline":
            out.append(child.content)


def inline_text(text: str) -> str:
    """``"See [the **forms**](x.md) `now`"`` -> ``"See the forms now"``: markup, links and
    images (their alt text stays) removed, spaces collapsed."""
    if not any(c in text for c in "*_`[!<&\\~"):
        return " ".join(text.split())
    out: list[str] = []
    _plain(parse_inline(text), out)
    return " ".join("".join(out).split())


# --------------------------------------------------------------------------------------
# a document's outline: headings, MyST targets, links

@dataclass(frozen=True)
class Heading:
    line: int                    # 1-based line of the heading's first line
    level: int                   # 1-6
    raw: str                     # its text with markup (setext: the text line(s), stripped)
    end: int                     # 0-based index of the first line after it
    explicit_id: str | None      # a trailing {#id}
    aliases: tuple[str, ...] = ()    # MyST (label)= targets just above it


@dataclass(frozen=True)
class Link:
    line: int                    # 1-based
    target: str                  # as written
    image: bool


@dataclass(frozen=True)
class Outline:
    headings: tuple[Heading, ...]
    links: tuple[Link, ...]


_HTML_REF = re.compile(r"<(img|a)\b[^>]*?\b(src|href)\s*=\s*[\"']([^\"']+)[\"']", re.I)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _inline_links(inline: Token, out: list[Link]) -> None:
    line = (inline.map[0] if inline.map else 0) + 1
    for child in inline.children or []:
        kind = child.type
        if kind in ("softbreak", "hardbreak"):
            line += 1
        elif kind == "link_open":
            if child.markup != "autolink" and child.attrGet("href"):
                out.append(Link(line, str(child.attrGet("href")), False))
        elif kind == "image" and child.attrGet("src"):
            out.append(Link(line, str(child.attrGet("src")), True))
        elif kind == "html_inline":
            out.extend(_html_links(child.content, line))
            line += child.content.count("\n")


def _html_links(html: str, line: int) -> list[Link]:
    html = _HTML_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), html)
    return [Link(line + html.count("\n", 0, m.start()), m.group(3), m.group(1).lower() == "img")
            for m in _HTML_REF.finditer(html)]


def outline(text: str) -> Outline:
    """The headings that divide ``text`` into sections (ATX and setext, outside quotes and
    lists), with the MyST targets above each; and the target of every link, image, reference
    definition and HTML ``<a href>`` / ``<img src>`` outside code and headings, with its line."""
    tokens = parse(text)
    headings: list[Heading] = []
    links: list[Link] = []
    aliases: list[str] = []
    in_heading = False
    for token in tokens:
        kind = token.type
        if kind == "heading_open":
            in_heading = True
            if token.level == 0 and token.map:
                headings.append(Heading(token.map[0] + 1, int(token.tag[1]), "", token.map[1],
                                        _str(token.attrGet("id")), tuple(aliases)))
                aliases = []
        elif kind == "heading_close":
            in_heading = False
        elif kind == "inline":
            if in_heading:
                if headings and headings[-1].line == (token.map[0] + 1 if token.map else 0):
                    h = headings[-1]
                    headings[-1] = Heading(h.line, h.level, token.content, h.end, h.explicit_id, h.aliases)
            else:
                _inline_links(token, links)
        elif kind == "myst_target" and token.level == 0:
            aliases.append(token.content)
        elif kind == "definition" and token.map and (token.meta or {}).get("url"):
            links.append(Link(token.map[0] + 1, str(token.meta["url"]), False))
        elif kind == "html_block" and token.map:
            links.extend(_html_links(token.content, token.map[0] + 1))
    return Outline(tuple(headings), tuple(links))


def _str(value: object) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------------------
# markdown -> the words fed to the search index

_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?")


def search_text(markdown: str) -> str:
    """The words of (cleaned) markdown for the search index and previews: no markup, links as
    their text. Defined on the source and frozen: see the module's docstring."""
    text = _IMAGE.sub(lambda m: m.group(1), markdown)
    text = _LINK.sub(lambda m: m.group(1), text)
    lines = []
    for line in text.split("\n"):
        if re.match(r"^\s*(`{3,}|~{3,})", line):
            continue
        if re.match(r"^\s*\|?\s*:?-{3,}", line):
            continue
        line = _LIST_MARK.sub("", line)
        line = re.sub(r"^\s*>\s?", "", line)
        line = line.replace("|", " ").replace("**", "").replace("__", "").replace("`", "")
        line = re.sub(r"(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)", "", line)
        lines.append(line.strip())
    return " ".join(" ".join(lines).split())

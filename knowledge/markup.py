"""Markdown as real documentation sites write it -> plain GitHub-flavoured markdown.

Manuals come from GitHub, MkDocs (Material), Hugo, Sphinx/MyST and Docusaurus sites. Each adds
its own syntax on top of markdown. :func:`clean` turns a section's body into plain markdown
that the Slack renderer and the HTML site can show (both read it with :mod:`core.markdown`),
and from which the search index takes its words (:func:`core.markdown.search_text`). It works
on the text, before any markdown parser: these dialects are not markdown, and the search text
must not change. What carries meaning is kept in markdown form; decoration is dropped;
nothing is left raw:

* admonitions — MkDocs ``!!! note "Title"`` / ``??? tip``, MyST ``:::{warning}`` and
  ```` ```{note} ````, Docusaurus ``:::tip Title``, Hugo ``{{% notice info %}}``, GitHub
  ``> [!NOTE]`` — become a quote that starts with a bold label (``> **Warning: Title**``);
* code — MyST ``code-block``, Hugo ``{{< highlight lang >}}`` — becomes a fenced code block;
* MyST roles (``{kbd}`Ctrl+C```, ``{ref}`text <target>```, ``{guilabel}``...), targets
  ``(label)=`` and comments; option lines of directives; ``list-table`` becomes a table;
* Hugo shortcodes: tabs become bold labels, ``youtube`` / ``figure`` become links, callout
  badges and icons are dropped, unknown ones keep their inner text;
* HTML and JSX blocks: comments dropped, ``<img>`` / ``<a>`` / ``<iframe>`` become markdown
  images and links, ``<kbd>``, ``<b>``, ``<code>`` become markdown, other tags are stripped
  (their text is kept); MDX ``import`` / ``export`` lines are dropped;
* MkDocs extras: content tabs (``=== "Tab"``), attribute lists (``{ .class }``), snippet
  includes, abbreviations, icon shortcodes.

:func:`heading_text` is a heading's words for the index, the breadcrumb and the anchor
(:func:`core.markdown.slugify`, re-exported here with :class:`Slugger` and
:func:`split_heading_id` for older callers).

Pure functions, no I/O.
"""

from __future__ import annotations

import html
import re
import textwrap

from pacsbot.core.markdown import Slugger as Slugger
from pacsbot.core.markdown import inline_text
from pacsbot.core.markdown import slugify as slugify
from pacsbot.core.markdown import split_heading_id as split_heading_id

# --------------------------------------------------------------------------------------
# headings

def heading_text(raw: str) -> str:
    """The words of a heading as a reader sees them: markup, shortcodes and HTML removed."""
    text, _ = split_heading_id(raw.strip())
    return inline_text(inline(_drop_badges(text)))


# --------------------------------------------------------------------------------------
# inline markup

# MyST / Sphinx roles: {name}`content`
_ROLE = re.compile(r"\{([a-zA-Z][\w:-]*)\}`([^`]*)`")
_ROLE_TITLE_TARGET = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.S)

# Hugo shortcodes: {{< name args >}} and {{% name args %}}
_SC_PAIRED = re.compile(
    r"\{\{([<%])\s*([\w-]+)([^}]*?)\s*[%>]\}\}(.*?)\{\{[<%]\s*/\s*\2\s*[%>]\}\}", re.S
)
_SC_SINGLE = re.compile(r"\{\{[<%]\s*(/?)\s*([\w-]+)((?:[^}]|\}(?!\}))*?)\s*/?\s*[%>]\}\}")
_SC_ARG = re.compile(r"(?:([\w-]+)\s*=\s*)?(?:\"([^\"]*)\"|'([^']*)'|([^\s\"']+))")

_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
# An HTML or JSX tag; attribute values may be quoted or JSX expressions like {{a: "b"}}.
_TAG = re.compile(r"<(/?)([A-Za-z][\w.:-]*)((?:[^<>\"'{]|\"[^\"]*\"|'[^']*'|\{[^}]*\}+)*?)(/?)>")
_ATTR = re.compile(r"([\w:-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|\{\s*[\"']([^\"']*)[\"']\s*\})")
_ICON = re.compile(r":(?:material|octicons|fontawesome|simple|fa)-[\w-]+:")
# Jekyll / Liquid: {% include x.html %}, {{ site.baseurl }} (Hugo's {{< >}} and {{% %}} are not these)
_LIQUID_TAG = re.compile(r"\{%-?\s*(?:raw|endraw|comment|endcomment|include|include_relative|if|endif|else|elsif|for|endfor|assign|capture|endcapture|unless|endunless|highlight|endhighlight|link|post_url|seo|tab|endtab|tabs|endtabs)\b[^%]*?-?%\}")
_LIQUID_VAR = re.compile(r"\{\{-?\s*(?![<%])[^{}]*?-?\}\}")
_WIKI_LINK = re.compile(r"\[\[([^\]|]+)(?:\|([^\]]+))?\]\]")
_INLINE_ATTRS = re.compile(r"\{\s*:?\s*(?:[.#][\w-]+\s*|[\w-]+=(?:\"[^\"]*\"|'[^']*'|[^\s}]+)\s*)+\}")
_ENTITY = re.compile(r"&(?!lt;|gt;|amp;)(#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);")

ADMONITION_TYPES = {
    "note", "tip", "hint", "important", "warning", "caution", "danger", "attention", "error",
    "info", "success", "question", "failure", "bug", "example", "quote", "abstract", "summary",
    "tldr", "todo", "seealso", "see-also", "check", "done", "help", "faq", "fail", "missing",
    "cite", "admonition", "versionadded", "versionchanged", "deprecated", "version-added",
    "version-changed", "version-removed", "version-deprecated", "alert", "callout", "notice",
    "dropdown",
}
_ADMONITION_LABEL = {
    "seealso": "See also", "see-also": "See also", "versionadded": "New in version",
    "version-added": "New in version", "versionchanged": "Changed in version",
    "version-changed": "Changed in version", "deprecated": "Deprecated since version",
    "version-deprecated": "Deprecated since version", "version-removed": "Removed in version",
    "tldr": "Summary", "faq": "FAQ",
}
_CODE_DIRECTIVES = {"code-block", "code", "sourcecode", "code-cell", "literalinclude-code", "math", "csv-table", "parsed-literal"}
_DROP_DIRECTIVES = {
    "toctree", "contents", "include", "literalinclude", "raw", "eval-rst", "autosummary",
    "automodule", "autoclass", "autofunction", "index", "highlight", "rubric-hidden", "mermaid",
    "graphviz", "plot", "tableofcontents", "only-html-hidden",
}
_TITLE_DIRECTIVES = {"tab-item", "tab", "card", "grid-item-card", "topic", "sidebar", "rubric", "details", "summary", "tabs-item"}
_CODE_SHORTCODES = {"highlight", "code", "launch", "terminal", "command"}
_TAB_SHORTCODES = {"tab", "tabitem", "tab-item"}
_DROPPED_SHORTCODES = {"svg-inline", "svg", "icon", "fa", "fontawesome", "badge", "button-icon", "render-preferences", "latest-download", "toc", "gist", "tweet", "instagram", "param", "include", "readfile"}


def _drop_badges(text: str) -> str:
    """Hugo callout badges ({{% badge %}}A{{% /badge %}}) label screenshots; drop them whole."""
    return re.sub(r"\{\{[<%]\s*badge\b[^}]*[%>]\}\}.*?\{\{[<%]\s*/\s*badge\s*[%>]\}\}", "", text, flags=re.S)


def _shortcode_args(raw: str) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    named: dict[str, str] = {}
    for m in _SC_ARG.finditer(raw or ""):
        value = next((g for g in (m.group(2), m.group(3), m.group(4)) if g is not None), "")
        if m.group(1):
            named[m.group(1).lower()] = value
        elif value:
            positional.append(value)
    return positional, named


def _single_shortcode(m: re.Match[str]) -> str:
    closing, name, raw = m.group(1), m.group(2).lower(), m.group(3)
    if closing:
        return ""
    positional, named = _shortcode_args(raw)
    if name in ("youtube", "vimeo"):
        video = named.get("id") or (positional[0] if positional else "")
        if not video:
            return ""
        url = f"https://www.youtube.com/watch?v={video}" if name == "youtube" else f"https://vimeo.com/{video}"
        return f"[{named.get('title') or 'Video'}]({url})"
    if name == "figure":
        src = named.get("src") or (positional[0] if positional else "")
        alt = named.get("alt") or named.get("caption") or named.get("title") or ""
        return f"![{alt}]({src})" if src else ""
    if name in ("ref", "relref"):
        return positional[0] if positional else ""
    if name.startswith("badge"):
        return positional[0] if positional else named.get("title", "")
    if name in ("kbd", "key"):
        return f"`{positional[0]}`" if positional else ""
    return ""


def _paired_shortcode(m: re.Match[str]) -> str:
    name, raw, inner = m.group(2).lower(), m.group(3), m.group(4)
    positional, named = _shortcode_args(raw)
    if name in _CODE_SHORTCODES:
        lang = named.get("lang") or (positional[0] if positional and name != "launch" else "")
        code = textwrap.dedent(inner.strip("\n"))
        return f"\n```{lang}\n{code}\n```\n"
    if name in ADMONITION_TYPES or name in ("hint", "alert", "callout", "notice", "expand", "details", "spoiler"):
        kind = positional[0] if name in ("notice", "alert", "callout", "hint") and positional else name
        if kind in ("expand", "details", "spoiler"):
            kind = "note"
        title = named.get("title") or (positional[1] if len(positional) > 1 else "")
        if name in ("expand", "details", "spoiler") and positional:
            title = positional[0]
        return f"\n:::{{{kind.lower()}}} {title}\n{inner.strip(chr(10))}\n:::\n"
    if name in _TAB_SHORTCODES:
        title = named.get("title") or named.get("name") or (positional[0] if positional else "")
        return f"\n**{title}**\n\n{inner.strip(chr(10))}\n" if title else inner
    if name.startswith("badge") or name in _DROPPED_SHORTCODES:
        return ""
    return inner  # unknown: keep what it wraps (tabs, columns, details...)


def shortcodes(text: str) -> str:
    """Replace Hugo shortcodes (repeatedly, for nesting)."""
    for _ in range(5):
        replaced = _SC_PAIRED.sub(_paired_shortcode, text)
        if replaced == text:
            break
        text = replaced
    return _SC_SINGLE.sub(_single_shortcode, text)


def _role(m: re.Match[str]) -> str:
    name, content = m.group(1).lower().split(":")[-1], m.group(2)
    title_target = _ROLE_TITLE_TARGET.match(content)
    if name in ("kbd", "code", "literal", "command", "file", "samp", "envvar", "option", "program", "math", "regexp", "makevar"):
        return f"`{content}`"
    if name in ("guilabel", "menuselection", "strong"):
        label = content.replace("&", "").replace("-->", ">")
        return f"**{label}**"
    if name in ("emphasis", "dfn", "title-reference"):
        return f"*{content}*"
    if name == "abbr":
        return re.sub(r"\s*\(.*\)$", "", content)
    if name in ("ref", "doc", "numref", "term", "download", "any", "external", "eq", "py:class", "class", "func", "meth", "mod", "attr", "obj"):
        if title_target:
            return title_target.group(1).strip() or title_target.group(2)
        text = content.lstrip("~!").split("#")[-1] if name in ("ref", "numref") else content.lstrip("~!")
        if name == "doc":
            text = text.rsplit("/", 1)[-1].replace("_", " ").replace("-", " ")
        return text
    if title_target:
        return title_target.group(1).strip()
    return content


def _html_tag(m: re.Match[str]) -> str:
    closing, name, attrs = m.group(1), m.group(2).lower(), m.group(3) or ""
    values = {a.group(1).lower(): next((g for g in a.groups()[1:] if g is not None), "") for a in _ATTR.finditer(attrs)}
    if name == "br":
        return "\n"
    if name in ("img", "image"):
        src = values.get("src", "")
        return f"![{values.get('alt', '')}]({src})" if src and not closing else ""
    if name in ("iframe", "video", "embed", "source") and not closing:
        src = values.get("src", "")
        if not src or not src.startswith(("http://", "https://")):
            return ""
        label = values.get("title") or ("Video" if any(h in src for h in ("youtube", "vimeo", "video")) or name == "video" else "Embedded content")
        return f"\n[{label}]({src})\n"
    if name == "a":
        return "\x02" if closing else "\x00A" + values.get("href", "") + "\x01"
    if name in ("kbd", "code", "tt", "samp", "var"):
        return "`"
    if name in ("b", "strong"):
        return "**"
    if name in ("i", "em"):
        return "*"
    if name in ("li",) and not closing:
        return "\n- "
    if name in ("p", "div", "tr", "table", "ul", "ol", "section", "details", "summary", "h1", "h2", "h3", "h4", "h5", "h6", "center", "blockquote", "figure", "figcaption"):
        return "\n" if name not in ("summary",) else ("**" if not closing else "**\n")
    if name in ("td", "th"):
        return " " if not closing else " |"
    return ""


_A_LINK = re.compile(r"\x00A([^\x01]*)\x01(.*?)(?:\x02|$)", re.S)


def _html(text: str) -> str:
    text = _HTML_COMMENT.sub("", text)
    text = _TAG.sub(_html_tag, text)
    if "\x00A" in text:  # <a href="u">t</a> -> [t](u)
        def link(m: re.Match[str]) -> str:
            href, label = m.group(1), m.group(2).strip()
            return f"[{label or href}]({href})" if href else label
        text = _A_LINK.sub(link, text)
    return text.replace("\x02", "").replace("\xa0", " ")


def inline(text: str) -> str:
    """Inline clean-up of one line or paragraph (code spans are left alone)."""
    text = _ROLE.sub(_role, text)  # roles hold a code span of their own: before the split
    segments = re.split(r"(`[^`\n]+`)", text)
    cleaned = []
    for i, seg in enumerate(segments):
        if i % 2 == 1:
            cleaned.append(seg)
            continue
        seg = shortcodes(seg)
        seg = _LIQUID_TAG.sub("", seg)
        seg = _LIQUID_VAR.sub("", seg)
        seg = _WIKI_LINK.sub(lambda m: m.group(2) or m.group(1), seg)
        seg = _html(seg)
        seg = _ICON.sub("", seg)
        seg = _INLINE_ATTRS.sub("", seg)
        seg = _ENTITY.sub(lambda m: html.unescape(m.group(0)), seg)
        cleaned.append(seg)
    return "".join(cleaned)


# --------------------------------------------------------------------------------------
# blocks

_FENCE_OPEN = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(.*)$")
_COLON_OPEN = re.compile(r"^(\s*)(:{3,})\s*\{?([A-Za-z][\w:-]*)\}?(?:\[([^\]]*)\])?\s*(.*)$")
_COLON_CLOSE = re.compile(r"^\s*(:{3,})\s*$")
_MKDOCS_ADMONITION = re.compile(r"^(\s*)(!!!|\?\?\?\+?)\s*([\w-]+)?(?:\s+[\w\s-]*?)?(?:\s*\"(.*)\")?\s*$")
_MKDOCS_TAB = re.compile(r"^(\s*)===\+?\s+\"(.*)\"\s*$")
_GITHUB_ALERT = re.compile(r"^(\s*)>\s*\[!(\w+)\]\s*(.*)$")
_MYST_TARGET = re.compile(r"^\s*\(([\w.:-]+)\)=\s*$")
_MYST_COMMENT = re.compile(r"^%(\s.*)?$")
_MDX_IMPORT = re.compile(r"^(import\s.+from\s+['\"].+['\"];?|import\s+['\"].+['\"];?|export\s+(default\s+)?(const|function|let|var|class)\b.*)\s*$")
_SNIPPET = re.compile(r"^\s*-{2}8<-{2}")
_ABBR = re.compile(r"^\*\[[^\]]+\]:")
_OPTION_LINE = re.compile(r"^\s*:[\w-]+:(\s.*)?$")


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _dedent_block(lines: list[str], amount: int) -> list[str]:
    out = []
    for line in lines:
        if line[:amount].strip() == "":
            out.append(line[amount:])
        else:
            out.append(line.lstrip(" "))
    return out


def _quote(label: str, body: str, indent: str) -> list[str]:
    lines = [f"{indent}> **{label}**" if label else f"{indent}>"]
    for line in body.split("\n"):
        lines.append(f"{indent}> {line}".rstrip() if line.strip() else f"{indent}>")
    while lines and lines[-1].strip() == ">":
        lines.pop()
    return lines


def _admonition_label(kind: str, title: str) -> str:
    kind = kind.lower()
    title = inline(title.strip().strip('"'))
    if kind in ("admonition", "dropdown", "details"):
        return title or "Note"
    label = _ADMONITION_LABEL.get(kind) or kind.replace("-", " ").capitalize()
    if label.endswith("version") and title:
        return f"{label} {title}"
    if title and title.lower() != kind:
        return f"{label}: {title}"
    return label


def _directive(name: str, arg: str, body: list[str], indent: str) -> list[str]:
    """Render a MyST / Docusaurus directive (body already without its fence lines)."""
    name = name.lower().split(":")[-1]
    # options: ":key: value" lines, or a YAML block between --- lines, at the top
    options: list[str] = []
    while body and _OPTION_LINE.match(body[0]):
        options.append(body[0].strip())
        body = body[1:]
    if body and body[0].strip() == "---":
        end = next((i for i in range(1, len(body)) if body[i].strip() == "---"), None)
        if end is not None:
            options += body[1:end]
            body = body[end + 1:]
    text = "\n".join(body).strip("\n")
    if name in _DROP_DIRECTIVES:
        return []
    if name in _CODE_DIRECTIVES:
        lang = arg.split()[0] if arg and name != "math" else ("math" if name == "math" else "")
        return [f"{indent}```{lang}", *[f"{indent}{ln}" if ln else "" for ln in textwrap.dedent(text).split("\n")], f"{indent}```"]
    if name in ("image", "figure"):
        alt = next((o.split(":", 2)[-1].strip() for o in options if o.strip().startswith(("alt", ":alt"))), "")
        out = [f"{indent}![{alt}]({arg.strip()})"] if arg.strip() else []
        caption = clean(text)
        return out + ([indent + ln for ln in caption.split("\n")] if caption else [])
    if name == "list-table":
        return [indent + ln for ln in _list_table(text, options).split("\n")]
    if name in ADMONITION_TYPES:
        return _quote(_admonition_label(name, arg), clean(text), indent)
    if name in _TITLE_DIRECTIVES:
        content = clean(text)
        head = [f"{indent}**{inline(arg.strip())}**", ""] if arg.strip() else []
        return head + [indent + ln if ln else "" for ln in content.split("\n")]
    # unknown or container directives (tab-set, grid, only, glossary, ...): keep the content
    return [indent + ln if ln else "" for ln in clean(text).split("\n")]


def _list_table(text: str, options: list[str]) -> str:
    rows: list[list[str]] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if re.match(r"^\*\s+-\s*", stripped):
            rows.append([stripped.split("-", 1)[1].strip()])
        elif stripped.startswith("- ") and rows:
            rows[-1].append(stripped[2:].strip())
        elif stripped and rows:
            rows[-1][-1] += " " + stripped
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [[inline(c).replace("|", "/") for c in r] + [""] * (width - len(r)) for r in rows]
    header_rows = 1 if any("header-rows" in o and "1" in o for o in options) else 0
    head = rows[0] if header_rows else [""] * width
    body = rows[1:] if header_rows else rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def _protect_code(text: str) -> list[tuple[bool, str]]:
    """Split into (is_code, text) segments on plain fenced code blocks (not MyST directives)."""
    segments: list[tuple[bool, str]] = []
    lines = text.split("\n")
    buf: list[str] = []
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if m and not m.group(3).startswith("{"):
            fence = m.group(2)
            end = i + 1
            while end < len(lines):
                close = lines[end].strip()
                if close.startswith(fence[0] * len(fence)) and set(close) == {fence[0]}:
                    break
                end += 1
            if buf:
                segments.append((False, "\n".join(buf)))
                buf = []
            segments.append((True, "\n".join(lines[i: end + 1])))
            i = end + 1
            continue
        buf.append(lines[i])
        i += 1
    if buf:
        segments.append((False, "\n".join(buf)))
    return segments


def _normalise_blocks(text: str) -> str:
    """Turn Hugo shortcodes, MkDocs admonitions/tabs and GitHub alerts into MyST colon fences."""
    out = []
    for is_code, segment in _protect_code(text):
        if is_code:
            out.append(segment)
            continue
        segment = _HTML_COMMENT.sub("", segment)
        segment = _drop_badges(segment)
        segment = shortcodes(segment)
        out.append(_mkdocs_blocks(segment))
    return "\n".join(out)


def _mkdocs_blocks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        adm = _MKDOCS_ADMONITION.match(line)
        tab = _MKDOCS_TAB.match(line)
        alert = _GITHUB_ALERT.match(line)
        if adm and adm.group(3) is not None:
            indent = len(adm.group(1))
            body, j = _indented_body(lines, i + 1, indent)
            title = adm.group(4) if adm.group(4) is not None else ""
            kind = (adm.group(3) or "note").lower()
            if adm.group(4) == "":
                # '!!! note ""' means no title bar: keep only the content
                out.extend(_dedent_block(body, indent + 4))
            else:
                out.append(" " * indent + f":::{{{kind}}} {title}")
                out.extend(" " * indent + ln if ln.strip() else "" for ln in _dedent_block(body, indent + 4))
                out.append(" " * indent + ":::")
            i = j
            continue
        if tab:
            indent = len(tab.group(1))
            body, j = _indented_body(lines, i + 1, indent)
            out.append(" " * indent + f"**{tab.group(2)}**")
            out.append("")
            out.extend(" " * indent + ln if ln.strip() else "" for ln in _dedent_block(body, indent + 4))
            i = j
            continue
        if alert:
            prefix = alert.group(1)
            kind = alert.group(2).lower()
            body = [alert.group(3)] if alert.group(3).strip() else []
            j = i + 1
            while j < len(lines) and lines[j].lstrip().startswith(">"):
                body.append(re.sub(r"^\s*>\s?", "", lines[j]))
                j += 1
            out.append(f"{prefix}:::{{{kind}}}")
            out.extend(body)
            out.append(f"{prefix}:::")
            i = j
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _indented_body(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """Lines indented deeper than ``indent`` (blank lines included) from ``start``."""
    j = start
    body: list[str] = []
    while j < len(lines):
        if lines[j].strip() == "":
            body.append("")
            j += 1
            continue
        if _indent_of(lines[j]) > indent:
            body.append(lines[j])
            j += 1
            continue
        break
    while body and body[-1] == "":
        body.pop()
        j -= 1
    return body, j


def _blocks(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE_OPEN.match(line)
        if fence:
            indent, marks, info = fence.group(1), fence.group(2), fence.group(3).strip()
            end = i + 1
            while end < len(lines):
                close = lines[end].strip()
                if close.startswith(marks[0] * len(marks)) and set(close) == {marks[0]}:
                    break
                end += 1
            body = _dedent_block(lines[i + 1: end], len(indent))
            directive = re.match(r"^\{([\w:-]+)\}\s*(.*)$", info)
            if directive:
                out.extend(_directive(directive.group(1), directive.group(2), body, indent))
            else:
                out.append(f"{indent}{marks}{info}")
                out.extend(f"{indent}{ln}" if ln else "" for ln in body)
                out.append(f"{indent}{marks}")
            i = end + 1
            continue
        colon = _COLON_OPEN.match(line)
        if colon:
            indent, marks, name = colon.group(1), colon.group(2), colon.group(3)
            arg = (colon.group(4) or "") + (" " if colon.group(4) and colon.group(5) else "") + (colon.group(5) or "")
            depth = 0
            end = i + 1
            while end < len(lines):
                nested = _COLON_OPEN.match(lines[end])
                if nested and len(nested.group(2)) <= len(marks):
                    depth += 1
                else:
                    closer = _COLON_CLOSE.match(lines[end])
                    if closer and len(closer.group(1)) >= len(marks) - (0 if depth == 0 else 99):
                        if depth == 0:
                            break
                        depth -= 1
                end += 1
            body = _dedent_block(lines[i + 1: end], len(indent))
            out.extend(_directive(name, arg, body, indent))
            i = end + 1
            continue
        if _COLON_CLOSE.match(line):  # a stray closing fence
            i += 1
            continue
        if _MYST_TARGET.match(line) or _MYST_COMMENT.match(line) or _SNIPPET.match(line) or _ABBR.match(line):
            i += 1
            continue
        if _MDX_IMPORT.match(line) or line.strip() in ("+++", "[TOC]", "{:toc}", "[[_TOC_]]", "* TOC", "- TOC"):
            i += 1
            continue
        out.append(line)
        i += 1
    return out


_SPACES = re.compile(r"(?<=\S) {2,}(?=\S)")


def clean(text: str) -> str:
    """A section body from any supported dialect -> plain GitHub-flavoured markdown."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4)
    text = _normalise_blocks(text)
    lines = _blocks(text.split("\n"))
    out: list[str] = []
    in_code = False
    fence = ""
    for line in lines:
        stripped = line.strip()
        if in_code:
            out.append(line)
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                in_code = False
            continue
        m = _FENCE_OPEN.match(line)
        if m:
            in_code, fence = True, m.group(2)
            out.append(line)
            continue
        cleaned = _SPACES.sub(" ", inline(line))  # where a badge or icon was taken out
        if line.lstrip().startswith("|") and "\n" in cleaned:
            cleaned = cleaned.replace("\n", " ")
        out.extend(cleaned.split("\n"))
    # trailing spaces go; runs of blank lines become one
    result: list[str] = []
    for line in out:
        line = line.rstrip()
        if not line and result and not result[-1]:
            continue
        result.append(line)
    return "\n".join(result).strip("\n")

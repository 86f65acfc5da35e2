"""``kb html``: the manuals as a static web site (rendered by :mod:`core.markdown`).

One page per manual at the same relative path with ``.html``, an index page, a search box on
every page (``search.js`` over ``search-index.js``: plain files, so the site works from a file
share as well as a web server, with no server-side search), a table of contents on every page, heading anchors identical to the bot's (so answer links land on the
right heading), relative links between manuals rewritten from ``.md`` to ``.html``, and every
non-markdown file (images...) in the manuals directories copied alongside, so relative images
keep working. ``knowledge.base_url`` then points answer links at the published copy.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markdown_it.common.normalize_url import normalizeLink
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from pacsbot.core import markdown
from pacsbot.knowledge.manuals import MANUAL_SUFFIXES, Library, Manual, load_library

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")

CSS = """
body{font:16px/1.55 -apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2430;background:#fff}
header{background:#1d3557;color:#fff;padding:.7em 1.5em}header a{color:#fff;text-decoration:none}
.wrap{display:flex;max-width:1200px;margin:0 auto}
nav.toc{flex:0 0 260px;padding:1.5em 1em;border-right:1px solid #e3e7ee;font-size:.9em;position:sticky;top:0;align-self:flex-start;max-height:100vh;overflow:auto}
nav.toc ul{list-style:none;padding-left:1em;margin:.2em 0}nav.toc>div>ul{padding-left:0}
main{flex:1;padding:1.5em 2.5em;min-width:0}
h1,h2,h3,h4{line-height:1.25;scroll-margin-top:1em}h1{margin-top:0}
a.headerlink{opacity:0;margin-left:.3em;text-decoration:none;color:#888}h2:hover a.headerlink,h3:hover a.headerlink,h4:hover a.headerlink{opacity:1}
code{background:#f2f4f8;padding:.1em .3em;border-radius:3px}pre{background:#f2f4f8;padding:.8em;overflow:auto;border-radius:4px}pre code{padding:0}
header{display:flex;align-items:center;gap:1.5em;position:relative}
#search{flex:0 1 22em;padding:.3em .6em;border:0;border-radius:4px;font:inherit}
#search-results{position:absolute;top:100%;right:1.5em;width:min(36em,90vw);background:#fff;color:#1d2430;border:1px solid #d6dbe3;border-radius:4px;box-shadow:0 4px 16px rgba(0,0,0,.15);z-index:10;max-height:70vh;overflow:auto}
#search-results a{display:block;padding:.5em .8em;color:#1d2430;text-decoration:none;border-bottom:1px solid #eef1f5}
#search-results a:hover,#search-results a:focus{background:#eef3fb}#search-results small{display:block;color:#5a6475}
#search-results p{margin:.6em .8em;color:#5a6475}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #d6dbe3;padding:.35em .6em;text-align:left}th{background:#f2f4f8}
blockquote{margin:1em 0;padding:.5em 1em;border-left:4px solid #e9a23b;background:#fdf6ea}
img{max-width:100%}.meta{color:#5b6575;font-size:.9em}
"""


@dataclass(frozen=True)
class SiteReport:
    pages: int
    assets: int
    out: Path


def html_path(file: str) -> str:
    """``viewer/hanging-priors.md`` -> ``viewer/hanging-priors.html``."""
    for suffix in MANUAL_SUFFIXES:
        if file.endswith(suffix):
            return file[: -len(suffix)] + ".html"
    return file + ".html"


def page_url(base_url: str, file: str, anchor: str = "") -> str:
    url = base_url.rstrip("/") + "/" + quote(html_path(file))
    return f"{url}#{quote(anchor)}" if anchor else url


def page_markdown(manual: Manual) -> str:
    """The manual as one cleaned markdown page, every heading carrying the bot's anchor."""
    parts: list[str] = []
    if not any(s.level == 1 for s in manual.sections):
        anchor = markdown.slugify(manual.title)   # the page's own title: no section, but linkable
        parts.append(f"# {manual.title}" + (f" {{#{anchor}}}\n" if anchor and anchor not in manual.anchors else "\n"))
    for section in manual.sections:
        if section.level:
            parts.append(f"{'#' * section.level} {section.heading} {{#{section.anchor}}}\n")
        if section.markdown:
            parts.append(section.markdown + "\n")
    return "\n".join(parts)


def _site_link(target: str) -> str:
    """A link between manuals points at the other page: ``x.md#a`` -> ``x.html#a``."""
    if _SCHEME.match(target) or target.startswith("//"):
        return target
    cut = min((i for i in (target.find("#"), target.find("?")) if i >= 0), default=len(target))
    path, rest = target[:cut], target[cut:]
    for suffix in MANUAL_SUFFIXES:
        if path.endswith(suffix) and len(path) > len(suffix):
            return path[: -len(suffix)] + ".html" + rest
    return target


class _PageRenderer(markdown.HTMLRenderer):
    """HTML for the site: links between manuals rewritten, URLs encoded, a permalink on every
    heading, MyST targets kept as ids (``kb check`` accepts links to them)."""

    def link_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        token.attrSet("href", normalizeLink(_site_link(str(token.attrGet("href") or ""))))
        return self.renderToken(tokens, idx, options, env)

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        token.attrSet("src", normalizeLink(str(token.attrGet("src") or "")))
        return super().image(tokens, idx, options, env)

    def heading_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        anchor = env.get("open_heading")
        link = f'<a class="headerlink" href="#{html.escape(quote(anchor))}" title="Permanent link">¶</a>' if anchor else ""
        return f"{link}</{tokens[idx].tag}>\n"

    def heading_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        anchor = tokens[idx].attrGet("id")
        env["open_heading"] = str(anchor) if anchor else None
        aliases = env.get("aliases", {}).get(anchor, ())
        return "".join(f'<a id="{html.escape(a)}"></a>' for a in aliases) + self.renderToken(tokens, idx, options, env)


def _toc(manual: Manual) -> str:
    """The page's contents: headings of levels 2 to 4, nested."""
    items = [(level, text, anchor) for _, level, text, anchor in manual.headings if 2 <= level <= 4]
    if not items:
        return '<div class="toc">\n<ul></ul>\n</div>\n'
    out: list[str] = []
    stack: list[int] = []
    for level, text, anchor in items:
        if stack and level > stack[-1]:
            out.append("<ul>\n")
            stack.append(level)
        else:
            while len(stack) > 1 and level < stack[-1]:
                out.append("</li>\n</ul>\n")
                stack.pop()
            if stack:
                out.append("</li>\n")
            else:
                out.append("<ul>\n")
                stack.append(level)
        out.append(f'<li><a href="#{html.escape(quote(anchor))}">{html.escape(text, quote=False)}</a>')
    out.append("</li>\n</ul>\n" * len(stack))
    return '<div class="toc">\n' + "".join(out) + "</div>\n"


def render_body(manual: Manual) -> str:
    """The manual's content as HTML."""
    md = markdown.parser()
    env: dict[str, Any] = {"aliases": {s.anchor: tuple(a for a in s.aliases if a != s.anchor) for s in manual.sections if s.aliases}}
    return _PageRenderer().render(md.parse(page_markdown(manual), env), md.options, env)


def render_page(manual: Manual, *, depth: int) -> str:
    body = render_body(manual).rstrip("\n")
    toc = _toc(manual)
    up = "../" * depth
    meta = []
    if manual.reviewed:
        meta.append(f"Last reviewed {manual.reviewed.isoformat()}")
    if manual.owner:
        meta.append(f"Owner: {html.escape(manual.owner)}")
    meta_html = f'<p class="meta">{" · ".join(meta)}</p>' if meta else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(manual.title)} — PACS manuals</title><link rel="stylesheet" href="{up}style.css"></head>
<body data-root="{up}"><header><a href="{up}index.html">PACS manuals</a>{SEARCH_BOX}</header>
<div class="wrap"><nav class="toc"><strong>On this page</strong>{toc}</nav>
<main>{meta_html}{body}</main></div>
<script src="{up}search-index.js"></script><script src="{up}search.js"></script></body></html>
"""


def render_index(manuals: Sequence[Manual]) -> str:
    groups: dict[str, list[Manual]] = {}
    for m in manuals:
        group = m.file.split("/", 1)[0] if "/" in m.file else "General"
        groups.setdefault(group, []).append(m)
    items = []
    for group in sorted(groups):
        links = "".join(
            f'<li><a href="{quote(html_path(m.file))}">{html.escape(m.title)}</a>'
            + (f' — <span class="meta">{html.escape(m.description)}</span>' if m.description else "")
            + "</li>"
            for m in sorted(groups[group], key=lambda x: x.title.lower())
        )
        items.append(f"<h2>{html.escape(group.replace('-', ' ').capitalize())}</h2><ul>{links}</ul>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>PACS manuals</title><link rel="stylesheet" href="style.css"></head>
<body data-root=""><header><a href="index.html">PACS manuals</a>{SEARCH_BOX}</header>
<div class="wrap"><main><h1>PACS manuals</h1>{''.join(items)}</main></div>
<script src="search-index.js"></script><script src="search.js"></script></body></html>
"""


SEARCH_BOX = ('<input id="search" type="search" placeholder="Search the manuals" autocomplete="off" '
              'aria-label="Search the manuals"><div id="search-results" hidden></div>')
SEARCH_TEXT_CHARS = 4000  # per section: enough to find it, small enough for thousands of sections


def render_search_index(manuals: Sequence[Manual]) -> str:
    """``search-index.js``: every section as [manual title, heading, link, searchable text]."""
    entries = []
    for m in manuals:
        for s in m.sections:
            if not s.text.strip() and not s.level:
                continue
            link = html_path(m.file) + (f"#{s.anchor}" if s.anchor else "")
            text = " ".join(s.text.split())[:SEARCH_TEXT_CHARS]
            entries.append([m.title, s.heading if s.level else "", link, text])
    return "window.PACS_SEARCH = " + json.dumps(entries, ensure_ascii=False, separators=(",", ":")) + ";\n"


# The search box: words of the query matched as word prefixes ("hang" finds "hanging"), a
# heading match counting most, sections holding every word first. pacsRank is plain (no page)
# so that tests can run it with node.
SEARCH_JS = r"""
function pacsWords(text) { return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) || []); }

function pacsRank(index, query, limit) {
  var wanted = pacsWords(query).filter(function (w) { return w.length > 1; });
  if (!wanted.length) return [];
  var scored = [];
  index.forEach(function (e) {
    var title = pacsWords(e[0]), heading = pacsWords(e[1]), text = pacsWords(e[3]);
    var score = 0, found = 0;
    wanted.forEach(function (w) {
      var hit = function (x) { return x.indexOf(w) === 0; };
      var s = (heading.some(hit) ? 6 : 0) + (title.some(hit) ? 3 : 0) + Math.min(text.filter(hit).length, 5);
      if (s) { found += 1; score += s; }
    });
    if (found) scored.push({entry: e, score: score + 100 * found});
  });
  scored.sort(function (a, b) { return b.score - a.score; });
  return scored.slice(0, limit || 10).map(function (r) { return r.entry; });
}

if (typeof document !== "undefined") {
  (function () {
    var box = document.getElementById("search"), list = document.getElementById("search-results");
    if (!box || !list || !window.PACS_SEARCH) return;
    var root = document.body.getAttribute("data-root") || "";
    function show() {
      var found = pacsRank(window.PACS_SEARCH, box.value, 10);
      list.textContent = "";
      if (!box.value.trim()) { list.hidden = true; return; }
      if (!found.length) {
        var none = document.createElement("p");
        none.textContent = "Nothing in the manuals matches. Ask the PACS team in Slack: /pacs ask or /pacs report.";
        list.appendChild(none);
      }
      found.forEach(function (e) {
        var a = document.createElement("a"), small = document.createElement("small");
        a.href = root + e[2];
        a.textContent = e[1] || e[0];
        small.textContent = (e[1] ? e[0] + " — " : "") + e[3].slice(0, 140) + (e[3].length > 140 ? "…" : "");
        a.appendChild(small);
        list.appendChild(a);
      });
      list.hidden = false;
    }
    box.addEventListener("input", show);
    box.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { box.value = ""; show(); }
      if (ev.key === "Enter") { var first = list.querySelector("a"); if (first) window.location.href = first.href; }
    });
  })();
}
"""


def build_site(directories: Sequence[Path], out: Path, *, library: Library | None = None) -> SiteReport:
    library = library or load_library(directories)
    out.mkdir(parents=True, exist_ok=True)
    assets = 0
    for directory in directories:
        if not directory.is_dir():
            continue
        for f in directory.rglob("*"):
            rel = f.relative_to(directory)
            if not f.is_file() or f.suffix.lower() in MANUAL_SUFFIXES or any(p.startswith(".") for p in rel.parts):
                continue
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
            assets += 1
    for manual in library.manuals:
        target = out / html_path(manual.file)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_page(manual, depth=manual.file.count("/")), encoding="utf-8")
    (out / "index.html").write_text(render_index(library.manuals), encoding="utf-8")
    (out / "style.css").write_text(CSS.strip() + "\n", encoding="utf-8")
    (out / "search-index.js").write_text(render_search_index(library.manuals), encoding="utf-8")
    (out / "search.js").write_text(SEARCH_JS.lstrip(), encoding="utf-8")
    return SiteReport(len(library.manuals), assets, out)

#!/usr/bin/env python3
"""Convert the chosen Orthanc Book pages (reStructuredText, Sphinx) to plain markdown.

    python3 rst2md.py GIT_DIR COMMIT        # rewrites ./book/ next to this script

Reads each page listed in PAGES from ``Sphinx/source/`` at COMMIT of a clone of the Orthanc
Book (``git show``), and writes ``book/<same path>.md``. Only the markup changes; the words
stay as written. What the conversion does:

* headings (underlined, or over- and underlined) become ATX ``#`` headings, the levels
  following the order in which each page first uses an underline style, as Sphinx does;
* ``::`` literal blocks and ``code-block`` directives become fenced code blocks, in the
  language of the last ``highlight`` directive;
* ``note`` / ``warning`` directives become block quotes headed **Note** / **Warning**;
* grid tables become fenced ``text`` blocks, unchanged;
* ``:ref:`text <label>``` becomes ``text`` (the label, hyphens as spaces, when there is no
  text); ```text <url>`__`` becomes ``[text](url)``; ````literal```` becomes ```literal```;
  ```text``` (the default role) becomes ``*text*``;
* ``image``, ``contents``, ``toctree``, ``highlight``, comments and ``.. _label:`` targets are
  dropped (the images are not copied); a ``literalinclude`` becomes a line naming the
  sample file, which is not copied;
* ``| text`` line blocks become plain lines;
* indentation is normalised so that markdown does not read an indented paragraph as code.

Standard library only.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "book"

PAGES = [
    "dicom-guide.rst",
    *(f"faq/{n}.rst" for n in (
        "apache", "authentication", "crash", "dcmtk-tricks", "debian-daemon", "debugging",
        "debugging-encodings", "dicom", "dicom-tls", "features", "https", "https-ca-certificates",
        "iis", "improving-interface", "log", "main-dicom-tags", "nginx", "orthanc-dicom-origin",
        "orthanc-ids", "orthanc-storage", "proprietary", "query-retrieve", "same-origin",
        "scalability", "security", "series-completion", "supported-images", "transcoding",
        "transfer-atomicity", "troubleshooting", "video", "viewers", "worklist",
    )),
    *(f"integrations/{n}.rst" for n in (
        "ginkgo-cadx", "imagej", "integrate-horos-using-dicom", "integrate-osirix-using-dicom",
        "integrate-osirix-using-dicomweb", "modality",
    )),
    *(f"plugins/{n}.rst" for n in (
        "advanced-storage", "authorization", "delayed-deletion-plugin", "dicomweb", "education", "gdcm",
        "google-cloud-platform", "housekeeper", "indexer", "multitenant-dicom", "mysql", "neuro",
        "object-storage", "odbc", "ohif", "orthanc-explorer-2", "osimis-webviewer", "pixels-masker",
        "postgresql", "serve-folders", "stl", "stone-webviewer", "stone-webviewer-quick-start", "tcia",
        "transfers", "volview", "webviewer", "worklists-plugin", "worklists-plugin-new", "wsi",
    )),
    *(f"users/{n}.rst" for n in (
        "advanced-rest", "anonymization", "backup", "configuration", "cookbook", "debian-packages",
        "docker", "docker-orthancteam", "lua", "quick-start-windows", "replication", "rest",
        "storage-commitment", "support", "webdav",
    )),
]

PUNCT = set("=-`:'\"~^_*+#<>.!$%&(),/;?@[\\]{|}")
DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([A-Za-z][\w:-]*)::\s*(.*)$")
COMMENT = re.compile(r"^(\s*)\.\.(\s|$)")
BULLET = re.compile(r"^(\s*)([-*+•]|\d+[.)]|#[.)]|[a-zA-Z][.)](?=\s))(\s+)(.*)$")
OPTION = re.compile(r"^\s*:[\w -]+:(\s.*)?$")
GRID = re.compile(r"^\s*\+[-=+]{3,}\+\s*$")
SIMPLE_TABLE = re.compile(r"^\s*=+( +=+)+\s*$")
ADMONITIONS = {"note": "Note", "warning": "Warning", "important": "Important", "tip": "Tip", "hint": "Hint",
               "caution": "Caution", "attention": "Attention", "danger": "Danger", "seealso": "See also"}
DROP = {"image", "figure", "contents", "toctree", "index", "meta", "raw", "include", "highlight"}


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def is_underline(line: str) -> bool:
    s = line.rstrip()
    return len(s) >= 3 and not line[0].isspace() and len(set(s)) == 1 and s[0] in PUNCT


# --------------------------------------------------------------------------------------
# inline markup

def inline(text: str) -> str:
    literals: list[str] = []

    def keep(m: re.Match[str]) -> str:
        literals.append(m.group(1))
        return f"\x00{len(literals) - 1}\x00"

    text = re.sub(r"``(.+?)``", keep, text)

    def role(m: re.Match[str]) -> str:
        name, body = m.group(1), m.group(2)
        target = re.match(r"^(.*?)\s*<([^>]+)>$", body, re.S)
        if target and target.group(1).strip():
            shown = target.group(1).strip()
        elif name == "doc":
            shown = body.rsplit("/", 1)[-1].replace("-", " ")
        elif name == "ref":
            shown = (target.group(2) if target else body).replace("-", " ").replace("_", " ")
        else:
            shown = body
        if name in ("kbd", "file", "command", "program", "samp"):
            literals.append(shown)
            return f"\x00{len(literals) - 1}\x00"
        return shown

    text = re.sub(r":(?:[a-z]+:)?([a-z]+):`([^`]+)`", role, text)

    def link(m: re.Match[str]) -> str:
        label, url = m.group(1).strip(), m.group(2).strip()
        if not re.match(r"^(https?|ftp|mailto):", url):
            return label or url
        return f"[{label}]({url})" if label else f"<{url}>"

    text = re.sub(r"`([^`<]*?)\s*<([^>`]+)>`__?", link, text)
    text = re.sub(r"`([^`]+)`__?", r"\1", text)                 # `named reference`_
    text = re.sub(r"`([^`]+)`", r"*\1*", text)                 # default role
    text = re.sub(r"(?<=\w)__?(?=[\s.,;:!?)]|$)", "", text)     # word_ reference
    text = re.sub(r"\\ ", "", text)
    text = re.sub(r"\\(.)", r"\1", text)

    def restore(m: re.Match[str]) -> str:
        value = literals[int(m.group(1))]
        fence = "``" if "`" in value else "`"
        return f"{fence}{value}{fence}"

    return re.sub(r"\x00(\d+)\x00", restore, text)


def grid_table(block: list[str]) -> list[str] | None:
    """A grid table without merged cells -> a GitHub table (cell text joined, inline markup
    converted); None when cells are merged (the caller keeps the table as text)."""
    block = [ln.strip() for ln in block]
    border = block[0]
    cuts = [k for k, ch in enumerate(border) if ch == "+"]
    rows: list[list[str]] = []
    header = 0
    current: list[list[str]] | None = None
    for ln in block[1:]:
        if GRID.match(ln):
            if [k for k, ch in enumerate(ln) if ch == "+"] != cuts:
                return None
            if current is not None:
                rows.append([" ".join(" ".join(part).split()) for part in current])
            if "=" in ln:
                header = len(rows)
            current = None
            continue
        if len(ln) != len(border) or any(ln[k] not in "|+" for k in cuts):
            return None
        cells = [ln[a + 1:b] for a, b in zip(cuts, cuts[1:])]
        if current is None:
            current = [[] for _ in cells]
        for part, cell in zip(current, cells):
            if cell.strip():
                part.append(re.sub(r"\.\.\s+code-block::\s*\w*", "", cell).strip())
    if not rows:
        return None

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(inline(c).replace("|", "\\|") for c in cells) + " |"

    head = rows[:header] if header else [[""] * len(rows[0])]
    body = rows[header:] if header else rows
    out = [row([" ".join(h[k] for h in head).strip() for k in range(len(rows[0]))])]
    out.append("|" + "|".join(" --- " for _ in rows[0]) + "|")
    out.extend(row(r) for r in body)
    return out


# --------------------------------------------------------------------------------------
# blocks

class Converter:
    def __init__(self) -> None:
        self.styles: list[tuple[str, bool]] = []   # heading styles in order of first use
        self.language = ""

    def level(self, char: str, over: bool) -> int:
        if (char, over) not in self.styles:
            self.styles.append((char, over))
        return min(6, self.styles.index((char, over)) + 1)

    def convert(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        stack: list[tuple[int, int, int]] = []   # list items: (indent, content column, output column)
        i = 0
        n = len(lines)

        def body_of(start: int, base: int) -> tuple[list[str], int]:
            """Lines indented deeper than ``base`` from ``start`` (blank lines included)."""
            j = start
            while j < n and (not lines[j].strip() or indent_of(lines[j]) > base):
                j += 1
            while j > start and not lines[j - 1].strip():
                j -= 1
            return lines[start:j], j

        def col(indent: int) -> int:
            while stack and indent < stack[-1][1]:
                stack.pop()
            return stack[-1][2] if stack else 0

        def dedent(block: list[str]) -> list[str]:
            widths = [indent_of(ln) for ln in block if ln.strip()]
            cut = min(widths) if widths else 0
            return [ln[cut:] for ln in block]

        def fence(block: list[str], lang: str, at: int) -> None:
            pad = " " * at
            if out and out[-1].strip():
                out.append("")
            out.append(f"{pad}```{lang}")
            out.extend(f"{pad}{ln}".rstrip() for ln in dedent(block))
            out.append(f"{pad}```")
            out.append("")

        while i < n:
            line = lines[i].rstrip()
            stripped = line.strip()
            if not stripped:
                out.append("")
                i += 1
                continue
            ind = indent_of(line)

            # headings: overline + title + underline, or title + underline
            if ind == 0 and is_underline(line) and i + 2 < n and lines[i + 1].strip() and is_underline(lines[i + 2]) \
                    and lines[i + 2].strip()[0] == stripped[0]:
                level = self.level(stripped[0], True)
                stack.clear()
                out.extend(["", "#" * level + " " + inline(lines[i + 1].strip()), ""])
                i += 3
                continue
            if ind == 0 and i + 1 < n and is_underline(lines[i + 1]) and not is_underline(line) \
                    and (i == 0 or not lines[i - 1].strip()) and len(lines[i + 1].rstrip()) >= min(len(stripped), 4):
                level = self.level(lines[i + 1].strip()[0], False)
                stack.clear()
                out.extend(["", "#" * level + " " + inline(stripped), ""])
                i += 2
                continue
            if ind == 0 and is_underline(line) and (i == 0 or not lines[i - 1].strip()):
                i += 1     # a transition
                continue

            # tables
            if GRID.match(line) or SIMPLE_TABLE.match(line):
                j = i + 1
                if GRID.match(line):
                    while j < n and lines[j].strip() and lines[j].lstrip()[:1] in "+|":
                        j += 1
                else:
                    while j < n and not (SIMPLE_TABLE.match(lines[j]) and (j + 1 >= n or not lines[j + 1].strip())):
                        j += 1
                    j += 1
                table = grid_table(lines[i:j]) if GRID.match(line) else None
                if table is None:
                    fence(lines[i:j], "text", col(ind))
                else:
                    pad = " " * col(ind)
                    if out and out[-1].strip():
                        out.append("")
                    out.extend(pad + row for row in table)
                    out.append("")
                i = j
                continue

            # directives and comments
            d = DIRECTIVE.match(line)
            if d:
                name, arg = d.group(2).lower(), d.group(3).strip()
                body, j = body_of(i + 1, ind)
                options = []
                k = 0
                while k < len(body) and body[k].strip() and OPTION.match(body[k]):
                    options.append(body[k].strip())
                    k += 1
                content = body[k:]
                while content and not content[0].strip():
                    content = content[1:]
                at = col(ind)
                pad = " " * at
                if name == "highlight":
                    self.language = arg
                elif name in ("code-block", "code", "sourcecode"):
                    fence(content, arg, at)
                elif name == "literalinclude":
                    out.extend([f"{pad}*Sample file: `{arg}` (not copied here).*", ""])
                elif name in ADMONITIONS or name == "admonition":
                    label = ADMONITIONS.get(name) or inline(arg)
                    inner = Converter()
                    inner.styles, inner.language = self.styles, self.language
                    if name in ADMONITIONS and arg:   # the text starts on the directive's line
                        text = inner.convert([arg, *dedent(content)])
                    else:
                        text = inner.convert(dedent(content))
                    while text and not text[-1].strip():
                        text.pop()
                    while text and not text[0].strip():
                        text.pop(0)
                    if out and out[-1].strip():
                        out.append("")
                    out.append(f"{pad}> **{label}**")
                    out.append(f"{pad}>")
                    out.extend(f"{pad}> {t}".rstrip() for t in text)
                    out.append("")
                elif name == "csv-table":
                    fence(content, "text", at)
                elif name == "figure":
                    caption = [c for c in content if c.strip()]
                    if caption:
                        out.extend([pad + inline(" ".join(c.strip() for c in caption)), ""])
                elif name in DROP:
                    pass
                else:
                    inner = Converter()
                    inner.styles, inner.language = self.styles, self.language
                    out.extend(pad + t if t else "" for t in inner.convert(dedent(content)))
                i = j
                continue
            if COMMENT.match(line):
                _, j = body_of(i + 1, ind)
                i = j
                continue
            if stripped == "|":      # an empty line block, used as a spacer
                i += 1
                continue

            # list items
            b = BULLET.match(line)
            if b and not (b.group(2)[0].isalpha() and len(b.group(4)) > 0 and not b.group(4)[0].isupper()):
                in_list = bool(stack)
                while stack and ind < stack[-1][1]:
                    stack.pop()
                out_at = stack[-1][2] if stack else 0
                marker = b.group(2)
                if marker in ("#.", "#)"):
                    marker = "1."
                elif marker[0].isalpha():
                    marker = "-"
                elif marker == "•":
                    marker = "-"
                if out and out[-1].strip() and not in_list:
                    out.append("")
                content_col = len(b.group(1)) + len(b.group(2)) + len(b.group(3))
                stack.append((ind, content_col, out_at + len(marker) + 1))
                para, i = self._paragraph(" " * out_at + marker + " ", b.group(4), lines, i, content_col)
                out.extend(para)
                continue

            # a paragraph (maybe a definition-list term, maybe ending in '::')
            at = col(ind)
            para, i = self._paragraph(" " * at, stripped, lines, i, ind)
            out.extend(para)

        # tidy: no runs of blank lines
        tidy: list[str] = []
        for ln in out:
            if not ln.strip() and tidy and not tidy[-1].strip():
                continue
            tidy.append(ln.rstrip())
        return tidy

    def _paragraph(self, lead: str, first: str, lines: list[str], i: int, ind: int) -> tuple[list[str], int]:
        """A paragraph (its lines up to a blank line or a change of indentation), as markdown
        lines starting with ``lead``, then the literal block that follows a closing '::'.
        Returns the lines and the index of the first line not consumed."""
        texts = [first]
        j = i + 1
        n = len(lines)
        while j < n and lines[j].strip() and indent_of(lines[j]) == ind and not DIRECTIVE.match(lines[j]) \
                and not BULLET.match(lines[j]):
            texts.append(lines[j].strip())
            j += 1
        literal = texts[-1].endswith("::")
        term = not literal and len(texts) == 1 and j < n and lines[j].strip() and indent_of(lines[j]) > ind
        if literal:
            last = texts[-1]
            if last == "::":
                texts.pop()
            elif last.endswith(" ::"):
                texts[-1] = last[:-3]
            else:
                texts[-1] = last[:-1]
        pad = " " * len(lead)
        joined = inline("\n".join(texts)).split("\n") if texts else []   # links and roles may span lines
        result = [(lead if k == 0 else pad) + t for k, t in enumerate(joined)]
        if term and not lead.strip():
            # a definition-list term: bold, its definition follows as its own paragraph
            result = [lead + "**" + inline(texts[0]) + "**", ""]
        if literal:
            k = j
            while k < n and not lines[k].strip():
                k += 1
            if k < n and indent_of(lines[k]) > ind:
                end = k
                while end < n and (not lines[end].strip() or indent_of(lines[end]) > ind):
                    end += 1
                while end > k and not lines[end - 1].strip():
                    end -= 1
                block = lines[k:end]
                cut = min(indent_of(ln) for ln in block if ln.strip())
                code_pad = pad
                result += ["", f"{code_pad}```{self.language}"]
                result += [f"{code_pad}{ln[cut:]}".rstrip() for ln in block]
                result += [f"{code_pad}```", ""]
                j = end
        return result, j


def line_blocks(lines: list[str]) -> list[str]:
    """``| text`` line blocks (not grid-table rows) -> ordinary lines at the same indentation."""
    out: list[str] = []
    block_at: int | None = None
    for line in lines:
        m = re.match(r"^(\s*)\| (.*)$", line)
        if m and not line.rstrip().endswith("|"):
            block_at = len(m.group(1))
            out.append(m.group(1) + m.group(2))
            continue
        if block_at is not None and line.strip() and indent_of(line) > block_at:
            out.append(" " * block_at + line.strip())
            continue
        block_at = None
        out.append(line)
    return out


def convert(text: str) -> str:
    lines = line_blocks(text.replace("\r\n", "\n").replace("\t", "    ").split("\n"))
    md = Converter().convert(lines)
    while md and not md[0].strip():
        md.pop(0)
    return "\n".join(md).rstrip() + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    git_dir, commit = argv
    for page in PAGES:
        src = subprocess.run(["git", "--git-dir", git_dir, "show", f"{commit}:Sphinx/source/{page}"],
                             check=True, capture_output=True, text=True).stdout
        target = OUT / (page[:-4] + ".md")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(convert(src), encoding="utf-8")
    print(f"{len(PAGES)} pages written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Vendor manuals (PDF, Word ``.docx``, HTML) -> sectioned markdown manuals (``pacsbot kb import``).

The hard parts are left to maintained libraries, imported only when a file of that kind is
converted (they are the optional ``import`` extra: ``pip install 'pacsbot[import]'``):

* **PDF** — ``pdfplumber`` (on ``pdfminer.six``): text lines with their font name, size and
  position, and ruled tables. PDF has no headings, only bigger or bolder text, so the rule
  here is: the font size carrying most characters is the body; a short line (a paragraph of
  at most three lines) set at least 15 % larger is a heading, larger sizes ranking higher; a
  bold one-line paragraph at body size ranks just below them. Lines in a fixed-width font
  are code, kept line by line. Pages that are only a picture (a scan) are reported: when
  they are half the document or more, it needs OCR.
* **Word** — ``mammoth`` (heading *styles* become ``<h1>``...; Title style too; Word's own
  table-of-contents styles are skipped), then
* **HTML** — ``markdownify`` on a ``BeautifulSoup`` tree with scripts, navigation, page
  header/footer, permalink marks and images removed (``<main>`` or a single ``<article>``
  if there is one).

(Microsoft's ``markitdown`` wraps the same ``mammoth``/``markdownify``/``pdfminer`` but
brings ``magika`` + ``onnxruntime`` (~45 MB) to guess file types, gives PDFs as plain text
without headings or tables, and its .docx pre-processing failed on python-docx files with
lxml 6 — so the libraries are used directly.)

Then the same cleanup for every format, as plain functions on text (:func:`tidy`):

* **page headers and footers** (PDF): the first and last two lines of each page that repeat
  (digits ignored) on at least half of the pages (three or more), or on two or more pages in
  the outer 7 % of the page; page numbers there ("Page 3 of 12", "- 3 -", "iv", "3/12").
  "Page N of M" lines are dropped anywhere, in every format.
* **tables of contents**: dotted-leader lines ("Chapter 1 ........ 3") anywhere, links to
  Word's ``_Toc`` bookmarks, in-page link lists (HTML), and a "Contents" / "Table of
  contents" / "List of figures" heading with its entries (there "text<TAB>12" and short
  "text 12" lines count too).
* **no binary content**: images dropped; links kept only when absolute (``http(s):``,
  ``mailto:``), otherwise their text stays (so ``kb check`` finds no broken link).
* **headings**: when a document yields no heading (or only its title), a line on its own is
  a heading if it is numbered ("3.2 Sending a study": level from the number of parts), ALL
  CAPS (3-60 characters), or entirely bold; never if it ends like a sentence, and never
  "1. Open the study" (a step). The manual gets one
  ``# Title``; a first heading equal to the title is folded into it; the levels below are
  renumbered from ``##`` without gaps; empty headings are dropped and a repeated heading gets
  its parent's name ("Procedure (Sending a study)") so that anchors and ``kb check`` agree.

Front matter: ``title`` (``--title``, else the document's own title — PDF/Word metadata,
HTML ``<title>`` — unless it looks machine-made, else the first heading, else the file
name), ``audience`` (default ``all``), ``source`` (the original file name), ``imported``
(today), and empty ``owner`` and ``reviewed`` for the site to fill in: until someone has
reviewed the text, ``kb check`` warns that ``reviewed`` is missing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from pacsbot.core.errors import UserError
from pacsbot.knowledge.manuals import MAX_MANUAL_BYTES, ManualError, humanise, split_front_matter
from pacsbot.knowledge.markup import slugify

INSTALL_HINT = "pip install 'pacsbot[import]'"

FORMATS = {
    ".pdf": "PDF",
    ".docx": "Word",
    ".html": "HTML",
    ".htm": "HTML",
    ".xhtml": "HTML",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
}
_UNSUPPORTED_HINTS = {
    ".doc": "an old Word .doc file: open it in Word (or LibreOffice) and save it as .docx",
    ".rtf": "open it in Word (or LibreOffice) and save it as .docx",
    ".odt": "open it in LibreOffice and save it as .docx",
    ".pages": "export it from Pages as Word (.docx) or PDF",
    ".chm": "a compiled Windows help file: extract its HTML pages (7-Zip opens it) and import those",
}


class ConversionError(UserError):
    """One file could not be converted; the message says why and what to do."""

    exit_status = 1


class MissingConverter(ConversionError):
    """The optional libraries for this kind of file are not installed."""


@dataclass(frozen=True)
class Imported:
    """A converted manual: ``text`` is the whole markdown file, front matter included."""

    source: Path
    kind: str                       # PDF | Word | HTML | markdown | text
    title: str
    text: str
    pages: int | None = None        # PDF only
    headings: int = 0
    dropped: dict[str, int] = field(default_factory=dict)   # what the cleanup removed
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        parts = [self.kind + (f", {self.pages} page{'s' if self.pages != 1 else ''}" if self.pages else "")]
        parts.append(f"{self.headings} heading{'s' if self.headings != 1 else ''}")
        labels = {"header_footer": ("page header/footer line", "s"), "page_numbers": ("page number", "s"),
                  "toc": ("table-of-contents line", "s"), "images": ("image", "s"),
                  "links": ("local link", "s (their text kept)")}
        dropped = []
        for key in ("header_footer", "page_numbers", "toc", "images", "links"):
            n = self.dropped.get(key, 0)
            if n:
                label, plural = labels[key]
                dropped.append(f"{n} {label}{plural if n != 1 else ''}")
        if dropped:
            parts.append("dropped " + ", ".join(dropped))
        return "; ".join(parts)


# --------------------------------------------------------------------------------------
# the public entry points

def output_name(path: Path) -> str:
    """``Vendor Manual v2.pdf`` -> ``vendor-manual-v2.md``."""
    return (slugify(path.stem.replace("_", " ")) or "manual") + ".md"


def convert(path: Path, *, audience: Sequence[str] = ("all",), title: str | None = None,
            today: dt.date | None = None) -> Imported:
    """Convert one file. Raises :class:`ConversionError` (with a message for the person
    importing it) when the file cannot be read, has no text, or is of an unsupported kind."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        hint = _UNSUPPORTED_HINTS.get(suffix, "")
        kinds = ", ".join(sorted({s for s in FORMATS}))
        raise ConversionError(f"{path.name}: cannot import '{suffix or 'a file without an extension'}' files"
                              + (f" ({hint})" if hint else "") + f". Supported: {kinds}.")
    if not path.exists():
        raise ConversionError(f"{path}: no such file.")
    if path.is_dir():
        raise ConversionError(f"{path}: is a directory, not a file.")
    kind = FORMATS[suffix]
    reader = {"PDF": _read_pdf, "Word": _read_docx, "HTML": _read_html, "markdown": _read_markdown, "text": _read_text}[kind]
    try:
        doc = reader(path)
    except ConversionError:
        raise
    except OSError as exc:
        raise ConversionError(f"{path.name}: cannot read the file ({exc.strerror or exc}).") from None
    except Exception as exc:  # noqa: BLE001 - a library failing on an odd file is a message, not a traceback
        raise ConversionError(f"{path.name}: could not be converted ({type(exc).__name__}: {exc}).") from None
    body, info = tidy(doc.markdown, title=title, document_title=doc.title, fallback_title=humanise(path.stem))
    if not re.search(r"\w", re.sub(r"^#.*$", "", body, flags=re.M)):
        if kind == "PDF":
            raise ConversionError(f"{path.name}: has no text to import — it looks like a scanned document (pictures of "
                                  "pages). It needs OCR first (for example `ocrmypdf in.pdf out.pdf`); import the result.")
        raise ConversionError(f"{path.name}: has no text to import.")
    text = front_matter(title=info.title, audience=audience, source=path.name, imported=today or dt.date.today()) + "\n" + body
    size = len(text.encode("utf-8"))
    if size > MAX_MANUAL_BYTES:
        raise ConversionError(f"{path.name}: the converted text is {size:,} bytes, over the {MAX_MANUAL_BYTES:,}-byte limit "
                              "for one manual. Split the document (for example one file per chapter) and import the parts.")
    dropped = dict(doc.dropped)
    for k, v in info.dropped.items():
        dropped[k] = dropped.get(k, 0) + v
    return Imported(source=path, kind=kind, title=info.title, text=text, pages=doc.pages, headings=info.headings,
                    dropped=dropped, notes=tuple(doc.notes) + tuple(info.notes))


def front_matter(*, title: str, audience: Sequence[str], source: str, imported: dt.date) -> str:
    words = [a for a in audience if a] or ["all"]
    return "\n".join([
        "---",
        f"title: {json.dumps(title, ensure_ascii=False)}",
        f"audience: [{', '.join(words)}]",
        f"source: {json.dumps(source, ensure_ascii=False)}",
        f"imported: {imported.isoformat()}",
        "owner:      # who keeps this manual up to date (fill in)",
        "reviewed:   # YYYY-MM-DD, once someone here has checked the imported text (fill in)",
        "---",
        "",
    ])


def audience_words(values: Iterable[str]) -> list[str]:
    """``["Technologist", "radiologist,admin"]`` -> ``["technologist", "radiologist", "admin"]``."""
    words: list[str] = []
    for value in values:
        for word in re.split(r"[,\s]+", value.strip().lower()):
            if not word:
                continue
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", word):
                raise UserError(f"'{word}' is not an audience word (letters, digits, '-' and '_'; for example technologist).")
            if word not in words:
                words.append(word)
    return words or ["all"]


# --------------------------------------------------------------------------------------
# what a reader hands to the cleanup

@dataclass
class _Doc:
    markdown: str
    title: str | None = None
    pages: int | None = None
    dropped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


def _missing(kind: str, exc: ImportError) -> MissingConverter:
    return MissingConverter(f"importing {kind} files needs the optional converters ({exc.name or exc} is not installed): "
                            f"{INSTALL_HINT}")


_MACHINE_TITLES = re.compile(
    r"^(untitled|document\d*|title|microsoft word - .*|.*\.(docx?|pdf|indd|rtf|html?|qxd)|slide \d+|presentation\d*|"
    r"powerpoint presentation|[\w-]*\d{4,}[\w-]*)$", re.I)


def _good_title(value: Any) -> str | None:
    if not isinstance(value, str):
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        else:
            return None
    value = re.sub(r"\s+", " ", value.replace("\x00", "")).strip()
    if len(value) < 3 or len(value) > 150 or _MACHINE_TITLES.match(value) or not re.search(r"[^\W\d_]{2}", value):
        return None
    return value


# --------------------------------------------------------------------------------------
# PDF

@dataclass
class _Line:
    text: str
    top: float
    bottom: float
    size: float = 0.0
    bold: bool = False
    mono: bool = False           # a fixed-width font: code, kept line by line
    table: bool = False          # text is a whole markdown table
    heading: int = 0             # level, once decided


_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi", re.I)
_MONO_FONT = re.compile(r"mono|courier|consol|menlo|typewriter|cmtt|lucidacons|code", re.I)
_PAGE_NUMBER = re.compile(
    r"^(?:(?:page|pg\.?|p\.|seite|página|pagina)\s*)?(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:of|/|von|de|di)\s*\d{1,4})?$"
    r"|^[-–—]\s*\d{1,4}\s*[-–—]$", re.I)
_PAGE_OF = re.compile(r"^\s*(?:page|pg\.?)\s+\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?\s*$", re.I)


def _read_pdf(path: Path) -> _Doc:
    try:
        import pdfplumber
        from pdfplumber.utils.exceptions import PdfminerException
    except ImportError as exc:
        raise _missing("PDF", exc) from None
    with path.open("rb") as fh:
        head = fh.read(1024)
    if b"%PDF-" not in head:
        raise ConversionError(f"{path.name}: is not a PDF (it does not start with '%PDF-'); check the file, or give it "
                              "its real extension.")
    try:
        with pdfplumber.open(path) as pdf:
            title = _good_title((pdf.metadata or {}).get("Title"))
            pages: list[list[_Line]] = []
            with_pictures: list[bool] = []
            for page in pdf.pages:
                pages.append(_pdf_page_lines(page))
                with_pictures.append(bool(page.images))
                page.close()         # frees the page's layout: long manuals stay small in memory
    except PdfminerException as exc:
        cause = exc.args[0] if exc.args else exc
        name = type(cause).__name__
        if name in ("PDFPasswordIncorrect", "PDFEncryptionError", "PDFEncryptionWarning") or "password" in str(cause).lower():
            raise ConversionError(f"{path.name}: is password-protected. Open it with the password, save or print it "
                                  "to a PDF without one, and import that copy.") from None
        raise ConversionError(f"{path.name}: is damaged or not a real PDF ({name}: {cause}). Try downloading it "
                              "again, or open it and save a fresh copy.") from None
    doc = _Doc("", title=title, pages=len(pages))
    if not any(line.text.strip() for page in pages for line in page):
        return doc  # no text layer at all: convert() says it needs OCR
    _drop_running_lines(pages, doc.dropped)
    scanned = [n for n, (page, picture) in enumerate(zip(pages, with_pictures), 1) if picture and not page]
    if scanned and len(scanned) >= len(pages) / 2:
        raise ConversionError(f"{path.name}: {len(scanned)} of its {len(pages)} pages are pictures of text (scanned), "
                              "with no text to import. It needs OCR first (for example `ocrmypdf in.pdf out.pdf`); "
                              "import the result.")
    if scanned:
        shown = ", ".join(str(n) for n in scanned[:12]) + (", ..." if len(scanned) > 12 else "")
        doc.notes.append(f"page{'s' if len(scanned) > 1 else ''} {shown}: a picture without text, left out (OCR the "
                         "document to import it)")
    _pdf_headings([line for page in pages for line in page])
    doc.markdown = _pdf_markdown(pages)
    return doc


def _pdf_page_lines(page: Any) -> list[_Line]:
    """Text lines of one page (top to bottom), with ruled tables as markdown in their place."""
    upright = page.filter(lambda obj: obj.get("object_type") != "char" or obj.get("upright", True))  # no watermarks
    tables: list[tuple[tuple[float, float, float, float], list[list[str | None]]]] = []
    try:
        for table in upright.find_tables():
            rows = table.extract()
            if len(rows) >= 2 and max((len(r) for r in rows), default=0) >= 2:
                tables.append((table.bbox, rows))
    except Exception:  # noqa: BLE001 - a table that cannot be read is left as text
        tables = []

    def in_table(line: dict[str, Any]) -> bool:
        mid_y = (line["top"] + line["bottom"]) / 2
        mid_x = (line["x0"] + line["x1"]) / 2
        return any(x0 - 1 <= mid_x <= x1 + 1 and top - 1 <= mid_y <= bottom + 1 for (x0, top, x1, bottom), _ in tables)

    out: list[_Line] = []
    # word gaps relative to the font size: tightly set text keeps its spaces
    for raw in upright.extract_text_lines(return_chars=True, strip=True, x_tolerance_ratio=0.15):
        text = re.sub(r"\s+", " ", raw["text"]).strip()
        if not text or in_table(raw):
            continue
        chars = [c for c in raw.get("chars", []) if c.get("text", "").strip()]
        sizes = Counter(round(float(c.get("size", 0)) * 2) / 2 for c in chars)
        size = sizes.most_common(1)[0][0] if sizes else 0.0
        bold = bool(chars) and sum(1 for c in chars if _BOLD_FONT.search(c.get("fontname", ""))) >= 0.8 * len(chars)
        mono = bool(chars) and sum(1 for c in chars if _MONO_FONT.search(c.get("fontname", ""))) >= 0.8 * len(chars)
        out.append(_Line(text, float(raw["top"]), float(raw["bottom"]), size, bold, mono))
    for (_x0, top, _x1, bottom), rows in tables:
        out.append(_Line(_markdown_table(rows), float(top), float(bottom), table=True))
    out.sort(key=lambda line: line.top)
    for line in out:
        line.top /= float(page.height) or 1.0
        line.bottom /= float(page.height) or 1.0
    return out


def _markdown_table(rows: list[list[str | None]]) -> str:
    width = max(len(r) for r in rows)

    def cell(value: str | None) -> str:
        return re.sub(r"\s+", " ", value or "").strip().replace("|", "\\|")

    cells = [[cell(c) for c in row] + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:] if any(row)]
    return "\n".join(lines)


def _running_key(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\d+", "#", text.lower())).strip()


def _drop_running_lines(pages: list[list[_Line]], dropped: Counter[str]) -> None:
    """Remove page headers, footers and page numbers (see the module docstring)."""
    edges: list[list[_Line]] = []
    for page in pages:
        text_lines = [line for line in page if not line.table]
        first = text_lines[:2]
        edges.append(first + [line for line in text_lines[-2:] if all(line is not f for f in first)])
    on_pages: Counter[str] = Counter()
    in_margin: Counter[str] = Counter()
    for page_edges in edges:
        keys = {_running_key(line.text) for line in page_edges}
        on_pages.update(keys)
        in_margin.update({_running_key(line.text) for line in page_edges if line.top < 0.07 or line.bottom > 0.93})
    n = len(pages)
    running = {k for k, c in on_pages.items() if n >= 3 and c >= max(3, n / 2)}
    running |= {k for k, c in in_margin.items() if c >= 2}
    for page, page_edges in zip(pages, edges):
        gone: set[int] = set()
        for line in page_edges:
            if _PAGE_NUMBER.match(line.text):
                gone.add(id(line))
                dropped["page_numbers"] += 1
            elif _running_key(line.text) in running:
                gone.add(id(line))
                dropped["header_footer"] += 1
        page[:] = [line for line in page if id(line) not in gone]


def _pdf_headings(lines: list[_Line]) -> bool:
    """Mark heading lines (``line.heading``) by font size and weight; False if none found."""
    weights: Counter[float] = Counter()
    for line in lines:
        if not line.table and line.size:
            weights[line.size] += len(line.text)
    if not weights:
        return False
    body = weights.most_common(1)[0][0]
    groups = _pdf_paragraphs(lines)
    big: list[list[_Line]] = []
    bold: list[list[_Line]] = []
    for group in groups:
        first = group[0]
        text = " ".join(line.text for line in group)
        if first.table or first.mono or len(group) > 3 or len(text) > 160 or not re.search(r"[^\W\d_]", text):
            continue
        if all(line.size >= body * 1.15 and abs(line.size - first.size) < 0.6 for line in group):
            big.append(group)
        elif len(group) == 1 and first.bold and first.size >= body * 0.95 and len(text) <= 100 \
                and not re.search(r"[.;,]$", text):
            bold.append(group)
    sizes = sorted({g[0].size for g in big}, reverse=True)
    for group in big:
        group[0].heading = sizes.index(group[0].size) + 1
        _merge_heading(group)
    for group in bold:
        group[0].heading = len(sizes) + 1
    return bool(big or bold)


def _merge_heading(group: list[_Line]) -> None:
    """A heading set over two or three lines becomes one line."""
    first = group[0]
    for other in group[1:]:
        first.text += " " + other.text
        other.text = ""


def _pdf_paragraphs(lines: list[_Line]) -> list[list[_Line]]:
    """Group consecutive lines (of one page) that belong to one paragraph."""
    groups: list[list[_Line]] = []
    previous: _Line | None = None
    for line in lines:
        if previous is None or _breaks(previous, line):
            groups.append([line])
        else:
            groups[-1].append(line)
        previous = line
    return groups


_LIST_START = re.compile(r"^(?:[•●▪◦‣∙·■□➢►▶\-–*]|\d{1,3}[.)]|[a-z][.)])\s+")


def _breaks(previous: _Line, line: _Line) -> bool:
    if previous.table or line.table or line.top < previous.top:   # a new page starts again at the top
        return True
    if abs(line.size - previous.size) >= 0.6 or line.bold != previous.bold or line.mono != previous.mono:
        return True
    height = max(previous.bottom - previous.top, 1e-6)
    gap = line.top - previous.bottom
    return gap > 0.8 * height or bool(_LIST_START.match(line.text))


def _pdf_markdown(pages: list[list[_Line]]) -> str:
    blocks: list[str] = []
    for page_index, page in enumerate(pages):
        page = [line for line in page if line.text]
        for group_index, group in enumerate(_pdf_paragraphs(page)):
            first = group[0]
            if first.table:
                blocks.append(first.text)
                continue
            if first.heading:
                blocks.append("#" * min(first.heading, 6) + " " + first.text)
                continue
            if first.mono:
                code = "\n".join(line.text.replace("```", "` ` `") for line in group)
                if blocks and blocks[-1].startswith("```text\n"):     # one block across blank lines
                    blocks[-1] = blocks[-1][:-4] + "\n" + code + "\n```"
                else:
                    blocks.append("```text\n" + code + "\n```")
                continue
            text = _join_lines(group)
            # a paragraph cut by the page break continues on the next page
            if group_index == 0 and page_index and blocks and not blocks[-1].startswith(("#", "|", "```")) \
                    and not re.search(r"[.:!?)]$", blocks[-1]) and re.match(r"^[a-z(]", text):
                blocks[-1] = blocks[-1] + " " + text
                continue
            blocks.append(text)
    out = ""
    for block in (b if b.startswith("```") else _list_item(b) for b in blocks):
        tight = out and _LIST_START.match(block) and _LIST_START.match(out.rsplit("\n", 1)[-1])
        out += ("\n" if tight else "\n\n" if out else "") + block
    return out


def _join_lines(group: list[_Line]) -> str:
    out: list[str] = []
    for line in group:
        text = line.text
        if out and _LIST_START.match(text):
            out.append("\n" + text)
        elif out and out[-1].endswith("-") and re.match(r"^[^\W\d_]", text):
            out[-1] = out[-1] + text
        else:
            out.append((" " if out else "") + text)
    return "".join(out)


def _list_item(block: str) -> str:
    lines = block.split("\n")
    return "\n".join(re.sub(r"^[•●▪◦‣∙·■□➢►▶–]\s+", "- ", line) for line in lines)


# --------------------------------------------------------------------------------------
# Word

_DOCX_STYLE_MAP = "\n".join([
    "p[style-name='Title'] => h1:fresh",
    "p[style-name='Subtitle'] => p:fresh",
    *(f"p[style-name='{name} {n}'] => !" for name in ("toc", "TOC") for n in range(1, 10)),
    "p[style-name='TOC Heading'] => !",
    "p[style-name='Table of Figures'] => !",
    "p[style-name='Header'] => !",
    "p[style-name='Footer'] => !",
])


def _read_docx(path: Path) -> _Doc:
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ConversionError(f"{path.name}: is an old-style Word document or a password-protected one. Open it in Word, "
                              "remove any password, save it as .docx (Word Document), and import that.")
    if not zipfile.is_zipfile(path):
        raise ConversionError(f"{path.name}: is not a Word .docx file (a .docx is a ZIP package; this is not). "
                              "Open it in Word and save it as .docx.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "word/document.xml" not in names:
                raise ConversionError(f"{path.name}: is a ZIP file but not a Word document (no word/document.xml).")
            title = _good_title(_docx_title(zf.read("docProps/core.xml"))) if "docProps/core.xml" in names else None
    except zipfile.BadZipFile as exc:
        raise ConversionError(f"{path.name}: is damaged ({exc}).") from None
    try:
        import mammoth
    except ImportError as exc:
        raise _missing("Word", exc) from None
    with path.open("rb") as fh:
        result = mammoth.convert_to_html(fh, style_map=_DOCX_STYLE_MAP,
                                         convert_image=mammoth.images.img_element(lambda image: {"src": ""}))
    doc = _Doc("", title=title)
    doc.markdown = _html_to_markdown(result.value, doc, whole=True)
    return doc


def _docx_title(xml: bytes) -> str | None:
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return None
    node = root.find("{http://purl.org/dc/elements/1.1/}title")
    return node.text if node is not None else None


# --------------------------------------------------------------------------------------
# HTML

def _read_html(path: Path) -> _Doc:
    try:
        from bs4 import BeautifulSoup
    except ImportError as exc:
        raise _missing("HTML", exc) from None
    soup = BeautifulSoup(path.read_bytes(), "html.parser")
    title = None
    og = soup.find("meta", attrs={"property": "og:title"})
    if og is not None and og.get("content"):
        title = _good_title(og.get("content"))
    if title is None and soup.title is not None:
        title = _good_title(soup.title.get_text())
    doc = _Doc("", title=title)
    doc.markdown = _html_to_markdown(soup, doc, whole=False)
    return doc


_DROP_TAGS = ("script", "style", "noscript", "template", "svg", "img", "picture", "video", "audio", "iframe", "object",
              "embed", "canvas", "form", "button", "input", "select", "textarea", "map", "link", "meta", "head")
_DROP_PAGE_TAGS = ("nav", "header", "footer")
_PERMALINKS = ("¶", "#", "§", "🔗", "\\#", "↑")   # heading permalinks; Word footnotes' back-links


def _html_to_markdown(html: Any, doc: _Doc, *, whole: bool) -> str:
    """HTML (a string or a soup) -> markdown. ``whole``: the HTML is the document itself
    (from Word), not a web page with navigation around it."""
    try:
        from bs4 import BeautifulSoup
        from markdownify import STRIP, MarkdownConverter
    except ImportError as exc:
        raise _missing("HTML and Word", exc) from None
    soup = html if not isinstance(html, str) else BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(_DROP_TAGS):
        if getattr(tag, "decomposed", False):
            continue
        if tag.name in ("img", "svg", "picture"):      # (an <img> inside a <picture> is gone with it)
            doc.dropped["images"] += 1
        tag.decompose()
    for tag in soup.find_all("a"):    # Sphinx / MkDocs permalink marks next to headings
        if "headerlink" in (tag.get("class") or []) or tag.get_text().strip() in _PERMALINKS:
            tag.decompose()
    if not whole:
        for tag in soup.find_all(_DROP_PAGE_TAGS):
            tag.decompose()
        for tag in soup.find_all(role=["navigation", "banner", "contentinfo", "search"]):
            tag.decompose()
    # a list of in-page links only is a table of contents
    for listing in soup.find_all(["ul", "ol"]):
        if getattr(listing, "decomposed", False):
            continue
        items = listing.find_all("li", recursive=False)
        if items and all(_only_local_links(li) for li in items):
            doc.dropped["toc"] += len(items)
            listing.decompose()
    root = soup
    if not whole:
        main = soup.find("main")
        articles = soup.find_all("article")
        root = main if main is not None else articles[0] if len(articles) == 1 else (soup.body or soup)
    converter = MarkdownConverter(heading_style="ATX", bullets="-", escape_underscores=False, escape_misc=False,
                                  table_infer_header=True, strip_document=STRIP)
    return converter.convert_soup(root)


def _only_local_links(li: Any) -> bool:
    """A list item that is nothing but links to headings of the same page (and page numbers)."""
    local = li.find_all("a", href=re.compile(r"^#"))
    if not local:
        return False
    rest = "".join(text for text in li.find_all(string=True) if text.find_parent("a", href=re.compile(r"^#")) is None)
    return not re.sub(r"[\W\d_]+", "", rest)


# --------------------------------------------------------------------------------------
# markdown and text

def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _read_markdown(path: Path) -> _Doc:
    text = _decode(path.read_bytes()).replace("\r\n", "\n").replace("\r", "\n")
    try:
        meta, body, _ = split_front_matter(text)
    except ManualError as exc:
        raise ConversionError(f"{path.name}: {exc.message}.") from None
    return _Doc(body, title=_good_title(meta.get("title")))


def _read_text(path: Path) -> _Doc:
    text = _decode(path.read_bytes()).replace("\r\n", "\n").replace("\r", "\n")
    # plain text is not markdown: a '#' or '>' starting a line is text, not a heading or a quote
    return _Doc(re.sub(r"^(\s*)([#>])", r"\1\\\2", text, flags=re.M))


# --------------------------------------------------------------------------------------
# the cleanup every format gets

@dataclass
class TidyInfo:
    title: str
    headings: int
    dropped: Counter[str]
    notes: list[str]


_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_LEADER = r"(?:\.{3,}|…+|(?:\. ){3,}\.?|·{3,}|_{4,}|-{4,})"
_TOC_LINE = re.compile(rf"^\s*[-*]?\s*\S.*?\s*{_LEADER}\s*\.?\s*(?:\d{{1,4}}|[ivxlc]{{1,6}})(?:\s*[-–]\s*\d{{1,4}})?\s*$", re.I)
_TAB_PAGE = re.compile(r"^\s*[-*]?\s*\S.*\t\s*(?:\d{1,4}|[ivxlc]{1,6})\s*$", re.I)
_ENDS_WITH_PAGE = re.compile(r"^\s*[-*]?\s*\S.{0,100}?\s(?:\d{1,4}|[ivxlc]{1,6})\s*$", re.I)
_TOC_HEADING = re.compile(r"^(?:table of )?contents?$|^list of (?:figures|tables|illustrations)$|^inhalt(?:sverzeichnis)?$|"
                          r"^table des matières$|^sommaire$|^índice$|^indice$|^toc$", re.I)
_IMAGE = re.compile(r"!\[[^\]]*\]\((?:[^()\s]|\([^()]*\))*(?:\s+\"[^\"]*\")?\)|<img\b[^>]*>", re.I)
_LINK = re.compile(r"(?<!!)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_ABSOLUTE = re.compile(r"^(?:https?:|mailto:|ftp:)", re.I)
_SENTENCE_END = re.compile(r"[.;,!]$")


def tidy(markdown: str, *, title: str | None = None, document_title: str | None = None,
         fallback_title: str = "Imported manual") -> tuple[str, TidyInfo]:
    """Clean converted markdown into a manual body starting with ``# Title`` (see the module docstring).

    ``title`` is the one asked for (always used); ``document_title`` the document's own (its
    metadata), replaced by the first ``#`` heading when that is a part of it ("Worklist
    filters" for "Worklist filters - Acme Help Center")."""
    dropped: Counter[str] = Counter()
    notes: list[str] = []
    text = markdown.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\x0c", "\n")
    text = re.sub(r"[\x00-\x08\x0b\x0e-\x1f]", "", text)
    lines = [line.rstrip() for line in text.split("\n")]
    lines = _inline_cleanup(lines, dropped)
    lines = _drop_toc(lines, dropped)
    headings = _headings(lines)
    if len(headings) <= 1:           # none, or only the title: find them in the text
        lines = _fallback_headings(lines)
        found = len(headings)
        headings = _headings(lines)
        if len(headings) > found:
            notes.append("took numbered, ALL-CAPS or bold lines on their own as headings")
    h1s = [heading_text for _i, level, heading_text in headings if level == 1]
    # the first heading names the document when it is its only "#" heading
    first_h1 = h1s[0] if len(h1s) == 1 and headings[0][1] == 1 else None
    chosen = re.sub(r"\s+", " ", title).strip() if title else None
    if not chosen and document_title:
        chosen = re.sub(r"\s+", " ", document_title).strip()
        if first_h1 and len(first_h1) >= 3 and first_h1.lower() in chosen.lower():
            chosen = first_h1
    if not chosen:
        chosen = (first_h1 if first_h1 and len(first_h1) <= 150 else None) or fallback_title
    lines = _normalise_headings(lines, chosen)
    body = "\n".join(lines)
    body = re.sub(r"\n{3,}", "\n\n", body).strip("\n") + "\n"
    count = len(_headings(body.split("\n"))) - 1
    return body, TidyInfo(title=chosen, headings=max(count, 0), dropped=dropped, notes=notes)


def _outside_code(lines: list[str]) -> list[bool]:
    """For each line: True when it is not inside a fenced code block."""
    out: list[bool] = []
    fence: str | None = None
    for line in lines:
        m = _FENCE.match(line)
        if fence is not None:
            out.append(False)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
            out.append(False)
            continue
        out.append(True)
    return out


def _inline_cleanup(lines: list[str], dropped: Counter[str]) -> list[str]:
    outside = _outside_code(lines)
    out: list[str] = []
    for line, plain in zip(lines, outside):
        if not plain:
            out.append(line)
            continue
        line, n = _IMAGE.subn("", line)
        if n:
            dropped["images"] += n
            line = re.sub(r"(?<=\S) {2,}(?=\S)", " ", line)

        def link(m: re.Match[str]) -> str:
            label, target = m.group(1), m.group(2)
            if label.strip() in _PERMALINKS:
                return ""
            if _ABSOLUTE.match(target):
                return m.group(0)
            if target.lower().startswith("#_toc"):
                dropped["toc"] += 1
            elif target:
                dropped["links"] += 1
            return label

        line = _LINK.sub(link, line)
        if _PAGE_OF.match(line.strip()):
            dropped["page_numbers"] += 1
            continue
        if not line.strip() and out and not out[-1].strip():
            continue
        out.append(line)
    return out


def _is_toc_line(line: str, *, in_contents: bool) -> bool:
    stripped = line.strip()
    if not stripped:
        return False
    bare = re.sub(r"[*_]{1,3}", "", stripped)
    if _TOC_LINE.match(bare):
        return True
    if in_contents:
        before_number = re.sub(r"\s+\S+$", "", bare)
        return bool(_TAB_PAGE.match(line) or _ENDS_WITH_PAGE.match(bare)) and not _SENTENCE_END.search(before_number)
    return False


def _drop_toc(lines: list[str], dropped: Counter[str]) -> list[str]:
    outside = _outside_code(lines)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = _ATX.match(line) if outside[i] else None
        candidate = (heading.group(2) or "") if heading else (line.strip() if outside[i] else "")
        candidate = re.sub(r"[*_]", "", candidate).strip().rstrip(":")
        if outside[i] and _TOC_HEADING.match(candidate) and (heading or not out or not out[-1].strip()):
            # a Contents heading (or a "Contents" line on its own): drop it and its entries
            j = i + 1
            entries = 0
            while j < len(lines):
                nxt = lines[j]
                if not nxt.strip():
                    j += 1
                    continue
                nxt_heading = _ATX.match(nxt)
                if nxt_heading and not _is_toc_line(nxt_heading.group(2) or "", in_contents=True):
                    break
                if not _is_toc_line(nxt, in_contents=True):
                    break
                entries += 1
                j += 1
            if entries:
                dropped["toc"] += entries + 1
                i = j
                continue
        if outside[i] and not heading and _is_toc_line(line, in_contents=False):
            dropped["toc"] += 1
            i += 1
            continue
        out.append(line)
        i += 1
    return out


def _headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """``(index, level, text)`` of the ATX headings outside code."""
    found = []
    for i, (line, plain) in enumerate(zip(lines, _outside_code(lines))):
        m = _ATX.match(line) if plain else None
        if m:
            found.append((i, len(m.group(1)), _heading_plain(m.group(2) or "")))
    return found


def _heading_plain(text: str) -> str:
    text = re.sub(r"\s*\{#[^}]*\}\s*$", "", text)
    text = re.sub(r"(\*\*|__)(.*?)\1", r"\2", text)
    text = re.sub(r"(?<!\w)[*_](.+?)[*_](?!\w)", r"\1", text)
    text = text.replace("\\", "")
    return re.sub(r"\s+", " ", text).strip()


_NUMBER_PREFIX = re.compile(r"^(?:(?:chapter|section|part)\s+)?\d{1,2}(?:\.\d{1,2})*\.?\s+", re.I)
_NUMBERED = re.compile(r"^(?:(?:chapter|section|part)\s+)?(\d{1,2}(?:\.\d{1,2}){0,4})(\.?)\s+(\S.{1,78})$", re.I)


def _fallback_level(line: str, *, numbered_before: bool = False) -> int:
    """Heading level for a line on its own in a document without headings, or 0. An ALL-CAPS
    or bold line ranks below the numbered chapter it is in (``numbered_before``)."""
    bare = line.strip()
    bold = re.fullmatch(r"(\*\*|__)(.+?)\1", bare)
    text = bold.group(2).strip() if bold else bare
    if not text or len(text) > 80 or _SENTENCE_END.search(text) or not re.search(r"[^\W\d_]", text):
        return 0
    m = _NUMBERED.match(text)
    if m:
        number, dot, rest = m.groups()
        parts = number.split(".")
        if len(parts) == 1 and dot:        # "1. Open the study" is a step, not a heading
            return 0
        if rest[:1].isupper() or rest[:1].isdigit():
            return min(len(parts) + 1, 6)
        return 0
    letters = [c for c in text if c.isalpha()]
    if 3 <= len(text) <= 60 and len(letters) >= 3 and all(c.isupper() for c in letters) and re.search(r"[^\W\d_]{3}", text):
        return 3 if numbered_before else 2
    if bold:
        return 4 if numbered_before else 3
    return 0


def _fallback_headings(lines: list[str]) -> list[str]:
    outside = _outside_code(lines)
    out = list(lines)
    numbered = False
    for i, line in enumerate(lines):
        if not outside[i] or not line.strip() or line.startswith((" ", "\t", "|", ">", "-", "*  ", "+")) \
                and not line.startswith("**"):
            continue
        alone = (i == 0 or not lines[i - 1].strip()) and (i + 1 >= len(lines) or not lines[i + 1].strip())
        if not alone:
            continue
        level = _fallback_level(line, numbered_before=numbered)
        if level:
            out[i] = "#" * level + " " + _heading_plain(line.strip())
            numbered = numbered or bool(_NUMBERED.match(_heading_plain(line.strip())))
    return out


def _normalise_headings(lines: list[str], title: str) -> list[str]:
    """One ``# title``; body headings renumbered from ``##`` without gaps; empty ones dropped;
    repeated ones named after their parent."""
    found = _headings(lines)
    if found and found[0][2].lower() == title.lower():
        lines = lines[:found[0][0]] + lines[found[0][0] + 1:]
        found = _headings(lines)
    for index, _level, text in reversed(found):
        if not text:
            del lines[index]
    found = _headings(lines)
    levels = sorted({level for _i, level, _t in found})
    rank = {level: min(i + 2, 6) for i, level in enumerate(levels)}
    stack: list[tuple[int, str]] = []
    names: set[str] = {title.lower()}
    for index, level, text in found:
        new_level = rank[level]
        while stack and stack[-1][0] >= new_level:
            stack.pop()
        name = text
        if name.lower() in names:
            parent = stack[-1][1] if stack else None
            parent = _NUMBER_PREFIX.sub("", parent) if parent else None
            if parent and f"{name} ({parent})".lower() not in names:
                name = f"{name} ({parent})"
            else:
                n = 2
                while f"{name} ({n})".lower() in names:
                    n += 1
                name = f"{name} ({n})"
        names.add(name.lower())
        stack.append((new_level, text))
        lines[index] = "#" * new_level + " " + name
    return [f"# {title}", ""] + lines

"""``pacsbot kb import``: vendor PDF / Word / HTML manuals -> markdown manuals.

The PDF and Word files are real documents written here from a markdown source (fpdf2 with
the DejaVu fonts matplotlib ships; python-docx with Word's own heading styles), so the test
goes through the same libraries and the same layout clues a vendor's file has.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import pytest

from pacsbot.bot.cli import main
from pacsbot.knowledge.base import KnowledgeBase
from pacsbot.knowledge.importer import ConversionError, convert, output_name, tidy
from pacsbot.knowledge.lint import check
from pacsbot.knowledge.manuals import split_front_matter

TODAY = dt.date(2026, 11, 30)

SOURCE = """\
# Acme Vue PACS Technologist Guide

Version 12.4 for the technologists of the imaging department.

## 1 Sending a study

To send a study to another archive, open the worklist, right-click the study and choose Send To. Pick the destination and press Start.

### 1.1 Checking the transfer queue

Open Tools > Transfer Queue. Failed jobs are shown in red; select one and press Retry to send it again.

| Status | Meaning |
| --- | --- |
| Queued | Waiting to send |
| Failed | Press Retry |

### 1.2 When a send keeps failing

If a send fails twice, check that the destination answers a DICOM echo before you call the PACS team.

## 2 Missing images

When a series is missing, compare the image count on the modality with the count in the viewer.

- Resend the series from the modality console.
- Ask the PACS team to reconcile the study.

## 3 Downtime

""" + "During a PACS downtime the modalities keep every study on their local disk and send it when the archive is back. " \
    * 40 + "\n"

HEADINGS = ["## 1 Sending a study", "### 1.1 Checking the transfer queue", "### 1.2 When a send keeps failing",
            "## 2 Missing images", "## 3 Downtime"]
RUNNING_HEADER = "Acme Vue PACS 12.4 \u2014 Technologist Guide"


def blocks(markdown: str) -> list[tuple[str, object]]:
    """The source as (kind, value) blocks: ("h", (level, text)), ("p", text), ("li", [items]), ("table", rows)."""
    out: list[tuple[str, object]] = []
    for chunk in markdown.strip().split("\n\n"):
        lines = chunk.strip().split("\n")
        if lines[0].startswith("#"):
            hashes, text = lines[0].split(" ", 1)
            out.append(("h", (len(hashes), text)))
        elif lines[0].startswith("|"):
            rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines if not set(line) <= set("|- ")]
            out.append(("table", rows))
        elif lines[0].startswith("- "):
            out.append(("li", [line[2:] for line in lines]))
        else:
            out.append(("p", " ".join(lines)))
    return out


def fonts() -> tuple[str, str]:
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return str(ttf / "DejaVuSans.ttf"), str(ttf / "DejaVuSans-Bold.ttf")


def write_pdf(path: Path, markdown: str, *, styled: bool = True, title: str | None = None) -> Path:
    """A vendor-style PDF: a cover page, a table of contents with dotted leaders, chapters on
    new pages, a running header and "Page N of M" footer. ``styled=False``: every line in the
    same font and size (only numbering and capitals tell a heading)."""
    from fpdf import FPDF

    regular, bold = fonts()

    class Manual(FPDF):
        def header(self) -> None:
            if self.page_no() > 1:
                self.set_font("DejaVu", "", 8)
                self.cell(0, 6, RUNNING_HEADER, align="C")
                self.ln(12)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("DejaVu", "", 8)
            self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = Manual()
    pdf.add_font("DejaVu", "", regular)
    pdf.add_font("DejaVu", "B", bold)
    if title:
        pdf.set_title(title)
    sizes = {1: 24, 2: 18, 3: 14}
    parts = blocks(markdown)
    pdf.add_page()
    toc = [value for kind, value in parts if kind == "h" and value[0] > 1]  # type: ignore[index]

    def heading(level: int, text: str) -> None:
        pdf.set_font("DejaVu", "B" if styled else "", sizes[level] if styled else 11)
        pdf.multi_cell(0, 12 if styled else 6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)

    first = True
    for kind, value in parts:
        if kind == "h":
            level, text = value  # type: ignore[misc]
            if level == 2 and first:
                first = False
                pdf.add_page()                       # the table of contents
                heading(2, "Contents")
                pdf.set_font("DejaVu", "", 11)
                for n, (lvl, entry) in enumerate(toc):
                    indent = "      " if lvl == 3 else ""
                    pdf.cell(0, 7, f"{indent}{entry} " + "." * (70 - len(entry)) + f" {n + 3}", new_x="LMARGIN", new_y="NEXT")
            if level == 2:
                pdf.add_page()
            heading(level, text)
        elif kind == "p":
            pdf.set_font("DejaVu", "", 11)
            pdf.multi_cell(0, 6, str(value), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        elif kind == "li":
            pdf.set_font("DejaVu", "", 11)
            for item in value:  # type: ignore[union-attr]
                pdf.multi_cell(0, 6, f"\u2022 {item}", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        elif kind == "table":
            pdf.set_font("DejaVu", "", 11)
            with pdf.table() as table:
                for row in value:  # type: ignore[union-attr]
                    cells = table.row()
                    for cell in row:
                        cells.cell(cell)
            pdf.ln(4)
    pdf.output(str(path))
    return path


def write_docx(path: Path, markdown: str) -> Path:
    """A Word document with Title / Heading 1-2 styles, a typed table of contents, a table,
    a bulleted list, a picture and a page header and footer."""
    from docx import Document
    from PIL import Image

    png = path.with_suffix(".png")
    Image.new("RGB", (40, 20), (200, 30, 30)).save(png)
    doc = Document()
    doc.core_properties.title = "Acme Vue PACS Technologist Guide"
    doc.sections[0].header.paragraphs[0].text = RUNNING_HEADER
    doc.sections[0].footer.paragraphs[0].text = "Acme Imaging confidential - Page 1"
    parts = blocks(markdown)
    first = True
    for kind, value in parts:
        if kind == "h":
            level, text = value  # type: ignore[misc]
            if level == 1:
                doc.add_paragraph(text, style="Title")
                continue
            if first:
                first = False
                doc.add_heading("Contents", 1)
                doc.add_paragraph("1 Sending a study\t2")
                doc.add_paragraph("2 Missing images ........................ 3")
            if text == "2 Missing images":      # a heading that repeats in two chapters (vendors do this)
                doc.add_heading("Troubleshooting", 2)
                doc.add_paragraph("Check the network cable of the modality.")
            doc.add_heading(text, level - 1)
            if text == "1 Sending a study":
                doc.add_picture(str(png))
        elif kind == "p":
            para = doc.add_paragraph()
            para.add_run(str(value))
        elif kind == "li":
            for item in value:  # type: ignore[union-attr]
                doc.add_paragraph(item, style="List Bullet")
        elif kind == "table":
            rows = value
            table = doc.add_table(rows=len(rows), cols=len(rows[0]))  # type: ignore[arg-type]
            for r, row in enumerate(rows):  # type: ignore[arg-type]
                for c, cell in enumerate(row):
                    table.rows[r].cells[c].text = cell
    doc.add_heading("Troubleshooting", 2)
    doc.add_paragraph("Restart the viewer after a crash during downtime.")
    doc.save(str(path))
    return path


HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Worklist filters - Acme Help Center</title>
<script>window.analytics = "tracking";</script><style>p { color: red }</style></head>
<body>
<nav><a href="/">Home</a> <a href="/viewer/">Viewer</a></nav>
<header><p>ACME HELP CENTER</p></header>
<main>
<h1>Worklist filters</h1>
<ul class="toc"><li><a href="#create">Create a filter</a></li><li><a href="#share">Share a filter</a></li></ul>
<p>Filters narrow the worklist to the studies you read. <img src="filters.png" alt="The filter bar"></p>
<h2 id="create">Create a filter</h2>
<p>Click <b>New filter</b>, choose the modality and body part, and press <a href="#share">Save</a>.
See also <a href="https://help.example.org/filters">the online help</a> and <a href="other.html">layouts</a>.</p>
<table><tr><th>Field</th><th>Example</th></tr><tr><td>Modality</td><td>CT</td></tr></table>
<h2 id="share">Share a filter</h2>
<p>Right-click the filter and choose <i>Share with group</i>; the radiologists of the group see it at once.</p>
</main>
<footer>Copyright 2026 Acme Imaging. Page 1 of 1</footer>
</body></html>
"""


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vendor")
    flat = "# Archive notes\n\n" + "\n\n".join([
        "1 Archive", "The archive keeps every study for ten years and checks its disks every night.",
        "1.1 Restarting a stuck job", "Open the archive console, select the job and press Restart.",
        "TROUBLESHOOTING", "If the job fails again, call the vendor hotline on extension 4455.",
        "2 Routing rules", "Studies from the emergency CT are routed to the reading room first.",
    ])
    (root / "viewer.html").write_text(HTML, encoding="utf-8")
    return {
        "pdf": write_pdf(root / "Acme Vue Technologist Guide v12.pdf", SOURCE, title="Microsoft Word - acme_guide_v12.docx"),
        "docx": write_docx(root / "acme-guide.docx", SOURCE),
        "html": root / "viewer.html",
        "flat": write_pdf(root / "archive-notes.pdf", flat, styled=False),
    }


def body_of(text: str) -> tuple[dict, str]:
    meta, body, _ = split_front_matter(text)
    return meta, body


def headings(body: str) -> list[str]:
    return [line for line in body.split("\n") if line.startswith("#")]


# --------------------------------------------------------------------------------------
# the three formats

def test_pdf_keeps_headings_and_tables_and_drops_page_furniture(sources: dict[str, Path]) -> None:
    result = convert(sources["pdf"], audience=["technologist"], today=TODAY)
    meta, body = body_of(result.text)
    assert meta == {"title": "Acme Vue PACS Technologist Guide", "audience": ["technologist"],
                    "source": "Acme Vue Technologist Guide v12.pdf", "imported": TODAY, "owner": None, "reviewed": None}
    assert headings(body) == ["# Acme Vue PACS Technologist Guide", *HEADINGS]
    assert "Version 12.4 for the technologists" in body
    assert "| Status | Meaning |" in body and "| Failed | Press Retry |" in body
    assert "- Resend the series from the modality console.\n- Ask the PACS team to reconcile the study." in body
    # page headers, footers, page numbers and the table of contents are gone
    assert "Technologist Guide\n" not in body.replace("# Acme Vue PACS Technologist Guide\n", "")
    assert RUNNING_HEADER not in body and "Page " not in body and "Contents" not in body and "...." not in body
    # the downtime paragraph ran over a page break and comes out whole
    downtime = body.split("## 3 Downtime\n\n", 1)[1].strip()
    assert downtime.count("During a PACS downtime") == 40 and "\n" not in downtime
    assert result.pages and result.pages >= 6
    assert result.dropped["header_footer"] >= 5 and result.dropped["page_numbers"] >= 6 and result.dropped["toc"] >= 5


def test_docx_keeps_styles_and_drops_pictures_headers_and_contents(sources: dict[str, Path]) -> None:
    result = convert(sources["docx"], today=TODAY)
    meta, body = body_of(result.text)
    assert meta["title"] == "Acme Vue PACS Technologist Guide"
    assert meta["audience"] == ["all"] and meta["source"] == "acme-guide.docx"
    assert headings(body) == ["# Acme Vue PACS Technologist Guide", *HEADINGS[:3], "### Troubleshooting", *HEADINGS[3:],
                              "### Troubleshooting (Downtime)"]
    assert "| Status | Meaning |" in body and "| Queued | Waiting to send |" in body
    assert "- Resend the series from the modality console." in body
    assert "Contents" not in body and "...." not in body and "\t" not in body
    assert "confidential" not in body and RUNNING_HEADER not in body         # Word headers/footers are not text
    assert "![" not in body and "data:image" not in body and result.dropped["images"] == 1


def test_html_keeps_the_article_only(sources: dict[str, Path]) -> None:
    result = convert(sources["html"], audience=["radiologist", "technologist"], today=TODAY)
    meta, body = body_of(result.text)
    assert meta["title"] == "Worklist filters"      # the <h1>, not "... - Acme Help Center"
    assert meta["audience"] == ["radiologist", "technologist"]
    assert headings(body) == ["# Worklist filters", "## Create a filter", "## Share a filter"]
    for gone in ("analytics", "color: red", "Home", "HELP CENTER", "Copyright", "filters.png", "The filter bar"):
        assert gone not in body, gone
    assert "press Save." in body                          # in-page link: the text stays
    assert "[the online help](https://help.example.org/filters)" in body
    assert "other.html" not in body and "and layouts." in body
    assert "| Modality | CT |" in body and "**New filter**" in body
    assert body.count("Create a filter") == 1              # the in-page table of contents is gone


def test_pdf_without_heading_fonts_falls_back_to_numbered_and_capital_lines(sources: dict[str, Path]) -> None:
    result = convert(sources["flat"], today=TODAY)
    _, body = body_of(result.text)
    assert headings(body) == ["# Archive notes", "## 1 Archive", "### 1.1 Restarting a stuck job", "### TROUBLESHOOTING",
                              "## 2 Routing rules"]
    assert any("numbered" in note for note in result.notes)


# --------------------------------------------------------------------------------------
# the manuals are usable: they pass `kb check` and the bot answers from them

def test_imported_manuals_pass_the_lint_and_answer_questions(tmp_path: Path, sources: dict[str, Path]) -> None:
    out = tmp_path / "vendor"
    out.mkdir()
    for key in ("pdf", "docx", "html", "flat"):
        result = convert(sources[key], today=TODAY)
        (out / f"{key}-{output_name(sources[key])}").write_text(result.text, encoding="utf-8")
    problems = check([out], today=TODAY)
    assert [p for p in problems if p.severity == "error"] == []
    assert {p.message for p in problems} == {"no 'reviewed:' date in the front matter (YYYY-MM-DD)"}  # for the site to fill in
    kb = KnowledgeBase([out], reload_seconds=0)
    answer = kb.answer("how do I retry a failed transfer in the queue")
    assert answer.answered and answer.section is not None
    assert answer.section.heading == "1.1 Checking the transfer queue"
    assert answer.section.file.startswith(("pdf-", "docx-"))
    share = kb.answer("how can I share a worklist filter with my group")
    assert share.answered and share.section is not None and share.section.heading == "Share a filter"


# --------------------------------------------------------------------------------------
# errors: one clear sentence, never a traceback

def test_corrupt_encrypted_scanned_and_unsupported_files(tmp_path: Path) -> None:
    from fpdf import FPDF

    def fails(path: Path) -> str:
        with pytest.raises(ConversionError) as caught:
            convert(path)
        assert caught.value.exit_status == 1
        return str(caught.value)

    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage\n%%EOF\n")
    assert "broken.pdf: is damaged or not a real PDF" in fails(tmp_path / "broken.pdf")
    (tmp_path / "renamed.pdf").write_text("Dear team, the manual is attached.")
    assert "is not a PDF" in fails(tmp_path / "renamed.pdf")
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    assert "broken.docx: is not a Word .docx file" in fails(tmp_path / "broken.docx")
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    assert "save it as .docx" in fails(tmp_path / "old.doc")
    (tmp_path / "manual.xyz").write_text("x")
    message = fails(tmp_path / "manual.xyz")
    assert "cannot import '.xyz' files" in message and ".pdf" in message and ".docx" in message

    locked = FPDF()
    locked.add_page()
    locked.set_font("Helvetica", size=12)
    locked.cell(0, 10, "Service passwords")
    locked.set_encryption(owner_password="vendor", user_password="secret")
    locked.output(str(tmp_path / "locked.pdf"))
    assert "locked.pdf: is password-protected" in fails(tmp_path / "locked.pdf")

    scanned = FPDF()
    for _ in range(2):
        scanned.add_page()
        scanned.rect(20, 20, 150, 200, style="F")      # a drawing of a page, no text
    scanned.output(str(tmp_path / "drawn.pdf"))
    assert "needs OCR" in fails(tmp_path / "drawn.pdf")

    from PIL import Image

    Image.new("L", (300, 400), 255).save(tmp_path / "page.png")

    class Scanner(FPDF):
        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", size=8)
            self.cell(0, 10, f"Scanned by the copier - page {self.page_no()}")

    scanned = Scanner()
    scanned.set_font("Helvetica", size=8)
    for _ in range(3):
        scanned.add_page()
        scanned.image(str(tmp_path / "page.png"), x=10, y=10, w=180)   # a scan, with only a stamped footer
    scanned.output(str(tmp_path / "scanned.pdf"))
    assert "scanned.pdf: 3 of its 3 pages are pictures of text (scanned)" in fails(tmp_path / "scanned.pdf")
    assert "needs OCR" in fails(tmp_path / "scanned.pdf")


def test_missing_converters_say_how_to_install_them(monkeypatch: pytest.MonkeyPatch, sources: dict[str, Path]) -> None:
    monkeypatch.setitem(sys.modules, "pdfplumber", None)
    monkeypatch.setitem(sys.modules, "mammoth", None)
    for key in ("pdf", "docx"):
        with pytest.raises(ConversionError, match=re.escape("pip install 'pacsbot[import]'")):
            convert(sources[key])


# --------------------------------------------------------------------------------------
# the cleanup rules on their own

def test_tidy_rules() -> None:
    body, info = tidy("\n".join([
        "Contents", "", "Introduction ......... 1", "Sending a study . . . . . . 2", "", "Page 1 of 9", "",
        "# Introduction", "", "Text with ![a screenshot](img/shot.png) and [a link](other.md#x) and [web](https://x.org).",
        "", "# Sending", "", "## Procedure", "", "Step.", "", "# Routing", "", "## Procedure", "", "Other step.",
        "", "## ", "", "```", "# not a heading", "Page 2 of 9", "```",
    ]), title="Vendor guide")
    assert info.title == "Vendor guide"
    assert headings(body) == ["# Vendor guide", "## Introduction", "## Sending", "### Procedure", "## Routing",
                              "### Procedure (Routing)", "# not a heading"]
    assert "......" not in body and "Contents" not in body and "Page 1 of 9" not in body
    assert "Page 2 of 9" in body                          # code is left alone
    assert "Text with and a link and [web](https://x.org)." in body
    assert info.dropped["images"] == 1 and info.dropped["links"] == 1 and info.dropped["toc"] == 3


def test_fallback_headings_in_a_text_file(tmp_path: Path) -> None:
    (tmp_path / "router notes.txt").write_text("\n".join([
        "3 ROUTING", "", "Port\t104", "", "3.2 Sending a study", "", "1. Open the study.", "", "Done.", "",
        "**Stuck jobs**", "", "#1 rule: never delete a job.", "", "CAUTION", "", "Retry.", "",
        "A sentence that ends like one.", "", "1.0 is the old version number of it.",
    ]), encoding="cp1252")
    result = convert(tmp_path / "router notes.txt", today=TODAY)
    meta, body = body_of(result.text)
    assert meta["title"] == "Router notes"                 # from the file name
    assert headings(body) == ["# Router notes", "## 3 ROUTING", "### 3.2 Sending a study", "#### Stuck jobs", "### CAUTION"]
    assert "Port\t104" in body and "1. Open the study." in body and "\\#1 rule" in body


def test_html_permalinks_and_word_style_toc_links() -> None:
    body, info = tidy("# Setup\n\n[Install 4](#_Toc123456)\n\n## Install[¶](#install)\n\nRun it.\n", title=None)
    assert headings(body) == ["# Setup", "## Install"] and "_Toc" not in body and info.title == "Setup"


def test_output_names() -> None:
    assert output_name(Path("Vue PACS 12 Admin_Guide (EN).PDF")) == "vue-pacs-12-admin-guide-en.md"
    assert output_name(Path("???.pdf")) == "manual.md"


# --------------------------------------------------------------------------------------
# the command

def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_imports_checks_and_refuses_to_overwrite(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                     sources: dict[str, Path]) -> None:
    out = tmp_path / "manuals" / "vendor"
    code, stdout, stderr = run(capsys, "kb", "import", str(sources["pdf"]), str(sources["docx"]), str(sources["html"]),
                               "--out", str(out), "--audience", "technologist,Radiologist")
    assert code == 0, stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["acme-guide.md", "acme-vue-technologist-guide-v12.md", "viewer.md"]
    assert f"Wrote {out / 'acme-vue-technologist-guide-v12.md'} from Acme Vue Technologist Guide v12.pdf" in stdout
    assert "warning: no 'reviewed:' date" in stdout and "error" not in stdout
    assert "3 manual(s) written" in stderr and "Traceback" not in stderr
    meta, _ = body_of((out / "viewer.md").read_text())
    assert meta["audience"] == ["technologist", "radiologist"] and meta["imported"] == dt.date.today()

    # `kb check` on the directory agrees
    code, stdout, stderr = run(capsys, "kb", "check", "--manuals", str(out))
    assert code == 0 and "0 error(s)" in stderr

    # and `kb search` finds the answer in it
    code, stdout, _ = run(capsys, "kb", "search", "retry a failed transfer", "--manuals", str(out))
    assert code == 0 and "would answer" in stdout and "checking-the-transfer-queue" in stdout

    # a second run refuses to replace the files; --force replaces them
    before = (out / "viewer.md").read_text()
    (out / "viewer.md").write_text(before + "\nLocal note.\n")
    code, stdout, stderr = run(capsys, "kb", "import", str(sources["html"]), "--out", str(out))
    assert code == 1 and "already exists; not replaced (use --force" in stderr
    assert (out / "viewer.md").read_text().endswith("Local note.\n")
    code, stdout, stderr = run(capsys, "kb", "import", str(sources["html"]), "--out", str(out), "--force", "--title", "Filters")
    assert code == 0 and body_of((out / "viewer.md").read_text())[0]["title"] == "Filters"


def test_cli_reports_each_failure_and_goes_on(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                              sources: dict[str, Path]) -> None:
    (tmp_path / "corrupt.pdf").write_bytes(b"%PDF-1.4\nnothing here\n")
    (tmp_path / "notes.odt").write_text("x")
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, "kb", "import", str(tmp_path / "corrupt.pdf"), str(sources["html"]),
                               str(tmp_path / "notes.odt"), str(tmp_path / "missing.pdf"), "--out", str(out))
    assert code == 1
    assert "pacsbot: corrupt.pdf: is damaged or not a real PDF" in stderr
    assert "pacsbot: notes.odt: cannot import '.odt' files (open it in LibreOffice and save it as .docx)" in stderr
    assert "missing.pdf: no such file" in stderr
    assert "Traceback" not in stderr and "Wrote" in stdout and [p.name for p in out.iterdir()] == ["viewer.md"]


def test_cli_bad_arguments(capsys: pytest.CaptureFixture[str], tmp_path: Path, sources: dict[str, Path]) -> None:
    code, _, err = run(capsys, "kb", "import", str(sources["html"]), str(sources["pdf"]), "--out", str(tmp_path), "--title", "X")
    assert code == 2 and "--title names one manual" in err
    code, _, err = run(capsys, "kb", "import", str(sources["html"]), "--out", str(tmp_path), "--audience", "tech nologist!")
    assert code == 2 and "'nologist!' is not an audience word" in err
    (tmp_path / "file").write_text("x")
    code, _, err = run(capsys, "kb", "import", str(sources["html"]), "--out", str(tmp_path / "file"))
    assert code == 2 and "is not a directory" in err
    with pytest.raises(SystemExit):
        main(["kb", "import", "--help"])
    help_text = capsys.readouterr().out
    assert "--out DIR" in help_text and "pacsbot[import]" in help_text and "--force" in help_text

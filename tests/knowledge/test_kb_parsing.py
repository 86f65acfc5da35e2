"""Manuals as real sites write them: front matter, headings and slugs, and each dialect's
constructs (modelled on the Weasis/Hugo, Slicer/MyST and OHIF/Docusaurus pages)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pacsbot.knowledge.manuals import ManualError, load_library, parse_manual, split_front_matter
from pacsbot.knowledge.markup import clean, heading_text, slugify


def parse(text: str, file: str = "m.md"):
    return parse_manual(text, file=file)


def keys(manual) -> list[str]:
    return [s.anchor for s in manual.sections]


# front matter --------------------------------------------------------------------------

def test_yaml_front_matter_fields() -> None:
    m = parse("---\ntitle: Hanging priors\ntags: [priors, comparison]\naudience: [Radiologist]\n"
              "owner: PACS team\nreviewed: 2026-09-14\n---\n\n# Hanging priors\n\nText.\n")
    assert m.title == "Hanging priors" and m.title_from == "front matter"
    assert m.tags == ("priors", "comparison") and m.audience == ("radiologist",)
    assert m.owner == "PACS team" and m.reviewed == dt.date(2026, 9, 14)
    assert m.sections[0].line == 9  # lines count from the top of the file, front matter included


def test_toml_front_matter_and_hugo_keywords() -> None:
    m = parse('+++\ntitle = "Zoom"\nkeywords = ["zoom", "lens"]\nreviewed = 2026-01-02\n+++\n\n## Zoom Tool\n\nDrag.\n')
    assert m.title == "Zoom" and m.tags == ("zoom", "lens") and m.reviewed == dt.date(2026, 1, 2)


def test_no_front_matter_title_from_first_h1_then_file_name() -> None:
    assert parse("Intro\n\n# Real title\n\nx\n").title == "Real title"
    m = parse("## Only a section\n\ntext\n", file="dicom-export.en.md")
    assert m.title == "Dicom export" and m.title_from == "file name"


@pytest.mark.parametrize("text,line", [
    ("---\ntitle: [unclosed\n---\nbody\n", 2),
    ("---\ntitle: x\nbody without end\n", 1),
    ("---\n- a list\n---\nbody\n", 2),
])
def test_broken_front_matter_is_an_error_with_a_line(text: str, line: int) -> None:
    with pytest.raises(ManualError) as info:
        parse(text)
    assert info.value.line == line


def test_bad_reviewed_date_is_a_problem_not_a_crash() -> None:
    m = parse("---\ntitle: T\nreviewed: last tuesday\n---\n# T\n\nx\n")
    assert m.reviewed is None and "not a date" in m.problems[0].message


def test_horizontal_rule_is_not_front_matter() -> None:
    meta, body, start = split_front_matter("# Title\n\n---\n\ntext\n")
    assert meta == {} and start == 1 and body.startswith("# Title")


# headings and anchors -------------------------------------------------------------------

@pytest.mark.parametrize("heading,slug", [
    ("Open a prior next to the current study", "open-a-prior-next-to-the-current-study"),
    ("When the prior doesn't show up in the timeline", "when-the-prior-doesnt-show-up-in-the-timeline"),
    ("Window / Level Adjustment", "window--level-adjustment"),
    ("CD/DVD import and export", "cddvd-import-and-export"),
    ("Volume rendering (3D)", "volume-rendering-3d"),
    ("Measurements say \"uncalibrated\" or look wrong", "measurements-say-uncalibrated-or-look-wrong"),
    ("Schéma & données", "schéma--données"),
])
def test_github_slugs(heading: str, slug: str) -> None:
    assert slugify(heading_text(heading)) == slug


def test_explicit_ids_win_and_repeats_are_numbered() -> None:
    m = parse("# Page\n\n## Call the on-call: 4-7227 {#call-the-pacs-on-call}\n\nx\n\n## Input nodes\n\na\n\n"
              "## Input nodes\n\nb\n\n### Toolbars {: #bars .wide}\n\nc\n")
    assert keys(m) == ["page", "call-the-pacs-on-call", "input-nodes", "input-nodes-1", "bars"]
    assert m.sections[1].heading == "Call the on-call: 4-7227"


def test_headings_with_html_shortcodes_and_images_are_cleaned() -> None:
    m = parse('## <center>Displaying DICOM images {{< svg-inline "static/x.svg" >}}</center>\n\nx\n\n'
              '### Toolbars {{% badge style="red" %}}A{{% /badge %}} {#toolbars}\n\ny\n\n'
              '### ![](https://x.org/threshold.png) Threshold\n\nz\n')
    assert [(s.heading, s.anchor) for s in m.sections] == [
        ("Displaying DICOM images", "displaying-dicom-images"), ("Toolbars", "toolbars"), ("Threshold", "threshold")]


def test_heading_path_and_preamble() -> None:
    m = parse("---\ntitle: Guide\n---\nSome intro words.\n\n# Guide\n\n## Tools\n\n### Zoom\n\nz\n\n## Other\n\no\n")
    assert keys(m) == ["", "guide", "tools", "zoom", "other"]
    zoom = m.sections[3]
    assert zoom.path == ("Tools",) and zoom.breadcrumb == "Guide > Tools > Zoom"


def test_no_headings_inside_code_directives_or_comments() -> None:
    m = parse("# T\n\n```bash\n# not a heading\n```\n\n:::{note}\n# not either\n:::\n\n<!--\n# hidden\n-->\n\n"
              "{{< highlight shell >}}\n# comment\n{{< /highlight >}}\n\n## Real\n\nx\n")
    assert keys(m) == ["t", "real"]


def test_setext_headings() -> None:
    m = parse("Title\n=====\n\nintro\n\nSection two\n-----------\n\nbody\n\n- item\n---\n")
    assert [s.heading for s in m.sections] == ["Title", "Section two"]


def test_myst_targets_become_aliases() -> None:
    m = parse("# T\n\n(dicom-import)=\n## DICOM import\n\nx\n")
    assert m.sections[1].aliases == ("dicom-import",) and "dicom-import" in m.anchors


# dialects -------------------------------------------------------------------------------

def test_mkdocs_admonitions_tabs_and_attributes() -> None:
    text = clean('!!! warning "Patient safety"\n    Check the name.\n\n    Then stop.\n\n??? tip\n    Collapsed tip.\n\n'
                 '=== "Windows"\n    Press F5.\n\n![Shot](img/a.png){ width="300" }\n\nIcon :material-check: here.\n'
                 '--8<-- "includes/abbr.md"\n*[PACS]: Picture archive\n')
    assert "> **Warning: Patient safety**\n> Check the name.\n>\n> Then stop." in text
    assert "> **Tip**\n> Collapsed tip." in text
    assert "**Windows**" in text and "Press F5." in text
    assert "![Shot](img/a.png)" in text and "width" not in text
    assert ":material" not in text and "--8<--" not in text and "*[PACS]" not in text


def test_myst_directives_roles_and_options() -> None:
    text = clean(":::{note}\nImport first.\n:::\n\n```{admonition} Tip\n:class: tip\nShift-click to select.\n```\n\n"
                 "::::{tab-set}\n:::{tab-item} Windows\nRun it.\n:::\n::::\n\n"
                 "```{code-block} python\nslicer.util.loadVolume(p)\n```\n\n"
                 "```{image} img/x.png\n:alt: A screenshot\n```\n\n"
                 "```{toctree}\n:maxdepth: 2\nintro\n```\n\n"
                 "Press {kbd}`Ctrl+S`, see {ref}`loading data <data-loading>` and {doc}`modules/dicom`, "
                 "click {guilabel}`&File` then {menuselection}`Edit --> Preferences`.\n"
                 "% a comment\n(label)=\n"
                 "```{list-table}\n---\nheader-rows: 1\n---\n* - Key\n  - Action\n* - W\n  - Window\n```\n")
    assert "> **Note**\n> Import first." in text
    assert "> **Tip**\n> Shift-click to select." in text and ":class:" not in text
    assert "**Windows**" in text and "Run it." in text
    assert "```python\nslicer.util.loadVolume(p)\n```" in text
    assert "![A screenshot](img/x.png)" in text
    assert "maxdepth" not in text and "intro" not in text
    assert "`Ctrl+S`" in text and "loading data" in text and "dicom" in text
    assert "**File**" in text and "**Edit > Preferences**" in text
    assert "% a comment" not in text and "(label)=" not in text
    assert "| Key | Action |" in text and "| W | Window |" in text
    assert "{" not in text.replace("{kbd}", "")


def test_indented_myst_directive_inside_a_list() -> None:
    text = clean("- Try this:\n\n    ````{note}\n\n    **Renderer:**\n\n    - Download it.\n    ````\n")
    assert "> **Note**" in text and "Download it." in text and "````" not in text


def test_hugo_shortcodes() -> None:
    text = clean('{{% notice tip %}}\nPress `z` to zoom.\n{{% /notice %}}\n\n'
                 '{{< tabs groupid="x" >}}\n{{% tab title="Linux" %}}\n{{< highlight shell >}}\nxdg-open weasis://\n{{< /highlight >}}\n{{% /tab %}}\n{{< /tabs >}}\n\n'
                 'The rulers {{% badge style="blue" %}}K{{% /badge %}} show size (since {{< badgeC "v4.2.1" >}}).\n'
                 '{{< youtube id="v8CgcpYT1r8" >}}\n{{< svg-inline "static/a.svg" >}}\n'
                 'Try it {{< launch >}}\n$dicom:get -w "https://x/y.xml"\n{{< /launch >}}\n'
                 '{{< figure src="img/f.png" caption="A figure" >}}\n[See]({{< ref "zoom.md" >}})\n')
    assert "> **Tip**\n> Press `z` to zoom." in text
    assert "**Linux**" in text and "```shell\nxdg-open weasis://\n```" in text
    assert "The rulers show size (since v4.2.1)." in text
    assert "[Video](https://www.youtube.com/watch?v=v8CgcpYT1r8)" in text
    assert '$dicom:get -w "https://x/y.xml"' in text and "![A figure](img/f.png)" in text
    assert "[See](zoom.md)" in text
    assert "{{" not in text and "}}" not in text


def test_html_and_jsx_blocks() -> None:
    text = clean('<div style={{padding:"56.25% 0 0 0", position:"relative"}}>\n'
                 '    <iframe src="https://player.vimeo.com/video/843233906" title="MPR demo" frameBorder="0"'
                 ' style= {{ position:"absolute",top:0}}></iframe>\n</div>\n\n'
                 'Press <kbd>Ctrl</kbd>+<kbd>F</kbd>, <b>bold</b>, <a href="https://x.org">site</a>.<br>\n'
                 '<img src="img/p.png" alt="panel">\n<!-- TODO: check this -->\nimport Tabs from "@theme/Tabs";\n'
                 '<Tabs><TabItem value="win" label="Windows">Run</TabItem></Tabs>\n&nbsp;ok &amp; fine\n')
    assert "[MPR demo](https://player.vimeo.com/video/843233906)" in text
    assert "`Ctrl`+`F`" in text and "**bold**" in text and "[site](https://x.org)" in text
    assert "![panel](img/p.png)" in text and "TODO" not in text and "import Tabs" not in text
    assert "Run" in text and "<" not in text.replace("&lt;", "") and "ok &amp; fine" in text


def test_github_alerts_and_docusaurus_admonitions() -> None:
    text = clean("> [!WARNING]\n> Do not delete.\n\n:::tip Quick\nUse the keyboard.\n:::\n")
    assert "> **Warning**\n> Do not delete." in text
    assert "> **Tip: Quick**\n> Use the keyboard." in text


def test_code_blocks_are_left_alone() -> None:
    text = clean("```\n{{< not a shortcode >}} <b>x</b> {kbd}`y`\n```\n")
    assert "{{< not a shortcode >}} <b>x</b> {kbd}`y`" in text


def test_section_text_for_the_index_has_no_markup() -> None:
    m = parse("# T\n\n## S\n\n1. Click **Timeline** and press `T`.\n2. See [priors](other.md#x).\n\n| a | b |\n|---|---|\n| c | d |\n")
    assert m.sections[1].text == "Click Timeline and press T. See priors. a b c d"


# loading directories -------------------------------------------------------------------

def test_a_malformed_file_is_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("# Good\n\ntext\n")
    (tmp_path / "bad.md").write_text("---\ntitle: [oops\n---\n# Bad\n")
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00bad")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.md").write_text("# hidden\n")
    library = load_library([tmp_path])
    assert [m.file for m in library.manuals] == ["good.md"]
    messages = sorted(str(p) for p in library.problems)
    assert any("bad.md:2" in m and "not valid YAML" in m for m in messages)
    assert any("binary.md" in m and "UTF-8" in m for m in messages)


def test_a_site_manual_replaces_a_bundled_one_with_the_same_path(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "viewer").mkdir(parents=True)
    (b / "viewer").mkdir(parents=True)
    (a / "viewer" / "x.md").write_text("# Bundled\n\nold\n")
    (b / "viewer" / "x.md").write_text("# Site\n\nnew\n")
    (a / "y.md").write_text("# Y\n\ny\n")
    library = load_library([a, b])
    assert [(m.file, m.title) for m in library.manuals] == [("viewer/x.md", "Site"), ("y.md", "Y")]


def test_every_public_manual_parses_without_raw_markup() -> None:
    root = Path(__file__).resolve().parents[2]
    docs = next((p / "shared" / "public-manuals" / "docs" for p in (root.parent, root.parent.parent)
                 if (p / "shared" / "public-manuals" / "docs").is_dir()), root.parent / "shared" / "public-manuals" / "docs")
    if not docs.is_dir():
        pytest.skip("public manuals not present")
    library = load_library([docs])
    assert not library.problems and len(library.manuals) >= 80
    for s in library.sections:
        for raw in ("{{<", "{{%", ":::{", "```{", "<div", "<iframe", "<center", "<br"):
            assert raw not in s.markdown, (s.key, raw)


def test_jekyll_liquid_vuepress_and_wiki_links() -> None:
    text = clean("* TOC\n{:toc}\n\n{% include note.html %}See the [guide]({{ site.baseurl }}/guide.html) "
                 "and [[Hanging priors|the priors page]].\n{: .note}\n\n::: tip Handy\nUse Shift.\n:::\n[TOC]\n")
    assert "{%" not in text and "{{" not in text and "{:" not in text and "TOC" not in text
    assert "[guide](/guide.html)" in text and "the priors page" in text
    assert "> **Tip: Handy**\n> Use Shift." in text

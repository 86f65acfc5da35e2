"""One markdown pipeline (core/markdown.py): the manuals, the training modules' links, the HTML
site, Slack mrkdwn and ``kb check`` agree on headings, anchors and links."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from pacsbot.bot.render.mrkdwn import relative_resolver, to_mrkdwn, trim
from pacsbot.core import markdown
from pacsbot.knowledge import importer, markup
from pacsbot.knowledge.config import BUNDLED_MANUALS
from pacsbot.knowledge.lint import check
from pacsbot.knowledge.manuals import load_library, parse_manual
from pacsbot.knowledge.site import page_url, render_page
from pacsbot.training import manuals as training_manuals
from pacsbot.training.manuals import ManualIndex, rewrite_links

FIXTURES = Path(__file__).resolve().parents[1] / "golden" / "fixtures" / "manuals"


def _ids(page: str) -> set[str]:
    return set(re.findall(r' id="([^"]*)"', page))


def test_one_slug_function() -> None:
    assert markup.slugify is markdown.slugify
    assert importer.slugify is markdown.slugify
    assert not hasattr(training_manuals, "slugify")


@pytest.mark.parametrize("directory", [BUNDLED_MANUALS, FIXTURES], ids=["bundled", "edge"])
def test_the_site_emits_every_anchor_the_bot_and_kb_check_use(directory: Path) -> None:
    for manual in load_library([directory]).manuals:
        ids = _ids(render_page(manual, depth=0))
        assert manual.anchors <= ids, (manual.file, sorted(manual.anchors - ids))
        for s in manual.sections:
            if s.level:
                fragment = page_url("https://x/", s.file, s.anchor).partition("#")[2]
                assert unquote(fragment) in ids


def test_a_heading_with_a_link_has_one_anchor_everywhere(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\n## See [the forms](b.md) first\n\nText.\n\n### Bars {: #bars .wide}\n\nx\n\n"
                                   "Setext heading\n--------------\n\ny\n\n[self](#see-the-forms-first) [bars](#bars)\n")
    (tmp_path / "b.md").write_text("# B\n\n[back](a.md#see-the-forms-first)\n")
    manual = next(m for m in load_library([tmp_path]).manuals if m.file == "a.md")
    assert [s.anchor for s in manual.sections] == ["a", "see-the-forms-first", "bars", "setext-heading"]
    assert manual.sections[1].heading == "See the forms first"
    assert {"see-the-forms-first", "bars", "setext-heading"} <= _ids(render_page(manual, depth=0))
    assert [str(p) for p in check([tmp_path]) if p.severity == "error"] == []
    index = ManualIndex([tmp_path])
    for anchor in ("see-the-forms-first", "bars", "setext-heading"):
        section, why = index.resolve("a.md", anchor)
        assert why is None and section is not None, anchor
    text, problems = rewrite_links("[forms](manual:a.md#see-the-forms-first)", index, "https://x/")
    assert problems == [] and text == "[forms](https://x/a.html#see-the-forms-first)"


def test_a_site_manual_replaces_the_bundled_one_for_module_links_too(tmp_path: Path) -> None:
    bundled, site = tmp_path / "bundled", tmp_path / "site"
    bundled.mkdir()
    site.mkdir()
    (bundled / "x.md").write_text("# X\n\n## Old name\n\nx\n")
    (site / "x.md").write_text("# X\n\n## New name\n\nx\n")
    index = ManualIndex([bundled, site])
    assert index.resolve("x.md", "new-name")[1] is None
    assert index.resolve("x.md", "old-name")[0] is None


def test_outline_headings_links_and_what_is_not_a_heading() -> None:
    found = markdown.outline(
        "# Title\n\n> ## quoted\n\n- item\n\n  ## in a list\n\n```\n# code\n```\n\n"
        "{{< highlight shell >}}\n# shell comment\n{{< /highlight >}}\n\n:::{note}\n# directive\n:::\n\n"
        "(target)=\n## Real {#real-id}\n\nSee [a\nwrapped link](a.md#x), ![img](i.png), `[not](code.md)`\n"
        "and <img src=\"h.png\">.\n\n[ref]: r.md\n")
    assert [(h.line, h.level, h.raw, h.explicit_id, h.aliases) for h in found.headings] == [
        (1, 1, "Title", None, ()), (22, 2, "Real", "real-id", ("target",))]
    assert [(link.line, link.target, link.image) for link in found.links] == [
        (24, "a.md#x", False), (25, "i.png", True), (26, "h.png", True), (28, "r.md", False)]


def test_front_matter_is_found_one_way() -> None:
    block = markdown.front_matter("\ufeff---\ntitle: x\n...\nbody\n")
    assert block is not None and block.closed and block.source == "title: x" and block.body == "body\n" and block.body_start == 4
    assert markdown.front_matter("# Title\n\n---\n") is None
    toml = markdown.front_matter("+++\ntitle = 'x'\n")
    assert toml is not None and not toml.closed
    assert parse_manual("---\ntitle: T\n...\n# H\n", file="m.md").title == "T"


def test_inline_text_is_what_a_reader_sees() -> None:
    assert markdown.inline_text("See [the **forms**](x.md) `now`, ![alt](i.png) &amp; \\*") == "See the forms now, alt & *"
    assert markdown.inline_text("plain  words") == "plain words"


def test_mrkdwn_is_cached_per_section_and_resolver() -> None:
    resolve = relative_resolver("https://x/", "viewer/a.md", page_url)
    assert resolve == relative_resolver("https://x/", "viewer/a.md", page_url)
    text = "See [b](b.md#c) and **bold**."
    assert to_mrkdwn(text, resolve) == "See <https://x/viewer/b.html#c|b> and *bold*."
    assert to_mrkdwn(text, relative_resolver("https://x/", "viewer/a.md", page_url)) is to_mrkdwn(text, resolve)


def test_mrkdwn_nesting_quotes_and_references() -> None:
    out = to_mrkdwn("- a\n    - b\n        1. c\n\n> **Note**\n> - quoted item\n\nUse [the ref][r].\n\n[r]: https://x.org\n")
    assert out == "• a\n    ◦ b\n        1. c\n\n> *Note*\n> • quoted item\n\nUse <https://x.org|the ref>."
    assert to_mrkdwn("[W](https://en.wikipedia.org/wiki/Lua_(language)) &amp; more") == \
        "<https://en.wikipedia.org/wiki/Lua_(language)|W> &amp; more"


def test_link_targets_cannot_break_out_of_a_slack_link() -> None:
    out = to_mrkdwn("[x](https://a.org/p>|<!channel>) and <https://b.org/q|r>")
    assert "<!channel>" not in out and out.startswith("<https://a.org/p%3E%7C%3C!channel%3E|x>")


def test_trim_reads_only_the_head_but_never_cuts_a_block_that_runs_past_it() -> None:
    items = "\n".join(f"- item {i} with some words in it" for i in range(40))
    text, cut = trim(items, 200)
    assert cut and text.count("\n") == text.count("- item") - 1 and len(text) <= 200
    code = "Intro.\n\n```\n" + "\n\n".join(f"line {i}" for i in range(400)) + "\n```\n\nAfter."
    text, cut = trim(code, 150)
    assert cut and text == "Intro."
    long_para = "Intro.\n\n" + "word " * 400 + "\n\nEnd."
    assert trim(long_para, 300) == ("Intro.", True)

"""Markdown -> Slack mrkdwn, trimming, and the answer blocks."""

from __future__ import annotations

from pathlib import Path

from pacsbot.bot.render.knowledge import answer_blocks, button_value, parse_value, unknown_blocks
from pacsbot.bot.render.mrkdwn import relative_resolver, split_for_blocks, to_mrkdwn, trim
from pacsbot.core.privacy import strip_vouch
from pacsbot.knowledge.base import KnowledgeBase
from pacsbot.knowledge.config import BUNDLED_MANUALS
from pacsbot.knowledge.site import page_url


def test_inline_markup() -> None:
    out = to_mrkdwn("Click **Timeline**, then *drag* the _prior_; ~~old~~ `T` & <b>.")
    assert out == "Click *Timeline*, then _drag_ the _prior_; ~old~ `T` &amp; &lt;b&gt;."


def test_headings_lists_and_task_lists() -> None:
    out = to_mrkdwn("## Steps\n\n1. Open it.\n2. Press `S`.\n\n- a\n  - nested\n- [ ] todo\n- [x] done\n")
    assert out == "*Steps*\n\n1. Open it.\n2. Press `S`.\n\n• a\n    ◦ nested\n☐ todo\n☑ done"


def test_wrapped_paragraphs_are_joined_but_quote_labels_kept() -> None:
    out = to_mrkdwn("One line\nwrapped here.\n\n> **Warning: Safety**\n> Check the\n> name.\n")
    assert out == "One line wrapped here.\n\n> *Warning: Safety*\n> Check the name."


def test_links_images_and_code_blocks() -> None:
    resolve = relative_resolver("https://intra/pacs/", "viewer/hanging-priors.md", page_url)
    out = to_mrkdwn("See [Outside](outside-studies.md#find-it), [site](https://x.org), "
                    "![Timeline](img/t.png) and ![](https://x.org/a.png).\n\n```bash\necho <x>\n```", resolve)
    assert "<https://intra/pacs/viewer/outside-studies.html#find-it|Outside>" in out
    assert "<https://x.org|site>" in out
    assert "<https://intra/pacs/viewer/img/t.png|image: Timeline>" in out
    assert "<https://x.org/a.png|image: image>" in out
    assert "```\necho &lt;x&gt;\n```" in out


def test_relative_links_without_a_site_become_text() -> None:
    assert to_mrkdwn("See [Outside studies](outside-studies.md#x) and ![shot](a.png).") == "See Outside studies and [image: shot]."


def test_tables_become_lines() -> None:
    out = to_mrkdwn("| Key | Preset |\n|---|---|\n| `1` | Soft tissue |\n| `2` | Lung |\n")
    assert out == "_Key — Preset_\n• `1` — Soft tissue\n• `2` — Lung"


def test_user_text_cannot_inject_mentions() -> None:
    assert "<!channel>" not in to_mrkdwn("Ping <!channel> and <@U123>")


def test_trim_cuts_between_blocks() -> None:
    md = "Intro paragraph.\n\n1. first step\n2. second step\n\n" + ("Long paragraph. " * 40)
    text, cut = trim(md, 80)
    assert cut and text == "Intro paragraph.\n\n1. first step\n2. second step"
    text, cut = trim("Short.", 80)
    assert not cut and text == "Short."
    text, cut = trim("Sentence one is here. " * 20, 100)
    assert cut and len(text) <= 110 and text.endswith("…")


def test_split_for_blocks_respects_the_limit() -> None:
    chunks = split_for_blocks("\n".join(["x" * 100] * 100), limit=1000)
    assert all(len(c) <= 1000 for c in chunks) and sum(len(c) for c in chunks) >= 100 * 100


def test_button_values_round_trip_and_stay_small() -> None:
    value = button_value("q" * 5000, "viewer/a.md#b", "command")
    assert len(value) < 2000
    assert parse_value(value)["s"] == "viewer/a.md#b" and parse_value("not json") == {}


def test_answer_and_unknown_blocks() -> None:
    kb = KnowledgeBase([BUNDLED_MANUALS], reload_seconds=0)
    answer = kb.answer("how do i get the old CT up next to todays")
    text, blocks = answer_blocks(answer, surface="command", base_url=None, limit=1200, shareable=True)
    ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert {"kb_helpful", "kb_not_helpful", "kb_open_ticket", "kb_share"} <= set(ids)
    assert len(ids) == len(set(ids))
    source = next(b for b in blocks if b["type"] == "context" and "From" in b["elements"][0]["text"])
    assert "Hanging priors for comparison › Open a prior next to the current study" in source["elements"][0]["text"]
    assert "last reviewed 14 Sep 2026" in strip_vouch(source["elements"][0]["text"])
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    # with a site: Read more and See also are links
    _, linked = answer_blocks(answer, surface="command", base_url="https://intra/pacs/", limit=1200)
    urls = [e.get("url") for b in linked if b["type"] == "actions" for e in b["elements"] if e.get("url")]
    assert urls == ["https://intra/pacs/viewer/hanging-priors.html#open-a-prior-next-to-the-current-study"]
    unknown = kb.answer("whats the guest wifi password")
    text, blocks = unknown_blocks(unknown, surface="dm", help_channel="#pacs-help", base_url=None)
    assert "couldn't find" in text
    assert any(e["action_id"] == "kb_open_ticket" for b in blocks if b["type"] == "actions" for e in b["elements"])


def test_an_edited_manual_is_answered_with_its_new_text_and_review_date(tmp_path: Path) -> None:
    """What an answer shows of a section is rendered once and kept: an edit (text or review
    date) must still show, after the reload, in the very next answer."""
    page = tmp_path / "archive.md"

    def write(body: str, reviewed: str) -> KnowledgeBase:
        page.write_text(f"---\ntitle: Archive\nreviewed: {reviewed}\n---\n\n# Archive\n\n## Restore a study\n\n{body}\n")
        return KnowledgeBase([tmp_path], reload_seconds=0)

    def shown(kb: KnowledgeBase) -> str:
        answer = kb.answer("how do i restore a study from the archive")
        assert answer.section is not None and answer.section.heading == "Restore a study"
        _, blocks = answer_blocks(answer, surface="command", base_url=None, limit=1200)
        return strip_vouch(" ".join(b["text"]["text"] if b["type"] == "section" else b["elements"][0].get("text", "")
                                    for b in blocks if b["type"] in ("section", "context")))

    before = shown(write("Open the archive tab and press Restore.", "2026-01-05"))
    assert "press Restore" in before and "last reviewed 5 Jan 2026" in before
    after = shown(write("Ask the PACS team to restore it from the VNA.", "2026-11-30"))
    assert "from the VNA" in after and "press Restore" not in after
    assert "last reviewed 30 Nov 2026" in after and "5 Jan 2026" not in after
    # the same text reviewed again: an equal section, a new date
    assert "last reviewed 3 Dec 2026" in shown(write("Ask the PACS team to restore it from the VNA.", "2026-12-03"))

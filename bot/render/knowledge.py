"""Answers from the manuals -> Block Kit: the answer, "I don't know", full sections, gap reports."""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from typing import Any

from pacsbot.bot.render.blocks import Block, actions, button, clip, context, escape, section
from pacsbot.bot.render.mrkdwn import relative_resolver, split_for_blocks, to_mrkdwn, trim
from pacsbot.core.privacy import vouch
from pacsbot.knowledge.base import Answer, Snapshot
from pacsbot.knowledge.manuals import Manual, Problem, Section
from pacsbot.knowledge.site import page_url
from pacsbot.knowledge.store import REASONS, GapsReport

# action ids (declared in bot/features/knowledge.py)
HELPFUL = "kb_helpful"
NOT_HELPFUL = "kb_not_helpful"
OPEN_TICKET = "kb_open_ticket"
SHARE = "kb_share"
MORE = "kb_more"
PICK = "kb_pick"
REASON_VIEW = "kb_feedback_reason"

MAX_QUESTION_IN_VALUE = 900


def button_value(question: str, key: str | None, surface: str) -> str:
    """What a button carries: the question (shortened) and the section, as compact JSON."""
    return json.dumps({"q": question[:MAX_QUESTION_IN_VALUE], "s": key or "", "v": surface}, separators=(",", ":"))


def parse_value(value: str | None) -> dict[str, str]:
    try:
        data = json.loads(value or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: str(v) for k, v in data.items() if k in ("q", "s", "v")}


def human_date(day: date) -> str:
    return vouch(f"{day.day} {day.strftime('%b %Y')}")  # the manual's date, not a patient's


def section_url(base_url: str | None, s: Section) -> str | None:
    return page_url(base_url, s.file, s.anchor) if base_url else None


def source_line(s: Section, reviewed: date | None, base_url: str | None) -> str:
    """Where a section comes from, and when its manual was last reviewed."""
    crumb = escape(s.breadcrumb.replace(" > ", " › "))
    url = section_url(base_url, s)
    text = f"From <{url}|{crumb}>" if url else f"From *{crumb}*"
    if reviewed:
        text += f" · last reviewed {human_date(reviewed)}"
    return text


def _body(s: Section, base_url: str | None, limit: int | None) -> tuple[str, bool]:
    """A section's body in Slack mrkdwn, and whether it was cut (kept by :func:`_section_text`)."""
    markdown, cut = trim(s.markdown, limit) if limit is not None else (s.markdown, False)
    text = to_mrkdwn(markdown, relative_resolver(base_url, s.file, page_url))
    if not text.strip():
        text = "_This section has no text of its own; open the manual for the details._"
    return text, cut


def warm(snapshot: Snapshot, *, base_url: str | None, limit: int) -> int:
    """Render every section once (off the request path), so that no answer pays a section's
    first rendering (~0.3 ms) inside an ack. Returns how many were rendered."""
    count = 0
    for s in snapshot.library.sections:
        manual = snapshot.manual(s.file)
        _section_text(s, manual.reviewed if manual else None, base_url, limit)
        count += 1
    return count


@lru_cache(maxsize=4096)
def _section_text(s: Section, reviewed: date | None, base_url: str | None, limit: int | None) -> tuple[tuple[str, ...], str, str, bool]:
    """What an answer shows of a section whatever the question: its text in block-sized
    chunks, its source line, a plain preview, and whether the text was cut. Kept per section
    (and review date): only the buttons, which carry the question, are built per answer (the
    answer is built inside the ack). The section, text included, is the key: an edited manual
    renders anew after a reload."""
    body, cut = _body(s, base_url, limit)
    title = escape(s.heading if s.level else s.manual_title)
    chunks = tuple(split_for_blocks(f"*{title}*\n{body}"))
    text = source_line(s, reviewed, base_url)
    return chunks, text, f"{s.breadcrumb}: {_plain_preview(body)}", cut


def answer_blocks(answer: Answer, *, surface: str, base_url: str | None, limit: int, shareable: bool = False,
                  shared_by: str | None = None, show_question: bool = True) -> tuple[str, list[Block]]:
    """An answer: the section (trimmed), its source, see-also, and what to do next."""
    s = answer.section
    assert s is not None
    question = answer.question
    chunks, source, preview, cut = _section_text(s, answer.manual.reviewed if answer.manual else None, base_url, limit)
    blocks: list[Block] = [section(chunk) for chunk in chunks[:4]]
    blocks.append(context(source))
    value = button_value(question, s.key, surface)
    url = section_url(base_url, s)
    see_also = list(answer.see_also[:2])
    if see_also:
        if base_url:
            links = ", ".join(f"<{section_url(base_url, x)}|{escape(x.breadcrumb.replace(' > ', ' › '))}>" for x in see_also)
            blocks.append(context(f"See also: {links}"))
        else:
            blocks.append(context("See also:"))
            blocks.append(actions(*[
                button(clip(x.heading if x.level else x.manual_title, 70), f"{MORE}:see{i}", button_value(question, x.key, surface))
                for i, x in enumerate(see_also, 1)
            ]))
    row: list[Block] = []
    if url:
        row.append(button("Read more", f"{MORE}:link", url=url))
    elif cut:
        row.append(button("Read more", f"{MORE}:full", value))
    row.append(button("Helpful", HELPFUL, value, style="primary"))
    row.append(button("Not helpful", NOT_HELPFUL, value))
    row.append(button("Open a ticket", OPEN_TICKET, value))
    if shareable:
        row.append(button("Share in channel", SHARE, value))
    blocks.append(actions(*row, block_id="kb_answer_actions"))
    if shared_by:
        asked = f" · asked: “{escape(clip(question, 200))}”" if show_question else ""
        blocks.append(context(f"Shared by <@{shared_by}>{asked}"))
    return clip(preview, 2900), blocks


def _plain_preview(mrkdwn: str, limit: int = 300) -> str:
    flat = " ".join(mrkdwn.replace("*", "").replace("_", "").split())
    return clip(flat, limit)


# Surfaces where the reply is private to the asker: only there is their question quoted back.
PRIVATE_SURFACES = ("command", "dm")


def unknown_blocks(answer: Answer, *, surface: str, help_channel: str | None, base_url: str | None) -> tuple[str, list[Block]]:
    """The honest "I don't know": say so, offer a ticket, point at people. In a channel thread
    the question is not repeated: it is right above, and a copy would carry it further."""
    question = answer.question
    lines = [":mag: I couldn't find an answer to that in the PACS manuals."]
    if surface in PRIVATE_SURFACES:
        lines.append(f"> {escape(clip(' '.join(question.split()), 300))}")
    best = answer.section
    if best is not None and answer.confidence >= 0.35:
        where = escape(best.breadcrumb.replace(" > ", " › "))
        url = section_url(base_url, best)
        lines.append(f"The closest I found was {'<' + url + '|' + where + '>' if url else '*' + where + '*'}, but it may not answer your question.")
    blocks: list[Block] = [section("\n".join(lines))]
    row = [button("Open a ticket", OPEN_TICKET, button_value(question, best.key if best else None, surface), style="primary")]
    if best is not None and answer.confidence >= 0.35 and not base_url:
        row.append(button("Show the closest section", f"{MORE}:closest", button_value(question, best.key, surface)))
    blocks.append(actions(*row, block_id="kb_unknown_actions"))
    where = f"ask in {help_channel}" if help_channel else "ask the PACS team"
    blocks.append(context(f"I've noted the question so the PACS team can add it to the manuals. Try other words, {where}, "
                          "or if patient care is waiting, call the PACS on-call."))
    return "I couldn't find an answer to that in the PACS manuals.", blocks


def choices_blocks(answer: Answer, *, surface: str, base_url: str | None) -> tuple[str, list[Block]]:
    """Unsure: "Is it one of these?" with the best few sections as buttons (a pick shows the
    section and tells the PACS team which words the manual is missing), and the ticket offer."""
    question = answer.question
    lines = [":thinking_face: I'm not sure I understood. Is it one of these?"]
    if surface in PRIVATE_SURFACES:
        lines.append(f"> {escape(clip(' '.join(question.split()), 300))}")
    blocks: list[Block] = [section("\n".join(lines))]
    picks = []
    for i, s in enumerate(answer.choices[:3], 1):
        crumb = s.breadcrumb.replace(" > ", " › ")
        blocks.append(context(f"{i}. {escape(clip(crumb, 200))}"))
        picks.append(button(clip(s.heading if s.level else s.manual_title, 70), f"{PICK}:{i}", button_value(question, s.key, surface)))
    picks.append(button("None of these", OPEN_TICKET, button_value(question, None, surface)))
    blocks.append(actions(*picks, block_id="kb_choices_actions"))
    where = "Pick one to read it; *None of these* opens a ticket for the PACS team."
    blocks.append(context(where))
    return "Is it one of these? " + "; ".join(s.heading for s in answer.choices[:3]), blocks


def full_section_blocks(s: Section, manual: Manual | None, *, base_url: str | None) -> tuple[str, list[Block]]:
    chunks, source, preview, _ = _section_text(s, manual.reviewed if manual else None, base_url, None)
    blocks: list[Block] = [section(c) for c in chunks[:40]]
    if len(chunks) > 40:
        blocks.append(context("_The rest of this section is too long for Slack; open the manual._"))
    blocks.append(context(source))
    return clip(preview, 2900), blocks


def reason_modal(feedback_id: int, channel: str | None, section_name: str) -> dict[str, Any]:
    options = [{"text": {"type": "plain_text", "text": label}, "value": code} for code, label in REASONS.items()]
    return {
        "type": "modal",
        "callback_id": REASON_VIEW,
        "title": {"type": "plain_text", "text": "What was wrong?"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "private_metadata": json.dumps({"id": feedback_id, "c": channel or ""}),
        "blocks": [
            section(f"Thanks — your “not helpful” is recorded for *{escape(clip(section_name, 200))}*. "
                    "A word on what was wrong helps the PACS team fix the manual."),
            {
                "type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "The answer was"},
                "element": {"type": "radio_buttons", "action_id": "reason", "options": options},
            },
            {
                "type": "input", "block_id": "comment", "optional": True,
                "label": {"type": "plain_text", "text": "Anything else? (no patient details, please)"},
                "element": {"type": "plain_text_input", "action_id": "comment", "multiline": True, "max_length": 1000},
            },
        ],
    }


def gaps_blocks(report: GapsReport, *, base_url: str | None) -> tuple[str, list[Block]]:
    since = f" since {report.since:%Y-%m-%d}" if report.since else ""
    head = (f"*Knowledge gaps{since}* — {report.gap_count} unanswered question(s), "
            f"{report.unhelpful_count} “not helpful” and {report.helpful_count} “helpful” click(s).")
    blocks: list[Block] = [section(head)]
    if report.gaps:
        lines = [f"{i}. ×{g.count} “{escape(clip(g.question, 150))}” — last {g.last_at:%Y-%m-%d}"
                 for i, g in enumerate(report.gaps, 1)]
        blocks.extend(section(c) for c in split_for_blocks("*Most asked, not answered*\n" + "\n".join(lines)))
    else:
        blocks.append(section("_No unanswered questions recorded._"))
    if report.unhelpful:
        lines = []
        for u in report.unhelpful:
            reasons = ", ".join(f"{_reason_label(k)} ×{v}" for k, v in sorted(u.reasons.items(), key=lambda kv: -kv[1]))
            label = escape(f"{u.manual_title} › {u.heading}" if u.heading else u.section)
            lines.append(f"• ×{u.count} *{label}* (`{escape(u.section)}`) — {reasons or 'no reason given'}; last asked “{escape(clip(u.last_question, 100))}”")
            for c in u.comments[:2]:
                lines.append(f"    ◦ “{escape(clip(c, 150))}”")
        blocks.extend(section(c) for c in split_for_blocks("*Answers marked not helpful*\n" + "\n".join(lines)))
    if report.picks:
        lines = [f"• ×{p.count} *{escape(f'{p.manual_title} › {p.heading}' if p.heading else p.section)}* (`{escape(p.section)}`)"
                 f" — last asked “{escape(clip(p.last_question, 100))}”" for p in report.picks]
        blocks.extend(section(c) for c in split_for_blocks(
            "*Found only by picking from “Is it one of these?”* — the section answers it, but not in the asker's words: "
            "add them to its text or `tags`\n" + "\n".join(lines)))
    blocks.append(context("Questions are stored with record numbers, dates and names masked. Write or fix a manual, then `/pacs kb reload`."))
    return clip(head.replace("*", ""), 2900), blocks[:50]


def _reason_label(code: str) -> str:
    return "no reason given" if code == "none" else REASONS.get(code, code).split(" —")[0].lower()


def problems_text(problems: list[Problem] | tuple[Problem, ...], limit: int = 20) -> str:
    lines = [f"• `{escape(str(p))}`" for p in list(problems)[:limit]]
    if len(problems) > limit:
        lines.append(f"… and {len(problems) - limit} more: run `pacsbot kb check` on the server.")
    return "\n".join(lines)

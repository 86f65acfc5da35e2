"""Training as Block Kit: invitations, module pages, the quiz window, results, lists, reports.

Pure functions: plain values from ``training`` in, blocks and fallback text out. Text is for a
learner between two patients or a trainer at the end of a shift: short, and always saying
what to do next.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pacsbot.bot.render.blocks import (
    MAX_SECTION_TEXT,
    Block,
    actions,
    button,
    clip,
    context,
    divider,
    escape,
    header,
    modal,
    plain,
    section,
)
from pacsbot.bot.render.mrkdwn import inline, split_for_blocks
from pacsbot.bot.render.mrkdwn import to_mrkdwn as _to_mrkdwn
from pacsbot.commands.verdict import plural
from pacsbot.core.privacy import vouch
from pacsbot.knowledge.markup import clean
from pacsbot.training.catalog import Catalog
from pacsbot.training.content import SLACK_OPTION_TEXT, Module, Question
from pacsbot.training.models import COMPLETED, FAILED, OPEN, RENEWAL, RETRAIN
from pacsbot.training.quiz import ATTESTATION, Grade, letters, pass_words
from pacsbot.training.records import AssignmentInfo, AssignOutcome, CompletionInfo, LearnerItem, ModuleStatus, SubmitOutcome

QUIZ_CALLBACK = "train_quiz"
PAGES_CALLBACK = "train_pages"
ATTEST_BLOCK = "attest"
ATTEST_VALUE = "understood"


# --------------------------------------------------------------------------------------
# markdown -> Slack mrkdwn: the same converter as answers from the manuals

def to_mrkdwn(markdown: str) -> str:
    """Module markdown (trainer comments, anchors and site dialects removed) -> Slack mrkdwn."""
    return _to_mrkdwn(clean(markdown))


def chunks(text: str, limit: int = MAX_SECTION_TEXT - 100) -> list[str]:
    """Split mrkdwn into pieces that each fit a section block."""
    return split_for_blocks(text, limit)


def text_sections(markdown: str) -> list[Block]:
    return [section(piece) for piece in chunks(to_mrkdwn(markdown)) if piece.strip()]


# --------------------------------------------------------------------------------------
# dates

def fmt_date(d: date | None) -> str:
    return vouch(f"{d:%a} {d.day} {d:%b %Y}") if d else "no due date"


def fmt_when(dt: datetime | None, tz: ZoneInfo) -> str:
    if dt is None:
        return ""
    local = dt.astimezone(tz)
    return vouch(f"{local.day} {local:%b %Y %H:%M} {local.tzname()}")


def fmt_day(dt: datetime | None, tz: ZoneInfo) -> str:
    if dt is None:
        return ""
    local = dt.astimezone(tz)
    return vouch(f"{local.day} {local:%b %Y}")


def due_phrase(due: date | None, today: date) -> str:
    if due is None:
        return "no due date"
    days = (due - today).days
    if days > 1:
        return f"due {fmt_date(due)} (in {days} days)"
    if days == 1:
        return f"due tomorrow, {fmt_date(due)}"
    if days == 0:
        return f"due *today*, {fmt_date(due)}"
    return f"*overdue* since {fmt_date(due)} ({-days} day{'s' if days != -1 else ''})"


def who(user_or_actor: str) -> str:
    if re.match(r"^[UW][A-Z0-9]+$", user_or_actor):
        return f"<@{user_or_actor}>"
    if user_or_actor == "pacsbot":
        return "pacsbot (automatic)"
    return escape(user_or_actor)


# --------------------------------------------------------------------------------------
# invitations and reminders (DMs)

def reason_line(reason: str, *, version: str, renewal: tuple[datetime, datetime] | None = None,
                old_version: str | None = None, tz: ZoneInfo | None = None) -> str | None:
    if reason == RENEWAL and renewal is not None and tz is not None:
        completed, expires = renewal
        return (f"*Why you're getting this:* this training must be repeated regularly. You completed it on "
                f"{fmt_day(completed, tz)}, and that completion runs out on {fmt_day(expires, tz)}.")
    if reason == RETRAIN:
        was = f" (you completed version {escape(old_version)})" if old_version else ""
        return f"*Why you're getting this:* the module has been updated to version {escape(version)}{was}, and your trainer asked everyone to take the new version."
    return None


def invitation(module: Module, a: AssignmentInfo, *, today: date, why: str | None = None) -> tuple[str, list[Block]]:
    text = f"New training for you: {module.title} (about {module.minutes} min, {due_phrase(a.due_date, today).replace('*', '')})."
    fields = [
        f"*Time*\nabout {module.minutes} minutes",
        f"*Due*\n{fmt_date(a.due_date)}",
        f"*To pass*\n{pass_words(module.pass_mark, len(module.questions))} in the quiz ({plural(module.attempts, 'attempt')})",
        f"*Assigned by*\n{who(a.assigned_by)}",
    ]
    blocks: list[Block] = [header(f"📚 {module.title}")]
    blocks.append(section(escape(module.summary) if module.summary else f"You have been assigned *{escape(module.title)}*.", fields=fields))
    if why:
        blocks.append(context(why))
    blocks.append(actions(button("Start", f"train_start:{a.id}", str(a.id), style="primary")))
    blocks.append(context("Read it page by page, then take a short quiz. You can stop and continue later from pacsbot's "
                          "*Home* tab or with `/pacs train me`."))
    return text, blocks


def reminder(module: Module, a: AssignmentInfo, step: str, *, today: date) -> tuple[str, list[Block]]:
    started = a.started_at is not None
    verb = "Continue" if started else "Start"
    if step.startswith("overdue"):
        lead = f":warning: *{escape(module.title)}* is {due_phrase(a.due_date, today)}. Please do it as soon as you can — it takes about {module.minutes} minutes."
    elif step.startswith("manual"):
        lead = f":wave: A reminder from your trainer: *{escape(module.title)}* is {due_phrase(a.due_date, today)}. It takes about {module.minutes} minutes."
    else:
        lead = f":alarm_clock: Reminder: *{escape(module.title)}* is {due_phrase(a.due_date, today)}. It takes about {module.minutes} minutes."
    text = re.sub(r"[*_]", "", re.sub(r":[a-z_]+: ", "", lead))
    return text, [section(lead, accessory=button(verb, f"train_start:{a.id}", str(a.id), style="primary"))]


def withdrawn(module_title: str, by: str) -> tuple[str, list[Block]]:
    text = f"{module_title} has been withdrawn by {who(by)}; you don't need to do it."
    return text, [section(f":information_source: *{escape(module_title)}* has been withdrawn by {who(by)}. You don't need to do it any more.")]


def completed_dm(module_title: str, c: CompletionInfo, tz: ZoneInfo) -> tuple[str, list[Block]]:
    valid = f" It is valid until {fmt_day(c.expires_at, tz)}." if c.expires_at else ""
    line = (f":white_check_mark: Training complete: *{escape(module_title)}* (version {escape(c.version)}), "
            f"{c.score}%, on {fmt_when(c.completed_at, tz)}.{valid} Thank you!")
    return re.sub(r"[*_]|:[a-z_]+: ", "", line), [section(line)]


def invitation_done(module: Module, a: AssignmentInfo, c: CompletionInfo, tz: ZoneInfo) -> tuple[str, list[Block]]:
    """The invitation message, updated once the module is completed (its Start button goes)."""
    line = f":white_check_mark: *{escape(module.title)}* — completed {fmt_when(c.completed_at, tz)} with {c.score}%."
    return f"{module.title}: completed with {c.score}%.", [header(f"📚 {module.title}"), section(line)]


def failed_notice(module: Module, a: AssignmentInfo, best: int | None) -> tuple[str, list[Block]]:
    line = (f":x: {who(a.user_id)} did not pass *{escape(module.title)}* after {plural(module.attempts, 'attempt')} "
            f"(best score {best if best is not None else 0}%; it takes {pass_words(module.pass_mark, len(module.questions))}).")
    text = re.sub(r"[*_]|:[a-z_]+: ", "", line)
    return text, [section(line), actions(button("Give another go", f"train_reassign:{a.id}", str(a.id)))]


# --------------------------------------------------------------------------------------
# the module, page by page (a modal)

def page_view(module: Module, a: AssignmentInfo, number: int, *, today: date) -> dict[str, Any]:
    page = module.page(number)
    n, total = page.number, module.page_count
    blocks: list[Block] = [
        header(module.title),
        context(f"Page {n} of {total} · {due_phrase(a.due_date, today)}"),
        section(f"*{escape(page.title)}*"),
        *text_sections(page.body),
        divider(),
    ]
    buttons = []
    if n > 1:
        buttons.append(button("← Back", f"train_page:{a.id}:{n - 1}", f"{a.id}:{n - 1}"))
    if n < total:
        buttons.append(button("Next →", f"train_page:{a.id}:{n + 1}", f"{a.id}:{n + 1}", style="primary"))
    else:
        buttons.append(button("Take the quiz", f"train_quiz_open:{a.id}", str(a.id), style="primary"))
    blocks = blocks[:98]
    blocks.append(actions(*buttons))
    return modal(_title(module), blocks, callback_id=PAGES_CALLBACK, submit=None, close="Close",
                 private_metadata=json.dumps({"a": a.id}))


def _title(module: Module) -> str:
    return clip(module.title, 24)


# --------------------------------------------------------------------------------------
# the quiz (a modal submitted as a view_submission)

def option_value(index: int) -> str:
    return f"o{index}"


def parse_option(value: str) -> int | None:
    return int(value[1:]) if value and value[0] == "o" and value[1:].isdigit() else None


def quiz_view(module: Module, a: AssignmentInfo, attempt: int) -> dict[str, Any]:
    blocks: list[Block] = [
        section(f"*{escape(module.title)}* — quiz\nAnswer every question. You need *{pass_words(module.pass_mark, len(module.questions))}* to pass. "
                f"This is attempt {attempt} of {module.attempts}."),
    ]
    if module.quiz_intro:
        blocks.extend(text_sections(module.quiz_intro))
    for q in module.questions:
        blocks.extend(_question_blocks(q, len(module.questions)))
    blocks.append(divider())
    blocks.append({
        "type": "input",
        "block_id": ATTEST_BLOCK,
        "label": plain("Attestation"),
        "element": {
            "type": "checkboxes",
            "action_id": ATTEST_BLOCK,
            "options": [{"text": {"type": "mrkdwn", "text": ATTESTATION}, "value": ATTEST_VALUE}],
        },
        "hint": plain("Your answers and this statement are kept with the time you submit, as your training record."),
    })
    meta = json.dumps({"a": a.id, "m": module.id, "n": attempt, "h": module.content_hash[:16]})
    return modal("Quiz", blocks, callback_id=QUIZ_CALLBACK, submit="Submit answers", close="Later", private_metadata=meta)


def _question_blocks(q: Question, total: int) -> list[Block]:
    head = f"*{q.number}. {inline(q.text)}*"
    if q.body:
        head += "\n" + to_mrkdwn(q.body)
    long = q.long_options
    if long:
        head += "\n" + "\n".join(f"*{letter}.* {inline(o.text)}" for letter, o in zip(letters(len(q.options)), q.options))
    options = []
    for i, (letter, o) in enumerate(zip(letters(len(q.options)), q.options)):
        label = letter if long else clip(inline(o.text), SLACK_OPTION_TEXT)
        options.append({"text": {"type": "mrkdwn", "text": label}, "value": option_value(i)})
    element = {"type": "checkboxes" if q.multiple else "radio_buttons", "action_id": f"q{q.number}", "options": options}
    return [
        section(clip(head, MAX_SECTION_TEXT)),
        {
            "type": "input",
            "block_id": f"q{q.number}",
            "label": plain("Choose all that apply" if q.multiple else "Choose one"),
            "element": element,
        },
    ]


def saving_view() -> dict[str, Any]:
    return modal("Quiz", [section(":hourglass_flowing_sand: Checking and recording your answers…")],
                 callback_id="train_result", submit=None, close="Close")


def message_view(title: str, text: str) -> dict[str, Any]:
    return modal(clip(title, 24), [section(text)], callback_id="train_result", submit=None, close="Close")


def result_view(module: Module, a: AssignmentInfo, outcome: SubmitOutcome, *, tz: ZoneInfo,
                trainer: str | None) -> dict[str, Any]:
    g = outcome.grade
    blocks: list[Block] = []
    if g.passed:
        blocks.append(header(f"✅ Passed — {g.words()}"))
        c = outcome.completion
        blocks.append(section(f"You passed *{escape(module.title)}* with {g.words()}; {g.needed} of {g.total} were needed. "
                              "Your completion is recorded — nothing more to do."))
        if c is not None:
            facts = [f"Version {escape(c.version)}", f"completed {fmt_when(c.completed_at, tz)}"]
            if c.attested_at:
                facts.append(f"you attested “{escape(c.statement or ATTESTATION)}” at {fmt_when(c.attested_at, tz)}")
            if c.expires_at:
                facts.append(f"valid until {fmt_day(c.expires_at, tz)}")
            blocks.append(context(" · ".join(facts)))
    elif outcome.attempts_left > 0:
        blocks.append(header(f"Not passed yet — {g.words()}"))
        blocks.append(section(
            f"You got {g.words()}; you need {pass_words(g.pass_mark, g.total)}. You have *{outcome.attempts_left}* "
            f"attempt{'s' if outcome.attempts_left != 1 else ''} left. Read the explanations below, look back at the module if you "
            "like, then try again."))
        blocks.append(actions(button("Review the module", f"train_page:{a.id}:1", f"{a.id}:1"),
                              button("Try again", f"train_quiz_open:{a.id}", str(a.id), style="primary")))
    else:
        blocks.append(header(f"Not passed — {g.words()}"))
        tell = f"Your trainer {who(trainer)} has been told" if trainer else "Your trainer has been told"
        blocks.append(section(f"You got {g.words()}; it takes {pass_words(g.pass_mark, g.total)} to pass. That was your last attempt. "
                              f"{tell} and can give you another go."))
    if outcome.duplicate:
        blocks.append(context("These answers had already been recorded; nothing was recorded twice."))
    blocks.append(divider())
    for q, r in zip(module.questions, g.results):
        mark = "✅" if r.correct else "❌"
        chosen = ", ".join(_option_name(q, i) for i in r.chosen) or "no answer"
        text = f"{mark} *{q.number}. {inline(q.text)}*\nYour answer: {chosen}"
        if g.passed and not r.correct:
            text += "\nCorrect: " + ", ".join(_option_name(q, i) for i in sorted(q.correct))
        text += "\n" + "\n".join("> " + line for line in to_mrkdwn(q.explanation).splitlines())
        blocks.append(section(clip(text, MAX_SECTION_TEXT)))
    return modal("Quiz result", blocks[:100], callback_id="train_result", submit=None, close="Done")


def result_text(g: Grade, attempts_left: int) -> str:
    """The quiz result in a DM, when its window was closed before it could show there."""
    if g.passed:
        return f"Your quiz result: {g.words()} — passed."
    then = "Type `/pacs train me` to try again." if attempts_left else "Your trainer has been told."
    return f"Your quiz result: {g.words()}; it takes {pass_words(g.pass_mark, g.total)} to pass. {then}"


def _option_name(q: Question, index: int) -> str:
    letter = letters(len(q.options))[index]
    text = q.options[index].text
    return f"{letter}. {inline(clip(text, 120))}"


# --------------------------------------------------------------------------------------
# lists: the learner's own, App Home, modules

def learner_blocks(items: list[LearnerItem], modules: dict[str, Module], *, today: date, tz: ZoneInfo,
                   heading: str = "Your training", limit: int = 10) -> list[Block]:
    blocks: list[Block] = [section(f"*{heading}*")]
    if not items:
        blocks.append(context("Nothing is assigned to you right now."))
        return blocks
    for item in items[:limit]:
        a = item.assignment
        module = modules.get(a.module_id)
        title = escape(module.title) if module else f"`{escape(a.module_id)}` (no longer offered)"
        if a.status == OPEN:
            progress = "not started" if a.started_at is None else (
                f"{item.attempts_used} attempt{'s' if item.attempts_used != 1 else ''} so far" if item.attempts_used else "in progress")
            minutes = f" · about {module.minutes} min" if module else ""
            line = f"*{title}* — {due_phrase(a.due_date, today)} · {progress}{minutes}"
            accessory = button("Continue" if a.started_at else "Start", f"train_start:{a.id}", str(a.id), style="primary") if module else None
            blocks.append(section(line, accessory=accessory))
        elif a.status == COMPLETED and item.completion is not None:
            c = item.completion
            valid = f" · valid until {fmt_day(c.expires_at, tz)}" if c.expires_at else ""
            blocks.append(section(f":white_check_mark: *{title}* — completed {fmt_day(c.completed_at, tz)} "
                                  f"with {c.score}% (version {escape(c.version)}){valid}"))
        elif a.status == FAILED:
            blocks.append(section(f":x: *{title}* — not passed (best {item.best_score or 0}%). Your trainer has been told."))
    if len(items) > limit:
        blocks.append(context(f"…and {len(items) - limit} more. Type `/pacs train me` to see them all."))
    return blocks


def modules_blocks(catalog: Catalog, versions: dict[str, str]) -> tuple[str, list[Block]]:
    mods = catalog.sorted()
    blocks: list[Block] = [section(f"*Training modules* ({len(mods)})")]
    for m in mods:
        every = f" · every {m.recurrence_days} days" if m.recurrence_days else ""
        blocks.append(section(
            f"*{escape(m.title)}* `{m.id}`\nversion {escape(versions.get(m.id, m.version or '?'))} · {m.minutes} min · "
            f"{plural(len(m.pages), 'page')} · {plural(len(m.questions), 'question')} · pass {pass_words(m.pass_mark, len(m.questions))} · "
            f"{plural(m.attempts, 'attempt')}{every} · for {escape(', '.join(m.audience))}"))
    if catalog.skipped:
        blocks.append(context(f":warning: {len(catalog.skipped)} module file(s) have errors and are not offered. "
                              "Run `pacsbot training check` on the server to see what to fix."))
    blocks.append(context("Assign one: `/pacs train assign <module> @person @group #channel due YYYY-MM-DD`"))
    text = "Training modules: " + ", ".join(m.id for m in mods)
    return text, blocks[:50]


# --------------------------------------------------------------------------------------
# trainer results

def _names(users: list[str], limit: int = 25) -> str:
    shown = " ".join(f"<@{u}>" for u in users[:limit])
    return shown + (f" and {len(users) - limit} more" if len(users) > limit else "")


def assign_result(module: Module, outcome: AssignOutcome, sources: list[str], *, due: date | None, verb: str = "Assigned") -> tuple[str, list[Block]]:
    created, already_open, done = outcome.created, outcome.already_open, outcome.already_done
    where = f" ({', '.join(sources)})" if sources else ""
    if created:
        lead = (f":white_check_mark: {verb} *{escape(module.title)}* (version {escape(outcome.version)}) to *{len(created)}* "
                f"{'person' if len(created) == 1 else 'people'}{where}, {'due ' + fmt_date(due) if due else 'with no due date'}. "
                "Their invitations are being sent now.")
    else:
        lead = f":information_source: Nothing changed: everyone{where} already has *{escape(module.title)}* open or completed."
    lines = [lead]
    if already_open:
        lines.append(f"• {len(already_open)} already had it open — left as it was: {_names([a.user_id for a in already_open], 10)}")
    if done:
        lines.append(f"• {len(done)} already completed this version — not assigned again: {_names([u for u, _, _ in done], 10)}")
    text = re.sub(r":[a-z_]+: |\*", "", "\n".join(lines))
    return text, [section("\n".join(lines)), context(f"Track it with `/pacs train status {module.id}`. Batch `{outcome.batch}`.")]


def status_blocks(module: Module, st: ModuleStatus, version: str) -> tuple[str, list[Block]]:
    lines = [
        f"*{escape(module.title)}* `{module.id}` — version {escape(version)}",
        f"Assigned {st.assigned} · completed {st.completed} ({st.completion_rate}%) · open {st.open} "
        f"({st.not_started} not started) · overdue {st.overdue} · out of attempts {st.failed} · withdrawn {st.cancelled}",
    ]
    if st.completed_old_version:
        lines.append(f":arrows_counterclockwise: {plural(st.completed_old_version, 'person')} last completed an older version. "
                     f"To ask them to take this one: `/pacs train retrain {module.id}`")
    if st.overdue_users:
        lines.append(f"*Overdue:* {_names(st.overdue_users)}")
    if st.failed_users:
        lines.append(f"*Out of attempts:* {_names(st.failed_users)}")
    blocks: list[Block] = [section("\n".join(lines))]
    buttons = []
    if st.open:
        buttons.append(button("Remind everyone not done", f"train_remind_open:{module.id}", module.id))
    buttons.append(button("Download CSV", f"train_report_csv:{module.id}", module.id))
    blocks.append(actions(*buttons))
    return re.sub(r"\*|:[a-z_]+: ", "", "\n".join(lines[:2])), blocks


def report_blocks(rows: list[tuple[Module | None, str, ModuleStatus]], *, module_id: str | None) -> tuple[str, list[Block]]:
    lines = ["*Training report*" + (f" — `{module_id}`" if module_id else "")]
    text_lines = ["Training report"]
    for module, version, st in rows:
        title = escape(module.title) if module else f"`{escape(st.module_id)}`"
        lines.append(f"• *{title}* (v{escape(version)}): {st.completed}/{st.open + st.completed + st.failed} completed "
                     f"({st.completion_rate}%), {st.overdue} overdue, {st.failed} out of attempts")
        text_lines.append(f"{st.module_id}: {st.completed} completed, {st.overdue} overdue")
    if len(rows) == 0:
        lines.append("No training has been assigned yet.")
    blocks = [section("\n".join(lines[:60])),
              actions(button("Download CSV", f"train_report_csv:{module_id or 'all'}", module_id or "all")),
              context("The CSV has one row per assignment: who, which version, when assigned and completed, score, attempts "
                      "and the attestation. For everything since a date: `pacsbot training export --csv --since DATE`.")]
    return "\n".join(text_lines), blocks


def usage_text(verbs: list[tuple[str, str]]) -> tuple[str, list[Block]]:
    lines = "\n".join(f"• `{escape(u)}` — {s}" for u, s in verbs)
    return "Training commands:\n" + lines, [section(f"*Training commands you can use*\n{lines}")]

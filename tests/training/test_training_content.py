"""Training modules without a database: the format, the checker's messages, versions, grading,
reminder rules and rendering."""

from __future__ import annotations

import textwrap
import time
from datetime import date, datetime, timezone
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pacsbot.bot.render import training as render
from pacsbot.knowledge.config import BUNDLED_MANUALS
from pacsbot.training.catalog import CatalogCache, load_catalog
from pacsbot.training.config import BUNDLED_MODULES, TrainingSettings
from pacsbot.training.content import parse_module
from pacsbot.training.quiz import grade, unanswered
from pacsbot.training.schedule import in_working_hours, parse_due, reminder_step, working_days_between

EXAMPLE = Path(__file__).resolve().parents[2] / "training" / "examples" / "example-module.md"

GOOD = """\
---
id: good-module
title: A good module
minutes: 10
pass_mark: 75
attempts: 2
---

## First page
Some **text**
that wraps.

## Second page
```
## not a heading inside code
```

## Quiz

### Single?
- [ ] no
- [x] yes
> Because.

### Several (select all that apply)
- [x] a
- [ ] b
> Only a.

### Two right
- [x] a
- [x] b
- [ ] c
> a and b.

### Four
- [x] right
- [ ] wrong
> Explained.
"""


def parse(text: str, name: str = "good-module.md"):
    return parse_module(Path(f"/site/{name}"), textwrap.dedent(text))


def messages(text: str, name: str = "m.md") -> list[str]:
    _, problems = parse(text, name)
    return [f"{p.line}: {p.severity}: {p.message}" for p in problems]


# ---------------------------------------------------------------------------------------
# the bundled content

def test_bundled_modules_are_clean_and_complete() -> None:
    catalog = load_catalog([BUNDLED_MODULES], manual_dirs=[BUNDLED_MANUALS])
    assert catalog.problems == []
    assert set(catalog.modules) == {"viewer-basics", "missing-images-resend", "hipaa-imaging", "downtime-procedures", "dicom-connectivity"}
    for module in catalog.modules.values():
        assert len(module.pages) >= 4 and len(module.questions) >= 6, module.id
        assert all(q.explanation for q in module.questions)
        assert any(q.multiple for q in module.questions) or module.id in ("missing-images-resend", "downtime-procedures", "viewer-basics")
    assert catalog.get("hipaa-imaging").recurrence_days == 365


def test_bundled_modules_link_to_manual_sections_instead_of_copying() -> None:
    catalog = load_catalog([BUNDLED_MODULES], manual_dirs=[BUNDLED_MANUALS], base_url="https://intranet.example/manuals/")
    for module in catalog.modules.values():
        text = "\n".join(p.body for p in module.pages)
        assert "https://intranet.example/manuals/" in text, module.id
        assert "manual:" not in text
    page = catalog.get("downtime-procedures").pages[1].body
    assert "[Downtime forms](https://intranet.example/manuals/admin/downtime-procedure.html#downtime-forms)" in page


def test_the_documented_example_is_valid() -> None:
    module, problems = parse_module(EXAMPLE)
    assert problems == [] and module is not None
    assert [q.multiple for q in module.questions] == [False, True, False, False]
    assert module.questions[2].body.startswith("Explanations are shown")


# ---------------------------------------------------------------------------------------
# the format

def test_pages_questions_and_choice_kinds() -> None:
    module, problems = parse(GOOD)
    assert problems == []
    assert [p.title for p in module.pages] == ["First page", "Second page"]
    assert "## not a heading inside code" in module.pages[1].body
    assert [(q.text, q.multiple, sorted(q.correct)) for q in module.questions] == [
        ("Single?", False, [1]), ("Several", True, [0]), ("Two right", True, [0, 1]), ("Four", False, [0])]


def test_html_comments_are_notes_for_trainers() -> None:
    module, problems = parse(GOOD.replace("## First page\n", "## First page\n<!-- a note\nover lines -->\n"))
    assert problems == [] and "note" not in module.pages[0].body


@pytest.mark.parametrize("change, expected", [
    ("pass_mark: 75", "5: error: pass_mark is 120; it must be between 1 and 100"),
    ("attempts: 2", "6: error: unknown setting 'atempts' (did you mean 'attempts'?)"),
    ("id: good-module", "2: error: id 'Good Module' must be 3-64 lowercase letters"),
    ("minutes: 10", "the front matter needs minutes"),
])
def test_front_matter_problems_name_the_line(change: str, expected: str) -> None:
    replacement = {"pass_mark: 75": "pass_mark: 120", "attempts: 2": "atempts: 2", "id: good-module": "id: Good Module", "minutes: 10": ""}[change]
    found = messages(GOOD.replace(change, replacement))
    assert any(expected in m for m in found), found


def test_quiz_problems_name_the_line() -> None:
    text = GOOD.replace("- [x] yes\n", "- [ ] yes\n").replace("- [ ] b\n> Only a.", "- [] b\n> Only a.")
    text = text.replace("- [ ] wrong\n> Explained.\n", "- [ ] wrong\n")
    found = messages(text)
    assert "20: error: question 'Single?' has no correct answer: mark at least one option '- [x]'" in found
    assert any(m.startswith("27: error: '[]' is not an answer box") for m in found)
    assert any(m.startswith("36: error: question 'Four' has no explanation") for m in found)


def test_structure_problems() -> None:
    assert any("the module has no quiz" in m for m in messages(GOOD.split("## Quiz")[0]))
    assert any("needs at least two options" in m for m in messages(GOOD.replace("- [ ] wrong\n", "")))
    assert any("comes after the quiz" in m for m in messages(GOOD + "\n## Extra page\ntext\n"))
    assert any("the explanation ('> ...') comes after the options" in m for m in messages(GOOD.replace("### Four\n", "### Four\n> too early\n")))
    assert any("text after the options" in m for m in messages(GOOD.replace("- [ ] wrong\n", "- [ ] wrong\nstray\n")))
    assert any("never closed" in m for m in messages(GOOD.replace("```\n\n## Quiz", "\n\n## Quiz")))
    assert any("starts with front matter" in m for m in messages("## Page\ntext\n"))
    assert any("not valid YAML" in m for m in messages("---\nid: [x\n---\n## P\nt\n"))
    too_many = GOOD.replace("- [ ] wrong\n", "".join(f"- [ ] wrong {i}\n" for i in range(10)))
    assert any("Slack shows at most 10" in m for m in messages(too_many))
    assert any("'### ' for each question" in m for m in messages(GOOD.replace("### Four", "#### Four")))


def test_long_options_are_allowed_with_a_warning() -> None:
    long = "x" * 90
    module, problems = parse(GOOD.replace("- [ ] wrong\n", f"- [ ] {long}\n"))
    assert module is not None
    assert [p.severity for p in problems] == ["warning"] and "lettered list" in problems[0].message
    blocks = render.quiz_view(module, _assignment(), 1)["blocks"]
    element = next(b for b in blocks if b.get("block_id") == "q4")["element"]
    assert [o["text"]["text"] for o in element["options"]] == ["A", "B"]


def test_a_malformed_module_is_skipped_and_the_others_load(tmp_path: Path) -> None:
    (tmp_path / "good-module.md").write_text(GOOD)
    (tmp_path / "broken.md").write_text(GOOD.replace("id: good-module", "id: broken").replace("- [x] yes", "- [ ] yes"))
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00garbage")
    catalog = load_catalog([tmp_path])
    assert list(catalog.modules) == ["good-module"]
    assert sorted(Path(p).name for p in catalog.skipped) == ["binary.md", "broken.md"]


def test_duplicate_ids_and_site_overrides(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.md").write_text(GOOD)
    (site / "b.md").write_text(GOOD)
    catalog = load_catalog([site])
    assert [str(p) for p in catalog.errors] == [f"{site / 'b.md'}:1: error: duplicate id 'good-module': already used by {site / 'a.md'}; this file is skipped"]
    override = tmp_path / "override"
    override.mkdir()
    (override / "hipaa-imaging.md").write_text(GOOD.replace("id: good-module", "id: hipaa-imaging"))
    catalog = load_catalog([BUNDLED_MODULES, override])
    assert catalog.get("hipaa-imaging").title == "A good module"
    assert any("replaces the bundled module 'hipaa-imaging'" in p.message and p.severity == "warning" for p in catalog.problems)


def test_broken_manual_links_are_warnings_with_lines(tmp_path: Path) -> None:
    text = GOOD.replace("that wraps.", "see [forms](manual:admin/downtime-procedure.md#no-such-part) and [x](manual:nope.md)")
    (tmp_path / "good-module.md").write_text(text)
    catalog = load_catalog([tmp_path], manual_dirs=[BUNDLED_MANUALS])
    assert [(p.line, p.severity) for p in catalog.problems] == [(11, "warning"), (11, "warning")]
    assert "no such heading" in catalog.problems[0].message and "not in any manuals directory" in catalog.problems[1].message
    body = catalog.get("good-module").pages[0].body
    assert "**forms**" in body and "manual:" not in body


def test_the_catalog_reloads_when_a_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "good-module.md"
    path.write_text(GOOD)
    cache = CatalogCache([tmp_path], check_seconds=0)
    first = cache.get()
    assert first.get("good-module").title == "A good module"
    time.sleep(0.01)
    path.write_text(GOOD.replace("title: A good module", "title: Renamed"))
    assert cache.get().get("good-module").title == "Renamed"
    path.write_text("garbage")
    assert cache.get().get("good-module") is None  # reported and skipped, never a crash


# ---------------------------------------------------------------------------------------
# versions

def test_content_hash_follows_content_not_formatting() -> None:
    base = parse(GOOD)[0].content_hash
    assert parse(GOOD.replace("that wraps.", "that wraps.   \n\n\n"))[0].content_hash == base
    assert parse(GOOD.replace("title: A good module", "title: Better title").replace("minutes: 10", "minutes: 12"))[0].content_hash == base
    assert parse(GOOD.replace("Some **text**", "Other **text**"))[0].content_hash != base
    assert parse(GOOD.replace("> Because.", "> Because, really."))[0].content_hash != base
    assert parse(GOOD.replace("pass_mark: 75", "pass_mark: 80"))[0].content_hash != base
    assert parse(GOOD.replace("attempts: 2", "attempts: 2\nversion: '2027.1'"))[0].content_hash != base


# ---------------------------------------------------------------------------------------
# grading

def test_grading_is_exact_for_multiple_choice_and_rounds_down() -> None:
    module = parse(GOOD)[0]
    right = {1: {1}, 2: {0}, 3: {0, 1}, 4: {0}}
    g = grade(module, right)
    assert (g.correct, g.total, g.score, g.passed) == (4, 4, 100, True)
    g = grade(module, {**right, 3: {0}})          # missing one of two right answers
    assert (g.correct, g.score, g.passed) == (3, 75, True)  # 75% meets a pass mark of 75
    g = grade(module, {**right, 3: {0, 1, 2}, 2: {0, 1}})  # an extra wrong tick is wrong
    assert (g.correct, g.score, g.passed) == (2, 50, False)
    g = grade(module, {1: {0, 1}, 2: {0}, 3: {0, 1}, 4: {0}})  # two ticks on a single-choice question
    assert g.results[0].correct is False
    assert [q.number for q in unanswered(module, {1: {1}})] == [2, 3, 4]


def test_score_is_never_rounded_up_into_a_pass() -> None:
    questions = "".join(f"\n### Q{i}\n- [x] a\n- [ ] b\n> e\n" for i in range(3))
    module = parse(GOOD.split("## Quiz")[0].replace("pass_mark: 75", "pass_mark: 67") + "## Quiz\n" + questions)[0]
    g = grade(module, {1: {0}, 2: {0}, 3: {1}})
    assert (g.score, g.passed) == (66, False)


# ---------------------------------------------------------------------------------------
# reminder rules and settings

WEEKDAYS = {0, 1, 2, 3, 4}  # mon..fri, the default training.working_days


@pytest.mark.parametrize("today, assigned, expected", [
    (date(2027, 1, 1), date(2026, 12, 1), None),            # 14 days out: nothing yet
    (date(2027, 1, 5), date(2026, 12, 1), None),            # 8 working days left
    (date(2027, 1, 6), date(2026, 12, 1), "before:7"),      # 7 working days left (9 calendar days)
    (date(2027, 1, 8), date(2026, 12, 1), "before:7"),
    (date(2027, 1, 11), date(2026, 12, 1), "before:7"),     # after a weekend: still the 7-day step
    (date(2027, 1, 14), date(2026, 12, 1), "before:1"),
    (date(2027, 1, 15), date(2026, 12, 1), "before:1"),     # due today
    (date(2027, 1, 10), date(2027, 1, 9), None),            # assigned inside the 7-day window
    (date(2027, 1, 16), date(2026, 12, 1), "overdue:1"),
    (date(2027, 1, 18), date(2026, 12, 1), "overdue:1"),
    (date(2027, 1, 19), date(2026, 12, 1), "overdue:2"),
    (date(2027, 2, 15), date(2026, 12, 1), None),           # past the last overdue reminder
])
def test_reminder_steps(today: date, assigned: date, expected: str | None) -> None:
    assert reminder_step(today=today, due=date(2027, 1, 15), assigned_on=assigned, before_days=[7, 1],
                         overdue_every=3, overdue_max=4, weekdays=WEEKDAYS) == expected


@pytest.mark.parametrize("today, assigned, expected", [
    (date(2027, 1, 14), date(2026, 12, 1), "before:7"),     # Thursday: 2 working days left
    (date(2027, 1, 15), date(2026, 12, 1), "before:1"),     # Friday: the last working day before (was Sunday, not sent)
    (date(2027, 1, 16), date(2026, 12, 1), "before:1"),     # the weekend: the same step, never sent twice
    (date(2027, 1, 18), date(2026, 12, 1), "before:1"),     # Monday, the due date
    (date(2027, 1, 15), date(2027, 1, 14), "before:1"),     # assigned Thursday: Friday's reminder still comes
    (date(2027, 1, 15), date(2027, 1, 15), None),           # assigned on Friday: the invitation told them
    (date(2027, 1, 18), date(2027, 1, 16), None),           # assigned at the weekend
])
def test_a_monday_due_date_is_reminded_on_the_friday_before(today: date, assigned: date, expected: str | None) -> None:
    assert reminder_step(today=today, due=date(2027, 1, 18), assigned_on=assigned, before_days=[7, 1],
                         overdue_every=3, overdue_max=4, weekdays=WEEKDAYS) == expected


def test_reminders_count_the_sites_working_days() -> None:
    sun_to_thu = {6, 0, 1, 2, 3}
    due_sunday = date(2027, 1, 17)
    step = dict(due=due_sunday, assigned_on=date(2026, 12, 1), before_days=[1], overdue_every=3, overdue_max=4, weekdays=sun_to_thu)
    assert reminder_step(today=date(2027, 1, 13), **step) is None          # Wednesday: 2 working days left
    assert reminder_step(today=date(2027, 1, 14), **step) == "before:1"    # Thursday, the last working day
    assert working_days_between(date(2027, 1, 11), date(2027, 1, 25), WEEKDAYS) == 10
    assert working_days_between(date(2027, 1, 15), date(2027, 1, 18), WEEKDAYS) == 1
    assert working_days_between(date(2027, 1, 18), date(2027, 1, 18), WEEKDAYS) == 0
    assert working_days_between(date(2027, 1, 1), date(2027, 12, 31), set(range(7))) == 364


def test_working_hours_in_the_configured_time_zone() -> None:
    chicago = ZoneInfo("America/Chicago")
    weekdays = {0, 1, 2, 3, 4}
    monday_9am_chicago = datetime(2027, 1, 11, 15, 0, tzinfo=timezone.utc)
    assert in_working_hours(monday_9am_chicago, chicago, dtime(8), dtime(17), weekdays)
    assert not in_working_hours(datetime(2027, 1, 11, 13, 0, tzinfo=timezone.utc), chicago, dtime(8), dtime(17), weekdays)  # 07:00
    assert not in_working_hours(datetime(2027, 1, 9, 15, 0, tzinfo=timezone.utc), chicago, dtime(8), dtime(17), weekdays)   # Saturday


def test_due_dates() -> None:
    today = date(2026, 12, 1)
    assert parse_due("2027-01-15", today) == date(2027, 1, 15)
    assert parse_due("14d", today) == date(2026, 12, 15) and parse_due("2w", today) == date(2026, 12, 15)
    for bad, message in (("15/01/2027", "is not a date"), ("2026-11-30", "is in the past"), ("2031-01-01", "more than two years")):
        with pytest.raises(ValueError, match=message):
            parse_due(bad, today)


@pytest.mark.parametrize("values, message", [
    ({"working_hours": "17:00-08:00"}, "the start must be before the end"),
    ({"working_hours": "9 to 5"}, "is not a span of local times"),
    ({"working_days": ["monday", "funday"]}, "'funday' is not a day"),
    ({"remind_before_days": [7, 7]}, "may appear only once"),
    ({"notify_channel": "#trainers"}, "is not a Slack channel id"),
])
def test_training_settings_are_checked(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingSettings(**values)
    assert TrainingSettings(working_days=["Monday", "fri"]).working_days == ["mon", "fri"]


# ---------------------------------------------------------------------------------------
# rendering

def test_markdown_becomes_slack_mrkdwn() -> None:
    text = render.to_mrkdwn("Some **bold\nacross** lines, *italic*, `co*de*` and [a link](https://x.org/a) "
                            "and [relative](other.md).\n\n- item\n  continued\n1. one\n> quote\n> more\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
                            "x < y & z")
    assert "Some *bold across* lines, _italic_, `co*de*` and <https://x.org/a|a link> and relative." in text
    assert "• item continued" in text and "1. one" in text and "> quote more" in text
    assert "_a — b_\n• 1 — 2" in text  # tables as lines, as in answers from the manuals
    assert "x &lt; y &amp; z" in text


def test_long_pages_are_split_into_section_sized_pieces() -> None:
    text = "\n\n".join("word " * 200 for _ in range(10))
    pieces = render.chunks(render.to_mrkdwn(text))
    assert len(pieces) > 1 and all(len(p) <= 2900 for p in pieces)


def _assignment():
    from pacsbot.training.records import AssignmentInfo

    return AssignmentInfo(1, "good-module", "r1", "h" * 64, "U0RAD0001", "U0TRAIN01",
                          datetime(2026, 12, 1, tzinfo=timezone.utc), date(2027, 1, 15), "assigned", "open")

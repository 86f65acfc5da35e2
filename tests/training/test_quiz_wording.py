"""How a quiz result is said: "3 of 7 right (43%)" everywhere, the percentage rounded to the
nearest (never up to the pass mark), and the pass mark as the questions it takes."""

from __future__ import annotations

import textwrap
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pacsbot.bot.render import training as render
from pacsbot.training.catalog import Catalog
from pacsbot.training.content import Module, parse_module
from pacsbot.training.quiz import grade, pass_words, percent, questions_needed
from pacsbot.training.records import AssignmentInfo, SubmitOutcome
from tests.harness import texts_of

UTC = ZoneInfo("UTC")


def module(questions: int, pass_mark: int, attempts: int = 3) -> Module:
    quiz = "".join(f"\n### Question {i}\n- [x] right\n- [ ] wrong\n> Because.\n" for i in range(questions))
    text = textwrap.dedent(f"""\
        ---
        id: wording
        title: Wording
        minutes: 5
        pass_mark: {pass_mark}
        attempts: {attempts}
        ---

        ## Only page
        Read this.

        ## Quiz
        """) + quiz
    parsed, problems = parse_module(Path("/site/wording.md"), text)
    assert parsed is not None, problems
    return parsed


def answers(right: int, total: int) -> dict[int, set[int]]:
    """``right`` questions answered right (option 0), the rest wrong."""
    return {i + 1: ({0} if i < right else {1}) for i in range(total)}


def assignment() -> AssignmentInfo:
    return AssignmentInfo(1, "wording", "U0RAD0001", "1", "h" * 64, "U0TRAIN01", datetime(2026, 12, 1, tzinfo=timezone.utc),
                          date(2026, 12, 15), "assigned", "open")


def result_text(m: Module, right: int, *, attempt: int = 1) -> str:
    g = grade(m, answers(right, len(m.questions)))
    outcome = SubmitOutcome(g, attempt, m.attempts, "open" if not g.passed else "completed", None)
    view: dict[str, Any] = render.result_view(m, assignment(), outcome, tz=UTC, trainer=None)
    return texts_of(view["blocks"])


@pytest.mark.parametrize("correct, total, pass_mark, passed, expected", [
    (3, 7, 70, False, 43),     # 42.86: to the nearest, not down to 42
    (6, 7, 70, True, 86),      # 85.71
    (1, 8, 70, False, 13),     # 12.5: half up
    (2, 3, 67, False, 66),     # 66.67 is short of 67: never shown as 67
    (35, 44, 80, False, 79),   # 79.55 is short of 80: never shown as 80
    (4, 5, 80, True, 80),
    (0, 0, 80, False, 0),
])
def test_the_percentage_is_rounded_to_the_nearest_but_never_up_into_a_pass(correct: int, total: int, pass_mark: int,
                                                                          passed: bool, expected: int) -> None:
    assert percent(correct, total, pass_mark, passed) == expected


@pytest.mark.parametrize("pass_mark, total, needed", [(70, 7, 5), (80, 10, 8), (67, 3, 3), (75, 4, 3), (100, 5, 5), (80, 44, 36)])
def test_the_pass_mark_in_questions_is_the_fewest_that_reach_it(pass_mark: int, total: int, needed: int) -> None:
    assert questions_needed(pass_mark, total) == needed
    assert needed * 100 >= pass_mark * total > (needed - 1) * 100


def test_a_failed_result_says_the_count_and_the_percent_alike() -> None:
    m = module(7, 70)
    g = grade(m, answers(3, 7))
    assert (g.correct, g.total, g.score, g.passed, g.needed) == (3, 7, 43, False, 5)
    text = result_text(m, 3)
    assert "Not passed yet — 3 of 7 right (43%)" in text
    assert "You got 3 of 7 right (43%); you need 5 of 7 right (70%)." in text
    assert "42%" not in text


def test_the_last_attempt_and_a_pass_say_it_the_same_way() -> None:
    m = module(7, 70, attempts=2)
    last = result_text(m, 4, attempt=2)
    assert "Not passed — 4 of 7 right (57%)" in last and "it takes 5 of 7 right (70%) to pass" in last
    passed = result_text(m, 6)
    assert "Passed — 6 of 7 right (86%)" in passed and "5 of 7 were needed" in passed


def test_the_quiz_and_the_invitation_give_the_pass_mark_in_questions() -> None:
    m = module(7, 70)
    quiz = texts_of(render.quiz_view(m, assignment(), 1)["blocks"])
    assert "You need *5 of 7 right (70%)* to pass" in quiz
    _, blocks = render.invitation(m, assignment(), today=date(2026, 12, 1))
    assert "5 of 7 right (70%) in the quiz (3 attempts)" in texts_of(blocks)
    assert pass_words(80, 0) == "80%"  # a module without questions: the percentage alone


def test_the_dm_when_the_window_was_closed_says_it_the_same_way() -> None:
    m = module(10, 80)
    g = grade(m, answers(0, 10))
    assert render.result_text(g, 2) == ("Your quiz result: 0 of 10 right (0%); it takes 8 of 10 right (80%) to pass. "
                                        "Type `/pacs train me` to try again.")
    assert render.result_text(grade(m, answers(9, 10)), 0) == "Your quiz result: 9 of 10 right (90%) — passed."


def test_one_of_anything_is_singular() -> None:
    m = module(1, 100, attempts=1)
    _, blocks = render.invitation(m, assignment(), today=date(2026, 12, 1))
    assert "(1 attempt)" in texts_of(blocks)
    text = result_text(m, 0)
    assert "Not passed — 0 of 1 right (0%)" in text and "it takes 1 of 1 right (100%) to pass" in text


def test_the_module_list_and_the_trainers_notice_count_in_words() -> None:
    m = module(1, 100, attempts=1)
    _, blocks = render.modules_blocks(Catalog(modules={m.id: m}), {m.id: "1"})
    line = texts_of(blocks)
    assert "1 page · 1 question · pass 1 of 1 right (100%) · 1 attempt ·" in line
    _, notice = render.failed_notice(module(7, 70, attempts=1), assignment(), 43)
    assert "after 1 attempt (best score 43%; it takes 5 of 7 right (70%))" in texts_of(notice)

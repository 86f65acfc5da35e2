"""Grading a quiz: pure functions from a module and the learner's choices to a score.

A question scores only when the learner's choices are exactly its correct options (for a
multiple-choice question: all the right ones and none of the wrong ones). The learner passes
when the share of questions right reaches the pass mark. The score is that share in percent,
rounded to the nearest (3 of 7 is 43%) — except that a score short of the pass mark is never
rounded up to it (2 of 3 against 67% is 66%), so a failed attempt never shows a passing score.
People read it as both: "3 of 7 right (43%)", and the pass mark as the questions it takes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacsbot.training.content import Module, Question

ATTESTATION = "I have read and understood this module."


@dataclass(frozen=True)
class QuestionResult:
    number: int
    chosen: tuple[int, ...]   # option indexes, 0-based, sorted
    correct: bool


@dataclass(frozen=True)
class Grade:
    results: tuple[QuestionResult, ...]
    correct: int
    total: int
    score: int                # percent, rounded to the nearest, never up to the pass mark when failed
    pass_mark: int
    passed: bool

    @property
    def needed(self) -> int:
        """How many questions right it takes to pass."""
        return questions_needed(self.pass_mark, self.total)

    def words(self) -> str:
        """``3 of 7 right (43%)``."""
        return right_words(self.correct, self.total, self.score)

    def answers_record(self) -> dict[str, list[int]]:
        """What was chosen, for the attempt's record: {"1": [0], "2": [1, 3]} (question -> options)."""
        return {str(r.number): list(r.chosen) for r in self.results}


def unanswered(module: Module, answers: dict[int, set[int]]) -> list[Question]:
    return [q for q in module.questions if not answers.get(q.number)]


def grade(module: Module, answers: dict[int, set[int]]) -> Grade:
    """Score ``answers`` ({question number: chosen option indexes}); unknown options count as wrong."""
    results = []
    for q in module.questions:
        chosen = frozenset(i for i in answers.get(q.number, set()) if 0 <= i < len(q.options))
        if not q.multiple and len(chosen) > 1:
            ok = False
        else:
            ok = chosen == q.correct
        results.append(QuestionResult(q.number, tuple(sorted(chosen)), ok))
    correct = sum(1 for r in results if r.correct)
    total = len(results)
    passed = total > 0 and correct * 100 >= module.pass_mark * total
    return Grade(tuple(results), correct, total, percent(correct, total, module.pass_mark, passed), module.pass_mark, passed)


def percent(correct: int, total: int, pass_mark: int, passed: bool) -> int:
    """``correct`` of ``total`` in percent, rounded half up; short of the pass mark, below it."""
    if not total:
        return 0
    score = (200 * correct + total) // (2 * total)
    return min(score, pass_mark - 1) if not passed else score


def questions_needed(pass_mark: int, total: int) -> int:
    """The fewest questions right that reach ``pass_mark`` percent of ``total``."""
    return -(-pass_mark * total // 100)  # the ceiling, in whole numbers


def right_words(correct: int, total: int, score: int) -> str:
    """``3 of 7 right (43%)``."""
    return f"{correct} of {total} right ({score}%)"


def pass_words(pass_mark: int, total: int) -> str:
    """The pass mark as people count it: ``5 of 7 right (70%)``; ``70%`` without questions."""
    if not total:
        return f"{pass_mark}%"
    return f"{questions_needed(pass_mark, total)} of {total} right ({pass_mark}%)"


def letters(count: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(count)]

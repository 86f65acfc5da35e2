"""Grading a quiz: pure functions from a module and the learner's choices to a score.

A question scores only when the learner's choices are exactly its correct options (for a
multiple-choice question: all the right ones and none of the wrong ones). The score is the
percentage of questions right, rounded down; the learner passes when it reaches the pass mark.
"""

from __future__ import annotations

from dataclasses import dataclass

from training.content import Module, Question

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
    score: int                # percent, rounded down
    pass_mark: int
    passed: bool

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
    score = (100 * correct) // total if total else 0
    passed = total > 0 and correct * 100 >= module.pass_mark * total
    return Grade(tuple(results), correct, total, score, module.pass_mark, passed)


def letters(count: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(count)]

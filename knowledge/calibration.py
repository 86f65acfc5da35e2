"""A confidence that means the same on any manuals: calibrated on each corpus when it is indexed.

A raw search score (BM25F × coverage) has no fixed scale: it depends on how long the sections
are, how many there are and how rare their words. A threshold tuned on one site's manuals
does not carry over to another's. So at index time the corpus is asked two kinds of probe
questions and its own score scale is read from the answers:

* **on-topic probes**: the corpus's own section headings, asked as questions ("Send a CT
  study"). Their best scores say how high a question this corpus *can* answer scores here;
  the median is the corpus's "answerable" level.
* **off-topic probes**: a fixed list of questions no PACS manual answers (the cafeteria, the
  payroll, the car park; :data:`OFF_TOPIC_PROBES`). Their best scores say how high noise
  reaches in this corpus; the 90th percentile is its "noise" level.

A question's best score is then placed on that scale, ``position = log(score / noise) /
log(answerable / noise)`` (0 at the noise level, 1 at the answerable level), and combined
with its coverage (the share of the question's meaning the section holds) into a 0–1
confidence by a logistic function, ``sigmoid(w_position * position + w_coverage * coverage +
bias)``, whose weights were fitted once (logistic regression: "is the best section right?")
on the bundled manuals and the public tuning manuals, then checked on a corpus nobody tuned
on (``benchmarks/knowledge.py``). Coverage added nothing once the score sits on the corpus's
own scale, so its fitted weight is 0; it stays a parameter. The probes themselves are never
the benchmark's off-topic questions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

# Questions a hospital's staff ask that no PACS, viewer or archive manual answers. Used only
# to measure how high unrelated questions score on a corpus; never to rank. (None of them is
# one of the benchmark's off-topic questions: those measure the result, these set the scale.)
OFF_TOPIC_PROBES: tuple[str, ...] = (
    "how do I renew my ID badge",
    "the vending machine took my money",
    "my payslip is wrong who do I contact",
    "where can I park my car overnight",
    "the coffee machine on level 2 is broken",
    "how do I book a meeting room",
    "who do I call about the air conditioning in the office",
    "when is the next fire drill",
    "how do I claim travel expenses",
    "the printer in the corridor has a paper jam",
    "can I get a new chair for my desk",
    "where do I find the night shift rota",
    "how do I change my pension contributions",
    "where do I drop off lost property",
    "who organises the christmas party",
    "how do I order more gloves and gowns",
    "my locker key is lost",
    "the lift in building B is out of order",
    "how many days of sick leave do I have",
    "where is the nearest pharmacy",
    "how do I update my home address with HR",
    "is the gym open on weekends",
    "how do I report a water leak in the toilet",
    "what time does the shuttle bus leave",
    "who approves overtime",
    "how do I get a parking permit",
    "the microwave in the break room smells",
    "how do I sign up for the flu vaccine",
    "where do I send my timesheet",
    "can I bring my dog to work",
    "how do I order new business cards",
    "which bins are for recycling",
    "the MRI helium level alarm is on",
    "how do I clean the ultrasound probe",
    "the contrast injector shows an error",
    "how do I get a copy of my employment contract",
    "what is the dose limit for pregnant staff",
    "how do I order a lunch for a meeting",
    "the phone on my desk has no dial tone",
    "how do I reset my bank card pin",
)

POSITIVE_PROBES = 80  # headings asked, at most (evenly spread over the corpus)


@dataclass(frozen=True)
class Calibration:
    """This corpus's score scale, read from the probes, and the fitted confidence weights."""

    answerable: float  # median best score of the corpus's own headings asked as questions
    noise: float       # 90th percentile of the best scores of the off-topic probes
    # confidence = sigmoid(w_position * position + w_coverage * coverage + bias
    #                      [+ w_cosine * cosine position, with the semantic re-ranker])
    w_position: float = 3.7
    w_coverage: float = 0.0
    bias: float = -1.6
    # the same two levels for the semantic re-ranker's cosine similarity (None: no re-ranker)
    cos_answerable: float | None = None
    cos_noise: float | None = None
    w_cosine: float = 0.0

    def position(self, score: float) -> float:
        """Where ``score`` sits between this corpus's noise (0) and answerable (1) levels."""
        if score <= 0:
            return -2.0
        low, high, span = self._scale
        if span is None:  # a degenerate corpus (a few tiny manuals): no usable scale
            return 1.0 if score >= high else 0.0
        return max(-2.0, min(2.0, math.log(score / low) / span))

    @cached_property
    def _scale(self) -> tuple[float, float, float | None]:
        """``(noise, answerable, log of their ratio)``, worked out once: every hit of every
        search is placed on this scale (``span`` None: no usable scale)."""
        low, high = max(self.noise, 1e-6), max(self.answerable, 1e-6)
        return low, high, None if high <= low * 1.05 else math.log(high / low)

    def cosine_position(self, cosine: float) -> float:
        """Where a cosine similarity sits between this corpus's noise (0) and answerable (1) levels."""
        if self.cos_answerable is None or self.cos_noise is None:
            return 0.0
        span = self.cos_answerable - self.cos_noise
        if span < 0.02:  # a degenerate corpus: no usable scale
            return 1.0 if cosine >= self.cos_answerable else 0.0
        return max(-2.0, min(2.0, (cosine - self.cos_noise) / span))

    def confidence(self, score: float, coverage: float, cosine: float | None = None) -> float:
        z = self.w_position * self.position(score) + self.w_coverage * coverage + self.bias
        if cosine is not None:
            z += self.w_cosine * self.cosine_position(cosine)
        return 1.0 / (1.0 + math.exp(-z))


UNCALIBRATED = Calibration(answerable=1.0, noise=0.0)


def calibrate(headings: Sequence[str], best_score: Callable[[str], float], *,
              weights: tuple[float, float, float] | None = None,
              best_cosines: Callable[[list[str]], list[float]] | None = None,
              w_cosine: float = 0.0) -> Calibration:
    """Read a corpus's scale: ``best_score(question)`` is the raw score of its best section;
    ``best_cosines(questions)``, with the semantic re-ranker, the best cosine similarity of each."""
    distinct = sorted({h.strip() for h in headings if h.strip()})
    if len(distinct) > POSITIVE_PROBES:
        step = len(distinct) / POSITIVE_PROBES
        distinct = [distinct[int(i * step)] for i in range(POSITIVE_PROBES)]
    positives = [best_score(h) for h in distinct]
    negatives = sorted(best_score(q) for q in OFF_TOPIC_PROBES)
    answerable = statistics.median(positives) if positives else 1.0
    noise = negatives[int(0.9 * (len(negatives) - 1))] if negatives else 0.0
    cos_answerable = cos_noise = None
    if best_cosines is not None:
        cos_pos = best_cosines(distinct)
        cos_neg = sorted(best_cosines(list(OFF_TOPIC_PROBES)))
        cos_answerable = statistics.median(cos_pos) if cos_pos else 1.0
        cos_noise = cos_neg[int(0.9 * (len(cos_neg) - 1))] if cos_neg else 0.0
    if weights is None:
        weights = (Calibration.w_position, Calibration.w_coverage, Calibration.bias)
    return Calibration(answerable, noise, *weights, cos_answerable=cos_answerable, cos_noise=cos_noise, w_cosine=w_cosine)

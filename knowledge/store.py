"""Feedback on answers and knowledge gaps: recording them and summarising them for admins.

Plain functions over a SQLAlchemy ``Session`` (the caller owns the transaction); questions
are masked (:func:`knowledge.privacy.mask`) before they are stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from pacsbot.core.privacy import Detector
from pacsbot.knowledge.models import Feedback, Gap
from pacsbot.knowledge.privacy import mask
from pacsbot.knowledge.text import STOPWORDS, stem, words

REASONS = {
    "wrong": "Wrong section — not what I asked",
    "outdated": "Out of date or incorrect",
    "unclear": "Hard to follow",
    "incomplete": "Doesn't go far enough",
    "other": "Something else",
}


def normalize(question: str) -> str:
    """A key that groups the same question asked in different words order and endings."""
    stems = sorted({stem(w) for w in words(mask(question)) if w not in STOPWORDS and len(w) > 1})
    return " ".join(stems)[:300] or mask(question).lower()[:300]


def record_gap(session: Session, *, at: datetime, user_id: str, question: str, best_section: str | None,
               confidence: float, surface: str, detector: Detector | None = None) -> Gap:
    gap = Gap(at=at, user_id=user_id[:32], question=mask(question, detector=detector), normalized=normalize(question),
              best_section=(best_section or None) and best_section[:400], confidence=round(float(confidence), 4),
              surface=surface[:16])
    session.add(gap)
    session.flush()
    return gap


def record_feedback(session: Session, *, at: datetime, user_id: str, question: str, section: str, manual_title: str,
                    heading: str, helpful: bool, surface: str, reason: str | None = None, comment: str | None = None,
                    detector: Detector | None = None) -> Feedback:
    row = Feedback(at=at, user_id=user_id[:32], question=mask(question, detector=detector), section=section[:400],
                   manual_title=manual_title[:200], heading=heading[:200], helpful=helpful,
                   reason=reason if reason in REASONS else None,
                   comment=mask(comment, limit=1000, detector=detector) if comment else None, surface=surface[:16])
    session.add(row)
    session.flush()
    return row


PICK = "pick"  # the surface of a feedback row that is a pick from "Is it one of these?"


def record_pick(session: Session, *, at: datetime, user_id: str, question: str, section: str, manual_title: str,
                heading: str, surface: str, detector: Detector | None = None) -> Feedback:
    """Someone picked ``section`` from "Is it one of these?": the manual answers the question,
    but not in their words. Kept as helpful feedback marked ``pick``, and the same question,
    noted as unanswered a moment ago, is no longer counted as a gap."""
    row = record_feedback(session, at=at, user_id=user_id, question=question, section=section, manual_title=manual_title,
                          heading=heading, helpful=True, surface=PICK, detector=detector)
    recent = session.scalar(select(Gap).where(Gap.user_id == user_id[:32], Gap.normalized == normalize(question),
                                              Gap.at >= at - timedelta(days=1)).order_by(Gap.id.desc()).limit(1))
    if recent is not None:
        session.delete(recent)
    return row


def add_reason(session: Session, feedback_id: int, user_id: str, reason: str | None, comment: str | None,
               detector: Detector | None = None) -> bool:
    """Attach the reason given in the form to the user's own earlier "not helpful" click."""
    row = session.get(Feedback, feedback_id)
    if row is None or row.user_id != user_id[:32] or row.helpful:
        return False
    row.reason = reason if reason in REASONS else "other"
    row.comment = mask(comment, limit=1000, detector=detector) if comment else None
    return True


@dataclass(frozen=True)
class GapLine:
    question: str           # the most recent wording
    count: int
    last_at: datetime
    best_section: str | None


@dataclass(frozen=True)
class UnhelpfulLine:
    section: str
    manual_title: str
    heading: str
    count: int
    reasons: dict[str, int]
    last_question: str
    comments: tuple[str, ...]


@dataclass(frozen=True)
class PickLine:
    """A section people found only by picking it from "Is it one of these?"."""

    section: str
    manual_title: str
    heading: str
    count: int
    last_question: str


@dataclass(frozen=True)
class GapsReport:
    since: datetime | None
    gaps: tuple[GapLine, ...]
    unhelpful: tuple[UnhelpfulLine, ...]
    helpful_count: int
    unhelpful_count: int
    gap_count: int
    picks: tuple[PickLine, ...] = ()


def gaps_report(session: Session, *, since: datetime | None = None, limit: int = 15) -> GapsReport:
    """Most frequent unanswered questions and the answers most often marked not helpful."""
    gap_q = select(Gap.normalized, func.count(Gap.id), func.max(Gap.at), func.max(Gap.id)).group_by(Gap.normalized)
    if since is not None:
        gap_q = gap_q.where(Gap.at >= since)
    grouped = session.execute(gap_q.order_by(func.count(Gap.id).desc(), func.max(Gap.at).desc()).limit(limit)).all()
    lines = []
    for _norm, count, last_at, last_id in grouped:
        latest = session.get(Gap, last_id)
        assert latest is not None
        lines.append(GapLine(latest.question, int(count), last_at, latest.best_section))

    fb_q = select(Feedback.section, func.count(Feedback.id), func.max(Feedback.id)).where(Feedback.helpful.is_(False))
    if since is not None:
        fb_q = fb_q.where(Feedback.at >= since)
    fb_rows = session.execute(fb_q.group_by(Feedback.section).order_by(func.count(Feedback.id).desc()).limit(limit)).all()
    unhelpful = []
    for section, count, last_id in fb_rows:
        last_feedback = session.get(Feedback, last_id)
        assert last_feedback is not None
        rq = select(Feedback.reason, func.count(Feedback.id)).where(Feedback.section == section, Feedback.helpful.is_(False))
        cq = select(Feedback.comment).where(Feedback.section == section, Feedback.helpful.is_(False), Feedback.comment.is_not(None))
        if since is not None:
            rq = rq.where(Feedback.at >= since)
            cq = cq.where(Feedback.at >= since)
        reasons = {(r or "none"): int(c) for r, c in session.execute(rq.group_by(Feedback.reason)).all()}
        comments = tuple(c for (c,) in session.execute(cq.order_by(Feedback.id.desc()).limit(3)).all() if c)
        unhelpful.append(UnhelpfulLine(section, last_feedback.manual_title, last_feedback.heading, int(count), reasons,
                                       last_feedback.question, comments))

    pick_q = select(Feedback.section, func.count(Feedback.id), func.max(Feedback.id)).where(Feedback.surface == PICK)
    if since is not None:
        pick_q = pick_q.where(Feedback.at >= since)
    picks = []
    for section, count, last_id in session.execute(pick_q.group_by(Feedback.section).order_by(func.count(Feedback.id).desc())
                                                   .limit(limit)).all():
        last_pick = session.get(Feedback, last_id)
        assert last_pick is not None
        picks.append(PickLine(section, last_pick.manual_title, last_pick.heading, int(count), last_pick.question))

    def count_of(stmt: Select[Any]) -> int:
        return int(session.scalar(stmt) or 0)

    base_fb = select(func.count(Feedback.id))
    base_gap = select(func.count(Gap.id))
    if since is not None:
        base_fb = base_fb.where(Feedback.at >= since)
        base_gap = base_gap.where(Gap.at >= since)
    return GapsReport(
        since=since, gaps=tuple(lines), unhelpful=tuple(unhelpful),
        helpful_count=count_of(base_fb.where(Feedback.helpful.is_(True), Feedback.surface != PICK)),
        unhelpful_count=count_of(base_fb.where(Feedback.helpful.is_(False))),
        gap_count=count_of(base_gap), picks=tuple(picks),
    )


_WS = re.compile(r"\s+")


def one_line(text: str, limit: int = 120) -> str:
    text = _WS.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def gaps_between(session: Session, start: datetime, end: datetime) -> list[tuple[str, str | None]]:
    """``(normalised question, closest section)`` of every unanswered question in ``[start, end)``:
    enough to count them and group them by section without showing what was asked."""
    rows = session.execute(select(Gap.normalized, Gap.best_section).where(Gap.at >= start, Gap.at < end))
    return [(norm, best) for norm, best in rows]

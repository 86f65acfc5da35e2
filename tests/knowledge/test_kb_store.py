"""Feedback and knowledge gaps in the database (SQLite and PostgreSQL), and PHI masking."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pacsbot.bot.storage import Database, upgrade
from pacsbot.knowledge import store
from pacsbot.knowledge.privacy import mask

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text,expected", [
    ("images missing for MRN 12345678 acc A10293847", "images missing for MRN [hidden] acc [id]"),
    ("pt born 12/03/1961 and dob: 1961-03-12", "pt [date] and [date]"),
    ("Mr Smith's CT, call 07700 900123 or j.doe@x.org", "Mr [hidden] CT, call [number] or [email]"),
    ("patient Jane Doe needs priors", "patient [hidden] needs priors"),
    ("where are the knee xrays for Mary Jones", "where are the knee xrays for [hidden]"),
    ("call the on-call on 4-7227 about CT 2", "call the on-call on 4-7227 about CT 2"),
])
def test_mask(text: str, expected: str) -> None:
    assert mask(text) == expected


def test_normalize_groups_rewordings() -> None:
    assert store.normalize("How do I hang priors?") == store.normalize("hanging prior how")


def test_gaps_and_feedback_report(db: Database) -> None:
    upgrade(db)
    with db.session() as s:
        for i, q in enumerate(["whats the wifi password", "What's the WiFi password?", "parking permit for MRN 1234567"]):
            store.record_gap(s, at=NOW - timedelta(hours=i), user_id="U1", question=q, best_section=None, confidence=0.2, surface="dm")
        store.record_gap(s, at=NOW - timedelta(days=90), user_id="U1", question="ancient question", best_section=None, confidence=0.1, surface="dm")
        store.record_feedback(s, at=NOW, user_id="U1", question="hang prior", section="viewer/h.md#open", manual_title="Hanging",
                              heading="Open", helpful=True, surface="command")
        bad = store.record_feedback(s, at=NOW, user_id="U2", question="hang prior for dob 1/2/1960", section="viewer/h.md#open",
                                    manual_title="Hanging", heading="Open", helpful=False, surface="mention")
        bad_id = bad.id
    with db.session() as s:
        assert store.add_reason(s, bad_id, "U2", "outdated", "menu moved, see Mr Jones")
        assert not store.add_reason(s, bad_id, "U9", "wrong", None)  # someone else's click
    with db.session() as s:
        report = store.gaps_report(s, since=NOW - timedelta(days=30))
    assert report.gap_count == 3 and report.helpful_count == 1 and report.unhelpful_count == 1
    assert report.gaps[0].count == 2 and "wifi" in report.gaps[0].question.lower()
    assert "[hidden]" in report.gaps[1].question and "1234567" not in report.gaps[1].question
    line = report.unhelpful[0]
    assert line.section == "viewer/h.md#open" and line.reasons == {"outdated": 1}
    assert line.comments == ("menu moved, see Mr [hidden]",) and "[date]" in line.last_question

"""The weekly report through the real Bolt app and scheduler, on SQLite and PostgreSQL: posted
once per week to the admin channel (files v2) whatever the number of ticks and replicas;
``/pacs weekly`` for admins, in a DM; refused and audited for everyone else."""

from __future__ import annotations

import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from pacsbot.bot.models import AuditEntry, SchedulerClaim
from pacsbot.bot.scheduler import Scheduler
from pacsbot.core.clock import ManualClock
from tests.harness import ADMIN, CLINICIAN, Harness
from tests.reports.test_report_weekly import PNG_SIGNATURE, seed

UTC = timezone.utc
ADMIN_CHANNEL = "C0PACSADM"
SUNDAY_NIGHT = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)   # week 47 is not over
MONDAY_0730 = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)    # the configured time


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(SUNDAY_NIGHT)


@pytest.fixture
def harness_register(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr("pacsbot.bot.services.SystemClock", lambda: clock)
    return None


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"timezone": "UTC", "tickets": {"admin_channel": ADMIN_CHANNEL}, "reports": {"site": "St Elsewhere"},
            "dicom": {"demo": "false"}}


def audit(h: Harness, action: str) -> list[AuditEntry]:
    with h.db.session() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))
        s.expunge_all()
        return rows


def run_weekly(h: Harness, replica: str = "r0") -> list[str]:
    """One scheduler tick of the weekly job only (other jobs have their own tests)."""
    scheduler = Scheduler(h.services, replica=replica)
    job = h.services.registry.jobs["weekly-report"]
    if not scheduler.claim(job, scheduler.slot_of(job)):
        return []
    result = job.run(h.services)
    return [result] if result else []


def test_the_weekly_job_posts_one_png_with_its_summary_once(harness: Harness, clock: ManualClock) -> None:
    h = harness
    seed(h.db)
    assert run_weekly(h) == []                      # Sunday night: too late for week 46, too early for 47
    clock.set(MONDAY_0730 - timedelta(minutes=1))
    assert run_weekly(h) == []
    clock.set(MONDAY_0730)
    assert run_weekly(h) == ["2026-W47"]
    for _ in range(3):                              # later ticks of the same week post nothing
        clock.advance(minutes=5)
        Scheduler(h.services, replica="r1").run_due()
    clock.advance(hours=20)
    Scheduler(h.services, replica="r2").run_due()

    assert len(h.mock.files) == 1
    upload = h.mock.files[0]
    assert upload["channel"] == ADMIN_CHANNEL
    assert upload["filename"] == "pacsbot-week-2026-W47.png"
    assert upload["title"] == "PACS weekly report — Week 47 (16–22 Nov 2026)"
    assert upload["content"].startswith(PNG_SIGNATURE) and len(upload["content"]) == upload["length"]
    comment = upload["initial_comment"]
    assert comment.startswith("*PACS weekly report at St Elsewhere: Week 47 (16–22 Nov 2026)*")
    assert "4 opened (+2 linked reports), 3 resolved" in comment and "pacs 97.0%" in comment
    assert "Smith" not in comment and "12345678" not in comment
    assert len(h.mock.calls_to("files.getUploadURLExternal")) == 1 and len(h.mock.calls_to("files.completeUploadExternal")) == 1
    rows = audit(h, "report.weekly")
    assert [(r.actor, r.target, r.outcome) for r in rows] == [("pacsbot", "week:2026-W47", "ok")]
    assert rows[0].details["channel"] == ADMIN_CHANNEL and rows[0].details["tickets_opened"] == 4
    assert "Smith" not in str(rows[0].details)

    clock.set(MONDAY_0730 + timedelta(days=7, hours=23))   # the bot was down at 07:30: it catches up that day
    assert run_weekly(h) == ["2026-W48"]
    assert [f["filename"] for f in h.mock.files] == ["pacsbot-week-2026-W47.png", "pacsbot-week-2026-W48.png"]


def test_a_week_missed_by_more_than_a_day_is_skipped(harness: Harness, clock: ManualClock) -> None:
    clock.set(MONDAY_0730 + timedelta(days=1, minutes=1))
    assert run_weekly(harness) == []
    assert harness.mock.files == []


@pytest.mark.parametrize("replicas", [2, 4])
def test_replicas_ticking_at_once_post_it_once(harness: Harness, clock: ManualClock, replicas: int) -> None:
    h = harness
    clock.set(MONDAY_0730 + timedelta(minutes=2))
    schedulers = [Scheduler(h.services, replica=f"r{i}") for i in range(replicas)]
    barrier = threading.Barrier(replicas)
    errors: list[BaseException] = []

    def tick(s: Scheduler) -> None:
        try:
            barrier.wait()
            s.run_due()
            s.run_due()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(h.mock.files) == 1 and h.mock.files[0]["channel"] == ADMIN_CHANNEL
    with h.db.session() as s:
        claims = s.scalars(select(SchedulerClaim).where(SchedulerClaim.job == "weekly-report", SchedulerClaim.slot == "2026-W47")).all()
        assert len(claims) == 1
    assert len(audit(h, "report.weekly")) == 1


class TestSettings:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"timezone": "America/Chicago", "tickets": {"admin_channel": ADMIN_CHANNEL},
                "reports": {"weekly": {"weekday": "wednesday", "at": "09:00", "channel": "C0REPORTS"}}, "dicom": {"demo": "false"}}

    def test_day_time_zone_and_channel_come_from_the_settings(self, harness: Harness, clock: ManualClock) -> None:
        h = harness
        clock.set(datetime(2026, 11, 25, 14, 59, tzinfo=UTC))     # Wed 08:59 in Chicago
        assert run_weekly(h) == []
        clock.set(datetime(2026, 11, 25, 15, 0, tzinfo=UTC))      # Wed 09:00 in Chicago
        assert run_weekly(h) == ["2026-W47"]
        assert [f["channel"] for f in h.mock.files] == ["C0REPORTS"]


class TestSwitchedOff:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"tickets": {"admin_channel": ADMIN_CHANNEL}, "reports": {"weekly": {"enabled": False}}, "dicom": {"demo": "false"}}

    def test_nothing_is_posted_when_switched_off(self, harness: Harness, clock: ManualClock) -> None:
        clock.set(MONDAY_0730 + timedelta(hours=1))
        assert run_weekly(harness) == []
        assert harness.mock.files == []


class TestNoChannel:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"dicom": {"demo": "false"}}

    def test_without_a_channel_it_says_so_in_the_log_and_audit(self, harness: Harness, clock: ManualClock,
                                                               caplog: pytest.LogCaptureFixture) -> None:
        clock.set(MONDAY_0730 + timedelta(hours=1))
        assert run_weekly(harness) == []
        assert harness.mock.files == []
        assert "reports.weekly.channel" in caplog.text
        assert [(r.outcome, r.details.get("error")) for r in audit(harness, "report.weekly")] == [("failed", "no channel configured")]


# ---------------------------------------------------------------------------------------
# /pacs weekly

def test_an_admin_gets_the_report_of_any_week_in_a_dm(harness: Harness, clock: ManualClock) -> None:
    h = harness
    seed(h.db)
    clock.set(datetime(2026, 11, 26, 12, tzinfo=UTC))
    response = h.command(ADMIN, "weekly 2026-W47")
    assert response.status == 200 and "Building the weekly report for Week 47 (16–22 Nov 2026)" in response.text
    h.drain()
    assert len(h.mock.files) == 1
    upload = h.mock.files[0]
    assert upload["channel"].startswith("D") and upload["filename"] == "pacsbot-week-2026-W47.png"
    assert upload["content"].startswith(PNG_SIGNATURE)
    assert "4 opened (+2 linked reports)" in upload["initial_comment"]
    rows = audit(h, "report.weekly")
    assert [(r.actor, r.target, r.details["to"]) for r in rows] == [(ADMIN, "week:2026-W47", "dm")]

    h.command(ADMIN, "weekly")                                      # default: the last complete week
    h.drain()
    assert h.mock.files[-1]["filename"] == "pacsbot-week-2026-W47.png"
    h.command(ADMIN, "weekly this")                                 # the week so far
    h.drain()
    assert h.mock.files[-1]["filename"] == "pacsbot-week-2026-W48.png"
    assert "so far" in h.mock.files[-1]["initial_comment"]


@pytest.mark.parametrize("args, message", [("2026-W60", "2026 has no week 60"), ("yesterday-ish", "is not a week"),
                                           ("2027-W10", "has not started yet")])
def test_a_bad_week_is_explained_in_the_ack(harness: Harness, clock: ManualClock, args: str, message: str) -> None:
    h = harness
    clock.set(datetime(2026, 11, 26, 12, tzinfo=UTC))
    response = h.command(ADMIN, f"weekly {args}")
    assert response.status == 200 and message in response.text and "2026-W47" in response.text
    h.drain()
    assert h.mock.files == [] and audit(h, "report.weekly") == []


def test_the_command_is_refused_to_non_admins_and_audited(harness: Harness, clock: ManualClock) -> None:
    h = harness
    response = h.command(CLINICIAN, "weekly")
    h.drain()
    said = response.text + " ".join(c.params.get("text", "") for c in h.mock.calls_to("response_url"))
    assert "admin" in said.lower()
    assert h.mock.files == []
    assert [(r.actor, r.target) for r in audit(h, "access.denied")] == [(CLINICIAN, "command:weekly")]
    assert audit(h, "report.weekly") == []


def test_without_matplotlib_the_report_is_posted_as_text(harness: Harness, clock: ManualClock,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """matplotlib is the optional ``charts`` extra: a server without it posts the figures."""
    for name in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # `from matplotlib.figure import ...` fails
    h = harness
    seed(h.db)
    clock.set(MONDAY_0730)
    assert run_weekly(h) == ["2026-W47"]
    assert h.mock.files == []
    posts = [c.params for c in h.mock.calls_to("chat.postMessage") if c.params.get("channel") == ADMIN_CHANNEL]
    assert len(posts) == 1
    text = posts[0]["text"]
    assert text.startswith("*PACS weekly report at St Elsewhere: Week 47 (16–22 Nov 2026)*")
    assert "4 opened (+2 linked reports), 3 resolved" in text and "pip install 'pacsbot[charts]'" in text
    rows = audit(h, "report.weekly")
    assert [(r.target, r.outcome) for r in rows] == [("week:2026-W47", "ok")] and rows[0].details["bytes"] == 0


def test_without_matplotlib_an_admin_gets_the_figures_in_a_dm(harness: Harness, clock: ManualClock,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    h = harness
    seed(h.db)
    clock.set(datetime(2026, 11, 26, 12, tzinfo=UTC))
    h.command(ADMIN, "weekly 2026-W47")
    h.drain()
    assert h.mock.files == []
    dms = [c.params["text"] for c in h.mock.calls_to("chat.postMessage") if str(c.params.get("channel", "")).startswith("D")]
    assert len(dms) == 1
    # the week's own dates are the bot's words, not patient data: not masked
    assert dms[0].startswith("*PACS weekly report at St Elsewhere: Week 47 (16–22 Nov 2026)*"), dms[0]
    assert "pacsbot[charts]" in dms[0]

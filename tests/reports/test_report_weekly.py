"""The weekly report's figures, chart, CSVs, summary and terminal command, from a seeded week
(SQLite, and PostgreSQL where the database is involved)."""

from __future__ import annotations

import csv
import io
import os
import struct
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pacsbot.bot.audit import AuditEntry
from pacsbot.bot.cli import main as cli_main
from pacsbot.bot.storage import Database, upgrade
from pacsbot.commands.models import NodeCheck
from pacsbot.core.errors import UserError
from pacsbot.knowledge.store import record_gap
from pacsbot.reports.chart import SIZE, fmt_duration, render_png
from pacsbot.reports.export import CSV_FILES, csvs, summary, write_files
from pacsbot.reports.weekly import Week, gather, last_complete_week, parse_week, percentile
from pacsbot.tickets.models import Ticket
from pacsbot.training.models import Assignment

UTC = timezone.utc
W47 = Week.of(2026, 47, "UTC")                      # Mon 16 Nov 2026 .. Sun 22 Nov 2026
MON = datetime(2026, 11, 16, tzinfo=UTC)
AFTER = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)   # when the weekly job posts it
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PHI_QUESTION = "where are the CT images of Mr Smith MRN 12345678 born 12/03/1961"


# ---------------------------------------------------------------------------------------
# seeding

def _ticket(s: Any, n: int, category: str, created: datetime, *, ack: float | None = None, resolve: float | None = None,
            parent: int | None = None) -> Ticket:
    t = Ticket(
        number=n, source_ref=f"test:{n}", source="command", status="new", category=category, urgency="routine", priority="P3",
        queue="pacs", reporter="U0RAD0001", summary="Viewer slow for Mr Smith", description="details", created_at=created,
        updated_at=created, parent_id=parent, reopen_count=0, phi_suspected=False, is_incident=False,
    )
    if parent is not None:
        t.status = "duplicate"
    if ack is not None:
        t.status, t.acknowledged_at, t.acknowledged_by = "acknowledged", created + timedelta(minutes=ack), "U0ADMIN01"
    if resolve is not None:
        t.status, t.resolved_at, t.resolved_by = "resolved", created + timedelta(minutes=resolve), "U0ADMIN01"
    s.add(t)
    s.flush()
    return t


def _assignment(s: Any, module: str, user: str, status: str, due: date | None) -> None:
    s.add(Assignment(
        module_id=module, version="1", content_hash="h" * 64, user_id=user, assigned_by="U0TRAIN01", assigned_at=MON - timedelta(days=20),
        due_date=due, reason="assigned", batch="b1", status=status, is_open=True if status == "open" else None,
    ))


def seed(db: Database) -> None:
    """A known week: the figures the tests assert follow from these rows."""
    with db.session() as s:
        # pacs: 100 checks outside downtime (97 ok at 10..106 ms, 3 failed), 5 failed inside a downtime,
        # and checks outside the week that must not count
        for i in range(100):
            ok = i >= 3
            s.add(NodeCheck(node="pacs", at=MON + timedelta(minutes=60 * i + 1), ok=ok, elapsed_ms=10 + i if ok else 30000,
                            failure_code=None if ok else "timeout", in_downtime=False))
        for i in range(5):
            s.add(NodeCheck(node="pacs", at=MON + timedelta(days=5, minutes=i), ok=False, elapsed_ms=0, failure_code="refused",
                            in_downtime=True))
        s.add(NodeCheck(node="pacs", at=MON - timedelta(minutes=1), ok=False, elapsed_ms=0, failure_code="timeout", in_downtime=False))
        s.add(NodeCheck(node="pacs", at=MON + timedelta(days=7), ok=False, elapsed_ms=0, failure_code="timeout", in_downtime=False))
        for i in range(10):
            s.add(NodeCheck(node="vna", at=MON + timedelta(hours=i), ok=True, elapsed_ms=40, failure_code=None, in_downtime=False))

        # tickets: viewer 3 opened (ack 10/20/60 min; two resolved in 120/240 min) + 2 linked reports;
        # login 1 opened, unacknowledged; a ticket opened the week before, acknowledged and resolved in this week
        n = iter(range(1, 100))
        v1 = _ticket(s, next(n), "viewer", MON + timedelta(hours=9), ack=10, resolve=120)
        _ticket(s, next(n), "viewer", MON + timedelta(days=1, hours=9), ack=20, resolve=240)
        _ticket(s, next(n), "viewer", MON + timedelta(days=2, hours=9), ack=60)
        _ticket(s, next(n), "viewer", MON + timedelta(hours=9, minutes=5), parent=v1.id)
        _ticket(s, next(n), "viewer", MON + timedelta(hours=9, minutes=7), parent=v1.id)
        _ticket(s, next(n), "login", MON + timedelta(days=3))
        _ticket(s, next(n), "worklist", MON - timedelta(hours=2), ack=180, resolve=600)
        _ticket(s, next(n), "viewer", MON - timedelta(days=10), ack=5, resolve=10)   # all outside the week

        # knowledge gaps: 4 in the week (3 distinct), one before it
        for at, question, section in [
            (MON + timedelta(hours=1), PHI_QUESTION, "viewer-basics.md#hanging-protocols"),
            (MON + timedelta(hours=2), "hanging protocol for mammo prior?", "viewer-basics.md#hanging-protocols"),
            (MON + timedelta(hours=3), "hanging protocol for mammo prior", "viewer-basics.md#hanging-protocols"),
            (MON + timedelta(hours=4), "how do I bake a cake", None),
            (MON - timedelta(hours=4), "old question", "routing.md#rules"),
        ]:
            record_gap(s, at=at, user_id="U0RAD0001", question=question, best_section=section, confidence=0.1, surface="dm")

        # training: hipaa 10 assigned -> 7 completed, 3 open of which 2 overdue, 1 cancelled (not counted)
        for i in range(7):
            _assignment(s, "hipaa-imaging", f"U0C{i:06d}", "completed", date(2026, 11, 10))
        for i in range(3):
            _assignment(s, "hipaa-imaging", f"U0O{i:06d}", "open", date(2026, 11, 10) if i < 2 else date(2026, 12, 31))
        _assignment(s, "hipaa-imaging", "U0X000001", "cancelled", None)
        _assignment(s, "mr-safety", "U0M000001", "open", None)


@pytest.fixture
def seeded(db: Database) -> Database:
    upgrade(db)
    seed(db)
    return db


def build(db: Database, now: datetime = AFTER, **kw: Any) -> Any:
    with db.session() as s:
        return gather(s, W47, now=now, site="St Elsewhere", nodes=["pacs", "vna", "ct1"],
                      modules={"hipaa-imaging": ("HIPAA for imaging", None)}, **kw)


# ---------------------------------------------------------------------------------------
# weeks

def test_weeks_are_iso_weeks_in_the_site_time_zone() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert parse_week(None, now=now, tz="UTC") == W47 == parse_week("last", now=now, tz="UTC")
    assert parse_week("2026-W47", now=now, tz="UTC") == W47 == parse_week("2026w47", now=now, tz="UTC")
    assert parse_week("2026-11-22", now=now, tz="UTC") == W47
    assert parse_week("this", now=now, tz="UTC").label == "2026-W48"
    assert W47.start == MON and W47.end == MON + timedelta(days=7)
    assert W47.title == "Week 47 (16–22 Nov 2026)"
    chicago = Week.of(2026, 47, "America/Chicago")
    assert chicago.start == datetime(2026, 11, 16, 6, tzinfo=UTC) and chicago.end == datetime(2026, 11, 23, 6, tzinfo=UTC)
    # Sunday evening in Chicago is already Monday in UTC: still the same local week
    assert last_complete_week(datetime(2026, 11, 30, 3, tzinfo=UTC), "America/Chicago").label == "2026-W47"
    assert Week.of(2026, 53, "UTC").title == "Week 53 (28 Dec 2026 – 3 Jan 2027)"


@pytest.mark.parametrize("text, message", [
    ("2026-W60", "2026 has no week 60"),
    ("2026-02-30", "is not a date"),
    ("next tuesday", "is not a week"),
    ("2026-W49", "has not started yet"),
])
def test_bad_weeks_are_explained(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as err:
        parse_week(text, now=datetime(2026, 11, 25, tzinfo=UTC), tz="UTC")
    assert "2026-W47" in str(err.value)   # and says what to type instead


def test_percentile_is_nearest_rank() -> None:
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([7], 95) == 7 and percentile([], 95) is None
    assert fmt_duration(12) == "12 min" and fmt_duration(150) == "2.5 h" and fmt_duration(3 * 1440) == "3.0 d" and fmt_duration(None) == "–"


# ---------------------------------------------------------------------------------------
# figures

def test_figures_follow_from_the_records(seeded: Database) -> None:
    r = build(seeded)
    assert not r.partial
    nodes = {n.node: n for n in r.nodes}
    assert list(nodes) == ["pacs", "vna", "ct1"]          # configured order; ct1 has no checks
    pacs = nodes["pacs"]
    assert (pacs.checks, pacs.ok, pacs.failed, pacs.downtime_checks) == (100, 97, 3, 5)
    assert pacs.uptime_pct == pytest.approx(97.0)
    assert pacs.median_ms == 61.0                          # ok checks are 13..109 ms: median 61
    assert pacs.p95_ms == 105.0                            # nearest rank 93 of 97
    assert pacs.failure_codes == (("timeout", 3),)
    assert nodes["vna"].uptime_pct == 100.0 and nodes["vna"].median_ms == 40.0
    assert nodes["ct1"].checks == 0 and nodes["ct1"].uptime_pct is None and nodes["ct1"].median_ms is None
    assert r.overall_uptime_pct == pytest.approx(100 * 107 / 110)

    cats = {c.category: c for c in r.tickets}
    assert list(cats) == ["viewer", "worklist", "login"]  # the usual category order
    viewer = cats["viewer"]
    assert (viewer.opened, viewer.resolved, viewer.linked_reports, viewer.acknowledged) == (3, 2, 2, 3)
    assert viewer.median_ack_minutes == 20.0 and viewer.median_resolve_minutes == 180.0
    worklist = cats["worklist"]                            # opened before the week, acted on in it
    assert (worklist.opened, worklist.resolved, worklist.median_ack_minutes, worklist.median_resolve_minutes) == (0, 1, 180.0, 600.0)
    login = cats["login"]
    assert (login.opened, login.resolved, login.median_ack_minutes, login.median_resolve_minutes) == (1, 0, None, None)
    t = r.ticket_totals
    assert (t.opened, t.resolved, t.linked_reports) == (4, 3, 2)
    assert t.median_ack_minutes == 40.0                    # of 10, 20, 60, 180
    assert t.median_resolve_minutes == 240.0               # of 120, 240, 600

    assert (r.gaps.count, r.gaps.distinct) == (4, 3)
    assert [(x.label, x.count) for x in r.gaps.topics] == [("viewer basics › hanging protocols", 3), ("(no manual came close)", 1)]

    training = {m.module_id: m for m in r.training}
    hipaa = training["hipaa-imaging"]
    assert (hipaa.title, hipaa.assigned, hipaa.completed, hipaa.open, hipaa.overdue, hipaa.completion_pct) == (
        "HIPAA for imaging", 10, 7, 3, 2, 70)
    assert training["mr-safety"].title == "mr-safety" and training["mr-safety"].completion_pct == 0


def test_an_empty_week_has_no_figures_but_a_report(db: Database) -> None:
    upgrade(db)
    r = build(db)
    assert r.tickets == () and r.training == () and r.gaps.count == 0
    assert [n.checks for n in r.nodes] == [0, 0, 0]
    text = summary(r)
    assert "no scheduled checks" in text and "none opened" in text and "no unanswered" in text and "nothing assigned" in text
    png = render_png(r)
    assert png.startswith(PNG_SIGNATURE) and _png_size(png) == SIZE


def test_a_week_in_progress_is_marked_so(seeded: Database) -> None:
    r = build(seeded, now=MON + timedelta(days=2))
    assert r.partial and "so far" in summary(r)


# ---------------------------------------------------------------------------------------
# chart, CSVs, summary

def _png_size(data: bytes) -> tuple[int, int]:
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_chart_is_a_valid_png_of_the_expected_size(seeded: Database) -> None:
    import matplotlib.image

    png = render_png(build(seeded))
    assert png.startswith(PNG_SIGNATURE)
    assert _png_size(png) == SIZE == (1200, 800)
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")   # decodes: not just a header
    assert pixels.shape[:2] == (800, 1200)
    assert pixels.std() > 0.05                                         # something was drawn
    assert b"Smith" not in png and b"12345678" not in png
    assert render_png(build(seeded)) == png                            # deterministic


def test_csvs_carry_the_figures_and_no_phi(seeded: Database) -> None:
    files = csvs(build(seeded))
    assert tuple(files) == CSV_FILES
    rows = {name: list(csv.DictReader(io.StringIO(text))) for name, text in files.items()}
    pacs = next(r for r in rows["nodes.csv"] if r["node"] == "pacs")
    assert (pacs["week"], pacs["checks"], pacs["uptime_pct"], pacs["median_ms"], pacs["p95_ms"], pacs["downtime_checks_excluded"],
            pacs["failure_codes"]) == ("2026-W47", "100", "97.00", "61.0", "105.0", "5", "timeout=3")
    viewer = next(r for r in rows["tickets.csv"] if r["category"] == "viewer")
    assert (viewer["opened"], viewer["resolved"], viewer["linked_reports"], viewer["median_minutes_to_acknowledge"],
            viewer["median_minutes_to_resolve"]) == ("3", "2", "2", "20.0", "180.0")
    assert rows["tickets.csv"][-1]["category"] == "all" and rows["tickets.csv"][-1]["opened"] == "4"
    assert rows["knowledge_gaps.csv"][0]["closest_manual_section"] == "viewer-basics.md#hanging-protocols"
    assert rows["knowledge_gaps.csv"][-1]["questions"] == "4"
    hipaa = next(r for r in rows["training.csv"] if r["module"] == "hipaa-imaging")
    assert (hipaa["assigned"], hipaa["completed"], hipaa["overdue"], hipaa["completion_pct"]) == ("10", "7", "2", "70")
    everything = "".join(files.values())
    for secret in ("Smith", "12345678", "1961", "hanging protocol for mammo", "cake", "U0RAD0001", "U0C000001"):
        assert secret not in everything


def test_the_summary_is_short_and_says_what_matters(seeded: Database) -> None:
    text = summary(build(seeded))
    lines = text.splitlines()
    assert 5 <= len(lines) <= 8
    assert lines[0] == "*PACS weekly report at St Elsewhere: Week 47 (16–22 Nov 2026)*"
    assert "pacs 97.0% (median echo 61 ms)" in text and "vna 100% (median echo 40 ms)" in text and "3 failed checks" in text
    assert "4 opened (+2 linked reports), 3 resolved; median 40 min to acknowledge, 4.0 h to resolve" in text
    assert "Most reported: viewer (3 opened, 2 linked)" in text
    assert "4 unanswered questions (3 distinct)" in text and "viewer basics › hanging protocols" in text
    assert "HIPAA for imaging 70% complete (2 overdue)" in text
    assert "Smith" not in text and "12345678" not in text


def test_files_are_written_and_a_bad_directory_is_explained(seeded: Database, tmp_path: Path) -> None:
    paths = write_files(build(seeded), tmp_path / "new" / "dir")
    assert [p.name for p in paths] == ["weekly-2026-W47.png", *CSV_FILES]
    assert paths[0].read_bytes().startswith(PNG_SIGNATURE)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        write_files(build(seeded), blocker)


# ---------------------------------------------------------------------------------------
# the terminal command

def _config(tmp_path: Path, db: Database) -> Path:
    path = tmp_path / "pacsbot.yml"
    path.write_text(f"data_dir: {tmp_path / 'data'}\ndatabase:\n  url: '{db.url}'\nreports:\n  site: St Elsewhere\n")
    return path


def test_cli_writes_the_chart_and_csvs_and_prints_the_summary(seeded: Database, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert cli_main(["--config", str(_config(tmp_path, seeded)), "report", "--week", "2026-W47", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "PACS weekly report at St Elsewhere: Week 47 (16–22 Nov 2026)" in printed and "*" not in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(["weekly-2026-W47.png", *CSV_FILES])
    assert f"wrote {out / 'weekly-2026-W47.png'}" in printed
    assert (out / "weekly-2026-W47.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "hipaa-imaging" in (out / "training.csv").read_text()
    with seeded.session() as s:
        row = s.scalars(select(AuditEntry).where(AuditEntry.action == "report.weekly")).one()
        assert row.actor.startswith("cli:") and row.target == "week:2026-W47" and row.details["to"] == "files"


def test_cli_week_without_a_value_is_the_last_complete_week(seeded: Database, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert cli_main(["--config", str(_config(tmp_path, seeded)), "report", "--week", "--out", str(out)]) == 0
    label = last_complete_week(datetime.now(UTC), "UTC").label
    assert (out / f"weekly-{label}.png").exists()


@pytest.mark.parametrize("week, message", [("2026-W60", "no week 60"), ("soon", "is not a week"), ("2999-W01", "not started")])
def test_cli_bad_week_exits_2_without_a_traceback(seeded: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   week: str, message: str) -> None:
    out = tmp_path / "out"
    assert cli_main(["--config", str(_config(tmp_path, seeded)), "report", "--week", week, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_cli_unwritable_directory_exits_2(seeded: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    config = _config(tmp_path, seeded)
    assert cli_main(["--config", str(config), "report", "--week", "2026-W47", "--out", str(blocker)]) == 2
    assert "not a directory" in capsys.readouterr().err
    if os.geteuid() != 0:   # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert cli_main(["--config", str(config), "report", "--week", "2026-W47", "--out", str(locked / "x")]) == 2
        assert "Cannot create" in capsys.readouterr().err


def test_cli_without_matplotlib_writes_the_csvs_and_says_why_there_is_no_chart(
        seeded: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "out"
    assert cli_main(["--config", str(_config(tmp_path, seeded)), "report", "--week", "2026-W47", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(CSV_FILES)
    assert "no chart: it needs matplotlib" in printed and "pacsbot[charts]" in printed

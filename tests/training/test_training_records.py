"""Training records on SQLite and PostgreSQL: append-only, idempotent, versioned, exportable."""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from pacsbot.bot.cli import main
from pacsbot.bot.storage import Database, upgrade
from pacsbot.core.errors import Refused
from pacsbot.training import records
from pacsbot.training.catalog import load_catalog
from pacsbot.training.config import BUNDLED_MODULES
from pacsbot.training.content import Module
from pacsbot.training.models import Assignment, Attempt, Attestation, Completion, Reminder

UTC = ZoneInfo("UTC")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)  # a Monday


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return load_catalog([BUNDLED_MODULES]).modules


def right_answers(module: Module) -> dict[int, set[int]]:
    return {q.number: set(q.correct) for q in module.questions}


def wrong_answers(module: Module) -> dict[int, set[int]]:
    return {q.number: {next(i for i in range(len(q.options)) if i not in q.correct)} for q in module.questions}


def _assign(db: Database, module: Module, users: list[str], now: datetime = T0, **kw: Any) -> records.AssignOutcome:
    with db.session() as s:
        version = records.ensure_version(s, module, now)
        return records.assign(s, module, version, users, by="U0TRAIN01", now=now, due=kw.pop("due", date(2026, 1, 30)), **kw)


def _submit(db: Database, module: Module, aid: int, user: str, answers: dict[int, set[int]], number: int, now: datetime = T0) -> records.SubmitOutcome:
    with db.session() as s:
        version = records.ensure_version(s, module, now)
        return records.submit_attempt(s, aid, user, module, version, answers, number, now=now, attested=True)


# ---------------------------------------------------------------------------------------

def test_records_for_auditors_are_append_only(db: Database, modules: dict[str, Module]) -> None:
    upgrade(db)
    module = modules["hipaa-imaging"]
    aid = _assign(db, module, ["U0RAD0001"]).created[0].id
    _submit(db, module, aid, "U0RAD0001", right_answers(module), 1)
    for table in ("training_attempts", "training_completions", "training_attestations", "training_module_versions"):
        with pytest.raises(DBAPIError, match="append-only"):
            with db.session() as s:
                s.execute(text(f"UPDATE {table} SET id = id"))
        with pytest.raises(DBAPIError, match="append-only"):
            with db.session() as s:
                s.execute(text(f"DELETE FROM {table}"))
    _assign(db, module, ["U0RES0001"])
    with db.session() as s:
        assert len(records.manual_reminders(s, module.id, None, now=T0, tz=UTC, by="U0TRAIN01")[0]) == 1
    for table in ("training_assignments", "training_reminders"):
        with pytest.raises(DBAPIError, match="append-only"):
            with db.session() as s:
                s.execute(text(f"DELETE FROM {table}"))
    with db.session() as s:  # an assignment's status may change; its row stays
        s.execute(text("UPDATE training_assignments SET page = 3"))
        assert s.scalar(select(func.count()).select_from(Completion)) == 1


def test_assigning_is_idempotent(db: Database, modules: dict[str, Module]) -> None:
    upgrade(db)
    module = modules["viewer-basics"]
    first = _assign(db, module, ["U1", "U2", "U2", "U3"])
    assert [a.user_id for a in first.created] == ["U1", "U2", "U3"]
    again = _assign(db, module, ["U2", "U3", "U4"])
    assert [a.user_id for a in again.created] == ["U4"]
    assert sorted(a.user_id for a in again.already_open) == ["U2", "U3"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Assignment)) == 4


def test_concurrent_assignments_record_each_person_once(db: Database, modules: dict[str, Module]) -> None:
    upgrade(db)
    module = modules["viewer-basics"]
    users = [f"U{i:06d}" for i in range(300)]
    with db.session() as s:
        records.ensure_version(s, module, T0)
    outcomes: list[records.AssignOutcome] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            outcomes.append(_assign(db, module, users))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(len(o.created) for o in outcomes) == 300
    assert all(len(o.created) + len(o.already_open) == 300 for o in outcomes)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Assignment)) == 300


def test_versions_follow_content_and_completions_keep_theirs(db: Database, modules: dict[str, Module]) -> None:
    upgrade(db)
    module = modules["hipaa-imaging"]
    aid = _assign(db, module, ["U0RAD0001"]).created[0].id
    _submit(db, module, aid, "U0RAD0001", right_answers(module), 1)
    edited = replace(module, content_hash="e" * 64)  # the content changed, the label did not
    bumped = replace(module, version="2027.1", content_hash="f" * 64)
    unlabelled = replace(module, id="plain", version=None)
    with db.session() as s:
        assert records.ensure_version(s, module, T0).version == "2026.1"
        assert records.ensure_version(s, edited, T0).version == "2026.1-r2"
        assert records.ensure_version(s, bumped, T0).version == "2027.1"
        assert records.ensure_version(s, edited, T0).revision == 2  # seen before: same record
        assert records.ensure_version(s, unlabelled, T0).version == "r1"
        assert records.ensure_version(s, replace(unlabelled, content_hash="1" * 64), T0).version == "r2"
        completion = s.scalars(select(Completion)).one()
        assert (completion.version, completion.content_hash) == ("2026.1", module.content_hash)
        assert records.retrain_targets(s, bumped) == ["U0RAD0001"]
        assert records.retrain_targets(s, module) == []
    # the one who completed 2026.1 already has this version; the new version needs re-training
    assert _assign(db, module, ["U0RAD0001"]).already_done[0][:2] == ("U0RAD0001", "2026.1")
    with db.session() as s:
        version = records.ensure_version(s, bumped, T0)
        outcome = records.assign(s, bumped, version, ["U0RAD0001"], by="U0TRAIN01", now=T0, due=None, reason=records.RETRAIN)
    assert [(a.user_id, a.version, a.reason) for a in outcome.created] == [("U0RAD0001", "2027.1", "retrain")]


def test_attempts_pass_fail_and_out_of_attempts(db: Database, modules: dict[str, Module]) -> None:
    upgrade(db)
    module = modules["viewer-basics"]
    a1, a2 = (a.id for a in _assign(db, module, ["U1", "U2"]).created)
    failed = _submit(db, module, a1, "U1", wrong_answers(module), 1)
    assert (failed.grade.passed, failed.attempts_left, failed.status) == (False, 2, "open")
    passed = _submit(db, module, a1, "U1", right_answers(module), 2)
    assert passed.grade.passed and passed.status == "completed"
    c = passed.completion
    assert (c.score, c.attempts, c.version, c.expires_at) == (100, 2, "2026.1", None)
    assert c.attested_at == T0 and c.statement == "I have read and understood this module."
    for n in (1, 2, 3):
        last = _submit(db, module, a2, "U2", wrong_answers(module), n)
    assert last.status == "failed" and last.attempts_left == 0 and last.completion is None
    with pytest.raises(Refused, match="used all your attempts"):
        _submit(db, module, a2, "U2", right_answers(module), 4)
    with pytest.raises(Refused, match="assigned to someone else"):
        _submit(db, module, a1, "U2", right_answers(module), 3)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Attempt)) == 5
        assert s.scalar(select(func.count()).select_from(Attestation)) == 1


def test_a_repeated_submission_is_recorded_once(db: Database, modules: dict[str, Module]) -> None:
    upgrade(db)
    module = modules["hipaa-imaging"]
    aid = _assign(db, module, ["U1"]).created[0].id
    results: list[records.SubmitOutcome] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(_submit(db, module, aid, "U1", right_answers(module), 1))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.duplicate for r in results) == [False, True, True, True, True]
    assert all(r.grade.passed for r in results)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Attempt)) == 1
        assert s.scalar(select(func.count()).select_from(Completion)) == 1
    with pytest.raises(Refused, match="already passed"):
        _submit(db, module, aid, "U1", right_answers(module), 2)


def test_reminders_each_step_once(db: Database, modules: dict[str, Module]) -> None:
    upgrade(db)
    module = modules["viewer-basics"]
    _assign(db, module, ["U1", "U2"], due=date(2026, 1, 30))
    kw = {"tz": UTC, "before_days": [7, 1], "overdue_every": 3, "overdue_max": 2, "weekdays": {0, 1, 2, 3, 4}, "by": "pacsbot"}

    def due_on(day: date) -> list[str]:
        with db.session() as s:
            return [f"{r.assignment.user_id}:{r.step}" for r in records.due_reminders(s, now=datetime.combine(day, datetime.min.time(), timezone.utc) + timedelta(hours=10), **kw)]

    assert due_on(date(2026, 1, 20)) == []
    assert due_on(date(2026, 1, 23)) == ["U1:before:7", "U2:before:7"]
    assert due_on(date(2026, 1, 23)) == []  # never twice
    assert due_on(date(2026, 1, 26)) == []
    assert due_on(date(2026, 1, 29)) == ["U1:before:1", "U2:before:1"]
    assert due_on(date(2026, 1, 31)) == ["U1:overdue:1", "U2:overdue:1"]
    assert due_on(date(2026, 2, 3)) == ["U1:overdue:2", "U2:overdue:2"]
    assert due_on(date(2026, 2, 6)) == []  # at most two overdue reminders
    with db.session() as s:
        assert records.due_reminders(s, now=T0 + timedelta(days=40), module_ids=set(), **kw) == []
        sent, skipped = records.manual_reminders(s, module.id, None, now=T0, tz=UTC, by="U0TRAIN01")
        assert (len(sent), skipped) == (2, 0)
        sent, skipped = records.manual_reminders(s, module.id, ["U1"], now=T0 + timedelta(hours=2), tz=UTC, by="U0TRAIN01")
        assert (len(sent), skipped) == (0, 1)  # once a day per person
        assert s.scalar(select(func.count()).select_from(Reminder)) == 10


def test_renewals_before_a_completion_expires(db: Database, modules: dict[str, Module]) -> None:
    upgrade(db)
    hipaa = modules["hipaa-imaging"]
    aid = _assign(db, hipaa, ["U1"]).created[0].id
    done = _submit(db, hipaa, aid, "U1", right_answers(hipaa), 1)
    assert done.completion.expires_at == T0 + timedelta(days=365)
    with db.session() as s:
        assert records.renewals_due(s, hipaa, now=T0 + timedelta(days=300), lead_days=30) == []
        due = records.renewals_due(s, hipaa, now=T0 + timedelta(days=336), lead_days=30)
        assert [(r.user_id, r.completion_id) for r in due] == [("U1", done.completion.id)]
        version = records.ensure_version(s, hipaa, T0)
        records.assign(s, hipaa, version, ["U1"], by="pacsbot", now=T0 + timedelta(days=336), due=date(2027, 1, 5),
                       reason=records.RENEWAL, renewal_of={"U1": done.completion.id})
        assert records.renewals_due(s, hipaa, now=T0 + timedelta(days=340), lead_days=30) == []
        renewal = s.scalars(select(Assignment).where(Assignment.reason == "renewal")).one()
        assert renewal.renewal_of == done.completion.id


def test_report_rows_and_csv(db: Database, modules: dict[str, Module]) -> None:
    upgrade(db)
    module = modules["hipaa-imaging"]
    a1, a2, a3 = (a.id for a in _assign(db, module, ["U1", "U2", "U3"]).created)
    _submit(db, module, a1, "U1", wrong_answers(module), 1, now=T0 + timedelta(hours=1))
    _submit(db, module, a1, "U1", right_answers(module), 2, now=T0 + timedelta(hours=2))
    _submit(db, module, a2, "U2", wrong_answers(module), 1)
    with db.session() as s:
        records.save_names(s, {"U1": "Dr. Rhea", "U2": "=cmd|' /C calc'!A0"}, T0)
        records.unassign(s, module.id, ["U3"], by="U0TRAIN01", now=T0)
        rows = records.report_rows(s, module_id=module.id)
        assert records.missing_names(s, limit=10) == ["U3"]
    parsed = list(csv.DictReader(io.StringIO(records.to_csv(rows))))
    assert list(parsed[0]) == list(records.CSV_COLUMNS)
    one = parsed[0]
    assert (one["user"], one["name"], one["module"], one["version"], one["assigned_by"]) == ("U1", "Dr. Rhea", "hipaa-imaging", "2026.1", "U0TRAIN01")
    assert (one["assigned_at"], one["due"], one["completed_at"]) == ("2026-01-05T09:00:00Z", "2026-01-30", "2026-01-05T11:00:00Z")
    assert (one["score"], one["attempts"], one["status"]) == ("100", "2", "completed")
    assert one["attestation"] == "I have read and understood this module." and one["attested_at"] == "2026-01-05T11:00:00Z"
    assert one["valid_until"] == "2027-01-05T11:00:00Z"
    assert (parsed[1]["status"], parsed[1]["completed_at"], parsed[1]["attempts"]) == ("open", "", "1")
    assert parsed[1]["name"].startswith("'=")  # no spreadsheet formulas from profile names
    assert parsed[2]["status"] == "cancelled"
    with db.session() as s:
        assert [r.user_id for r in records.report_rows(s, since=T0 + timedelta(minutes=90))] == ["U1"]


def test_export_from_the_command_line(tmp_path: Path, db_url: str, modules: dict[str, Module], capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "pacsbot.yml"
    cfg.write_text(f"database:\n  url: {db_url}\n")
    assert main(["--config", str(cfg), "training", "assign", "hipaa-imaging", "U0RAD0001", "U0RES0001", "--due", "30d"]) == 0
    assert "Assigned hipaa-imaging (version 2026.1) to 2 person(s)" in capsys.readouterr().out
    assert main(["--config", str(cfg), "training", "assign", "hipaa-imaging", "U0RAD0001"]) == 0
    assert "1 already had it open (unchanged)" in capsys.readouterr().out
    assert main(["--config", str(cfg), "training", "assign", "hipaa-imaging", "rhea"]) == 2
    assert "Not Slack user ids: rhea" in capsys.readouterr().err
    assert main(["--config", str(cfg), "training", "export", "--csv", "--since", "7d"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ",".join(records.CSV_COLUMNS) and len(out) == 3
    assert main(["--config", str(cfg), "training", "status"]) == 0
    assert "hipaa-imaging" in capsys.readouterr().out
    assert main(["--config", str(cfg), "training", "history", "U0RAD0001"]) == 0
    assert "hipaa-imaging" in capsys.readouterr().out
    assert main(["--config", str(cfg), "training", "unassign", "hipaa-imaging", "U0RES0001"]) == 0
    assert "Withdrew hipaa-imaging from 1 person(s)" in capsys.readouterr().out
    assert main(["--config", str(cfg), "audit", "--action", "training"]) == 0
    audit = capsys.readouterr().out
    for action in ("training.assign", "training.export", "training.history", "training.unassign"):
        assert action in audit
    db = Database(db_url)
    try:
        with db.session() as s:
            from pacsbot.bot.models import OutboxMessage

            keys = sorted(s.scalars(select(OutboxMessage.key)))
        assert [k.split(":")[1] for k in keys] == ["invite", "invite", "withdrawn"]  # the bot sends them
    finally:
        db.dispose()


def test_check_and_new_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "pacsbot.yml"
    cfg.write_text("training:\n  modules: [site]\n")
    assert main(["--config", str(cfg), "training", "new", "mr-safety"]) == 0
    assert (tmp_path / "site" / "mr-safety.md").exists()
    capsys.readouterr()
    assert main(["--config", str(cfg), "training", "check"]) == 0
    assert "OK: 6 file(s), 6 module(s) offered" in capsys.readouterr().out
    bad = tmp_path / "site" / "bad.md"
    bad.write_text("---\nid: bad\ntitle: Bad\nminutes: 5\npass_mark: 0\n---\n## P\nx\n## Quiz\n### Q\n- [ ] a\n- [ ] b\n> e\n")
    assert main(["--config", str(cfg), "training", "check"]) == 2
    out = capsys.readouterr().out
    assert f"{bad}:5: error: pass_mark is 0; it must be between 1 and 100 (percent)" in out
    assert f"{bad}:10: error: question 'Q' has no correct answer" in out
    assert "FAILED: 7 file(s), 6 module(s) offered, 1 skipped; 2 error(s)" in out
    assert main(["--config", str(cfg), "training", "check", "--json"]) == 2

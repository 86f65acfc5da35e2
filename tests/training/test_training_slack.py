"""Training through the real Bolt app with signed requests, on SQLite and PostgreSQL:
assign to a user group, DMs, pages, the quiz as a view_submission, pass and fail, completion,
the report CSV, reminders and renewals with a controllable clock, role checks on every trainer
command and button, and idempotency under repeated and concurrent deliveries."""

from __future__ import annotations

import csv
import io
import threading
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from pacsbot.bot.features.training import feature
from pacsbot.bot.models import AuditEntry, OutboxMessage
from pacsbot.bot.outbox import get_outbox
from pacsbot.bot.scheduler import Scheduler
from pacsbot.bot.slackmock import MockSlack
from pacsbot.core.clock import ManualClock
from pacsbot.training.content import Module
from pacsbot.training.models import Assignment, Attempt, Attestation, Completion
from tests.harness import ADMIN, CLINICIAN, TECH, TRAINER, Harness, texts_of

RESIDENT = "U0RES0001"
GROUP = "<!subteam^S0RESIDNT|@new-residents>"
MONDAY_9AM = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_9AM)


@pytest.fixture
def harness_register(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Any:
    # Every service (audit, outbox, training) takes the clock build_services makes.
    monkeypatch.setattr("pacsbot.bot.services.SystemClock", lambda: clock)
    return None


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"timezone": "UTC", "training": {"notify_channel": "C0TRAINRS"}}


@pytest.fixture(autouse=True)
def workspace(mock_slack: MockSlack) -> None:
    mock_slack.add_user(RESIDENT, "dr.ravi", real_name="Dr. Ravi Resident")
    mock_slack.add_usergroup("S0RESIDNT", "new-residents", [CLINICIAN, RESIDENT])
    mock_slack.add_channel("C0RADIOLO", "radiology", [CLINICIAN, TECH, "U0PACSBOT", "USLACKBOT"])


# ---------------------------------------------------------------------------------------
# helpers

def module(h: Harness, module_id: str = "hipaa-imaging") -> Module:
    return feature(h.services).service.catalog().get(module_id)


def posts_to(h: Harness, channel: str) -> list[Any]:
    return [c for c in h.mock.calls_to("chat.postMessage") if c.params.get("channel") == channel]


def replies(h: Harness) -> list[str]:
    """What the bot said privately to the asker (block text where there are blocks)."""
    return [texts_of(c.params["blocks"]) if c.params.get("blocks") else c.params.get("text", "") for c in h.mock.calls_to("response_url")]


def buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "button" and node.get("action_id"):
                found[node["action_id"]] = node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def audit(h: Harness, action: str | None = None) -> list[AuditEntry]:
    with h.db.session() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        return list(s.scalars(stmt))


def count(h: Harness, model: Any, *where: Any) -> int:
    with h.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def assign(h: Harness, text: str, user: str = TRAINER) -> Any:
    response = h.command(user, f"train assign {text}")
    h.drain()
    return response


def command(h: Harness, user: str, text: str) -> Any:
    return h.command(user, f"train {text}")


def invitation_id(h: Harness, user: str) -> int:
    call = [c for c in posts_to(h, user) if "train_start" in str(c.params.get("blocks"))][-1]
    button = next(b for k, b in buttons(call.params["blocks"]).items() if k.startswith("train_start:"))
    return int(button["value"])


def last_view(h: Harness) -> dict[str, Any]:
    outputs = [o for o in h.mock.outputs if o.kind in ("modal_open", "modal_update", "modal_push")]
    return outputs[-1].view  # type: ignore[return-value]


def click(h: Harness, user: str, action_id: str, *, view: dict[str, Any] | None = None, channel: str | None = None) -> Any:
    value = action_id.split(":", 1)[1] if ":" in action_id else ""
    action = {"action_id": action_id, "value": value, "type": "button"}
    if view is not None:
        request = h.sim.block_action(user, action, view=view)
    else:
        request = h.sim.block_action(user, action, channel_id=channel or f"D{user[1:]}", message={"ts": "1.1"})
    response = h.send(request)
    h.drain()
    return response


def quiz_values(m: Module, *, right: bool = True, skip: tuple[int, ...] = (), attest: bool = True) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for q in m.questions:
        if q.number in skip:
            continue
        chosen = sorted(q.correct) if right else [next(i for i in range(len(q.options)) if i not in q.correct)]
        if q.multiple:
            state = {"type": "checkboxes", "selected_options": [{"value": f"o{i}"} for i in chosen]}
        else:
            state = {"type": "radio_buttons", "selected_option": {"value": f"o{chosen[0]}"}}
        values[f"q{q.number}"] = {f"q{q.number}": state}
    values["attest"] = {"attest": {"type": "checkboxes", "selected_options": [{"value": "understood"}] if attest else []}}
    return values


def submit(h: Harness, user: str, view: dict[str, Any], values: dict[str, Any]) -> Any:
    response = h.send(h.sim.view_submission(user, view, values))
    h.drain()
    return response


def open_quiz(h: Harness, user: str, aid: int) -> dict[str, Any]:
    click(h, user, f"train_start:{aid}")
    click(h, user, f"train_quiz_open:{aid}", view=last_view(h))
    view = last_view(h)
    assert view["callback_id"] == "train_quiz"
    return view


# ---------------------------------------------------------------------------------------
# the whole flow

def test_assign_to_a_user_group_then_learn_fail_pass_and_report(harness: Harness) -> None:
    h = harness
    m = module(h)
    response = command(h, TRAINER, f"assign hipaa-imaging {GROUP} due 2026-02-15")
    assert response.status == 200 and "Assigning *HIPAA privacy and security in imaging*" in response.text
    h.drain()
    # (the role check reads @pacs-admins; the assignment reads the group it was given, now)
    assert "S0RESIDNT" in [c.params["usergroup"] for c in h.mock.calls_to("usergroups.users.list")]
    assert "Assigned *HIPAA privacy and security in imaging* (version 2026.1) to *2* people" in replies(h)[-1]
    for user in (CLINICIAN, RESIDENT):
        dm = posts_to(h, user)
        assert len(dm) == 1
        text = texts_of(dm[0].params["blocks"])
        assert "HIPAA privacy and security in imaging" in text and "about 20 minutes" in text and "Mon 16 Feb 2026" not in text
        assert "Sun 15 Feb 2026" in text and "<@U0TRAIN01>" in text
        assert any(k.startswith("train_start:") for k in buttons(dm[0].params["blocks"]))
    rows = audit(h, "training.assign")
    assert len(rows) == 1 and rows[0].actor == TRAINER and rows[0].target == "module:hipaa-imaging"
    assert (rows[0].details["created"], rows[0].details["targets"]) == (2, ["S0RESIDNT"])

    # Start: page 1 in a modal; Next, Back; the quiz
    aid = invitation_id(h, CLINICIAN)
    click(h, CLINICIAN, f"train_start:{aid}")
    page1 = last_view(h)
    assert h.mock.calls_to("views.open") and "Page 1 of 6" in texts_of(page1["blocks"])
    assert set(buttons(page1["blocks"])) == {f"train_page:{aid}:2"}
    click(h, CLINICIAN, f"train_page:{aid}:2", view=page1)
    page2 = last_view(h)
    assert "Page 2 of 6" in texts_of(page2["blocks"]) and page2["id"] == page1["id"]
    assert set(buttons(page2["blocks"])) == {f"train_page:{aid}:1", f"train_page:{aid}:3"}
    click(h, CLINICIAN, f"train_page:{aid}:6", view=page2)
    assert f"train_quiz_open:{aid}" in buttons(last_view(h)["blocks"])
    click(h, CLINICIAN, f"train_quiz_open:{aid}", view=last_view(h))
    quiz = last_view(h)
    assert quiz["callback_id"] == "train_quiz" and quiz["submit"]["text"] == "Submit answers"
    kinds = {b["block_id"]: b["element"]["type"] for b in quiz["blocks"] if b["type"] == "input"}
    assert kinds["q1"] == "checkboxes" and kinds["q2"] == "radio_buttons" and kinds["attest"] == "checkboxes"

    # unanswered questions and no attestation: errors in the window, nothing recorded
    body = submit(h, CLINICIAN, quiz, quiz_values(m, skip=(2, 5), attest=False)).json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"q2", "q5", "attest"}
    assert count(h, Attempt) == 0

    # a failing attempt
    body = submit(h, CLINICIAN, quiz, quiz_values(m, right=False)).json()
    assert body["response_action"] == "update" and "Checking" in texts_of(body["view"]["blocks"])
    result = h.mock.calls_to("views.update")[-1].params
    assert result["view_id"] == quiz["id"]
    text = texts_of(result["view"]["blocks"])
    assert "Not passed yet — 0 of 10 right (0%)" in text and "you need 8 of 10 right (80%)" in text and "You have *2* attempts left" in text
    assert "Names, dates of birth and IDs appear in the overlay" in text  # explanations shown
    assert f"train_quiz_open:{aid}" in buttons(result["view"]["blocks"])
    assert count(h, Attempt) == 1 and count(h, Completion) == 0

    # try again and pass
    click(h, CLINICIAN, f"train_quiz_open:{aid}", view=last_view(h))
    quiz2 = last_view(h)
    assert "attempt 2 of 3" in texts_of(quiz2["blocks"])
    submit(h, CLINICIAN, quiz2, quiz_values(m))
    result = h.mock.calls_to("views.update")[-1].params["view"]
    text = texts_of(result["blocks"])
    assert "✅ Passed — 10 of 10 right (100%)" in text and "Version 2026.1" in text and "I have read and understood this module." in text
    assert "valid until 5 Jan 2027" in text
    with h.db.session() as s:
        c = s.scalars(select(Completion)).one()
        assert (c.user_id, c.version, c.score, c.attempts, c.completed_at) == (CLINICIAN, "2026.1", 100, 2, MONDAY_9AM)
        att = s.scalars(select(Attestation)).one()
        assert (att.completion_id, att.attested_at, att.statement) == (c.id, MONDAY_9AM, "I have read and understood this module.")
    confirmation = [c for c in posts_to(h, CLINICIAN) if "Training complete" in c.params["text"]]
    assert len(confirmation) == 1
    updates = h.mock.calls_to("chat.update")
    assert len(updates) == 1 and "completed" in updates[0].params["text"]  # the invitation loses its Start button
    assert h.mock.calls_to("views.publish")[-1].params["user_id"] == CLINICIAN
    assert [r.action for r in audit(h) if r.actor == CLINICIAN] == [
        "training.start", "training.attempt", "training.attempt", "training.complete"]

    # the trainer's report, as a CSV in their DM (files v2)
    response = command(h, TRAINER, "report hipaa-imaging --csv")
    assert response.status == 200
    h.drain()
    assert h.mock.calls_to("files.getUploadURLExternal") and h.mock.calls_to("files.completeUploadExternal")
    upload = h.mock.files[-1]
    assert upload["channel"] == "D0TRAIN01" and upload["filename"].startswith("training-hipaa-imaging-")
    rows = list(csv.DictReader(io.StringIO(upload["content"].decode())))
    assert [(r["user"], r["status"]) for r in rows] == [(CLINICIAN, "completed"), (RESIDENT, "open")]
    rhea = rows[0]
    assert rhea["name"] == "Dr. Rhea Radiologist" and rhea["version"] == "2026.1" and rhea["score"] == "100"
    assert rhea["attempts"] == "2" and rhea["attested_at"] == "2026-01-05T09:00:00Z" and rhea["due"] == "2026-02-15"
    assert "I've sent the CSV (2 rows)" in replies(h)[-1]
    assert audit(h, "training.report")[-1].details == {"csv": True, "rows": 2}


def test_running_out_of_attempts_tells_the_trainer(harness: Harness) -> None:
    h = harness
    m = module(h, "viewer-basics")
    assign(h, f"viewer-basics <@{CLINICIAN}|dr.rhea>")
    aid = invitation_id(h, CLINICIAN)
    view = open_quiz(h, CLINICIAN, aid)
    for n in range(3):
        submit(h, CLINICIAN, view, quiz_values(m, right=False))
        if n < 2:
            click(h, CLINICIAN, f"train_quiz_open:{aid}", view=last_view(h))
            view = last_view(h)
    text = texts_of(h.mock.calls_to("views.update")[-1].params["view"]["blocks"])
    assert "That was your last attempt" in text and "<@U0TRAIN01> has been told" in text
    notice = posts_to(h, TRAINER)
    assert len(notice) == 1 and "did not pass" in notice[0].params["text"]
    assert f"train_reassign:{aid}" in buttons(notice[0].params["blocks"])
    with h.db.session() as s:
        assert s.get(Assignment, aid).status == "failed"
    assert [r.outcome for r in audit(h, "training.failed")] == ["failed"]

    # the learner can't take it again; the trainer can give another go
    click(h, CLINICIAN, f"train_start:{aid}")
    assert "used all your attempts" in replies(h)[-1]
    click(h, TRAINER, f"train_reassign:{aid}", channel="D0TRAIN01")
    assert count(h, Assignment, Assignment.status == "open") == 1
    assert len(posts_to(h, CLINICIAN)) == 2


# ---------------------------------------------------------------------------------------
# idempotency

def test_reassigning_an_open_assignment_changes_nothing_and_says_so(harness: Harness) -> None:
    h = harness
    assign(h, f"hipaa-imaging {GROUP}")
    assign(h, f"hipaa-imaging {GROUP}")
    assert "Nothing changed: everyone (@new-residents: 2) already has" in replies(h)[-1]
    assert "2 already had it open — left as it was" in replies(h)[-1]
    assert count(h, Assignment) == 2
    assert len(h.mock.calls_to("chat.postMessage")) == 2


def test_repeated_and_concurrent_deliveries_record_and_send_once(harness: Harness, mock_slack: MockSlack) -> None:
    h = harness
    members = [f"U0BIG{i:04d}" for i in range(150)]
    mock_slack.add_usergroup("S0BIGGRP1", "everyone-ct", members)
    outbox = get_outbox(h.services)
    outbox.rate, outbox.burst = 1000.0, 1000
    requests = [h.sim.slash_command(TRAINER, "train assign downtime-procedures <!subteam^S0BIGGRP1|@everyone-ct>") for _ in range(4)]
    threads = [threading.Thread(target=h.send, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    h.drain()
    assert count(h, Assignment) == 150
    posts = h.mock.calls_to("chat.postMessage")
    assert len(posts) == 150 and len({p.params["channel"] for p in posts}) == 150
    assert count(h, OutboxMessage, OutboxMessage.status == "sent") == 150
    assert sum(r.details["created"] for r in audit(h, "training.assign")) == 150


def test_a_double_submitted_quiz_is_recorded_once(harness: Harness) -> None:
    h = harness
    m = module(h)
    assign(h, f"hipaa-imaging <@{CLINICIAN}>")
    view = open_quiz(h, CLINICIAN, invitation_id(h, CLINICIAN))
    request = h.sim.view_submission(CLINICIAN, view, quiz_values(m))
    threads = [threading.Thread(target=h.send, args=(request,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    h.drain()
    assert count(h, Attempt) == 1 and count(h, Completion) == 1 and count(h, Attestation) == 1
    assert len([c for c in posts_to(h, CLINICIAN) if "Training complete" in c.params["text"]]) == 1
    results = [texts_of(c.params["view"]["blocks"]) for c in h.mock.calls_to("views.update") if "Passed" in str(c.params["view"])]
    assert len(results) == 3 and sum("already been recorded" in r for r in results) == 2


# ---------------------------------------------------------------------------------------
# people, groups and channels

def test_channels_and_handles_resolve_to_members(harness: Harness) -> None:
    h = harness
    assign(h, "missing-images-resend <#C0RADIOLO|radiology> @new-residents")
    assert h.mock.calls_to("conversations.members")[0].params["channel"] == "C0RADIOLO"
    with h.db.session() as s:
        users = sorted(s.scalars(select(Assignment.user_id)))
    assert users == sorted([CLINICIAN, TECH, RESIDENT])  # no bots, each person once
    assert "(<#C0RADIOLO>: 2, @new-residents: 2)" in replies(h)[-1]


def test_unknown_targets_assign_nothing(harness: Harness) -> None:
    h = harness
    assign(h, "hipaa-imaging @no-such-group <@U0RAD0001>")
    assert "Nothing was assigned. I can't find a user group @no-such-group" in replies(h)[-1]
    assert count(h, Assignment) == 0
    response = command(h, TRAINER, "assign hipaa-imaging #radiology")
    assert "can't look up the channel “#radiology” by name" in response.text
    response = command(h, TRAINER, "assign hipa-imaging @new-residents")
    assert "There is no training module `hipa-imaging`. Did you mean `hipaa-imaging`?" in response.text
    response = command(h, TRAINER, "assign hipaa-imaging @new-residents due 15/01/2027")
    assert "is not a date" in response.text
    response = command(h, TRAINER, "asign hipaa-imaging")
    assert "Did you mean `/pacs train assign`?" in response.text
    assert count(h, Assignment) == 0


def test_someone_elses_training_cannot_be_opened(harness: Harness) -> None:
    h = harness
    assign(h, f"hipaa-imaging <@{CLINICIAN}>")
    aid = invitation_id(h, CLINICIAN)
    click(h, TECH, f"train_start:{aid}")
    assert "assigned to someone else" in replies(h)[-1]
    assert h.mock.calls_to("views.open") == []


# ---------------------------------------------------------------------------------------
# roles

TRAINER_VERBS = ["modules", "assign hipaa-imaging @new-residents", "unassign hipaa-imaging @new-residents",
                 "status", "remind hipaa-imaging", "retrain hipaa-imaging", "report --csv"]


@pytest.mark.parametrize("verb", TRAINER_VERBS)
def test_every_trainer_command_is_refused_to_clinicians_and_audited(harness: Harness, verb: str) -> None:
    h = harness
    response = command(h, CLINICIAN, verb)
    assert response.status == 200 and "is only for trainers" in response.text and "#pacs-help" in response.text
    h.drain()
    name = verb.split()[0]
    rows = audit(h, "access.denied")
    assert [(r.actor, r.target, r.outcome) for r in rows] == [(CLINICIAN, f"command:train {name}", "denied")]
    assert count(h, Assignment) == 0
    assert "S0RESIDNT" not in [c.params["usergroup"] for c in h.mock.calls_to("usergroups.users.list")]


@pytest.mark.parametrize("action_id", ["train_remind_open:hipaa-imaging", "train_report_csv:all", "train_reassign:1"])
def test_every_trainer_button_is_refused_to_clinicians_and_audited(harness: Harness, action_id: str) -> None:
    h = harness
    assign(h, f"hipaa-imaging <@{CLINICIAN}>")
    before = len(h.mock.calls_to("chat.postMessage"))
    click(h, CLINICIAN, action_id, channel="C0GENERAL")
    assert "is only for trainers" in replies(h)[-1]
    assert [(r.actor, r.target) for r in audit(h, "access.denied")] == [(CLINICIAN, f"action:{action_id.split(':')[0]}")]
    assert len(h.mock.calls_to("chat.postMessage")) == before and h.mock.files == []
    assert count(h, Assignment) == 1


def test_admins_may_do_what_trainers_do_and_clinicians_see_only_their_own(harness: Harness) -> None:
    h = harness
    assign(h, f"hipaa-imaging <@{CLINICIAN}>", user=ADMIN)
    assert count(h, Assignment) == 1
    usage = command(h, CLINICIAN, "").json()
    assert "/pacs train me" in texts_of(usage["blocks"]) and "train assign" not in texts_of(usage["blocks"])
    command(h, CLINICIAN, "me")
    h.drain()
    mine = h.mock.calls_to("response_url")[-1].params
    assert "HIPAA privacy and security in imaging" in texts_of(mine["blocks"]) and "due" in texts_of(mine["blocks"])


# ---------------------------------------------------------------------------------------
# trainer views and actions

def test_status_remind_unassign(harness: Harness, clock: ManualClock) -> None:
    h = harness
    assign(h, f"hipaa-imaging {GROUP} due 2026-01-10")
    clock.advance(days=8)  # now overdue
    command(h, TRAINER, "status hipaa-imaging")
    h.drain()
    status = h.mock.calls_to("response_url")[-1].params
    text = texts_of(status["blocks"])
    assert "Assigned 2 · completed 0 (0%) · open 2 (2 not started) · overdue 2" in text
    assert "*Overdue:* <@U0RAD0001> <@U0RES0001>" in text
    assert {"train_remind_open:hipaa-imaging", "train_report_csv:hipaa-imaging"} <= set(buttons(status["blocks"]))
    command(h, TRAINER, f"status <@{RESIDENT}|dr.ravi>")
    h.drain()
    assert "Training of <@U0RES0001>" in texts_of(h.mock.calls_to("response_url")[-1].params["blocks"])

    click(h, TRAINER, "train_remind_open:hipaa-imaging", channel="C0GENERAL")
    assert "Reminded 2 people" in replies(h)[-1]
    reminders = [c for c in h.mock.calls_to("chat.postMessage") if "overdue" in c.params["text"]]
    assert len(reminders) == 2
    command(h, TRAINER, "remind hipaa-imaging")
    h.drain()
    assert "2 had already been reminded today and were left alone" in replies(h)[-1]

    command(h, TRAINER, f"unassign hipaa-imaging <@{RESIDENT}>")
    h.drain()
    assert "Withdrew *HIPAA privacy and security in imaging* from 1 person" in replies(h)[-1]
    assert "withdrawn" in posts_to(h, RESIDENT)[-1].params["text"]
    command(h, TRAINER, "report")
    h.drain()
    report = texts_of(h.mock.calls_to("response_url")[-1].params["blocks"])
    assert "HIPAA privacy and security in imaging* (v2026.1): 0/1 completed (0%), 1 overdue" in report
    assert {r.action for r in audit(h) if r.actor == TRAINER} >= {"training.assign", "training.status", "training.remind",
                                                                  "training.unassign", "training.report"}


def test_modules_list_and_retrain_on_a_new_version(harness: Harness, tmp_path: Any) -> None:
    h = harness
    m = module(h)
    command(h, TRAINER, "modules")
    h.drain()
    listing = texts_of(h.mock.calls_to("response_url")[-1].params["blocks"])
    assert "*Training modules* (5)" in listing and "`hipaa-imaging`" in listing and "every 365 days" in listing

    assign(h, f"hipaa-imaging <@{CLINICIAN}>")
    submit(h, CLINICIAN, open_quiz(h, CLINICIAN, invitation_id(h, CLINICIAN)), quiz_values(m))
    # the module is updated: a new file in the site directory replaces the bundled one
    site = tmp_path / "site-modules"
    site.mkdir()
    text = open(m.path, encoding="utf-8").read().replace("version: 2026.1", "version: 2027.1").replace(
        "Mistakes happen.", "Mistakes happen, and that is fine.")
    (site / "hipaa-imaging.md").write_text(text)
    svc = feature(h.services).service
    svc.cache.dirs.append(site)
    svc.cache.get(force=True)
    command(h, TRAINER, "status hipaa-imaging")
    h.drain()
    assert "1 person last completed an older version" in texts_of(h.mock.calls_to("response_url")[-1].params["blocks"])
    command(h, TRAINER, "retrain hipaa-imaging")
    h.drain()
    assert "Re-training: assigned *HIPAA privacy and security in imaging* (version 2027.1) to *1* person" in replies(h)[-1]
    dm = posts_to(h, CLINICIAN)[-1]
    assert "updated to version 2027.1" in texts_of(dm.params["blocks"])
    with h.db.session() as s:
        versions = [(c.version, c.content_hash[:8]) for c in s.scalars(select(Completion))]
        assert versions == [("2026.1", m.content_hash[:8])]  # the completion keeps its version
        assert s.scalars(select(Assignment.reason).order_by(Assignment.id)).all() == ["assigned", "retrain"]


# ---------------------------------------------------------------------------------------
# App Home

def test_app_home_lists_assignments_with_start_and_continue(harness: Harness) -> None:
    h = harness
    assign(h, f"hipaa-imaging <@{CLINICIAN}>")
    assign(h, f"viewer-basics <@{CLINICIAN}>")
    h.send(h.sim.event({"type": "app_home_opened", "user": CLINICIAN, "channel": "D0RAD0001", "tab": "home"}))
    h.drain()
    home = h.mock.calls_to("views.publish")[-1].params["view"]
    text = texts_of(home["blocks"])
    assert "*Your training*" in text and "HIPAA privacy" in text and "PACS viewer basics" in text
    starts = [b for k, b in buttons(home["blocks"]).items() if k.startswith("train_start:")]
    assert [b["text"]["text"] for b in starts] == ["Start", "Start"]
    # a Start pressed in App Home opens the module in a modal
    h.send(h.sim.block_action(CLINICIAN, {"action_id": starts[0]["action_id"], "value": starts[0]["value"], "type": "button"},
                              view={**home, "id": "VHOME", "type": "home"}))
    h.drain()
    assert h.mock.calls_to("views.open")
    h.send(h.sim.event({"type": "app_home_opened", "user": CLINICIAN, "channel": "D0RAD0001", "tab": "home"}))
    h.drain()
    home = h.mock.calls_to("views.publish")[-1].params["view"]
    labels = sorted(b["text"]["text"] for k, b in buttons(home["blocks"]).items() if k.startswith("train_start:"))
    assert labels == ["Continue", "Start"]


# ---------------------------------------------------------------------------------------
# reminders and renewals, with a controllable clock

def run_jobs(h: Harness, *names: str, replicas: int = 1) -> None:
    schedulers = [Scheduler(h.services, replica=f"r{i}") for i in range(replicas)]
    jobs = h.services.registry.jobs
    for name in names:
        for scheduler in schedulers:
            job = jobs[name]
            if scheduler.claim(job, scheduler.slot_of(job)):
                job.run(h.services)
    h.drain()


def reminder_texts(h: Harness, user: str) -> list[str]:
    return [c.params["text"] for c in posts_to(h, user) if "Reminder" in c.params["text"] or "overdue" in c.params["text"]]


def test_reminders_before_due_and_when_overdue_in_working_hours_once(harness: Harness, clock: ManualClock) -> None:
    h = harness
    assign(h, f"viewer-basics <@{CLINICIAN}> due 2026-01-23")  # Friday, 18 days out
    run_jobs(h, "training-reminders")
    assert reminder_texts(h, CLINICIAN) == []
    clock.set(datetime(2026, 1, 16, 9, 0, tzinfo=timezone.utc))  # Friday, 7 days before
    run_jobs(h, "training-reminders", replicas=3)
    assert reminder_texts(h, CLINICIAN) == ["Reminder: PACS viewer basics for new radiologists is due Fri 23 Jan 2026 (in 7 days). It takes about 20 minutes."]
    clock.advance(minutes=15)
    run_jobs(h, "training-reminders")
    assert len(reminder_texts(h, CLINICIAN)) == 1  # never twice for one step
    clock.set(datetime(2026, 1, 22, 20, 0, tzinfo=timezone.utc))  # evening before: outside working hours
    run_jobs(h, "training-reminders")
    assert len(reminder_texts(h, CLINICIAN)) == 1
    clock.set(datetime(2026, 1, 24, 10, 0, tzinfo=timezone.utc))  # Saturday: not a working day
    run_jobs(h, "training-reminders")
    assert len(reminder_texts(h, CLINICIAN)) == 1
    clock.set(datetime(2026, 1, 26, 8, 30, tzinfo=timezone.utc))  # Monday: overdue
    run_jobs(h, "training-reminders")
    texts = reminder_texts(h, CLINICIAN)
    assert len(texts) == 2 and "is overdue since Fri 23 Jan 2026 (3 days)" in texts[-1]
    rows = audit(h, "training.reminders")
    assert [(r.actor, r.details["sent"]) for r in rows] == [("pacsbot", 1), ("pacsbot", 1)]


def test_recurring_modules_renew_themselves_and_say_why(harness: Harness, clock: ManualClock) -> None:
    h = harness
    m = module(h)
    assign(h, f"hipaa-imaging <@{CLINICIAN}>")
    submit(h, CLINICIAN, open_quiz(h, CLINICIAN, invitation_id(h, CLINICIAN)), quiz_values(m))
    run_jobs(h, "training-renewals")
    assert count(h, Assignment, Assignment.reason == "renewal") == 0
    clock.set(datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc))  # 29 days before the completion expires
    run_jobs(h, "training-renewals", replicas=2)
    with h.db.session() as s:
        renewal = s.scalars(select(Assignment).where(Assignment.reason == "renewal")).one()
        assert (renewal.user_id, renewal.assigned_by, str(renewal.due_date)) == (CLINICIAN, "pacsbot", "2027-01-05")
    dm = posts_to(h, CLINICIAN)[-1]
    text = texts_of(dm.params["blocks"])
    assert "must be repeated regularly" in text and "You completed it on 5 Jan 2026" in text and "runs out on 5 Jan 2027" in text
    clock.advance(hours=2)
    run_jobs(h, "training-renewals")
    assert count(h, Assignment, Assignment.reason == "renewal") == 1
    assert audit(h, "training.renew")[0].details["created"] == 1


# ---------------------------------------------------------------------------------------
# edges

def test_a_quiz_for_content_that_changed_is_not_marked(harness: Harness) -> None:
    h = harness
    m = module(h)
    assign(h, f"hipaa-imaging <@{CLINICIAN}>")
    view = open_quiz(h, CLINICIAN, invitation_id(h, CLINICIAN))
    stale = {**view, "private_metadata": view["private_metadata"].replace(m.content_hash[:16], "0" * 16)}
    body = submit(h, CLINICIAN, stale, quiz_values(m)).json()
    assert body["response_action"] == "update" and "updated while you were taking the quiz" in texts_of(body["view"]["blocks"])
    assert count(h, Attempt) == 0
    body = submit(h, CLINICIAN, {**view, "private_metadata": "garbage"}, quiz_values(m)).json()
    assert "out of date" in texts_of(body["view"]["blocks"])


def test_a_result_whose_window_was_closed_comes_by_dm(harness: Harness, mock_slack: MockSlack) -> None:
    h = harness
    m = module(h)
    assign(h, f"hipaa-imaging <@{CLINICIAN}>")
    view = open_quiz(h, CLINICIAN, invitation_id(h, CLINICIAN))
    mock_slack.fail("views.update", error="not_found")
    submit(h, CLINICIAN, view, quiz_values(m, right=False))
    assert count(h, Attempt) == 1
    assert "Your quiz result: 0 of 10 right (0%); it takes 8 of 10 right (80%) to pass." in posts_to(h, CLINICIAN)[-1].params["text"]


def test_retrain_named_people_who_never_did_it_are_simply_assigned(harness: Harness) -> None:
    h = harness
    command(h, TRAINER, f"retrain viewer-basics <@{TECH}>")
    h.drain()
    with h.db.session() as s:
        assert [(a.user_id, a.reason) for a in s.scalars(select(Assignment))] == [(TECH, "assigned")]
    assert "updated to version" not in texts_of(posts_to(h, TECH)[-1].params["blocks"])
    command(h, TRAINER, "retrain viewer-basics")
    h.drain()
    assert "Nobody needs re-training" in replies(h)[-1]


def test_names_for_reports_are_looked_up_in_the_background(harness: Harness, clock: ManualClock) -> None:
    h = harness
    assign(h, f"hipaa-imaging {GROUP}")
    run_jobs(h, "training-names")
    from pacsbot.training.models import Person

    with h.db.session() as s:
        assert dict(s.execute(select(Person.user_id, Person.name)).all()) == {CLINICIAN: "Dr. Rhea Radiologist", RESIDENT: "Dr. Ravi Resident"}
    before = len(h.mock.calls_to("users.info"))
    clock.advance(minutes=10)  # the next slot
    run_jobs(h, "training-names")
    assert len(h.mock.calls_to("users.info")) == before  # nothing left to look up

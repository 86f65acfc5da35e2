"""The real Bolt app over HTTP: signatures, /pacs help by role, refusals, errors, events."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from pacsbot.bot.access import Role
from pacsbot.bot.models import AuditEntry, EventReceipt
from pacsbot.core.errors import UserError
from tests.harness import ADMIN, CLINICIAN, TRAINER, Harness, texts_of


def audit_rows(h: Harness, action: str | None = None) -> list[AuditEntry]:
    with h.services.db.session() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        return list(s.scalars(stmt))


# ---------------------------------------------------------------------------------------
# signatures

def test_signed_help_is_answered_in_the_ack(harness: Harness) -> None:
    response = harness.command(ADMIN, "help")
    assert response.status == 200
    body = response.json()
    text = texts_of(body["blocks"])
    assert "/pacs help" in text and "/pacs audit" in text
    assert "PACS admin" in text
    assert body.get("response_type") is None  # private to the asker


def test_bad_signature_is_refused_and_changes_nothing(harness: Harness) -> None:
    request = harness.sim.slash_command(ADMIN, "audit")
    forged = type(request)(request.body, {**request.headers, "X-Slack-Signature": "v0=" + "0" * 64})
    response = harness.send(forged)
    assert response.status == 401
    assert harness.mock.calls == [c for c in harness.mock.calls if c.method == "auth.test"]
    assert audit_rows(harness) == []


def test_missing_signature_is_refused(harness: Harness) -> None:
    request = harness.sim.slash_command(ADMIN, "help")
    headers = {k: v for k, v in request.headers.items() if k != "X-Slack-Signature"}
    assert harness.send(type(request)(request.body, headers)).status == 401


@pytest.mark.parametrize("age", [301, -301])
def test_stale_or_future_timestamp_is_refused(harness: Harness, age: int) -> None:
    request = harness.sim.slash_command(ADMIN, "help", timestamp=int(time.time()) - age)
    assert harness.send(request).status == 401


@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", "-5", "17960000000000000000", " 1796288259"])
def test_malformed_timestamp_is_refused(harness: Harness, timestamp: str) -> None:
    request = harness.sim.slash_command(ADMIN, "help")
    headers = {**request.headers, "X-Slack-Request-Timestamp": timestamp}
    response = harness.send(type(request)(request.body, headers))
    assert response.status == 401 and "invalid request" in response.body


def test_body_tampering_breaks_the_signature(harness: Harness) -> None:
    request = harness.sim.slash_command(CLINICIAN, "help")
    tampered = type(request)(request.body.replace(CLINICIAN, ADMIN), request.headers)
    assert harness.send(tampered).status == 401


# ---------------------------------------------------------------------------------------
# help, roles, refusals

def test_help_lists_only_what_the_user_may_do(harness: Harness) -> None:
    clinician = texts_of(harness.command(CLINICIAN, "help").json()["blocks"])
    assert "/pacs help" in clinician
    assert "/pacs audit" not in clinician
    assert "clinician" in clinician


def test_group_members_get_the_group_role(harness: Harness) -> None:
    # U0ADMIN02 is an admin only through the @pacs-admins user group (usergroups.users.list)
    body = harness.command("U0ADMIN02", "whoami").json()
    assert "PACS admin" in body["text"]
    assert harness.mock.calls_to("usergroups.list") and harness.mock.calls_to("usergroups.users.list")


def test_unknown_subcommand_suggests_and_shows_help(harness: Harness) -> None:
    body = harness.command(ADMIN, "audti").json()
    text = texts_of(body["blocks"])
    assert "I don't know `/pacs audti`" in text
    assert "Did you mean `/pacs audit`?" in text
    assert "/pacs whoami" in text


def test_unknown_subcommand_never_suggests_a_command_the_user_may_not_run(harness: Harness) -> None:
    text = texts_of(harness.command(CLINICIAN, "audti").json()["blocks"])
    assert "/pacs audit" not in text


def test_user_text_is_escaped_in_replies(harness: Harness) -> None:
    body = harness.command(CLINICIAN, "<!channel>").json()
    assert "<!channel>" not in json.dumps(body)


def test_refused_command_explains_and_is_audited(harness: Harness) -> None:
    response = harness.command(CLINICIAN, "audit")
    assert response.status == 200
    assert "only for PACS admins" in response.text
    assert "#pacs-help" in response.text
    harness.drain()
    rows = audit_rows(harness, "access.denied")
    assert [(r.actor, r.target, r.outcome) for r in rows] == [(CLINICIAN, "command:audit", "denied")]
    assert rows[0].details == {"reason": "role", "role": "clinician", "required": "admin"}


# extra entry points declared by a test "feature" --------------------------------------------

def _register_test_feature(services: Any) -> None:
    registry = services.registry

    @registry.subcommand("boom", role=Role.CLINICIAN, summary="fails after the ack", hidden=True)
    def boom(ctx: Any) -> None:
        raise RuntimeError("database exploded with secret xoxb-should-not-leak")

    @registry.subcommand("refuse", role=Role.CLINICIAN, summary="raises a user error", hidden=True, inline=True)
    def refuse(ctx: Any) -> None:
        raise UserError("Accession numbers cannot contain '*'.")

    @registry.subcommand("check", role=Role.CLINICIAN, summary="says Checking, then fails", hidden=True, inline=True)
    def check(ctx: Any) -> None:
        def later() -> None:
            time.sleep(0.3)  # well after the ack
            raise RuntimeError("the node went away")

        ctx.reply(":hourglass_flowing_sand: Checking…")
        ctx.defer(later, what="that check")

    @registry.subcommand("slow", role=Role.CLINICIAN, summary="takes a while", hidden=True, ack_text="Working on it…")
    def slow(ctx: Any) -> None:
        time.sleep(2.0)
        ctx.reply("done slowly")

    @registry.subcommand("card", role=Role.CLINICIAN, summary="posts a card with a button", hidden=True, inline=True)
    def card(ctx: Any) -> None:
        ctx.reply("card", [{"type": "actions", "elements": [
            {"type": "button", "action_id": "test_resolve:42", "value": "42", "text": {"type": "plain_text", "text": "Resolve"}}]}])

    # a brake of one run a minute, shared by a command and a button
    registry.limit("test", lambda settings: SimpleNamespace(runs=1, per_seconds=60),
                   lambda numbers, wait: f":hourglass: Once a minute, please; try again in {wait} s.")

    @registry.subcommand("quiet", role=Role.CLINICIAN, summary="audited by the policy", hidden=True, inline=True,
                         audit="test.quiet", limit="test")
    def quiet(ctx: Any) -> None:
        ctx.reply("done quietly")

    @registry.action("test_limited", role=Role.CLINICIAN, label="Limited", limit="test")
    def limited(ctx: Any) -> None:
        ctx.reply("pressed")

    @registry.action("test_resolve", role=Role.ADMIN, label="Resolve", audit="test.pressed")
    def resolve(ctx: Any) -> None:
        ctx.audit("test.resolve", target=f"ticket:{ctx.action_suffix}")
        ctx.reply(f"resolved {ctx.action_value}", replace_original=True)

    @registry.view("test_form", role=Role.TRAINER, label="Assign training", inline=True)
    def form(ctx: Any) -> None:
        values = ctx.view_values()
        if not values.get("due"):
            ctx.ack_errors({"due_block": "Pick a due date."})
            return
        ctx.ack_clear()


@pytest.fixture
def harness_register() -> Any:
    return _register_test_feature


def test_the_policy_audits_a_success_the_handler_did_not_record(harness: Harness) -> None:
    assert harness.command(CLINICIAN, "quiet").text == "done quietly"
    harness.drain()
    [row] = audit_rows(harness, "test.quiet")
    assert (row.actor, row.target, row.outcome, row.details) == (CLINICIAN, "command:quiet", "ok", {"via": "slack"})


def test_a_handler_that_records_its_own_audit_gets_no_second_row(harness: Harness) -> None:
    harness.send(harness.sim.block_action(ADMIN, {"action_id": "test_resolve:42", "value": "42", "type": "button"},
                                          channel_id="C0GENERAL"))
    harness.drain()
    assert len(audit_rows(harness, "test.resolve")) == 1 and audit_rows(harness, "test.pressed") == []


def test_a_rate_limit_refuses_in_the_ack_before_the_handler_runs(harness: Harness) -> None:
    assert harness.command(CLINICIAN, "quiet").text == "done quietly"
    again = harness.command(CLINICIAN, "quiet")
    assert again.text.startswith(":hourglass: Once a minute, please; try again in ")
    # the button counts against the same limit: acked at once, told privately, handler not run
    button = {"action_id": "test_limited:1", "value": "1", "type": "button"}
    assert harness.send(harness.sim.block_action(CLINICIAN, button, channel_id="C0GENERAL")).status == 200
    harness.drain()
    assert [c.params["text"][:40] for c in harness.mock.calls_to("response_url")] == [":hourglass: Once a minute, please; try a"]
    assert len(audit_rows(harness, "test.quiet")) == 1
    denied = audit_rows(harness, "access.denied")
    # (written after each ack, on the background pool: in either order)
    assert sorted((r.target, r.details["reason"], r.details["role"]) for r in denied) == [
        ("action:test_limited", "rate limit", "clinician"), ("command:quiet", "rate limit", "clinician")]
    assert harness.command(ADMIN, "quiet").text == "done quietly"  # per user


def test_admin_views_that_used_to_go_unaudited_are_audited(harness: Harness) -> None:
    for command in ("triage", "nodes"):
        assert harness.command(ADMIN, command).status == 200
    harness.drain()
    rows = [(r.action, r.target, r.outcome) for r in audit_rows(harness) if r.action in ("ticket.triage", "dicom.nodes")]
    assert sorted(rows) == [("dicom.nodes", "command:nodes", "ok"), ("ticket.triage", "command:triage", "ok")]


def test_an_undeclared_limit_is_a_declaration_error() -> None:
    from pacsbot.bot.registry import Registry

    registry = Registry()
    registry.subcommand("x", role=Role.CLINICIAN, summary="x", limit="nope")(lambda ctx: None)
    with pytest.raises(ValueError, match="names the limit 'nope', which is not declared"):
        registry.validate()


def test_an_inline_command_whose_later_work_fails_does_not_stay_on_checking(harness: Harness) -> None:
    response = harness.command(CLINICIAN, "check")
    assert response.status == 200 and "Checking" in response.text
    harness.drain()
    replies = harness.mock.calls_to("response_url")
    assert len(replies) == 1 and "something went wrong on our side while doing that check" in replies[0].params["text"]


def test_exception_after_ack_is_reported_to_the_user_not_slack(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    response = harness.command(CLINICIAN, "boom")
    assert response.status == 200
    harness.drain()
    replies = harness.mock.calls_to("response_url")
    assert len(replies) == 1
    assert "something went wrong on our side" in replies[0].params["text"]
    assert "reference `" in replies[0].params["text"]
    assert "xoxb-should-not-leak" not in replies[0].params["text"]


def test_user_error_in_inline_handler_becomes_the_ack(harness: Harness) -> None:
    response = harness.command(CLINICIAN, "refuse")
    assert response.status == 200
    assert response.text == ":warning: Accession numbers cannot contain '*'."


def test_slow_work_does_not_delay_other_acks(harness: Harness) -> None:
    started = time.monotonic()
    first = harness.command(CLINICIAN, "slow")
    assert first.status == 200 and first.text == "Working on it…"
    timings = []
    threads = []

    def one() -> None:
        t0 = time.monotonic()
        assert harness.command(ADMIN, "help").status == 200
        timings.append(time.monotonic() - t0)

    for _ in range(10):
        threads.append(threading.Thread(target=one))
        threads[-1].start()
    for t in threads:
        t.join()
    assert time.monotonic() - started < 1.9, "acks waited for the slow work"
    harness.drain()
    assert any(c.params.get("text") == "done slowly" for c in harness.mock.calls_to("response_url"))


def test_button_is_checked_as_strictly_as_a_command(harness: Harness) -> None:
    action = {"action_id": "test_resolve:42", "value": "42", "type": "button"}
    response = harness.send(harness.sim.block_action(CLINICIAN, action, channel_id="C0GENERAL"))
    assert response.status == 200
    harness.drain()
    replies = harness.mock.calls_to("response_url")
    assert len(replies) == 1 and "only for PACS admins" in replies[0].params["text"]
    assert audit_rows(harness, "test.resolve") == []
    denied = audit_rows(harness, "access.denied")
    assert [(r.actor, r.target) for r in denied] == [(CLINICIAN, "action:test_resolve")]


def test_button_for_an_allowed_user_runs_after_the_ack(harness: Harness) -> None:
    action = {"action_id": "test_resolve:42", "value": "42", "type": "button"}
    assert harness.send(harness.sim.block_action(ADMIN, action, channel_id="C0GENERAL")).status == 200
    harness.drain()
    assert [r.target for r in audit_rows(harness, "test.resolve")] == ["ticket:42"]
    reply = harness.mock.calls_to("response_url")[-1].params
    assert reply["text"] == "resolved 42" and reply["replace_original"] is True


def test_modal_submission_is_role_checked(harness: Harness) -> None:
    view = {"id": "V1", "type": "modal", "callback_id": "test_form", "blocks": []}
    response = harness.send(harness.sim.view_submission(CLINICIAN, view, {}))
    body = response.json()
    assert body["response_action"] == "update"
    assert "only for trainers" in texts_of(body["view"]["blocks"])
    harness.drain()
    assert [r.target for r in audit_rows(harness, "access.denied")] == ["view:test_form"]


def test_modal_validation_errors_come_back_in_the_ack(harness: Harness) -> None:
    view = {"id": "V1", "type": "modal", "callback_id": "test_form", "blocks": []}
    values = {"due_block": {"due": {"type": "datepicker", "selected_date": None}}}
    body = harness.send(harness.sim.view_submission(TRAINER, view, values)).json()
    assert body == {"response_action": "errors", "errors": {"due_block": "Pick a due date."}}
    values = {"due_block": {"due": {"type": "datepicker", "selected_date": "2027-01-15"}}}
    body = harness.send(harness.sim.view_submission(ADMIN, view, values)).json()
    assert body == {"response_action": "clear"}


def test_undeclared_action_is_acked_without_effect(harness: Harness) -> None:
    action = {"action_id": "link_to_manual", "type": "button", "url": "https://example.org"}
    assert harness.send(harness.sim.block_action(ADMIN, action, channel_id="C0GENERAL")).status == 200


# ---------------------------------------------------------------------------------------
# events

def test_redelivered_event_is_handled_once(harness: Harness) -> None:
    first = harness.sim.mention_event(CLINICIAN, "hello", channel_id="C0GENERAL", event_id="Ev0DUPLICATE")
    retry = harness.sim.mention_event(CLINICIAN, "hello", channel_id="C0GENERAL", event_id="Ev0DUPLICATE", retry_num=1)
    assert harness.send(first).status == 200
    harness.drain()
    assert harness.send(retry).status == 200
    harness.drain()
    posts = harness.mock.calls_to("chat.postMessage")
    assert len(posts) == 1
    assert posts[0].params["thread_ts"]  # answered in the thread of the mention
    with harness.services.db.session() as s:
        assert s.scalars(select(EventReceipt.event_id)).all() == ["Ev0DUPLICATE"]


def test_concurrent_duplicate_deliveries_are_handled_once(harness: Harness) -> None:
    requests = [harness.sim.message_event(CLINICIAN, "hi", channel_id="D0RAD0001", channel_type="im", event_id="Ev0SAME", retry_num=i or None) for i in range(4)]
    threads = [threading.Thread(target=harness.send, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    harness.drain()
    assert len(harness.mock.calls_to("chat.postMessage")) == 1


def test_dm_gets_an_answer_and_channel_chatter_does_not(harness: Harness) -> None:
    harness.send(harness.sim.message_event(CLINICIAN, "help me", channel_id="D0RAD0001", channel_type="im"))
    harness.send(harness.sim.message_event(CLINICIAN, "lunch?", channel_id="C0GENERAL", channel_type="channel"))
    harness.drain()
    posts = harness.mock.calls_to("chat.postMessage")
    assert [p.params["channel"] for p in posts] == ["D0RAD0001"]


def test_bot_ignores_its_own_and_edited_messages(harness: Harness) -> None:
    edited = {"type": "message", "subtype": "message_changed", "channel": "D0RAD0001", "channel_type": "im", "ts": "1.1"}
    assert harness.send(harness.sim.event(edited)).status == 200
    own = {"type": "message", "user": "U0PACSBOT", "bot_id": "B0PACSBOT", "text": "x", "channel": "D0RAD0001", "channel_type": "im", "ts": "1.2"}
    assert harness.send(harness.sim.event(own)).status == 200
    harness.drain()
    assert harness.mock.calls_to("chat.postMessage") == []


def test_app_home_is_published_for_the_users_role(harness: Harness) -> None:
    event = {"type": "app_home_opened", "user": CLINICIAN, "channel": "D0RAD0001", "tab": "home"}
    assert harness.send(harness.sim.event(event)).status == 200
    harness.drain()
    publish = harness.mock.calls_to("views.publish")[0].params
    assert publish["user_id"] == CLINICIAN
    text = texts_of(publish["view"]["blocks"])
    assert "clinician" in text and "/pacs help" in text and "/pacs audit" not in text


# ---------------------------------------------------------------------------------------
# health

def settled_health(harness: Harness) -> Any:
    """/healthz once its checks have answered (the first request may say "still checking"
    on a loaded machine: it never waits more than 0.9 s)."""
    for _ in range(50):
        response = harness.get("/healthz")
        if "still checking" not in response.body:
            return response
        time.sleep(0.1)
    return response


def test_healthz_reports_database_and_slack(harness: Harness) -> None:
    response = settled_health(harness)
    assert response.status == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True and body["slack"]["ok"] is True


def test_healthz_is_degraded_when_slack_refuses_the_token(harness: Harness) -> None:
    harness.mock.fail("auth.test", error="invalid_auth")
    response = settled_health(harness)
    assert response.status == 503
    assert response.json()["slack"] == {"ok": False, "error": "invalid_auth"}


def test_healthz_answers_within_a_second_when_a_check_hangs() -> None:
    from pacsbot.bot.server import BoundedCheck

    release = threading.Event()
    calls = []

    def hung() -> dict[str, Any]:
        calls.append(1)
        release.wait(10)
        return {"ok": True}

    check = BoundedCheck("database", hung, ttl=5.0, wait=0.3)
    answers: list[tuple[float, dict[str, Any]]] = []

    def ask() -> None:
        started = time.monotonic()
        answer = check.get()
        answers.append((time.monotonic() - started, answer))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(answers) == 20 and all(took < 1.0 for took, _ in answers)
    assert all(a == {"ok": False, "error": "no answer within 0.3 s (still checking)"} for _, a in answers)
    assert len(calls) == 1  # one check in flight, not one per request
    release.set()
    for _ in range(50):
        if check.get() == {"ok": True}:
            break
        time.sleep(0.05)
    assert check.get() == {"ok": True} and len(calls) == 1  # kept for its ttl


def test_unknown_path_is_404(harness: Harness) -> None:
    assert harness.get("/admin").status == 404


def test_overload_is_explained_and_events_are_left_for_slack_to_redeliver(harness: Harness) -> None:
    harness.services.background.max_pending = 0  # as if the queue were full
    ack = harness.command(CLINICIAN, "slow")
    assert ack.status == 200 and "very busy" in ack.text  # said in the ack itself: no thread, no extra call
    weekly = harness.command(ADMIN, "weekly")  # an inline command whose slow part cannot be queued
    assert weekly.status == 200 and "very busy" in weekly.text and "went wrong" not in weekly.text
    event = harness.sim.mention_event(CLINICIAN, "hi", channel_id="C0GENERAL")
    assert harness.send(event).status == 503  # Slack retries it later; nothing was recorded
    assert harness.command(CLINICIAN, "audit").status == 200
    assert [r.target for r in audit_rows(harness, "access.denied")] == ["command:audit"]  # written at once


def test_oversized_command_text_is_refused_before_any_work(harness: Harness) -> None:
    response = harness.command(CLINICIAN, "report " + "images missing " * 400)
    assert response.status == 200 and "characters; `/pacs` takes at most 4,000" in response.text
    harness.drain()
    assert not harness.mock.calls_to("response_url") and not harness.mock.calls_to("chat.postMessage")


def test_help_is_rendered_once_per_role_and_again_when_a_subcommand_is_added() -> None:
    from pacsbot.bot.registry import Registry
    from pacsbot.bot.render.help import help_blocks

    registry = Registry()
    registry.subcommand("first", role=Role.CLINICIAN, summary="the first")(lambda ctx: None)
    registry.subcommand("secret", role=Role.ADMIN, summary="admins only")(lambda ctx: None)
    text, blocks = help_blocks(registry, Role.CLINICIAN)
    assert "first" in text and "secret" not in text
    blocks.append({"type": "divider"})  # a caller's change to its copy stays with that caller
    again, blocks_again = help_blocks(registry, Role.CLINICIAN)
    assert again == text and {"type": "divider"} not in blocks_again
    assert "secret" in help_blocks(registry, Role.ADMIN)[0]
    registry.subcommand("second", role=Role.CLINICIAN, summary="added later")(lambda ctx: None)
    assert "second - added later" in help_blocks(registry, Role.CLINICIAN)[0]
    assert "Ask in #pacs-help" in help_blocks(registry, Role.CLINICIAN, help_channel="#pacs-help")[1][-1]["elements"][0]["text"]

"""The console plays Slack faithfully: typed mentions are escaped as Slack escapes them,
message shortcuts, thread replies, prefilled forms, replies also sent to the channel, and
the files the bot uploads saved where you can open them."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pacsbot.bot.access import Role
from pacsbot.bot.console import Console
from pacsbot.bot.slackmock import BOT_USER_ID
from pacsbot.tickets.models import Ticket, TicketEvent
from tests.harness import make_settings


@pytest.fixture
def console(tmp_path: Path, db_url: str) -> Iterator[tuple[Console, io.StringIO]]:
    out = io.StringIO()
    c = Console(make_settings(tmp_path, db_url), user="U0ADMIN01", out=out, wait_seconds=30, files_dir=tmp_path / "files")
    c.start()
    yield c, out
    c.close()


def flat(out: io.StringIO) -> str:
    return " ".join(out.getvalue().split())  # the console wraps long lines


# -- escaping ------------------------------------------------------------------------------

def test_typed_mentions_become_slack_escapes(console: tuple[Console, io.StringIO]) -> None:
    c, _ = console
    typed = "assign x @dr.rhea @ct-techs #radiology @nobody #nowhere mail dr.rhea@example.org, ask @tom.tech. A & B <c>"
    assert c.escape(typed, command=True) == (
        "assign x <@U0RAD0001|dr.rhea> <!subteam^S0TECHS01|@ct-techs> <#C0RADIOLO|radiology> @nobody #nowhere "
        "mail dr.rhea@example.org, ask <@U0TECH001|tom.tech>. A &amp; B &lt;c&gt;")
    assert c.escape("@pacsbot hi @ct-techs in #radiology @here", command=False) == (
        f"<@{BOT_USER_ID}> hi <!subteam^S0TECHS01> in <#C0RADIOLO|radiology> <!here>")


def test_a_user_group_mention_is_shown_by_its_handle(console: tuple[Console, io.StringIO]) -> None:
    c, _ = console
    assert c.renderer.text("paging <!subteam^S0ONCALL1> and <!subteam^S0TECHS01|@ct-techs>, not <!subteam^S0NOSUCH>") == (
        "paging @pacs-oncall and @ct-techs, not @group")


def test_the_user_guides_training_example_works_in_the_console(tmp_path: Path, db_url: str) -> None:
    out = io.StringIO()
    with Console(make_settings(tmp_path, db_url), user="terry.trainer", out=out, wait_seconds=30) as c:
        assert c.run_script(["/pacs train assign downtime-procedures @dr.rhea @ct-techs #radiology"]) == 0
    text = flat(out)
    assert "can't look up" not in text
    assert "Assigning *Downtime procedures for imaging staff* to @dr.rhea, @ct-techs, #radiology…" in text
    assert "(@ct-techs: 1, #radiology: 5)" in text
    assert "pacsbot posted in a DM to @dr.rhea:" in text and "pacsbot posted in a DM to @tom.tech:" in text


def test_a_message_is_stored_escaped_and_a_mention_is_both_events(console: tuple[Console, io.StringIO]) -> None:
    c, out = console
    c.run_script([":as tom.tech", ":in #radiology", "@dr.rhea can you look at A1002?", "@pacsbot how do I hang a prior"])
    stored = [m["text"] for m in c.mock.messages["C0RADIOLO"] if m.get("user") == "U0TECH001"]
    assert stored == ["<@U0RAD0001> can you look at A1002?", f"<@{BOT_USER_ID}> how do I hang a prior"]
    assert "pacsbot posted in #radiology (in thread):" in out.getvalue()


def test_mention_sends_app_mention_and_message_with_the_messages_ts(console: tuple[Console, io.StringIO], monkeypatch: Any) -> None:
    c, _ = console
    seen: list[dict[str, Any]] = []
    assert c.sim is not None
    original = c.sim.event

    def record(event: dict[str, Any], **kw: Any) -> Any:
        seen.append(event)
        return original(event, **kw)

    monkeypatch.setattr(c.sim, "event", record)
    c.run_script([":in #radiology", "@pacsbot where are my priors?"])
    posted = next(m for m in c.mock.messages["C0RADIOLO"] if m.get("user") == "U0ADMIN01")
    assert [e["type"] for e in seen] == ["app_mention", "message"]
    assert {e["ts"] for e in seen} == {posted["ts"]} and all(e["text"].startswith(f"<@{BOT_USER_ID}>") for e in seen)


# -- shortcuts -----------------------------------------------------------------------------

def test_message_shortcut_files_a_ticket_from_a_message(console: tuple[Console, io.StringIO]) -> None:
    c, out = console
    c.run_script([":as tom.tech", ":in #radiology", "the CT2 series for acc A1002 never arrived in PACS",
                  ":as dr.rhea", ":shortcut Create PACS ticket"])
    text = out.getvalue()
    assert "(“Create PACS ticket” on @tom.tech's message “the CT2 series for acc A1002 never arrived in PACS”)" in text
    assert "opened a window: Report a PACS problem" in text
    assert "filled in: Reported from a message by <@U0TECH001>:" in text  # a plain-text field shows it as it is
    c.handle(":submit category=missing_images")
    while c._current_modal() is not None:  # a confirmation page when the manuals may already answer it
        c.handle(":submit")
    assert "Filed *PACS-1*" in flat(out)
    with c.services.db.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.source == "message" and "never arrived in PACS" in ticket.description


def test_message_shortcut_picks_the_message_that_mentions_text(console: tuple[Console, io.StringIO]) -> None:
    c, out = console
    c.run_script([":in #radiology", "first: viewer frozen in room 3", "second: worklist empty on MR1",
                  ":shortcut ticket_from_message on room 3"])
    assert "message “first: viewer frozen in room 3”" in out.getvalue()
    c.handle(":shortcut create pacs ticket on nothing-like-this")
    assert "(console: no message here mentions 'nothing-like-this')" in out.getvalue()


def test_global_shortcut_and_unknown_shortcut(console: tuple[Console, io.StringIO]) -> None:
    c, out = console
    c.run_script([":shortcut report_problem", ":close", ":shortcut frobnicate"])
    text = out.getvalue()
    assert "opened a window: Report a PACS problem" in text
    assert "pacsbot has no shortcut 'frobnicate'; shortcuts: “Report a PACS problem” (report_problem); " in text


def test_react_picks_the_newest_message_by_a_person_or_the_one_that_mentions_text(console: tuple[Console, io.StringIO]) -> None:
    c, out = console
    c.run_script([":as tom.tech", ":in #radiology", "the viewer is frozen in reading room 3", "the worklist on MR1 is empty",
                  ":as dr.rhea", ":react ticket on room 3"])
    with c.services.db.session() as session:
        assert [t.description for t in session.scalars(select(Ticket))] == ["the viewer is frozen in reading room 3"]
    c.run_script([":react ticket"])
    with c.services.db.session() as session:
        assert sorted(t.description for t in session.scalars(select(Ticket))) == [
            "the viewer is frozen in reading room 3", "the worklist on MR1 is empty"]
    c.run_script([":in #pacs-admin", ":react ticket"])
    assert "(console: no message by a person here to react to; add `on TEXT` to pick one of pacsbot's)" in out.getvalue()


# -- threads -------------------------------------------------------------------------------

def test_a_reply_in_a_ticket_thread_joins_the_ticket(console: tuple[Console, io.StringIO]) -> None:
    c, out = console
    c.run_script([":as tom.tech", "/pacs report viewer frozen in reading room 3",
                   ":as alex.admin", ":in #pacs-queue", ":thread PACS-1", "restarted the workstation, it opens again",
                   "@tom.tech please try again"])
    text = out.getvalue()
    assert "(replying in the thread of pacsbot's message “" in text
    assert "[@alex.admin · PACS admin · #pacs-queue › thread]> restarted the workstation" in text
    with c.services.db.session() as session:
        replies = session.scalars(select(TicketEvent.text).where(TicketEvent.kind == "reply").order_by(TicketEvent.id)).all()
    assert replies == ["restarted the workstation, it opens again", "<@U0TECH001> please try again"]  # as Slack delivers it
    card = next(m for m in c.mock.messages["C0PACSQUE"] if "thread_ts" not in m)
    assert [m["thread_ts"] for m in c.mock.messages["C0PACSQUE"] if m.get("user") == "U0ADMIN01"] == [card["ts"]] * 2
    c.run_script([":thread off", "back in the channel"])
    assert "(back in #pacs-queue)" in out.getvalue()
    assert "thread_ts" not in c.mock.messages["C0PACSQUE"][-1]


def test_thread_needs_a_message(console: tuple[Console, io.StringIO]) -> None:
    c, out = console
    c.run_script([":in #radiology", ":thread", ":thread off"])
    assert "(console: there is no message in #radiology to reply to)" in out.getvalue()
    assert "(console: you are not in a thread)" in out.getvalue()


def _register_demo(services: Any) -> None:
    registry = services.registry

    @registry.subcommand("demo-prefilled", role=Role.CLINICIAN, summary="a prefilled form", hidden=True)
    def open_form(ctx: Any) -> None:
        ctx.open_modal({
            "type": "modal", "callback_id": "demo_prefilled", "title": {"type": "plain_text", "text": "Prefilled"},
            "submit": {"type": "plain_text", "text": "Send"},
            "blocks": [
                {"type": "input", "block_id": "urgency", "label": {"type": "plain_text", "text": "Urgency"},
                 "element": {"type": "static_select", "action_id": "urgency",
                             "initial_option": {"text": {"type": "plain_text", "text": "Routine"}, "value": "routine"},
                             "options": [{"text": {"type": "plain_text", "text": "STAT"}, "value": "stat"},
                                         {"text": {"type": "plain_text", "text": "Routine"}, "value": "routine"}]}},
                {"type": "input", "block_id": "what", "label": {"type": "plain_text", "text": "What happened"},
                 "element": {"type": "plain_text_input", "action_id": "what", "initial_value": "CT2 images missing"}},
                {"type": "input", "block_id": "room", "label": {"type": "plain_text", "text": "Room"}, "optional": True,
                 "element": {"type": "plain_text_input", "action_id": "room"}},
            ],
        })

    @registry.view("demo_prefilled", role=Role.CLINICIAN)
    def submit(ctx: Any) -> None:
        values = ctx.view_values()
        ctx.dm(ctx.user_id, f"got {values['urgency']} / {values['what']} / {values.get('room')}")

    @registry.subcommand("demo-broadcast", role=Role.CLINICIAN, summary="a reply also sent to the channel", hidden=True)
    def broadcast(ctx: Any) -> None:
        root = ctx.post(ctx.channel_id, "the root message")
        ctx.client.chat_postMessage(channel=ctx.channel_id, thread_ts=root["ts"], text="in the thread only")
        ctx.client.chat_postMessage(channel=ctx.channel_id, thread_ts=root["ts"], text="also in the channel", reply_broadcast=True)


@pytest.fixture
def demo(console: tuple[Console, io.StringIO]) -> tuple[Console, io.StringIO]:
    from pacsbot.bot.app import build_app

    c, out = console
    _register_demo(c.services)
    c.app = build_app(c.services)
    return c, out


def test_prefilled_values_are_shown_and_kept(demo: tuple[Console, io.StringIO]) -> None:
    c, out = demo
    c.run_script([":as tom.tech", "/pacs demo-prefilled"])
    text = out.getvalue()
    assert "filled in: routine: Routine" in text and "filled in: CT2 images missing" in text
    c.handle(":submit room=CT2")
    assert "got routine / CT2 images missing / CT2" in out.getvalue()


def test_fill_walks_the_fields_and_enter_keeps_what_is_filled_in(demo: tuple[Console, io.StringIO]) -> None:
    c, out = demo
    answers = iter([":as tom.tech", "/pacs demo-prefilled", ":fill", "", "", "room 3", ":quit"])
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    assert c.run_interactive(read=read) == 0
    assert "  Urgency (stat, routine) [routine: Routine]: " in prompts
    assert "  What happened [CT2 images missing]: " in prompts and "  Room, optional: " in prompts
    assert ":fill (field by field)" in out.getvalue()
    assert "got routine / CT2 images missing / room 3" in out.getvalue()


def test_fill_asks_again_for_a_choice_that_is_not_there_and_is_only_for_typing(demo: tuple[Console, io.StringIO]) -> None:
    c, out = demo
    answers = iter(["/pacs demo-prefilled", ":fill", "soon", "stat", "", "", ":quit"])
    c.run_interactive(read=lambda prompt: next(answers))
    assert "('soon' is not one of the choices: stat, routine)" in out.getvalue()
    assert "got stat / CT2 images missing / None" in out.getvalue()
    c.run_script(["/pacs demo-prefilled", ":fill"])
    assert "(console: :fill asks for each field in turn, so it only works as you type" in out.getvalue()


def test_a_reply_also_sent_to_the_channel_is_shown_as_such(demo: tuple[Console, io.StringIO]) -> None:
    c, out = demo
    c.run_script([":in #radiology", "/pacs demo-broadcast"])
    text = out.getvalue()
    assert "pacsbot posted in #radiology (in thread):\n  in the thread only" in text
    assert "pacsbot posted in #radiology (in thread, also sent to the channel):\n  also in the channel" in text
    broadcast = c.mock.messages["C0RADIOLO"][-1]
    assert broadcast["subtype"] == "thread_broadcast" and "subtype" not in c.mock.messages["C0RADIOLO"][-2]


# -- files ---------------------------------------------------------------------------------

def test_uploaded_files_are_saved_and_the_console_says_where(console: tuple[Console, io.StringIO], tmp_path: Path) -> None:
    c, out = console
    c.run_script([":as terry.trainer", "/pacs train assign hipaa-imaging @dr.rhea", "/pacs train report hipaa-imaging --csv"])
    uploaded = [o for o in c.mock.outputs if o.kind == "file"]
    saved = [Path(line.split("saved as ", 1)[1]) for line in out.getvalue().splitlines() if line.startswith("  saved as ")]
    assert len(uploaded) == 1 and len(saved) == 1
    assert saved[0].parent == (tmp_path / "files").resolve() and saved[0].name == uploaded[0].extra["filename"]
    assert saved[0].read_bytes() == uploaded[0].extra["content"] and b"hipaa-imaging" in saved[0].read_bytes()
    assert "pacsbot uploaded training-hipaa-imaging-" in out.getvalue()


def test_a_saved_file_keeps_earlier_ones_and_its_name_cannot_leave_the_folder(console: tuple[Console, io.StringIO], tmp_path: Path) -> None:
    c, _ = console
    first, second = c._save_file("report.csv", b"1"), c._save_file("report.csv", b"2")
    assert (first.name, second.name) == ("report.csv", "report-2.csv") and first.read_bytes() == b"1"
    for name in ("../../escape.csv", "..\\..\\evil.txt", ".hidden", ""):
        path = c._save_file(name, b"x")
        assert path.parent == (tmp_path / "files").resolve() and not path.name.startswith(".")
    assert not (tmp_path / "escape.csv").exists()


def test_help_lists_the_console_commands(console: tuple[Console, io.StringIO], tmp_path: Path) -> None:
    c, out = console
    c.handle(":help")
    text = out.getvalue()
    for item in (":thread [TEXT]", ":shortcut NAME [on TEXT]", "“Create PACS ticket” (ticket_from_message, on a message)",
                 ":fill", "Enter keeps what is filled in", ":react EMOJI [on TEXT]", str((tmp_path / "files").resolve()),
                 "@person, @group and #channel become mentions"):
        assert item in text, item


# -- leaving -------------------------------------------------------------------------------

def test_ctrl_c_leaves_quietly_with_130(console: tuple[Console, io.StringIO], monkeypatch: Any) -> None:
    c, out = console

    def interrupt(prompt: str) -> str:
        raise KeyboardInterrupt

    assert c.run_interactive(read=interrupt) == 130
    lines = iter(["/pacs help"])
    monkeypatch.setattr(c, "handle", lambda line: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert c.run_interactive(read=lambda prompt: next(lines)) == 130  # while the bot is working
    assert "Traceback" not in out.getvalue()

"""The console drives the real app: what it prints is what the bot sent to (mock) Slack."""

from __future__ import annotations

import io
from typing import Any

import pytest

from pacsbot.bot.access import Role
from pacsbot.bot.console import Console
from tests.harness import make_settings


@pytest.fixture
def console(tmp_path: Any, db_url: str) -> Any:
    out = io.StringIO()
    c = Console(make_settings(tmp_path, db_url), user="U0ADMIN01", out=out, wait_seconds=20)
    c.start()
    yield c, out
    c.close()


def test_help_as_admin_and_as_clinician(console: Any) -> None:
    c, out = console
    assert c.run_script(["/pacs help"]) == 0
    admin = out.getvalue()
    assert "[@alex.admin · PACS admin · #general]> /pacs help" in admin
    assert "/pacs audit" in admin and "signed in as a *PACS admin*" in admin
    out.truncate(0)
    out.seek(0)
    c.handle(":as dr.rhea")
    c.handle("/pacs help")
    clinician = out.getvalue()
    assert "clinician" in clinician and "/pacs audit" not in clinician


def test_refusal_and_audit_trail_through_the_console(console: Any) -> None:
    c, out = console
    c.run_script([":as tom.tech", "/pacs audit", ":as alex.admin", "/pacs audit"])
    text = out.getvalue()
    assert "only for PACS admins" in text
    assert "access.denied" in text and "command:audit" in text


def test_dm_and_mention(console: Any) -> None:
    c, out = console
    c.run_script([":dm", "where are my priors?", ":in #radiology", "@pacsbot hello", "just chatting"])
    text = out.getvalue()
    assert "pacsbot posted in a DM to @alex.admin:" in text
    assert "pacsbot posted in #radiology (in thread):" in text
    assert "pacsbot only answers channel messages that mention @pacsbot" in text


def test_why_shows_mode_confidence_and_the_top_three(console: Any) -> None:
    c, out = console
    c.run_script([":why how do I hang a prior", ":why where can I park my car"])
    lines = out.getvalue().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("(mode "))
    assert lines[first].startswith("(mode answer, confidence 0.") and "ranked by words alone" in lines[first]
    assert "Hanging" in lines[first + 1] and "(confidence 0." in lines[first + 1] and "viewer/hanging-priors.md#" in lines[first + 1]
    assert any(line.startswith("(mode unknown, confidence 0.") for line in lines[first + 1:])
    c.handle(":why")
    assert "usage: :why QUESTION" in out.getvalue()


def test_home_tab(console: Any) -> None:
    c, out = console
    c.run_script([":home"])
    assert "App Home of @alex.admin:" in out.getvalue()
    assert "Getting started" in out.getvalue()


def _register_modal_demo(services: Any) -> None:
    registry = services.registry

    @registry.subcommand("demo-form", role=Role.CLINICIAN, summary="opens a form", hidden=True)
    def open_form(ctx: Any) -> None:
        ctx.open_modal({
            "type": "modal", "callback_id": "demo_form", "title": {"type": "plain_text", "text": "Demo"},
            "submit": {"type": "plain_text", "text": "Send"},
            "blocks": [
                {"type": "input", "block_id": "urgency", "label": {"type": "plain_text", "text": "Urgency"},
                 "element": {"type": "static_select", "action_id": "urgency", "options": [
                     {"text": {"type": "plain_text", "text": "STAT"}, "value": "stat"},
                     {"text": {"type": "plain_text", "text": "Routine"}, "value": "routine"}]}},
                {"type": "input", "block_id": "what", "label": {"type": "plain_text", "text": "What happened"},
                 "element": {"type": "plain_text_input", "action_id": "what"}},
            ],
        })

    @registry.view("demo_form", role=Role.CLINICIAN)
    def submit(ctx: Any) -> None:
        values = ctx.view_values()
        ctx.dm(ctx.user_id, f"got {values['urgency']}: {values['what']}",
               [{"type": "section", "text": {"type": "mrkdwn", "text": f"got {values['urgency']}: {values['what']}"}},
                {"type": "actions", "elements": [{"type": "button", "action_id": "demo_ok", "value": "1", "text": {"type": "plain_text", "text": "OK"}}]}])

    @registry.action("demo_ok", role=Role.CLINICIAN)
    def ok(ctx: Any) -> None:
        ctx.reply(f"clicked {ctx.action_value}")


def test_modal_fill_submit_and_click(tmp_path: Any, db_url: str) -> None:
    out = io.StringIO()
    c = Console(make_settings(tmp_path, db_url), user="tom.tech", out=out, wait_seconds=20)
    c.start()
    try:
        _register_modal_demo(c.services)
        from pacsbot.bot.app import build_app

        c.app = build_app(c.services)
        c.run_script(["/pacs demo-form"])
        assert "opened a window: Demo" in out.getvalue()
        assert "urgency=" in out.getvalue()
        c.handle(":submit urgency=stat")  # the required text field is missing
        assert "please fill in: what" in out.getvalue()
        c.handle(':submit "what=images missing on CT"')
        assert "got stat: images missing on CT" in out.getvalue()
        number = max(c.renderer.clickables)
        c.handle(str(number))
        assert "clicked 1" in out.getvalue()
    finally:
        c.close()


def test_unknown_console_input_is_explained(console: Any) -> None:
    c, out = console
    c.run_script([":frobnicate", "/other", "99"])
    text = out.getvalue()
    assert "unknown console command :frobnicate" in text
    assert "pacsbot only has the /pacs command" in text
    assert "there is no button 99" in text


def test_patient_details_in_a_channel_get_a_nudge_and_a_masked_card(console: Any) -> None:
    c, out = console
    c.run_script([":as tom.tech", ":in #radiology",
                   "CT for ZZTEST^FAKE0007 DOB 19940101 is missing on pacs, acc A1002",
                   "/pacs report images missing for patient ZZTEST FAKE0007 MRN 4455667, acc A1002"])
    text = out.getvalue()
    nudge = text[text.index("CT for ZZTEST^FAKE0007"):]
    assert "(only @tom.tech can see this)" in nudge and "A channel is not the place" in nudge
    card = " ".join(text[text.index("pacsbot posted in #pacs-queue"):].split())  # the console wraps long lines
    assert "images missing for patient [hidden], acc A1002" in card
    assert "FAKE0007" not in card and "4455667" not in card

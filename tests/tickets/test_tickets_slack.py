"""Tickets through the real Bolt app with signed requests: every intake path, the card and
its buttons, role checks, duplicates and outages, SLAs, retries and double clicks."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from pacsbot.bot.models import AuditEntry
from pacsbot.core.clock import ManualClock
from pacsbot.tickets.models import Ticket, TicketEvent
from tests.harness import ADMIN, CLINICIAN, TECH, Harness, texts_of

QUEUE = "C0PACSQUE"
ADMIN_CHANNEL = "C0PACSADM"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"tickets": {
        "default_queue": QUEUE, "admin_channel": ADMIN_CHANNEL,
        "queues": [{"name": "pacs", "channel": QUEUE, "oncall": "@pacs-oncall"}],
        "rules": [{"name": "images", "match": {"category": ["missing_images"]}, "queue": "pacs"}],
        "outage": {"people": 3, "minutes": 15}, "oncall_phone": "ext. 4-7227",
    }}


def posts(h: Harness, channel: str | None = None) -> list[dict[str, Any]]:
    return [c.params for c in h.mock.calls_to("chat.postMessage") if channel is None or c.params.get("channel") == channel]


def dms(h: Harness, user: str) -> list[dict[str, Any]]:
    return [c.params for c in h.mock.calls_to("chat.postMessage") if c.params.get("channel") in (user, "D" + user[1:])]


def tickets(h: Harness) -> list[Ticket]:
    with h.services.db.session() as s:
        return list(s.scalars(select(Ticket).order_by(Ticket.id)))


def ref(t: Ticket) -> str:
    """The ticket's reference: PACS-12, or PACS-12.1 for a report linked to it when filed."""
    return f"PACS-{t.number}" + (f".{t.sub}" if t.sub else "")


def audit(h: Harness, action: str) -> list[AuditEntry]:
    with h.services.db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def card_of(h: Harness, number: int) -> dict[str, Any]:
    t = next(t for t in tickets(h) if t.id == number)
    return next(m for m in h.mock.messages[t.channel] if m["ts"] == t.card_ts)


def click(h: Harness, user: str, action_id: str, number: int) -> None:
    message = card_of(h, number)
    assert h.send(h.sim.block_action(user, {"action_id": f"{action_id}:{number}", "value": str(number)}, channel_id=QUEUE, message=message)).status == 200
    h.drain()


def test_report_with_text_files_at_once_and_posts_the_card(harness: Harness) -> None:
    h = harness
    h.mock.add_usergroup("S0ONCALL1", "pacs-oncall", [ADMIN])
    response = h.command(TECH, "report pt scanned 10 min ago, images not in PACS, acc A123 STAT")
    assert response.status == 200
    h.drain()
    [ticket] = tickets(h)
    assert (ticket.category, ticket.urgency, ticket.priority, ticket.accession, ticket.queue) == ("missing_images", "stat", "P1", "A123", "pacs")
    reply = h.mock.calls_to("response_url")[-1].params
    assert f"Filed *{ref(ticket)}*" in reply["text"]
    # STAT means now: the reporter is told whom to call, and the on-call is paged by DM too
    assert reply["text"].startswith(f":rotating_light: *STAT — filed {ref(ticket)}* and paged the PACS on-call (<@{ADMIN}>). "
                                    "If a patient is waiting, call the PACS on-call now on *ext. 4-7227*")
    [page] = dms(h, ADMIN)
    assert page["text"].startswith(f":rotating_light: *STAT* report *{ref(ticket)}* from <@{TECH}>")
    [card] = posts(h, QUEUE)
    text = texts_of(card["blocks"])
    assert f"{ref(ticket)} · Missing or incomplete images · P1 STAT" in text and "A123" in text
    assert "<!subteam^S0ONCALL1>" in text  # STAT pages on-call
    actions = [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert actions == [f"ticket_ack:{ticket.id}", f"ticket_assign:{ticket.id}", f"ticket_resolve:{ticket.id}",
                       f"ticket_merge:{ticket.id}", f"ticket_note:{ticket.id}"]
    assert [a.target for a in audit(h, "ticket.create")] == [f"{ref(ticket)}"]


def test_form_with_validation_then_filing(harness: Harness) -> None:
    h = harness
    h.command(CLINICIAN, "report")
    h.drain()
    view = h.mock.calls_to("views.open")[-1].params["view"]
    assert view["callback_id"] == "ticket_report"
    values = {
        "category": {"category": {"type": "static_select", "selected_option": {"value": "viewer"}}},
        "urgency": {"urgency": {"type": "radio_buttons", "selected_option": {"value": "urgent"}}},
        "accession": {"accession": {"type": "plain_text_input", "value": "A1*"}},
        "modality": {"modality": {"type": "static_select", "selected_option": None}},
        "location": {"location": {"type": "plain_text_input", "value": "reading room 3"}},
        "description": {"description": {"type": "plain_text_input", "value": "viewer frozen, cannot scroll"}},
    }
    submitted = {**view, "id": "V0FORM001"}
    body = h.send(h.sim.view_submission(CLINICIAN, submitted, values)).json()
    assert body["response_action"] == "errors" and "wildcard" in body["errors"]["accession"]
    values["accession"]["accession"]["value"] = ""
    response = h.send(h.sim.view_submission(CLINICIAN, submitted, values))
    assert response.status == 200 and not response.body  # the form closes
    h.drain()
    [ticket] = tickets(h)
    assert (ticket.category, ticket.urgency, ticket.location, ticket.source) == ("viewer", "urgent", "reading room 3", "modal")
    dm = dms(h, CLINICIAN)[-1]
    assert f"Filed *{ref(ticket)}*" in dm["text"]
    # submitting the same form again (a double click) files nothing new
    h.send(h.sim.view_submission(CLINICIAN, submitted, values))
    h.drain()
    assert len(tickets(h)) == 1


def test_duplicates_are_linked_and_reporters_follow(harness: Harness) -> None:
    h = harness
    h.command(TECH, "report images not in PACS acc B42")
    h.drain()
    h.command(CLINICIAN, "report the CT for acc B42 is incomplete on PACS")
    h.drain()
    first, second = tickets(h)
    assert second.parent_id == first.id and second.status == "duplicate"
    # the linked report is the first one under PACS-1: it does not use up PACS-2
    assert (ref(first), ref(second)) == ("PACS-1", "PACS-1.1")
    reply = h.mock.calls_to("response_url")[-1].params["text"]
    assert "You're the 2nd to report this" in reply and f"{ref(first)}" in reply
    thread = [p for p in posts(h, QUEUE) if p.get("thread_ts")]
    assert thread and f"Also reported by <@U0RAD0001> (2nd report, {ref(second)})" in thread[-1]["text"]
    assert len([p for p in posts(h, QUEUE) if not p.get("thread_ts")]) == 1  # one card, not two
    assert "Reports*\n2" in texts_of(h.mock.calls_to("chat.update")[-1].params["blocks"])
    # resolving the original tells both reporters
    click(h, ADMIN, "ticket_resolve", first.id)
    form = h.mock.calls_to("views.open")[-1].params["view"]
    values = {"resolution": {"resolution": {"type": "plain_text_input", "value": "Resent from CT2; all images on PACS."}}}
    assert h.send(h.sim.view_submission(ADMIN, {**form, "id": "V0RES0001"}, values)).status == 200
    h.drain()
    for user in (TECH, CLINICIAN):
        assert "resolved: Resent from CT2" in dms(h, user)[-1]["text"]


def test_an_outage_raises_one_alert_and_the_form_names_it(harness: Harness) -> None:
    h = harness
    for i, user in enumerate((TECH, CLINICIAN, "U0RAD0002", "U0RAD0003")):
        h.command(user, f"report PACS viewer is down, cannot open any study on ward {i}")
        h.drain()
    alerts = posts(h, ADMIN_CHANNEL)
    assert len(alerts) == 1 and "Possible outage: 3 people reported *viewer or workstation* problems in 15 minutes (3 reports)" in alerts[0]["text"]
    assert len([t for t in tickets(h) if t.parent_id is None]) == 1
    # a new reporter sees the outage before filing
    h.command("U0RAD0004", "report")
    h.drain()
    view = h.mock.calls_to("views.open")[-1].params["view"]
    values = {
        "category": {"category": {"type": "static_select", "selected_option": {"value": "viewer"}}},
        "urgency": {"urgency": {"type": "radio_buttons", "selected_option": {"value": "routine"}}},
        "description": {"description": {"type": "plain_text_input", "value": "cannot open studies"}},
    }
    body = h.send(h.sim.view_submission("U0RAD0004", {**view, "id": "V0OUT0001"}, values)).json()
    assert body["response_action"] == "update"
    assert "already knows" in texts_of(body["view"]["blocks"])
    confirm = {**body["view"], "id": "V0OUT0001"}
    assert h.send(h.sim.view_submission("U0RAD0004", confirm, {})).status == 200
    h.drain()
    assert tickets(h)[-1].parent_id == tickets(h)[0].id


def test_split_off_an_outage_and_merge_back_by_button(harness: Harness) -> None:
    h = harness
    for i, user in enumerate((TECH, CLINICIAN, "U0RAD0002")):
        h.command(user, f"report PACS viewer is down, cannot open any study on ward {i}")
        h.drain()
    h.command("U0RAD0003", "report the viewer is down on ward 9 too, cannot open any study")
    h.drain()
    root, *children = tickets(h)
    late = children[-1]
    assert root.is_incident and late.parent_id == root.id
    thread = [p for p in posts(h, QUEUE) if p.get("thread_ts") == root.card_ts and f"ticket_split:{late.id}" in str(p.get("blocks"))]
    assert thread and "Not part of this outage" in texts_of(thread[0]["blocks"])
    # a clinician cannot split; an admin can
    button = {"action_id": f"ticket_split:{late.id}", "value": str(late.id)}
    h.send(h.sim.block_action(CLINICIAN, button, channel_id=QUEUE, message=thread[0]))
    h.drain()
    assert next(t for t in tickets(h) if t.id == late.id).parent_id == root.id
    h.send(h.sim.block_action(ADMIN, button, channel_id=QUEUE, message=thread[0]))
    h.drain()
    split = next(t for t in tickets(h) if t.id == late.id)
    assert split.parent_id is None and split.status == "new" and split.card_ts  # a card of its own
    # a linked report PACS-1.n becomes the next ticket of the queue; its reporter hears both references
    assert late.sub and (split.number, split.sub) == (max(t.number for t in tickets(h)), 0)
    assert any(f"Your report *{ref(late)}*" in d["text"] and f"it is now ticket *{ref(split)}*" in d["text"]
               for d in dms(h, "U0RAD0003"))
    assert [a.outcome for a in audit(h, "ticket.split")] == ["ok"]
    # merged back with "Merge into…": the form offers the outage first
    click(h, ADMIN, "ticket_merge", late.id)
    form = h.mock.calls_to("views.open")[-1].params["view"]
    options = form["blocks"][1]["element"]["options"]
    assert options[0]["value"] == str(root.id) and "outage" in options[0]["text"]["text"]
    values = {"into": {"into": {"type": "static_select", "selected_option": {"value": str(root.id)}}}}
    assert h.send(h.sim.view_submission(ADMIN, {**form, "id": "V0MERGE01"}, values)).status == 200
    h.drain()
    assert next(t for t in tickets(h) if t.id == late.id).parent_id == root.id
    assert any(f"*{ref(split)}*" in d["text"] and f"the outage *{ref(root)}*" in d["text"] for d in dms(h, "U0RAD0003"))
    assert [a.outcome for a in audit(h, "ticket.merge")] == ["ok"]


def test_buttons_are_admin_only_and_idempotent(harness: Harness) -> None:
    h = harness
    h.command(TECH, "report images missing acc C7")
    h.drain()
    [ticket] = tickets(h)
    click(h, CLINICIAN, "ticket_ack", ticket.id)
    assert "only for PACS admins" in h.mock.calls_to("response_url")[-1].params["text"]
    assert tickets(h)[0].status == "new"
    assert [a.target for a in audit(h, "access.denied")] == ["action:ticket_ack"]
    # a double click: two acks at the same moment
    message = card_of(h, ticket.id)
    requests = [h.sim.block_action(ADMIN, {"action_id": f"ticket_ack:{ticket.id}", "value": str(ticket.id)}, channel_id=QUEUE, message=message) for _ in range(3)]
    threads = [threading.Thread(target=h.send, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    h.drain()
    with h.services.db.session() as s:
        acks = s.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.kind == "acknowledged"))
    assert acks == 1 and tickets(h)[0].status == "acknowledged"
    assert any("already acknowledged" in c.params["text"] for c in h.mock.calls_to("response_url"))
    assert len([p for p in dms(h, TECH) if "looking at your report" in p["text"]]) == 1
    # resolving twice: the second is refused without change
    for _ in range(2):
        click(h, ADMIN, "ticket_resolve", ticket.id)
    assert "already resolved" not in h.mock.calls_to("response_url")[-1].params["text"]  # first click opened the form
    form = h.mock.calls_to("views.open")[-1].params["view"]
    values = {"resolution": {"resolution": {"type": "plain_text_input", "value": "fixed"}}}
    for view_id in ("V0RES0002", "V0RES0002", "V0RES0003"):  # the same form twice, then the other form
        h.send(h.sim.view_submission(ADMIN, {**form, "id": view_id}, values))
        h.drain()
    assert tickets(h)[0].status == "resolved"
    with h.services.db.session() as s:
        assert s.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.kind == "resolved")) == 1
    assert "already resolved" in dms(h, ADMIN)[-1]["text"] or "already resolved" in h.mock.calls_to("response_url")[-1].params.get("text", "")


def test_reaction_and_message_shortcut_file_from_a_message(harness: Harness) -> None:
    h = harness
    message = h.mock.post_as_user(CLINICIAN, "C0RADIOLO", "viewer keeps crashing when I open the MR prior")
    event = {"type": "reaction_added", "user": TECH, "reaction": "ticket", "item": {"type": "message", "channel": "C0RADIOLO", "ts": message["ts"]}}
    h.send(h.sim.event(event, event_id="Ev0REACT1"))
    h.send(h.sim.event(event, event_id="Ev0REACT1", retry_num=1))  # Slack's retry
    h.drain()
    h.send(h.sim.event({**event, "user": ADMIN}, event_id="Ev0REACT2"))  # someone else reacts too
    h.drain()
    [ticket] = tickets(h)
    assert (ticket.source, ticket.reporter, ticket.category) == ("reaction", TECH, "viewer")
    assert ticket.permalink and "C0RADIOLO" in ticket.permalink
    ephemerals = sorted((c.params["user"], c.params["channel"], c.params["text"][:20]) for c in h.mock.calls_to("chat.postEphemeral"))
    assert [(u, c) for u, c, _ in ephemerals] == [(ADMIN, "C0RADIOLO"), (TECH, "C0RADIOLO")]
    assert {t for _, _, t in ephemerals} == {":white_check_mark: F", "That was already fil"}
    with h.services.db.session() as s:
        assert set(h.services.features.tickets.svc.followers(s, ticket.id)) == {TECH, ADMIN}
    # the message shortcut on another message opens a prefilled form
    other = h.mock.post_as_user(CLINICIAN, "C0RADIOLO", "worklist is empty on CT1")
    h.send(h.sim.message_shortcut(ADMIN, "ticket_from_message", channel_id="C0RADIOLO", message=other))
    h.drain()
    view = h.mock.calls_to("views.open")[-1].params["view"]
    description = next(b for b in view["blocks"] if b["block_id"] == "description")["element"]["initial_value"]
    assert "worklist is empty on CT1" in description and "<@U0RAD0001>" in description


def test_thread_replies_are_kept_on_the_ticket(harness: Harness) -> None:
    h = harness
    h.command(TECH, "report images missing acc D1")
    h.drain()
    [ticket] = tickets(h)
    reply = h.sim.message_event(ADMIN, "checking the router queue", channel_id=QUEUE, thread_ts=ticket.card_ts)
    h.send(reply)
    h.drain()
    h.command(ADMIN, f"ticket {ref(ticket)}")
    h.drain()
    assert "checking the router queue" in texts_of(h.mock.calls_to("response_url")[-1].params["blocks"])


def test_slack_escaped_text_is_stored_as_typed_and_shown_once_escaped(harness: Harness) -> None:
    """Slack sends & < > as entities; the ticket keeps what the person typed, so the card
    (which escapes what it shows) does not read "&amp;"."""
    h = harness
    h.command(TECH, "report viewer frozen &amp; slow &lt;urgent&gt; in reading room 3")
    h.drain()
    [ticket] = tickets(h)
    assert ticket.description == "viewer frozen & slow <urgent> in reading room 3"
    card = json.dumps(posts(h, QUEUE)[0])
    assert "frozen &amp; slow &lt;urgent&gt;" in card and "&amp;amp;" not in card


def test_a_thread_reply_also_sent_to_the_channel_is_kept_too(harness: Harness) -> None:
    h = harness
    h.command(TECH, "report images missing acc D2")
    h.drain()
    [ticket] = tickets(h)
    event = {"type": "message", "subtype": "thread_broadcast", "user": ADMIN, "text": "router restarted &amp; resent",
             "channel": QUEUE, "channel_type": "channel", "ts": "1764000000.000200", "thread_ts": ticket.card_ts}
    h.send(h.sim.event(event))
    h.drain()
    h.command(ADMIN, f"ticket {ref(ticket)}")
    h.drain()
    assert "router restarted &amp; resent" in texts_of(h.mock.calls_to("response_url")[-1].params["blocks"])


def test_who_may_see_which_ticket(harness: Harness) -> None:
    h = harness
    h.command(TECH, "report images missing acc E5, patient DOB 01/02/1960")
    h.drain()
    [ticket] = tickets(h)
    assert "01/02/1960" not in json.dumps(posts(h, QUEUE))  # the channel card is masked
    assert ":lock:" in json.dumps(h.mock.calls_to("response_url")[-1].params)  # the reporter is warned
    h.command(TECH, f"ticket {ref(ticket)}")
    h.drain()
    assert "01/02/1960" in json.dumps(h.mock.calls_to("response_url")[-1].params)  # the reporter sees their own text
    h.command(CLINICIAN, f"ticket {ref(ticket)}")
    h.drain()
    assert "no ticket" in h.mock.calls_to("response_url")[-1].params["text"]
    h.command(CLINICIAN, "tickets open")
    h.drain()
    assert "Only the PACS team" in h.mock.calls_to("response_url")[-1].params["text"]
    h.command(ADMIN, "triage")
    h.drain()
    assert f"{ref(ticket)}" in texts_of(h.mock.calls_to("response_url")[-1].params["blocks"])


def reminders_of(h: Harness, ticket: Ticket) -> list[dict[str, Any]]:
    return [p for p in posts(h, QUEUE) if "overdue since" in p["text"] and f"{ref(ticket)}*" in p["text"]]


def test_sla_reminders_go_to_the_thread_broadcast_once_and_page_once(harness: Harness) -> None:
    h = harness
    clock = ManualClock()  # Monday 09:00 UTC
    h.services.clock = clock
    h.mock.add_usergroup("S0ONCALL1", "pacs-oncall", [ADMIN])
    h.command(TECH, "report STAT images missing acc F9")  # P1: acknowledge within 15 min
    h.drain()
    [ticket] = tickets(h)
    job = h.services.registry.jobs["ticket-sla"]
    sent = 0
    for _ in range(4 * 60 - 1):  # minute by minute, not acknowledged for 4 hours
        clock.advance(minutes=1)
        sent += job.run(h.services)
    assert sent == 5  # at 15 min, the on-call at 45 min, then hourly: 1:45, 2:45, 3:45
    h.drain()  # reminders go out through the outbox
    reminders = reminders_of(h, ticket)
    assert len(reminders) == 5
    assert all(r["thread_ts"] == ticket.card_ts for r in reminders)  # under the card
    assert [r["reply_broadcast"] for r in reminders] == [True, False, False, False, False]  # one in the channel
    assert ["<!subteam^S0ONCALL1>" in r["text"] for r in reminders] == [False, True, False, False, False]  # one page
    assert "not acknowledged yet — overdue since <!date^" in reminders[0]["text"]
    assert [a.details["step"] for a in audit(h, "ticket.sla_reminder")] == [0, 1, 2, 3, 4]

    click(h, ADMIN, "ticket_ack", ticket.id)
    for _ in range(3 * 60):  # acknowledged: the resolve target (4 h) and 1 h later, in the thread only
        clock.advance(minutes=1)
        sent += job.run(h.services)
    h.drain()
    resolve = [r for r in reminders_of(h, ticket) if "is not resolved" in r["text"]]
    assert len(resolve) == 2 and sent == 7
    assert all(r["thread_ts"] == ticket.card_ts and r["reply_broadcast"] is False and "subteam" not in r["text"] for r in resolve)
    assert len([p for p in posts(h, QUEUE) if p.get("reply_broadcast")]) == 1


def test_the_daily_digest_once_per_working_day_and_only_when_there_is_something(harness: Harness) -> None:
    h = harness
    clock = ManualClock()  # Monday 09:00 UTC; working hours mon-fri 07:00-19:00 (timezone UTC)
    h.services.clock = clock
    h.command(TECH, "report the viewer is slow in reading room 2")  # routine: P3, acknowledge within 4 h
    h.drain()
    [ticket] = tickets(h)
    assert ticket.priority == "P3"
    sla, digest = h.services.registry.jobs["ticket-sla"], h.services.registry.jobs["ticket-digest"]
    clock.advance(minutes=5)
    assert digest.run(h.services) == 0  # Monday's digest: nothing overdue, nothing posted
    clock.advance(hours=4)
    assert sla.run(h.services) == 1  # the P3's one reminder, at its target
    assert digest.run(h.services) == 0  # Monday's digest was done at the start of the day
    clock.set(datetime(2026, 1, 6, 6, 55, tzinfo=timezone.utc))
    assert digest.run(h.services) == 0 and sla.run(h.services) == 0  # before working hours
    clock.set(datetime(2026, 1, 6, 7, 0, tzinfo=timezone.utc))
    assert digest.run(h.services) == 1
    clock.advance(minutes=5)
    assert digest.run(h.services) == 0  # once a day
    h.drain()
    [reminder] = reminders_of(h, ticket)
    assert reminder["reply_broadcast"] is True and reminder["thread_ts"] == ticket.card_ts
    [message] = [p for p in posts(h, QUEUE) if "digest" in p["text"]]
    assert "thread_ts" not in message
    text = texts_of(message["blocks"])
    assert "Daily ticket digest: 1 open ticket" in text and f"*{ref(ticket)}* P3 — not acknowledged, overdue since" in text
    [entry] = audit(h, "ticket.digest")
    assert entry.target == QUEUE and entry.details["tickets"] == [f"{ref(ticket)}"]


def test_open_a_ticket_from_an_answer_carries_the_question(harness: Harness) -> None:
    h = harness
    value = json.dumps({"q": "why is the worklist empty on CT1", "s": "viewer/worklist.md#why-a-study-isnt-on-the-worklist", "v": "ask"})
    h.send(h.sim.block_action(CLINICIAN, {"action_id": "kb_open_ticket", "value": value}, channel_id="C0GENERAL"))
    h.drain()
    view = h.mock.calls_to("views.open")[-1].params["view"]
    description = next(b for b in view["blocks"] if b["block_id"] == "description")["element"]["initial_value"]
    assert description.startswith("why is the worklist empty on CT1")
    assert json.loads(view["private_metadata"])["source"] == "answer"


def test_the_form_offers_manual_sections_before_filing(harness: Harness) -> None:
    h = harness
    h.command(CLINICIAN, "report")
    h.drain()
    view = h.mock.calls_to("views.open")[-1].params["view"]
    values = {
        "category": {"category": {"type": "static_select", "selected_option": {"value": "viewer"}}},
        "urgency": {"urgency": {"type": "radio_buttons", "selected_option": {"value": "routine"}}},
        "description": {"description": {"type": "plain_text_input", "value": "how do I hang a prior for comparison"}},
    }
    body = h.send(h.sim.view_submission(CLINICIAN, {**view, "id": "V0SUG0001"}, values)).json()
    assert body["response_action"] == "update"
    text = texts_of(body["view"]["blocks"])
    assert "Does this solve it?" in text and "prior" in text.lower()
    assert tickets(h) == []  # nothing filed until they press File the ticket
    h.send(h.sim.view_submission(CLINICIAN, {**body["view"], "id": "V0SUG0001"}, {}))
    h.drain()
    assert len(tickets(h)) == 1 and tickets(h)[0].description == "how do I hang a prior for comparison"


class TestDiagnosticsAtIntake:
    """A missing-images report with an accession number: the locate verdict lands in the thread."""

    @pytest.fixture
    def settings_overrides(self, demo_network: Any) -> dict[str, Any]:  # noqa: F811 - the fixture imported below
        from tests.dicom_support import node_dicts

        return {
            "tickets": {"default_queue": QUEUE, "queues": [{"name": "pacs", "channel": QUEUE}],
                        "rules": [{"name": "images", "match": {"category": ["missing_images"]}, "queue": "pacs"}]},
            "dicom": {"nodes": node_dicts(demo_network) + [{"name": "old-pacs", "ae_title": "OLDPACS", "host": "127.0.0.1", "port": 1}]},
        }

    def test_locate_verdict_in_the_thread(self, harness: Harness) -> None:
        h = harness
        h.command(TECH, "report CT images not in PACS, acc A1002")
        h.drain()
        [ticket] = tickets(h)
        thread = [p for p in posts(h, QUEUE) if p.get("thread_ts") == ticket.card_ts]
        assert thread, "no diagnostics in the card's thread"
        shown = texts_of(thread[-1]["blocks"])
        assert "A1002: on vna with 412 images, on pacs with 300 — 112 missing on pacs" in shown
        assert "old-pacs* fails C-ECHO" in shown  # a node that cannot be reached is named
        dumped = json.dumps(thread)
        assert "BRAVO" not in dumped and "DEMO-0002" not in dumped and "1957" not in dumped  # no patient details in the channel
        with h.services.db.session() as s:
            kinds = [e.kind for e in h.services.features.tickets.svc.history(s, ticket.id)]
        actors = {a.actor for a in audit(h, "dicom.locate")}
        assert "diagnostics" in kinds and actors == {"pacsbot"}

    def test_no_locate_without_an_accession_or_for_other_problems(self, harness: Harness) -> None:
        h = harness
        h.command(TECH, "report viewer frozen, acc A1002")
        h.command(TECH, "report images missing on PACS from this morning")
        h.drain()
        assert audit(h, "dicom.locate") == []


from tests.dicom_support import demo_network  # noqa: E402,F401 - the session fixture for the class above


def test_nul_and_control_characters_are_taken_out_at_the_edge(harness: Harness) -> None:
    """PostgreSQL refuses NUL bytes in text: a report or a question carrying one was lost."""
    h = harness
    h.command(TECH, "report images\x00 missing\x07 on PACS acc N1")
    h.drain()
    [ticket] = tickets(h)
    assert ticket.description == "images missing on PACS acc N1"
    h.command(CLINICIAN, "ask what is the wifi\x00 password in the cafeteria")
    h.drain()
    from pacsbot.knowledge.models import Gap

    with h.services.db.session() as s:
        [gap] = list(s.scalars(select(Gap)))
    assert "\x00" not in gap.question and "wifi password" in gap.question


def test_a_long_report_survives_the_confirm_step_and_is_filed_once(harness: Harness) -> None:
    """The form's values used to ride in the modal's 3,000-character private_metadata: a long
    description was cut, could not be read back, and the report was lost."""
    h = harness
    h.command(TECH, "report")
    h.drain()
    view = h.mock.calls_to("views.open")[-1].params["view"]
    description = "CT images not in PACS after resend from the CT console, acc L1. " + "still missing; " * 190
    assert 2900 < len(description) <= 3000
    values = {
        "category": {"category": {"type": "static_select", "selected_option": {"value": "missing_images"}}},
        "urgency": {"urgency": {"type": "radio_buttons", "selected_option": {"value": "routine"}}},
        "description": {"description": {"type": "plain_text_input", "value": description}},
    }
    body = h.send(h.sim.view_submission(TECH, {**view, "id": "V0LONG001"}, values)).json()
    assert body["response_action"] == "update"  # "Does this solve it?" first
    confirm = {**body["view"], "id": "V0LONG001"}
    assert len(confirm["private_metadata"]) < 100  # the report waits on the server
    for _ in range(2):  # a double click on "File the ticket"
        assert h.send(h.sim.view_submission(TECH, confirm, {})).status == 200
        h.drain()
    [ticket] = tickets(h)
    assert ticket.description == description.strip() or ticket.description == description
    said = [c.params.get("text", "") for c in h.mock.calls_to("chat.postMessage") if c.params.get("channel") == TECH]
    assert any("already sent or has expired" in t for t in said + [c.params.get("text", "") for c in h.mock.calls_to("response_url")])


def test_a_note_submitted_twice_is_stored_once(harness: Harness) -> None:
    h = harness
    h.command(TECH, "report images missing acc Q1")
    h.drain()
    [ticket] = tickets(h)
    click(h, ADMIN, "ticket_note", ticket.id)
    form = h.mock.calls_to("views.open")[-1].params["view"]
    values = {"note": {"note": {"type": "plain_text_input", "value": "router queue restarted"}},
              "visibility": {"visibility": {"type": "radio_buttons", "selected_option": {"value": "private"}}}}
    for _ in range(2):
        assert h.send(h.sim.view_submission(ADMIN, {**form, "id": "V0NOTE001", "hash": "h1"}, values)).status == 200
        h.drain()
    with h.services.db.session() as s:
        notes = list(s.scalars(select(TicketEvent).where(TicketEvent.kind == "note")))
    assert [n.text for n in notes] == ["router queue restarted"]
    assert len([p for p in posts(h, QUEUE) if "router queue restarted" in p.get("text", "")]) == 1


def test_listing_is_audited_and_a_refused_listing_is_audited_like_any_refusal(harness: Harness) -> None:
    h = harness
    h.command(CLINICIAN, "tickets open")
    h.drain()
    assert "Only the PACS team can list all tickets" in h.mock.calls_to("response_url")[-1].params["text"]
    denied = audit(h, "access.denied")
    assert [(a.actor, a.target, a.outcome) for a in denied] == [(CLINICIAN, "command:tickets", "denied")]
    h.command(ADMIN, "tickets open")
    h.drain()
    assert [(a.actor, a.target) for a in audit(h, "ticket.list")] == [(ADMIN, "open")]


def test_a_slack_rate_limit_storm_delays_the_card_but_never_loses_or_doubles_it(harness: Harness) -> None:
    """The client retries a 429 or a 500, but not without end: a storm that outlasted it lost
    the queue card, and the team never saw the ticket."""
    h = harness
    clock = ManualClock(datetime.now(timezone.utc))
    h.services.clock = clock
    h.mock.fail("chat.postMessage", status=429, retry_after=1, times=3)
    h.mock.fail("chat.postMessage", status=500, times=3)
    started = time.monotonic()
    response = h.command(TECH, "report images missing acc R429")
    assert response.status == 200 and time.monotonic() - started < 2.0  # the ack does not wait on Slack
    h.drain(timeout=60)
    [ticket] = tickets(h)
    job = h.services.registry.jobs["ticket-cards"]
    clock.advance(minutes=1)
    for _ in range(3):  # the job runs every minute until Slack takes the card
        job.run(h.services)
    h.drain()
    [ticket] = tickets(h)
    assert ticket.card_ts
    assert len([m for m in h.mock.messages[QUEUE] if not m.get("thread_ts") and f"{ref(ticket)}" in m.get("text", "")]) == 1


def test_a_linked_report_is_found_by_its_own_reference(harness: Harness) -> None:
    h = harness
    h.command(TECH, "report images not in PACS acc B43")
    h.drain()
    h.command(CLINICIAN, "report the CT for acc B43 is incomplete on PACS")
    h.drain()
    h.command(CLINICIAN, "ticket pacs-1.1")
    h.drain()
    shown = texts_of(h.mock.calls_to("response_url")[-1].params["blocks"])
    assert "*PACS-1.1*" in shown and "Linked to PACS-1" in shown
    h.command(CLINICIAN, "ticket PACS-1.7")
    h.drain()
    assert "There is no ticket PACS-1.7." in h.mock.calls_to("response_url")[-1].params["text"]


def test_taking_a_ticket_reads_took_this(harness: Harness) -> None:
    h = harness
    h.command(TECH, "report images missing acc T1")
    h.drain()
    [ticket] = tickets(h)
    click(h, ADMIN, "ticket_assign", ticket.id)
    thread = [p["text"] for p in posts(h, QUEUE) if p.get("thread_ts") == ticket.card_ts]
    assert f":bust_in_silhouette: <@{ADMIN}> took this." in thread
    assert not any("assigned this to" in t for t in thread)

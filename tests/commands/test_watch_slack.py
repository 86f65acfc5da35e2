"""The node watch end to end: real demo DICOM nodes stopped and started, the real Bolt app,
signed requests, mock Slack; the exact messages people see. On SQLite (and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from pacsbot.bot.features.watch import run_downtime_notices, run_watch
from pacsbot.bot.models import AuditEntry
from pacsbot.bot.outbox import get_outbox
from pacsbot.commands.demo import DemoNetwork
from pacsbot.commands.models import NodeCheck, NodeStatus, NodeWatch
from pacsbot.core.clock import ManualClock
from pacsbot.tickets.models import Ticket
from tests.dicom_support import node_dicts
from tests.harness import ADMIN, CLINICIAN, TECH, Harness, texts_of

ALERTS = "C0PACSADM"
QUEUE = "C0PACSQUE"


@pytest.fixture
def network() -> Iterator[DemoNetwork]:
    with DemoNetwork() as net:
        yield net


@pytest.fixture
def settings_overrides(network: DemoNetwork) -> dict[str, Any]:
    return {"dicom": {"nodes": node_dicts(network)},
            "tickets": {"admin_channel": ALERTS, "default_queue": QUEUE},
            # @radiologists exists only where a test adds it to the mock (an unknown group grants nothing)
            "roles": {"audiences": {"technologist": [TECH], "radiologist": ["@radiologists"]}}}


@pytest.fixture
def clock(harness: Harness) -> ManualClock:
    clock = ManualClock(datetime(2026, 11, 27, 14, 0, tzinfo=timezone.utc))  # fixed: no surprises at midnight
    harness.services.clock = clock
    return clock


def tick(harness: Harness, clock: ManualClock, times: int = 1) -> None:
    """One watch round every five minutes (the default interval), then deliver what it queued."""
    for _ in range(times):
        run_watch(harness.services)
        clock.advance(minutes=5)
    get_outbox(harness.services).kick()
    harness.drain()


def posts(harness: Harness, channel: str) -> list[str]:
    return [c.params.get("text", "") for c in harness.mock.calls_to("chat.postMessage") if c.params.get("channel") == channel]


def hhmm(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%H:%M")


def day(when: datetime) -> str:
    """How downtime notices name a time (the harness's time zone is UTC): ``Fri 27 Nov 14:02``."""
    local = when.astimezone(timezone.utc)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def test_down_alert_once_then_recovery_once(harness: Harness, clock: ManualClock, network: DemoNetwork) -> None:
    tick(harness, clock)  # both answer: unknown -> up, silently
    assert posts(harness, ALERTS) == []
    network.pacs.stop()
    first_failure = clock.now()
    tick(harness, clock, 2)
    assert posts(harness, ALERTS) == []  # two failures: not yet
    tick(harness, clock)
    with harness.db.session() as session:
        watch = session.get(NodeWatch, "pacs")
        reason, ticket = watch.last_message, session.scalar(select(Ticket).where(Ticket.is_incident.is_(True)))
    assert "connection refused" in reason and ticket is not None and ticket.priority == "P1"
    assert posts(harness, ALERTS) == [f":red_circle: *PACS* is down since {hhmm(first_failure)}: {reason} "
                                      f"(3 DICOM echoes in a row failed). Outage ticket *PACS-{ticket.id}*."]
    assert any(f"PACS-{ticket.id}" in p for p in posts(harness, QUEUE))  # the outage ticket's queue card
    tick(harness, clock, 3)  # still down: no more alerts
    assert len(posts(harness, ALERTS)) == 1
    network.pacs.start()
    tick(harness, clock)
    assert len(posts(harness, ALERTS)) == 1  # one success is not enough
    recovered_at = clock.now()
    tick(harness, clock)
    minutes = int((recovered_at - first_failure).total_seconds() // 60)
    assert posts(harness, ALERTS)[1] == (f":large_green_circle: *PACS* is back up after {minutes} min (down since "
                                         f"{hhmm(first_failure)}). A note was added to *PACS-{ticket.id}*; resolve it when you are happy.")
    with harness.db.session() as session:
        checks = session.scalar(select(func.count()).select_from(NodeCheck).where(NodeCheck.node == "pacs"))
        assert checks == 9
        assert session.get(NodeStatus, "pacs").ok is True and session.get(NodeStatus, "pacs").checked_by == "pacsbot"
        assert session.get(NodeWatch, "pacs").outage_ticket is None
        rows = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "dicom.watch").order_by(AuditEntry.id)))
    assert [(r.target, r.outcome, r.details["event"]) for r in rows] == [("node:pacs", "failed", "down"), ("node:pacs", "ok", "up")]


def test_status_for_clinicians_and_admins(harness: Harness, clock: ManualClock, network: DemoNetwork) -> None:
    tick(harness, clock)
    network.vna.stop()
    tick(harness, clock, 3)
    harness.command(CLINICIAN, "status")
    harness.drain()
    reply = harness.mock.calls_to("response_url")[-1].params
    shown = texts_of(reply["blocks"])
    assert reply["text"] == "1 system is down."
    assert ":large_green_circle: *PACS* working" in shown and ":red_circle: *VNA* down since" in shown
    assert "the PACS team is on it (PACS-1)" in shown and "ms" not in shown and "connection refused" not in shown
    harness.command(ADMIN, "status")
    harness.drain()
    shown = texts_of(harness.mock.calls_to("response_url")[-1].params["blocks"])
    assert "last echo failed: connection refused" in shown and " ms · last change " in shown
    from pacsbot.bot.features.home import home_view

    view = home_view(harness.services, ADMIN, harness.services.access.role_of(ADMIN))
    assert "*DICOM nodes* — 2 nodes\n:red_circle: down: VNA" in texts_of(view["blocks"])


def test_report_during_an_outage_is_told_and_joins_the_outage_ticket(harness: Harness, clock: ManualClock, network: DemoNetwork) -> None:
    tick(harness, clock)
    network.pacs.stop()
    tick(harness, clock, 3)
    harness.command(CLINICIAN, "report PACS will not open any study in reading room 2")
    harness.drain()
    told, filed = [c.params for c in harness.mock.calls_to("response_url")][-2:]
    assert told["text"].startswith(":rotating_light: PACS is down since ") and told["text"].endswith(", the team is on it — PACS-1.")
    assert "*Meanwhile — Technologists during downtime*\n1. Keep scanning." in texts_of(told["blocks"])  # from the manuals
    assert "part of the outage *PACS-1*" in filed["text"] and "(your report is *PACS-1.1*)" in filed["text"]
    with harness.db.session() as session:
        report = session.scalar(select(Ticket).where(Ticket.reporter == CLINICIAN))
        assert report.parent_id == 1
    # a question about it is told too
    harness.command(CLINICIAN, "ask is the pacs down?")
    harness.drain()
    assert any(c.params["text"].startswith(":rotating_light: PACS is down") for c in harness.mock.calls_to("response_url")[-2:])


def test_a_question_naming_no_node_queues_no_outage_check(harness: Harness, clock: ManualClock, network: DemoNetwork,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The outage check runs after the ack, and only for a question that names a configured
    node: queuing it for every question cost more than the search itself."""
    queued: list[str] = []
    submit = harness.services.background.submit

    def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        queued.append(getattr(fn, "__name__", repr(fn)))
        return submit(fn, *args, **kwargs)

    monkeypatch.setattr(harness.services.background, "submit", counting)
    harness.command(CLINICIAN, "ask how do I hang a prior for comparison")
    harness.drain()
    assert "_tell_outage" not in queued
    harness.command(CLINICIAN, "ask is the pacs down?")
    harness.drain()
    assert "_tell_outage" in queued


def test_planned_downtime_silences_the_alert_until_it_ends(harness: Harness, clock: ManualClock, network: DemoNetwork) -> None:
    tick(harness, clock)
    start = clock.now() + timedelta(minutes=2)
    end = start + timedelta(minutes=30)
    ack = harness.command(ADMIN, f'downtime add pacs {hhmm(start)} {hhmm(end)} "PACS upgrade"')
    assert ack.status == 200
    harness.drain()
    reply = harness.mock.calls_to("response_url")[-1].params["text"]
    assert reply.startswith(":white_check_mark: Planned downtime #1 added: ") and f"Announced in <#{ALERTS}>." in reply
    assert posts(harness, ALERTS) == [f":wrench: Planned downtime of *PACS*: {day(start)} – {hhmm(end)} (UTC), 30 min — PACS upgrade. "
                                      "During it, follow the downtime procedure (`/pacs ask what do I do while PACS is down`)."]
    clock.advance(minutes=3)
    run_downtime_notices(harness.services)
    harness.drain()
    assert posts(harness, ALERTS)[-1] == f":wrench: Planned downtime of *PACS* has started, until {day(end)} (UTC) — PACS upgrade."
    network.pacs.stop()
    tick(harness, clock, 5)  # 25 minutes of failures inside the window: no alert
    assert len(posts(harness, ALERTS)) == 2
    with harness.db.session() as session:
        flags = list(session.scalars(select(NodeCheck.in_downtime).where(NodeCheck.node == "pacs", NodeCheck.ok.is_(False))))
    assert flags == [True] * 5
    tick(harness, clock, 2)  # the window ends with pacs still failing: the normal alert
    assert posts(harness, ALERTS)[-1].startswith(":red_circle: *PACS* is down since ")
    harness.command(CLINICIAN, "downtime")
    harness.drain()
    assert "No planned downtime is coming up." in harness.mock.calls_to("response_url")[-1].params["text"]


def test_downtime_add_and_cancel_are_for_admins(harness: Harness, clock: ManualClock) -> None:
    ack = harness.command(CLINICIAN, 'downtime add pacs 23:58 23:59 "x"')
    harness.drain()
    shown = ack.text or harness.mock.calls_to("response_url")[-1].params["text"]
    assert "only for PACS admins" in shown
    with harness.db.session() as session:
        denied = session.scalar(select(AuditEntry).where(AuditEntry.action == "access.denied"))
    assert denied.actor == CLINICIAN and denied.target == "command:downtime add"
    tomorrow = "tomorrow 22:00 tomorrow 23:00"
    harness.command(ADMIN, f'downtime add pacs {tomorrow} "Disk swap"')
    harness.drain()
    harness.command(CLINICIAN, "downtime list")
    harness.drain()
    shown = texts_of(harness.mock.calls_to("response_url")[-1].params["blocks"])
    assert "#1 *PACS*" in shown and "Disk swap" in shown
    harness.command(ADMIN, "downtime add vna 23:00 22:00 \"x\"")
    harness.drain()
    assert "The end is before the start" in harness.mock.calls_to("response_url")[-1].params["text"]
    harness.command(ADMIN, "downtime cancel 1")
    harness.drain()
    assert "Planned downtime #1 is cancelled" in harness.mock.calls_to("response_url")[-1].params["text"]
    assert posts(harness, ALERTS)[-1].startswith(":information_source: Planned downtime #1 of *PACS*, Sat 28 Nov 22:00 – 23:00 (UTC), ")
    with harness.db.session() as session:
        actions = [(r.action, r.outcome) for r in session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("dicom.downtime")).order_by(AuditEntry.id))]
    assert actions == [("dicom.downtime.add", "ok"), ("dicom.downtime.add", "refused"), ("dicom.downtime.cancel", "ok")]


def test_reminder_before_a_planned_downtime_and_the_end(harness: Harness, clock: ManualClock) -> None:
    start = clock.now() + timedelta(hours=3)
    harness.command(ADMIN, f'downtime add vna {start.strftime("%Y-%m-%d %H:%M")} {(start + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")} "Archive patch"')
    harness.drain()
    assert len(posts(harness, ALERTS)) == 1  # the announcement
    clock.advance(hours=1, minutes=59)
    assert run_downtime_notices(harness.services) == 0  # not yet: 61 minutes to go
    clock.advance(minutes=2)
    assert run_downtime_notices(harness.services) == 1
    assert run_downtime_notices(harness.services) == 0  # once
    harness.drain()
    assert posts(harness, ALERTS)[-1] == (f":alarm_clock: Reminder: planned downtime of *VNA* starts in 59 min: "
                                          f"{day(start)} – {hhmm(start + timedelta(hours=1))} (UTC) — Archive patch.")
    clock.advance(hours=1)
    assert run_downtime_notices(harness.services) == 1  # started
    clock.advance(hours=1)
    assert run_downtime_notices(harness.services) == 1  # ended
    harness.drain()
    assert posts(harness, ALERTS)[-1] == (f":white_check_mark: Planned downtime of *VNA* is over. "
                                          f"It was planned for {day(start)} – {hhmm(start + timedelta(hours=1))} (UTC).")


DOWNTIME_CHANNELS = ["C0RADIOLO", "C0GENERAL"]


@pytest.mark.parametrize("settings_overrides", [{
    "timezone": "Europe/Zurich",
    "dicom": {"nodes": [{"name": "pacs", "ae_title": "PACS", "host": "127.0.0.1", "port": 1, "kind": "pacs", "watch": False}],
              "watch": {"downtime_channels": DOWNTIME_CHANNELS}},
    "tickets": {"admin_channel": ALERTS, "default_queue": QUEUE},
}])
def test_downtime_notices_carry_date_and_time_zone_and_go_to_the_downtime_channels(harness: Harness, clock: ManualClock) -> None:
    """Announced, reminded, started and ended in dicom.watch.downtime_channels (not the alert
    channel), each with weekday, date and the site's time zone; the privacy gate lets the dates through."""
    harness.command(ADMIN, 'downtime add pacs 2026-12-08 22:00 2026-12-09 01:30 "PACS upgrade"')  # Zurich time
    harness.drain()
    announced = (":wrench: Planned downtime of *PACS*: Tue 8 Dec 22:00 – Wed 9 Dec 01:30 (Europe/Zurich), 3 h 30 min — PACS upgrade. "
                 "During it, follow the downtime procedure (`/pacs ask what do I do while PACS is down`).")
    assert [posts(harness, c) for c in DOWNTIME_CHANNELS] == [[announced], [announced]]
    assert posts(harness, ALERTS) == []
    assert "Announced in <#C0RADIOLO>, <#C0GENERAL>." in harness.mock.calls_to("response_url")[-1].params["text"]
    harness.command(ADMIN, 'downtime add pacs 2027-01-05 22:00 2027-01-05 23:00 "Disk swap"')
    harness.drain()
    assert posts(harness, "C0GENERAL")[-1].startswith(":wrench: Planned downtime of *PACS*: Tue 5 Jan 2027 22:00 – 23:00 (Europe/Zurich), 1 h — Disk swap.")
    clock.advance(days=11, hours=6, minutes=1)  # Tue 8 Dec 20:01 UTC = 21:01 in Zurich
    assert run_downtime_notices(harness.services) == 2
    harness.drain()
    assert posts(harness, "C0RADIOLO")[-1] == (":alarm_clock: Reminder: planned downtime of *PACS* starts in 59 min: "
                                               "Tue 8 Dec 22:00 – Wed 9 Dec 01:30 (Europe/Zurich) — PACS upgrade.")
    clock.advance(hours=1)
    assert run_downtime_notices(harness.services) == 2
    harness.drain()
    assert posts(harness, "C0RADIOLO")[-1] == ":wrench: Planned downtime of *PACS* has started, until Wed 9 Dec 01:30 (Europe/Zurich) — PACS upgrade."
    clock.advance(hours=4)
    assert run_downtime_notices(harness.services) == 2
    harness.drain()
    assert posts(harness, "C0GENERAL")[-1] == (":white_check_mark: Planned downtime of *PACS* is over. "
                                               "It was planned for Tue 8 Dec 22:00 – Wed 9 Dec 01:30 (Europe/Zurich).")
    assert posts(harness, ALERTS) == []


def test_a_question_in_a_dm_during_an_outage_is_told_first(harness: Harness, clock: ManualClock, network: DemoNetwork) -> None:
    tick(harness, clock)
    network.vna.stop()
    tick(harness, clock, 3)
    harness.send(harness.sim.message_event(CLINICIAN, "why can't I find old studies in the archive?", channel_id="D0RAD0001", channel_type="im"))
    harness.drain()
    dm = [c.params for c in harness.mock.calls_to("chat.postMessage") if c.params.get("channel") == "D0RAD0001"]
    assert dm[0]["text"].startswith(":rotating_light: VNA is down since 14:05, the team is on it — PACS-1.")
    with harness.db.session() as session:
        from pacsbot.tickets.models import TicketFollower

        # the one who was told follows it as "told" (not "pacsbot", the watch that filed it)
        rows = session.execute(select(TicketFollower.user_id, TicketFollower.via).where(TicketFollower.ticket_id == 1)).all()
        assert [tuple(r) for r in rows] == [(CLINICIAN, "told")]
    # the one who only asked hears when it is back, and when it is resolved - once each
    network.vna.start()
    tick(harness, clock, 2)
    tick(harness, clock, 2)
    to_them = [c.params["text"] for c in harness.mock.calls_to("chat.postMessage") if c.params.get("channel") in (CLINICIAN, "D0RAD0001")]
    back = [t for t in to_them if "is answering again" in t]
    assert back == [":large_green_circle: *VNA* is answering again (it was down 20 min). You were told about this outage (PACS-1); "
                    "no need to do anything. I'll message you once more when the team has confirmed everything is back."]
    harness.send(harness.sim.block_action(ADMIN, {"action_id": "ticket_resolve:1", "value": "1"}, channel_id=QUEUE,
                                          message={"ts": "1.0", "text": ""}))
    harness.drain()
    form = harness.mock.calls_to("views.open")[-1].params["view"]
    values = {"resolution": {"resolution": {"type": "plain_text_input", "value": "The VNA was restarted."}}}
    assert harness.send(harness.sim.view_submission(ADMIN, {**form, "id": "V0RES0009"}, values)).status == 200
    harness.drain()
    to_them = [c.params["text"] for c in harness.mock.calls_to("chat.postMessage") if c.params.get("channel") in (CLINICIAN, "D0RAD0001")]
    assert [t for t in to_them if "resolved" in t] == [
        ":white_check_mark: *PACS-1*, the outage you were told about, is resolved: The VNA was restarted."]
    assert [t for t in to_them if "is answering again" in t] == back  # still once


def test_the_downtime_procedure_shown_is_the_one_written_for_the_reader(harness: Harness, clock: ManualClock, network: DemoNetwork) -> None:
    """roles.audiences: dr.rhea is in @radiologists, tom.tech is named as a technologist. The bundled
    manuals split the procedure by audience front matter; each sees their own steps."""
    harness.mock.add_usergroup("S0RADIOLO", "radiologists", [CLINICIAN])
    assert harness.services.access.audiences_of(CLINICIAN) == ("radiologist",)
    assert harness.services.access.audiences_of(TECH) == ("technologist",)
    tick(harness, clock)
    network.pacs.stop()
    tick(harness, clock, 3)
    # the radiologist asks with /pacs ask: the notice follows the answer, privately
    harness.command(CLINICIAN, "ask is the pacs down?")
    harness.drain()
    told = next(c.params for c in harness.mock.calls_to("response_url") if c.params.get("text", "").startswith(":rotating_light: PACS is down"))
    shown = texts_of(told["blocks"])
    assert ("*Meanwhile — Reading during downtime*\nWhile PACS is down, radiologists read and report like this:\n\n"
            "• Each reading room has a station labelled *DOWNTIME VIEWER*.") in shown
    assert "Keep scanning" not in shown
    # the technologist writes in a DM: the notice comes first, in the DM
    harness.send(harness.sim.message_event(TECH, "pacs is down, where do I send my CT?", channel_id="D0TECH001", channel_type="im"))
    harness.drain()
    dm = [c.params for c in harness.mock.calls_to("chat.postMessage") if c.params.get("channel") == "D0TECH001"]
    assert dm[0]["text"].startswith(":rotating_light: PACS is down since ")
    shown = texts_of(dm[0]["blocks"])
    assert "*Meanwhile — Technologists during downtime*\n1. Keep scanning." in shown and "DOWNTIME VIEWER" not in shown

"""A PACS team's morning, played by the checked-in console script docs/console/outage-morning.txt:
PACS stops answering, six reports from four people (four before the node watch is sure, two
after), recovery, two unrelated reports after it, the outage resolved, then a day of reminders.
The script runs through the real console (signed requests into the real Bolt app, the mock
Slack Web API, the demo DICOM nodes); this test checks what each person was told, how the
tickets are linked, and how many reminders the day brought."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pacsbot.bot.cli.console import script_lines
from pacsbot.bot.console import Console
from pacsbot.tickets.models import Incident, Ticket
from tests.harness import ADMIN, make_settings

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "console" / "outage-morning.txt"
RAVI, TOM, RHEA, TERRY = "U0RES0001", "U0TECH001", "U0RAD0001", "U0TRAIN01"
QUEUE = "C0PACSQUE"


@pytest.fixture(scope="module")
def morning(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("morning")
    out = io.StringIO()
    with Console(make_settings(tmp, f"sqlite:///{tmp / 'morning.db'}"), out=out, wait_seconds=60) as console:
        status = console.run_script(script_lines(SCRIPT.read_text(encoding="utf-8")))
        with console.services.db.session() as session:
            tickets = {t.id: (t.parent_id, t.status, t.is_incident, t.category, t.priority)
                       for t in session.scalars(select(Ticket).order_by(Ticket.id))}
            incidents = [(i.ticket_id, i.node, i.recovered_at is not None) for i in session.scalars(select(Incident))]
        outputs = list(console.mock.outputs)
        resolved_seq = max(o.seq for o in outputs if o.kind == "message" and "resolved this:" in o.text)
    return {"status": status, "text": out.getvalue(), "tickets": tickets, "incidents": incidents, "outputs": outputs,
            "resolved_seq": resolved_seq}


def dms(m: dict[str, Any], user: str) -> list[str]:
    return [o.text for o in m["outputs"] if o.kind == "message" and o.channel == "D" + user[1:]]


def private(m: dict[str, Any], user: str) -> str:
    return "\n".join(o.text + " " + str(o.blocks) for o in m["outputs"] if o.kind in ("response", "ephemeral") and o.user == user)


def test_the_script_runs_clean(morning: dict[str, Any]) -> None:
    assert morning["status"] == 0
    assert "(console:" not in morning["text"] and "Traceback" not in morning["text"]


def test_one_outage_gathers_the_six_reports_and_nothing_after_recovery(morning: dict[str, Any]) -> None:
    tickets = morning["tickets"]
    assert morning["incidents"] == [(5, "pacs", True)]  # declared by the watch, ended by its recovery
    assert tickets[5][1:] == ("resolved", True, "outage", "P1")
    under = sorted(n for n, (parent, *_rest) in tickets.items() if parent == 5)
    assert under == [1, 2, 3, 4, 6, 7]  # four gathered when the watch was sure, two joined while it was down
    # after the recovery: tickets of their own, at their own priority
    assert tickets[8] == (None, "new", False, "viewer", "P3") and tickets[9] == (None, "new", False, "missing_images", "P3")
    # linked reports keep their own priority: no "P1 Routine"
    assert tickets[6][4] == "P1" and tickets[1][4] == "P3"


def test_each_merged_accession_is_checked_in_the_outage_thread(morning: dict[str, Any]) -> None:
    thread = [o.text for o in morning["outputs"] if o.kind == "message" and o.channel == QUEUE and o.thread_ts]
    recheck = [t for t in thread if t.startswith(":mag: PACS-")]
    # checked again once PACS answered: the mistyped accession and the split study reach the team
    assert any("PACS-3" in t and "A9999: not found on any node" in t and "mistyped" in t for t in recheck)
    assert any("PACS-2" in t and "A1006" in t and "Split study" in t for t in recheck)


def test_every_reporter_hears_part_of_it_back_up_and_resolved_once(morning: dict[str, Any]) -> None:
    # the two who reported while it was down: reports PACS-5.1 and PACS-5.2 of the outage, no numbers of their own
    for user, own in ((RAVI, ("PACS-1", "PACS-2")), (TOM, ("PACS-3", "PACS-5.1")), (RHEA, ("PACS-4",)), (TERRY, ("PACS-5.2",))):
        messages = dms(morning, user)
        back = [m for m in messages if "is answering again" in m]
        resolved = [m for m in messages if m.startswith(":white_check_mark: *PACS-5* is resolved")]
        assert len(back) == 1 and len(resolved) == 1, (user, messages)
        for ref in own:  # in the words of their own report
            assert f"*{ref}*" in back[0] and f"*{ref}*" in resolved[0], (user, ref)
        assert not any("PACS-6" in m or "PACS-7" in m for m in back + resolved)
    # the four who reported before the watch was sure were told their report is part of the outage
    for user, ref in ((RAVI, "PACS-1"), (RAVI, "PACS-2"), (TOM, "PACS-3"), (RHEA, "PACS-4")):
        assert any(m.startswith(f":link: Your report *{ref}*") and "the outage *PACS-5*" in m for m in dms(morning, user))
    # the two who reported while it was down were told at once, in the reply
    for user in (TOM, TERRY):
        assert "PACS is down since" in private(morning, user) and "part of the outage *PACS-5*" in private(morning, user)


def test_stat_names_the_oncall_and_pages_them(morning: dict[str, Any]) -> None:
    reply = private(morning, TOM)
    assert re.search(r"STAT — filed PACS-5\.1\* and paged the PACS on-call \(<@U0ADMIN01>\)\. If a patient is waiting, "
                     r"call the PACS on-call now on \*ext\. 4-7227 \(demo\)\*", reply)
    assert any(m.startswith(":rotating_light: *STAT* report *PACS-5.1*") for m in dms(morning, ADMIN))


def test_after_recovery_reports_stand_alone(morning: dict[str, Any]) -> None:
    # the queue goes on from PACS-5: the reports linked to the outage took no numbers
    assert "Filed *PACS-6* (Viewer or workstation, P3)" in private(morning, RHEA)
    assert "Filed *PACS-7* (Missing or incomplete images, P3)" in private(morning, TOM)


def test_a_day_of_reminders_is_a_handful(morning: dict[str, Any]) -> None:
    later = [o for o in morning["outputs"] if o.seq > morning["resolved_seq"] and o.kind == "message" and o.channel == QUEUE]
    reminders = [o for o in later if o.text.startswith(":alarm_clock:")]
    digests = [o for o in later if "digest" in o.text.lower()]
    # the two open P3 tickets: one "not acknowledged" reminder each in their thread, then one daily digest
    assert sorted(re.search(r"\*(PACS-\d+)\*", o.text).group(1) for o in reminders) == ["PACS-6", "PACS-7"]  # type: ignore[union-attr]
    assert all(o.thread_ts for o in reminders) and len(digests) == 1
    assert len(later) == 3
    assert not any("PACS-5" in o.text for o in later)  # the resolved outage is quiet

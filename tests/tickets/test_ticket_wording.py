"""What tickets say: priority and urgency in words that agree, "took this" when someone takes
their own ticket, and a split report named by the reference its reporter knew."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest

from pacsbot.bot.render import tickets as render
from pacsbot.bot.storage import Database, upgrade
from pacsbot.tickets.service import TicketService, TicketView
from tests.tickets.test_tickets_domain import MONDAY_10, report, settings

ADMIN, OTHER = "U0ADMIN01", "U0ADMIN02"


def view(**changes: object) -> TicketView:
    base = TicketView(
        id=7, ref="PACS-7", status="acknowledged", category="viewer", urgency="routine", priority="P3", queue="pacs",
        channel="C0PACSQUE", card_ts="1.1", reporter="U0TECH001", assignee=None, summary="viewer frozen",
        masked_summary="viewer frozen", description="viewer frozen", phi_suspected=False, accession=None, modality=None,
        location=None, permalink=None, parent_id=None, parent_ref=None, is_incident=False, created_at=MONDAY_10,
        updated_at=MONDAY_10, acknowledged_at=None, acknowledged_by=None, resolved_at=None, resolved_by=None,
        resolution=None, reports=1)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("urgency, priority, incident, label", [
    ("routine", "P3", False, "P3 Routine"),
    ("stat", "P1", False, "P1 STAT"),
    ("routine", "P2", False, "P2 Urgent (reported as routine)"),     # a routing rule raised it
    ("stat", "P2", False, "P2 Urgent (reported as STAT)"),
    ("routine", "P4", False, "P4 Low (reported as routine)"),        # a routing rule lowered it
    ("routine", "P1", True, "P1 outage"),                            # a report that became an outage
    ("stat", "P1", True, "P1 STAT"),                                 # the node watch's outage
])
def test_the_priority_word_follows_the_priority(urgency: str, priority: str, incident: bool, label: str) -> None:
    ticket = view(urgency=urgency, priority=priority, is_incident=incident)
    assert render.priority_label(ticket) == label
    assert "P1 Routine" not in render.card(ticket, settings())[0]


def test_someone_who_takes_a_ticket_took_it() -> None:
    mine = view(assignee=ADMIN)
    assert render.thread_line("assigned", ADMIN, mine) == f":bust_in_silhouette: <@{ADMIN}> took this."
    assert render.thread_line("assigned", OTHER, mine) == f":bust_in_silhouette: <@{OTHER}> assigned this to <@{ADMIN}>."
    assert render.thread_line("resolved", ADMIN, mine, "restarted <it>") == f":white_check_mark: <@{ADMIN}> resolved this: restarted &lt;it&gt;"
    history = [SimpleNamespace(at=MONDAY_10, actor=ADMIN, kind="assigned", text="", details={"assignee": ADMIN}),
               SimpleNamespace(at=MONDAY_10, actor=OTHER, kind="assigned", text="", details={"assignee": ADMIN})]
    text = str(render.detail(mine, history, full=True)[1])
    assert f"<@{ADMIN}> — took it" in text and f"<@{OTHER}> — assigned to <@{ADMIN}>" in text
    assert f"<@{ADMIN}> — assigned to <@{ADMIN}>" not in text


def test_the_service_tells_the_clicker_they_took_it(db: Database) -> None:
    upgrade(db)
    svc = TicketService(settings())
    with db.session() as s:
        number = svc.file(s, report("viewer frozen", "a:1"), MONDAY_10).ticket.id
        took = svc.act(s, number, "assign", ADMIN, MONDAY_10 + timedelta(minutes=1))
        again = svc.act(s, number, "assign", ADMIN, MONDAY_10 + timedelta(minutes=2))
        handed = svc.act(s, number, "assign", ADMIN, MONDAY_10 + timedelta(minutes=3), assignee=OTHER)
    assert (took.message, again.message) == ("You took PACS-1.", "PACS-1 is already assigned to you; nothing changed.")
    assert handed.message == f"PACS-1 assigned to <@{OTHER}>."


def test_a_split_report_is_named_as_its_reporter_knew_it() -> None:
    outage = view(id=1, ref="PACS-1", is_incident=True, priority="P1")
    split = view(id=9, ref="PACS-3", former_ref="PACS-1.1", masked_summary="CT2 images missing")
    message = render.moved_message("split", split, outage)
    assert message.startswith(":scissors: Your report *PACS-1.1* (_CT2 images missing_) is not part of *PACS-1* after all: "
                              "it is now ticket *PACS-3*")
    assert render.split_line(ADMIN, split) == f":scissors: <@{ADMIN}> split *PACS-1.1* off: not part of this. It is *PACS-3* now, a ticket of its own."
    merged_back = view(id=9, ref="PACS-3")
    assert render.split_line(ADMIN, merged_back) == f":scissors: <@{ADMIN}> split *PACS-3* off: not part of this. It is a ticket of its own now."
    assert "Your report *PACS-3*" in render.moved_message("split", merged_back, outage)

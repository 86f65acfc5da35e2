"""The ticket CSV for audits: references as the team knows them, people by Slack id and by
the name the bot last looked up (never by calling Slack), no resolution on a reopened ticket."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from pacsbot.bot.storage import Database
from pacsbot.tickets.export import FIELDS, export_csv, known_names, people
from pacsbot.tickets.service import Report, TicketService
from pacsbot.training.records import save_names
from tests.harness import TECH, Harness
from tests.tickets.test_tickets_domain import MONDAY_10, report


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_references_names_and_ids_side_by_side(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        first = svc.file(s, report("images missing for acc A123", "x:1"), MONDAY_10).own.id
        svc.file(s, report("CT not in PACS, acc A123", "x:2", user="U0RAD0001"), MONDAY_10)
        svc.file(s, report("viewer frozen in room 3", "x:3", user="U0NOBODY1"), MONDAY_10)
        svc.act(s, first, "assign", "U0ADMIN01", MONDAY_10 + timedelta(minutes=2))
        save_names(s, {"U0TECH001": "Tom Technologist", "U0ADMIN01": "Alex Admin", "U0RAD0001": "Dr. Rhea Radiologist",
                       "U0GONE001": ""}, MONDAY_10)
        out = rows(export_csv(s, "PACS"))
    assert [r["ticket"] for r in out] == ["PACS-1", "PACS-1.1", "PACS-2"]
    one, linked, two = out
    assert (one["reporter"], one["reporter_name"], one["assignee"], one["assignee_name"]) == (
        "U0TECH001", "Tom Technologist", "U0ADMIN01", "Alex Admin")
    assert (linked["reporter_name"], linked["linked_to"]) == ("Dr. Rhea Radiologist", "PACS-1")
    assert (two["reporter"], two["reporter_name"], two["assignee"], two["assignee_name"]) == ("U0NOBODY1", "", "", "")


def test_the_header_keeps_the_id_columns_and_adds_the_names_next_to_them() -> None:
    assert FIELDS[:4] == ("ticket", "created_at", "status", "category")
    assert FIELDS[FIELDS.index("reporter") + 1] == "reporter_name" and FIELDS[FIELDS.index("assignee") + 1] == "assignee_name"


def test_a_reopened_ticket_has_no_resolution_in_the_csv(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        number = svc.file(s, report("viewer frozen in room 3", "r:1"), MONDAY_10).ticket.id
        svc.file(s, report("the viewer is frozen, room 3", "r:2", user="U0RAD0001"), MONDAY_10)
        svc.act(s, number, "resolve", "U0ADMIN01", MONDAY_10 + timedelta(minutes=5), note="restarted the viewer service")
        resolved = rows(export_csv(s, "PACS", names=None))
        svc.act(s, number, "reopen", "U0ADMIN01", MONDAY_10 + timedelta(minutes=9))
        reopened = rows(export_csv(s, "PACS", names=None))
    assert [(r["resolution"], r["minutes_to_resolve"]) for r in resolved] == [("restarted the viewer service", "5")] * 2
    assert [(r["status"], r["resolution"], r["resolved_at"], r["minutes_to_resolve"]) for r in reopened] == [
        ("acknowledged", "", "", ""), ("duplicate", "", "", "")]


def test_the_node_watch_is_named_and_nobody_is_looked_up_in_slack(ready: Database, svc: TicketService) -> None:
    watch = Report(reporter="pacsbot", source="watch", source_ref="", category="outage", urgency="stat",
                   description="PACS (pacs) is not answering DICOM echo")
    with ready.session() as s:
        svc.declare_outage(s, watch, MONDAY_10, key="watch:pacs:1", node="pacs")
        svc.file(s, report("viewer frozen", "w:1"), MONDAY_10)
        assert people(s) == ["U0TECH001"]  # for the names job; the node watch is no one to look up
        assert known_names(s, ["U0TECH001"]) == {}
        out = rows(export_csv(s, "PACS"))
    assert (out[0]["reporter"], out[0]["reporter_name"]) == ("pacsbot", "pacsbot node watch")


def test_people_are_the_reporters_and_assignees_since_a_date(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        old = svc.file(s, report("viewer frozen", "p:1", user="U0OLD0001"), MONDAY_10 - timedelta(days=500)).own.id
        svc.act(s, old, "assign", "U0ADMIN02", MONDAY_10)
        new = svc.file(s, report("images missing acc P2", "p:2", user="U0NEW0001"), MONDAY_10).own.id
        svc.act(s, new, "assign", "U0ADMIN01", MONDAY_10)
        assert people(s) == ["U0ADMIN01", "U0ADMIN02", "U0NEW0001", "U0OLD0001"]
        assert people(s, since=MONDAY_10 - timedelta(days=1)) == ["U0ADMIN01", "U0NEW0001"]


def test_the_names_job_looks_up_the_people_tickets_name_and_the_export_shows_them(harness: Harness) -> None:
    h = harness
    h.command(TECH, "report images missing for acc N77")
    h.drain()
    svc = h.services.features.tickets.svc  # type: ignore[union-attr]
    with h.services.db.session() as s:
        assert rows(export_csv(s, "PACS"))[0]["reporter_name"] == ""  # not looked up yet
        assert svc.people(s) == [TECH]
    h.services.registry.jobs["training-names"].run(h.services)
    calls = len(h.mock.calls_to("users.info"))
    with h.services.db.session() as s:
        row = rows(export_csv(s, "PACS"))[0]
    assert (row["reporter"], row["reporter_name"]) == (TECH, "Tom Technologist")
    assert len(h.mock.calls_to("users.info")) == calls  # the export itself asks Slack nothing

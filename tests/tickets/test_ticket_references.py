"""Ticket references: the team's queue reads PACS-1, PACS-2, PACS-3; a report linked to a
ticket is PACS-1.1, PACS-1.2 and uses up no number; references never change once given
(a linked report split off takes the next number, and its old one still finds it); a
reopened ticket drops its resolution. On SQLite and PostgreSQL, with the migration from
data written before references existed."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from pacsbot.bot.cli import main as cli_main
from pacsbot.bot.privacy_gate import build_gate
from pacsbot.bot.storage import Database, upgrade
from pacsbot.core.errors import NotFound, UserError
from pacsbot.tickets.models import Ticket
from pacsbot.tickets.service import Report, TicketService
from tests.harness import make_settings
from tests.tickets.test_tickets_domain import MONDAY_10, report, settings


def refs(db: Database, svc: TicketService) -> dict[int, str]:
    with db.session() as s:
        return {t.id: svc.ref(t) for t in s.scalars(select(Ticket).order_by(Ticket.id))}


def test_linked_reports_take_no_number_from_the_queue(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        a = svc.file(s, report("images missing for acc A123", "r:1"), MONDAY_10)
        b = svc.file(s, report("CT from this morning not in PACS, acc A123", "r:2", user="U0RAD0001"), MONDAY_10)
        c = svc.file(s, report("viewer frozen in reading room 3", "r:3"), MONDAY_10)
        d = svc.file(s, report("still missing for acc A123", "r:4", user="U0RAD0002"), MONDAY_10)
        e = svc.file(s, report("locked out, password expired", "r:5"), MONDAY_10)
    assert (a.own.ref, b.own.ref, c.own.ref, d.own.ref, e.own.ref) == ("PACS-1", "PACS-1.1", "PACS-2", "PACS-1.2", "PACS-3")
    assert b.linked and b.ticket.ref == "PACS-1" and b.own.parent_ref == "PACS-1"
    with ready.session() as s:
        assert [t.ref for t in svc.listing(s, "open", "", MONDAY_10)] == ["PACS-3", "PACS-2", "PACS-1"]


def test_the_report_that_declares_an_outage_becomes_one_of_its_reports(ready: Database, svc: TicketService) -> None:
    """The burst's first ticket becomes the outage; the report that made it one was never
    shown with a number of its own, so it is PACS-1.n and the next ticket is the next number."""
    with ready.session() as s:
        filed = [svc.file(s, report(f"PACS is down, cannot open any study (ward {i})", f"o:{i}", user=f"U0USER{i:03d}",
                                    location=f"ward {i}"), MONDAY_10 + timedelta(minutes=i)) for i in range(4)]
        after = svc.file(s, report("locked out, password expired", "o:9"), MONDAY_10 + timedelta(minutes=5))
    declaring = next(f for f in filed if f.incident is not None)
    assert declaring.incident is not None and declaring.incident.ref == "PACS-1"
    assert declaring.own.ref.startswith("PACS-1.") and declaring.own.parent_ref == "PACS-1"
    numbers = sorted({r.split(".")[0] for r in refs(ready, svc).values()})
    assert after.own.ref == f"PACS-{len(numbers)}" and numbers == [f"PACS-{n}" for n in range(1, len(numbers) + 1)]


def test_split_gives_the_next_number_and_the_old_reference_still_finds_it(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        first = svc.file(s, report("viewer frozen in reading room 3", "s:1"), MONDAY_10)
        linked = svc.file(s, report("the viewer is frozen, reading room 3", "s:2", user="U0RAD0001"), MONDAY_10)
        other = svc.file(s, report("images missing for acc B7", "s:3"), MONDAY_10)
        assert (first.own.ref, linked.own.ref, other.own.ref) == ("PACS-1", "PACS-1.1", "PACS-2")
        moved = svc.split(s, linked.own.id, "U0ADMIN01", MONDAY_10 + timedelta(minutes=1))
    assert moved.changed and (moved.ticket.ref, moved.ticket.former_ref) == ("PACS-3", "PACS-1.1")
    assert "PACS-1.1 is now a ticket of its own (now PACS-3)" in moved.message
    with ready.session() as s:
        assert svc.find(s, "PACS-1.1").id == svc.find(s, "PACS-3").id == linked.own.id
        history = [(e.kind, e.text) for e in svc.history(s, linked.own.id)]
        assert ("renumbered", "was PACS-1.1, now PACS-3") in history
        # merged back, it keeps its number: PACS-3 was given to its reporter
        merged = svc.merge(s, linked.own.id, first.own.id, "U0ADMIN01", MONDAY_10 + timedelta(minutes=2))
        assert merged.ticket.ref == "PACS-3" and merged.ticket.parent_ref == "PACS-1"
        # a ticket of its own merged into another keeps its number too; new reports still count on
        moved_other = svc.merge(s, other.own.id, first.own.id, "U0ADMIN01", MONDAY_10 + timedelta(minutes=3))
        assert moved_other.ticket.ref == "PACS-2"
        again = svc.file(s, report("viewer frozen in reading room 3 again", "s:4", user="U0RAD0002"), MONDAY_10 + timedelta(minutes=4))
        assert again.own.ref == "PACS-1.2"  # PACS-1.1 was given once: it still finds PACS-3, never another report
        # splitting a ticket that had its own number gives it no new one
        back = svc.split(s, other.own.id, "U0ADMIN01", MONDAY_10 + timedelta(minutes=5))
        assert back.ticket.ref == "PACS-2" and back.ticket.former_ref is None
        assert svc.file(s, report("printer jam in room 4", "s:5"), MONDAY_10).own.ref == "PACS-4"


@pytest.mark.parametrize("typed, expected", [
    ("PACS-2", (2, 0)), ("pacs-2", (2, 0)), ("#2", (2, 0)), ("2", (2, 0)), (" PACS-12.3 ", (12, 3)), ("12.3", (12, 3)),
])
def test_references_are_read_as_people_type_them(svc: TicketService, typed: str, expected: tuple[int, int]) -> None:
    assert svc.parse_reference(typed) == expected


@pytest.mark.parametrize("typed", ["twelve", "PACS-", "PACS-1.", "1.2.3", "PACS-1.x", "-3"])
def test_what_is_not_a_reference_is_explained(svc: TicketService, typed: str) -> None:
    with pytest.raises(UserError, match="PACS-123.1"):
        svc.parse_reference(typed)


def test_find_names_the_reference_it_could_not_find(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        svc.file(s, report("viewer frozen", "f:1"), MONDAY_10)
        assert svc.ref(svc.find(s, "PACS-1")) == "PACS-1"
        with pytest.raises(NotFound, match="There is no ticket PACS-1.4"):
            svc.find(s, "PACS-1.4")
        with pytest.raises(NotFound, match="There is no ticket PACS-9"):
            svc.find(s, "9")


def test_reopen_drops_the_resolution_and_the_history_keeps_it(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        number = svc.file(s, report("viewer frozen in room 3", "o:1"), MONDAY_10).ticket.id
        child = svc.file(s, report("the viewer is frozen, room 3", "o:2", user="U0RAD0001"), MONDAY_10).own.id
        svc.act(s, number, "resolve", "U0ADMIN01", MONDAY_10 + timedelta(minutes=5), note="restarted the viewer service")
        assert s.get(Ticket, child).resolution == "restarted the viewer service"
        change = svc.act(s, number, "reopen", "U0ADMIN01", MONDAY_10 + timedelta(minutes=9), note="frozen again")
        assert change.ticket.resolution is None and change.ticket.resolved_at is None
        kid = s.get(Ticket, child)
        assert (kid.resolution, kid.resolved_at, kid.resolved_by) == (None, None, None)
        assert [e.text for e in svc.history(s, number) if e.kind == "resolved"] == ["restarted the viewer service"]
        # resolved again: the ticket and its reports carry the new resolution
        svc.act(s, number, "resolve", "U0ADMIN01", MONDAY_10 + timedelta(minutes=20), note="replaced the graphics driver")
        assert s.get(Ticket, child).resolution == "replaced the graphics driver"


def test_filing_at_once_in_every_category_gives_each_ticket_its_own_number(ready: Database, svc: TicketService) -> None:
    """Filing is serialised per category; the numbering lock serialises numbers across them."""
    texts = ["images missing for acc C{i}", "viewer frozen in room {i}", "locked out, password expired (user {i})",
             "patient not on the worklist on CT{i}", "study sent under the wrong patient, acc W{i}", "PACS very slow in room {i}"]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(texts) * 2)

    def one(i: int) -> None:
        try:
            barrier.wait()
            with ready.session() as s:
                svc.file(s, report(texts[i % len(texts)].format(i=i * 37), f"c:{i}", user=f"U0C{i:06d}"), MONDAY_10)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts) * 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with ready.session() as s:
        rows = s.execute(select(Ticket.number, Ticket.sub, Ticket.parent_id)).all()
    mains = sorted(n for n, sub, _ in rows if sub == 0)
    assert mains == list(range(1, len(mains) + 1))  # no gaps, none twice
    assert len({(n, sub) for n, sub, _ in rows}) == len(rows) == len(texts) * 2


def test_reports_linked_at_once_to_one_ticket_each_get_their_place(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        svc.file(s, report("viewer frozen in reading room 3", "l:0"), MONDAY_10)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def one(i: int) -> None:
        try:
            barrier.wait()
            with ready.session() as s:
                svc.file(s, report("viewer frozen in reading room 3", f"l:{i + 1}", user=f"U0L{i:06d}", link_to=1), MONDAY_10)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(refs(ready, svc).values()) == ["PACS-1"] + [f"PACS-1.{k}" for k in range(1, 9)]


# -- the migration ----------------------------------------------------------------------------

def _legacy(conn: Any, id_: int, *, status: str, parent: int | None = None, resolved: bool = False,
            resolution: str | None = None) -> None:
    at = datetime(2026, 11, 30, 9, 0)
    resolved_at = at + timedelta(hours=1) if resolved else None
    conn.execute(text(
        "INSERT INTO tickets (id, source_ref, source, status, category, urgency, priority, queue, reporter, summary, "
        "description, phi_suspected, parent_id, is_incident, created_at, updated_at, resolved_at, resolved_by, resolution, "
        "reopen_count) VALUES (:id, :ref, 'command', :status, 'viewer', 'routine', 'P3', 'pacs', 'U0TECH001', 'viewer frozen', "
        "'viewer frozen', :f, :parent, :f, :at, :at, :resolved_at, :by, :resolution, 0)"),
        {"id": id_, "ref": f"legacy:{id_}", "status": status, "parent": parent, "at": at, "resolved_at": resolved_at,
         "by": "U0ADMIN01" if resolved else None, "resolution": resolution, "f": False})


def test_existing_tickets_keep_their_references_and_reopened_ones_lose_a_stale_resolution(db: Database,
                                                                                         svc: TicketService) -> None:
    upgrade(db, "tickets_0002")
    with db.engine.begin() as conn:
        _legacy(conn, 1, status="resolved", resolved=True, resolution="resent from CT2")
        _legacy(conn, 2, status="duplicate", parent=1, resolved=True, resolution="resent from CT2")
        _legacy(conn, 4, status="acknowledged", resolution="restarted it (then reopened)")       # reopened
        _legacy(conn, 5, status="duplicate", parent=4, resolved=True, resolution="restarted it (then reopened)")
        _legacy(conn, 8, status="new")
        if db.engine.dialect.name == "postgresql":  # as the identity would have it after those rows
            conn.execute(text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), 8)"))
        else:
            conn.execute(text("UPDATE sqlite_sequence SET seq = 8 WHERE name = 'tickets'"))
    upgrade(db)
    with db.session() as s:
        rows = {t.id: t for t in s.scalars(select(Ticket))}
        assert {i: svc.ref(t) for i, t in rows.items()} == {1: "PACS-1", 2: "PACS-2", 4: "PACS-4", 5: "PACS-5", 8: "PACS-8"}
        assert (rows[1].resolution, rows[2].resolution) == ("resent from CT2", "resent from CT2")  # still resolved
        assert rows[4].resolution is None and (rows[5].resolution, rows[5].resolved_at) == (None, None)
        assert svc.find(s, "PACS-5").id == 5
    with db.session() as s:
        new = svc.file(s, report("images missing for acc N1", "n:1"), MONDAY_10)
        linked = svc.file(s, report("still frozen", "n:2", user="U0RAD0001", link_to=8), MONDAY_10)
    assert (new.own.ref, linked.own.ref) == ("PACS-9", "PACS-8.1")
    assert new.own.id == 9 and linked.own.id == 10  # row ids go on as before; only references changed


def test_a_watch_report_is_filed_like_any_other(ready: Database, svc: TicketService) -> None:
    watch = Report(reporter="pacsbot", source="watch", source_ref="", category="outage", urgency="stat",
                   description="PACS (pacs) is not answering DICOM echo")
    with ready.session() as s:
        svc.file(s, report("viewer frozen", "w:1"), MONDAY_10)
        declared = svc.declare_outage(s, watch, MONDAY_10 + timedelta(minutes=1), key="watch:pacs:1", node="pacs")
        assert declared.ticket.ref == "PACS-2" and svc.ref_of(s, declared.ticket.id) == "PACS-2"


def test_the_webhook_names_the_reference(ready: Database) -> None:
    s_ = settings(queues=[{"name": "pacs", "channel": "C0PACSQUE", "webhook": {"url": "http://127.0.0.1:9/in"}}],
                  rules=[{"name": "all", "queue": "pacs"}])
    svc = TicketService(s_)
    with ready.session() as s:
        svc.file(s, report("viewer frozen in room 3", "h:1"), MONDAY_10)
        svc.file(s, report("viewer frozen in room 3 too", "h:2", user="U0RAD0001"), MONDAY_10)
        svc.file(s, report("images missing acc H3", "h:3"), MONDAY_10)
        payloads = [p for (p,) in s.execute(text("SELECT payload FROM ticket_webhooks ORDER BY id"))]
    tickets = [(p if isinstance(p, dict) else json.loads(p))["ticket"] for p in payloads]
    assert tickets == ["PACS-1", "PACS-1", "PACS-2"]


def test_two_admins_splitting_one_report_at_once_give_it_one_number(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        svc.file(s, report("viewer frozen in reading room 3", "d:1"), MONDAY_10)
        linked = svc.file(s, report("the viewer is frozen, reading room 3", "d:2", user="U0RAD0001"), MONDAY_10).own.id
    results: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def split(admin: str) -> None:
        try:
            barrier.wait()
            with ready.session() as s:
                results.append(svc.split(s, linked, admin, MONDAY_10 + timedelta(minutes=1)).changed)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=split, args=(admin,)) for admin in ("U0ADMIN01", "U0ADMIN02")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(results) == [False, True]
    assert sorted(refs(ready, svc).values()) == ["PACS-1", "PACS-2"]
    with ready.session() as s:
        assert [e.kind for e in svc.history(s, linked)].count("renumbered") == 1


def test_the_privacy_gate_keeps_a_linked_reports_reference(db: Database, tmp_path: Any) -> None:
    """A site's record-number pattern (digits) must not hide part of PACS-12.345678."""
    settings_ = make_settings(tmp_path, db.url, privacy={"identifier_patterns": [r"\b\d{6,10}\b"]})
    gate = build_gate(settings_, db, lambda: MONDAY_10)
    assert gate.text("Your report PACS-12.345678 is part of PACS-12; MRN 12345678", mrkdwn=False) == (
        "Your report PACS-12.345678 is part of PACS-12; [hidden]")


def test_the_command_line_shows_a_ticket_or_a_report_by_its_reference(ready: Database, tmp_path: Any,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    svc = TicketService(settings(rules=[{"name": "ct", "match": {"keywords": ["ct2"]}, "queue": "pacs", "priority": "P2"}]))
    with ready.session() as s:
        svc.file(s, report("viewer frozen in reading room 3", "cli:0"), MONDAY_10)
        svc.file(s, report("images missing on CT2, acc K1", "cli:1"), MONDAY_10)
        svc.file(s, report("still missing on CT2, acc K1", "cli:2", user="U0RAD0001"), MONDAY_10)
    config = tmp_path / "pacsbot.yml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\ndatabase:\n  url: '{ready.url}'\n")
    assert cli_main(["--config", str(config), "tickets", "show", "PACS-2.1"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("PACS-2.1  P2 Urgent (reported as routine)  missing_images  duplicate")  # never "P2 routine"
    assert cli_main(["--config", str(config), "tickets", "show", "pacs-2"]) == 0
    assert "2 reports" in capsys.readouterr().out
    assert cli_main(["--config", str(config), "tickets", "show", "1"]) == 0
    assert "1 report\n" in capsys.readouterr().out  # not "reports 1"

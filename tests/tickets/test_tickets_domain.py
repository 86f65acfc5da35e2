"""tickets/ without Slack: intake parsing, PHI, routing, filing, linking, lifecycle, SLAs,
webhooks — on SQLite and PostgreSQL, including concurrent deliveries."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select

from pacsbot.bot.storage import Database
from pacsbot.core.errors import Refused, UserError
from pacsbot.tickets.config import TicketSettings
from pacsbot.tickets.export import export_csv
from pacsbot.tickets.intake import (
    find_accession,
    find_location,
    find_modality,
    find_phi,
    guess_category,
    guess_urgency,
    validate_accession,
)
from pacsbot.tickets.models import Ticket, TicketEvent, WebhookDelivery
from pacsbot.tickets.routing import Facts, in_working_hours, route
from pacsbot.tickets.service import Report, TicketService
from pacsbot.tickets.webhooks import deliver_due

MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
SATURDAY_3AM = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)


def settings(**extra: Any) -> TicketSettings:
    base: dict[str, Any] = {
        "default_queue": "C0PACSQUE",
        "admin_channel": "C0PACSADM",
        "queues": [
            {"name": "pacs", "channel": "C0PACSQUE", "oncall": "@pacs-oncall"},
            {"name": "night", "channel": "C0NIGHTQU", "oncall": "@night-oncall"},
            {"name": "desktop", "channel": "C0DESKTOP"},
        ],
        "rules": [
            {"name": "after-hours-stat", "match": {"urgency": ["stat"], "after_hours": True}, "queue": "night", "priority": "P1"},
            {"name": "images", "match": {"category": ["missing_images", "wrong_patient"]}, "queue": "pacs"},
            {"name": "login", "match": {"category": ["login"]}, "queue": "desktop", "priority": "P4"},
            {"name": "ct-keyword", "match": {"keywords": ["ct2"], "modality": ["CT"]}, "queue": "pacs", "priority": "P2"},
        ],
        "outage": {"people": 4, "minutes": 15},
    }
    base.update(extra)
    return TicketSettings.model_validate(base)


def report(text: str, ref: str, user: str = "U0TECH001", **kw: Any) -> Report:
    return Report(reporter=user, description=text, source="command", source_ref=ref, **kw)


# -- intake ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, category", [
    ("pt scanned 10 min ago, images not in PACS, acc A123", "missing_images"),
    ("half of the series is missing on the CT chest", "missing_images"),
    ("viewer frozen in reading room 3", "viewer"),
    ("study was sent under the wrong patient", "wrong_patient"),
    ("patient not on the worklist on CT2", "worklist"),
    ("locked out, password expired", "login"),
    ("everything is so slow today, takes forever to open", "slowness"),
    ("the printer in the hallway is out of paper", "other"),
])
def test_guess_category(text: str, category: str) -> None:
    assert guess_category(text) == category


def test_guess_fields() -> None:
    text = "STAT trauma CT, acc A12345 missing on PACS, CT2 reading room 3"
    assert guess_urgency(text) == "stat"
    assert guess_urgency("please look at this when you can") == "routine"
    assert find_accession(text) == "A12345"
    assert find_accession("accession # 20261127-0042 not there") == "20261127-0042"
    assert find_accession("acc to the tech it is fine") is None
    assert find_modality(text) == "CT" and find_modality("MRI brain") == "MR" and find_modality("can you help us") is None
    assert find_location("viewer frozen in reading room 3") == "reading room 3"


@pytest.mark.parametrize("bad", ["A1*", "A?2", "A\\B", "A" * 17, "acc no; drop"])
def test_accession_validation(bad: str) -> None:
    with pytest.raises(UserError):
        validate_accession(bad)


def test_phi_is_found_and_masked() -> None:
    text = "Name: John Smith, DOB 03/04/1961, MRN 12345678, study DOE^JANE on 2026-11-27, acc A123"
    finding = find_phi(text, settings().phi.mrn_patterns)
    assert finding.found
    assert set(finding.kinds) >= {"name", "date of birth", "patient id"}
    for secret in ("John Smith", "03/04/1961", "12345678", "DOE^JANE", "2026-11-27"):
        assert secret not in finding.masked
    assert "acc A123" in finding.masked
    assert not find_phi("viewer frozen in reading room 3").found


# -- routing -------------------------------------------------------------------------------

def test_routing_rules_in_order_with_after_hours() -> None:
    s = settings()
    stat = Facts("missing_images", "stat", "images missing", "CT", None)
    assert route(s, stat, SATURDAY_3AM).queue == "night"
    day = route(s, stat, MONDAY_10)
    assert (day.queue, day.priority, day.oncall, day.page_oncall) == ("pacs", "P1", "@pacs-oncall", True)
    assert route(s, Facts("login", "urgent", "locked out", None, None), MONDAY_10).priority == "P4"
    ct = route(s, Facts("viewer", "routine", "CT2 viewer", "CT", None), MONDAY_10)
    assert (ct.queue, ct.priority, ct.rule) == ("pacs", "P2", "ct-keyword")
    other = route(s, Facts("other", "routine", "printer", None, None), MONDAY_10)
    assert (other.queue, other.channel, other.priority, other.rule) == ("default", "C0PACSQUE", "P3", None)
    assert in_working_hours(s, MONDAY_10, "UTC") and not in_working_hours(s, MONDAY_10, "Pacific/Kiritimati")


def test_rules_must_name_known_queues() -> None:
    with pytest.raises(ValueError, match="not in tickets.queues"):
        TicketSettings.model_validate({"rules": [{"name": "x", "queue": "nope"}]})
    with pytest.raises(ValueError, match="not a modality"):
        TicketSettings.model_validate({"queues": [{"name": "q", "channel": "C1234"}], "rules": [{"name": "x", "queue": "q", "match": {"modality": ["laser"]}}]})


# -- filing --------------------------------------------------------------------------------

def test_file_is_idempotent_by_source(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        first = svc.file(s, report("images not in PACS, acc A123", "cmd:1"), MONDAY_10)
    with ready.session() as s:
        again = svc.file(s, report("images not in PACS, acc A123", "cmd:1"), MONDAY_10)
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1
    assert first.created and not again.created and again.ticket.id == first.ticket.id
    assert first.ticket.ref == f"PACS-{first.ticket.id}" and first.ticket.category == "missing_images"
    assert first.route.queue == "pacs" and first.ticket.accession == "A123"


def test_duplicates_link_by_accession_and_by_text_and_place(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        a = svc.file(s, report("images missing for acc A123", "r:1"), MONDAY_10)
        b = svc.file(s, report("CT from this morning not in PACS, acc A123", "r:2", user="U0RAD0001"), MONDAY_10 + timedelta(minutes=5))
        c = svc.file(s, report("images missing for acc B999", "r:3"), MONDAY_10 + timedelta(minutes=6))
        v1 = svc.file(s, report("viewer frozen in reading room 3", "r:4"), MONDAY_10)
        v2 = svc.file(s, report("the viewer is frozen, reading room 3", "r:5", user="U0RAD0001"), MONDAY_10 + timedelta(minutes=1))
        v3 = svc.file(s, report("the viewer is frozen in room 9", "r:6"), MONDAY_10 + timedelta(minutes=2))
        late = svc.file(s, report("images missing for acc A123", "r:7"), MONDAY_10 + timedelta(hours=5))
    assert b.linked and b.ticket.id == a.ticket.id and b.position == 2 and b.own.status == "duplicate"
    assert not c.linked  # another study is another problem
    assert v2.linked and v2.ticket.id == v1.ticket.id
    assert not v3.linked  # same words, another room
    assert not late.linked  # outside the window
    with ready.session() as s:
        assert set(svc.followers(s, a.ticket.id)) == {"U0TECH001", "U0RAD0001"}


def test_outage_raises_one_incident(ready: Database, svc: TicketService) -> None:
    incidents = []
    with ready.session() as s:
        for i in range(7):
            filed = svc.file(s, report(f"PACS is down, cannot open any study (ward {i})", f"o:{i}", user=f"U0USER{i:03d}"),
                             MONDAY_10 + timedelta(minutes=i))
            if filed.incident:
                incidents.append(filed.incident)
    assert len(incidents) == 1 and incidents[0].is_incident and incidents[0].priority == "P1"
    with ready.session() as s:
        assert [t.ref for t in svc.open_incidents(s)] == [incidents[0].ref]
        roots = s.scalars(select(Ticket).where(Ticket.parent_id.is_(None))).all()
        assert [t.id for t in roots] == [incidents[0].id]  # the whole burst is under the incident
        assert len(svc.followers(s, incidents[0].id)) == 7  # and every reporter follows it


def test_one_persons_reports_never_declare_an_outage_but_people_or_places_do(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        # one resident, four studies, four causes: four tickets, no outage
        for i in range(5):
            filed = svc.file(s, report(f"images missing for acc R{i}00", f"one:{i}", user="U0RES0001"), MONDAY_10 + timedelta(minutes=i))
            assert filed.incident is None and not filed.linked
        assert svc.open_incidents(s) == []
    later = MONDAY_10 + timedelta(hours=1)
    with ready.session() as s:
        # two people from three places are enough (outage.places: 3)
        places = [("viewer is frozen in reading room 3", "U0RAD0001"), ("the viewer is frozen, CT2", "U0TECH001"),
                  ("viewer frozen in the ED", "U0RAD0001")]
        filed = [svc.file(s, report(text, f"place:{i}", user=user), later + timedelta(minutes=i)) for i, (text, user) in enumerate(places)]
        assert filed[-1].incident is not None and (filed[-1].incident_reports, filed[-1].incident_people) == (3, 2)


def test_an_outage_stops_taking_reports_when_they_go_quiet(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        for i in range(4):
            svc.file(s, report(f"PACS viewer is frozen, ward {i}", f"q:{i}", user=f"U0USER{i:03d}"), MONDAY_10 + timedelta(minutes=i))
        [incident] = svc.open_incidents(s)
        assert incident.live(MONDAY_10 + timedelta(minutes=10)) and incident.live_until == MONDAY_10 + timedelta(minutes=18)
        # within 15 minutes of the last report: it joins (and keeps the outage live)
        joined = svc.file(s, report("viewer frozen in room 7", "q:5", user="U0USER099"), MONDAY_10 + timedelta(minutes=15))
        assert joined.linked and joined.ticket.id == incident.id and joined.own.priority == "P3"  # its own priority, not P1
        assert svc.open_incidents(s, "viewer", live_at=MONDAY_10 + timedelta(minutes=80)) == []  # the form no longer names it
        # an hour of quiet later, a viewer problem is a problem of its own
        later = svc.file(s, report("hanging protocol puts the prior on the wrong monitor", "q:6", user="U0RAD0001"),
                         MONDAY_10 + timedelta(minutes=80))
        assert not later.linked and later.ticket.parent_id is None


def test_the_watch_gathers_reports_then_recovery_ends_the_outage(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        early = svc.file(s, report("images missing for acc A1006", "w:1", user="U0RES0001"), MONDAY_10 + timedelta(minutes=2))
        other = svc.file(s, report("locked out, password expired", "w:2", user="U0RAD0001"), MONDAY_10 + timedelta(minutes=3))
        before = svc.file(s, report("images missing for acc A77", "w:0", user="U0RES0001"), MONDAY_10 - timedelta(hours=2))
        watch = Report(reporter="pacsbot", source="watch", source_ref="", category="outage", urgency="stat",
                       description="PACS (pacs) is not answering DICOM echo")
        declared = svc.declare_outage(s, watch, MONDAY_10 + timedelta(minutes=10), key="watch:pacs:1", node="pacs",
                                      since=MONDAY_10, gather=lambda t: t.category in ("outage", "missing_images"))
        assert declared.created and declared.ticket.node == "pacs" and declared.ticket.live(MONDAY_10 + timedelta(days=1))
        assert [t.id for t in declared.merged] == [early.own.id]  # not the login problem, not the one from before
        assert s.get(Ticket, other.own.id).parent_id is None and s.get(Ticket, before.own.id).parent_id is None
        # while it is down, a report that names it (link_to, from the watch's notice) joins it
        told = svc.file(s, report("PACS won't open anything", "w:3", user="U0TECH001", link_to=declared.ticket.id),
                        MONDAY_10 + timedelta(minutes=20))
        assert told.linked and told.ticket.id == declared.ticket.id
        svc.follow_told(s, declared.ticket.id, "U0NURSE01", MONDAY_10 + timedelta(minutes=21))  # only asked
        listeners = svc.recovered(s, declared.ticket.id, MONDAY_10 + timedelta(minutes=30))
        assert [(x.user, x.via, [r.id for r in x.reports]) for x in listeners] == [
            ("U0RES0001", "report", [early.own.id]), ("U0TECH001", "report", [told.own.id]), ("U0NURSE01", "told", [])]
        assert svc.recovered(s, declared.ticket.id, MONDAY_10 + timedelta(minutes=31)) == []  # once
        # back up: a new report in its category is a ticket of its own
        after = svc.file(s, report("PACS shows the wrong prior", "w:4", user="U0RAD0001", category="outage"),
                         MONDAY_10 + timedelta(minutes=40))
        assert not after.linked


def test_split_and_merge(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        for i in range(4):
            svc.file(s, report(f"PACS viewer is frozen, ward {i}", f"s:{i}", user=f"U0USER{i:03d}"), MONDAY_10 + timedelta(minutes=i))
        [incident] = svc.open_incidents(s)
        child = s.scalars(select(Ticket).where(Ticket.parent_id == incident.id).order_by(Ticket.id)).first()
        assert child is not None
        moved = svc.split(s, child.id, "U0ADMIN01", MONDAY_10 + timedelta(minutes=5))
        assert moved.changed and moved.ticket.parent_id is None and moved.ticket.status == "new" and moved.ticket.card_ts is None
        assert moved.ticket.priority == "P3" and [x.user for x in moved.listeners] == [child.reporter]
        assert child.reporter not in svc.followers(s, incident.id)
        assert not svc.split(s, child.id, "U0ADMIN01", MONDAY_10).changed  # twice: nothing changes
        merged = svc.merge(s, child.id, incident.id, "U0ADMIN01", MONDAY_10 + timedelta(minutes=6))
        assert merged.changed and merged.ticket.parent_id == incident.id and child.reporter in svc.followers(s, incident.id)
        assert [x.user for x in merged.listeners] == [child.reporter]
        with pytest.raises(Refused, match="is an outage itself"):
            lone = svc.file(s, report("printer jam", "s:9", user="U0RAD0001"), MONDAY_10)
            svc.merge(s, incident.id, lone.own.id, "U0ADMIN01", MONDAY_10)
        with pytest.raises(UserError, match="into itself"):
            svc.merge(s, incident.id, incident.id, "U0ADMIN01", MONDAY_10)


def test_empty_or_huge_reports_are_refused(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        with pytest.raises(UserError, match="describe the problem"):
            svc.file(s, report("   ", "e:1"), MONDAY_10)
        with pytest.raises(UserError, match="under 4000"):
            svc.file(s, report("x" * 5000, "e:2"), MONDAY_10)
        with pytest.raises(UserError, match="wildcard"):
            svc.file(s, report("missing", "e:3", accession="A1*"), MONDAY_10)


# -- lifecycle -----------------------------------------------------------------------------

def test_lifecycle_and_repeated_actions(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        number = svc.file(s, report("viewer frozen", "l:1"), MONDAY_10).ticket.id
        linked = svc.file(s, report("viewer frozen too", "l:2", user="U0RAD0001"), MONDAY_10).own.id
    steps = [
        ("acknowledge", True, "acknowledged"), ("acknowledge", False, "acknowledged"),
        ("assign", True, "acknowledged"), ("assign", False, "acknowledged"),
        ("resolve", True, "resolved"), ("resolve", False, "resolved"),
        ("reopen", True, "acknowledged"), ("reopen", False, "acknowledged"),
    ]
    for action, changed, status in steps:
        with ready.session() as s:
            change = svc.act(s, number, action, "U0ADMIN01", MONDAY_10 + timedelta(minutes=3), note="restarted the viewer service")
        assert (change.changed, change.ticket.status) == (changed, status), action
        if changed and action in ("acknowledge", "resolve"):
            assert set(change.notify) == {"U0TECH001", "U0RAD0001"}
    with ready.session() as s:
        with pytest.raises(UserError, match="how it was resolved"):
            svc.act(s, number, "resolve", "U0ADMIN01", MONDAY_10, note=" ")
        with pytest.raises(Refused, match="linked to"):
            svc.act(s, linked, "resolve", "U0ADMIN01", MONDAY_10, note="x")
        kinds = [e.kind for e in svc.history(s, number)]
    assert kinds == ["created", "linked", "acknowledged", "assigned", "resolved", "reopened"]


def test_concurrent_deliveries_and_double_clicks(ready: Database, svc: TicketService) -> None:
    """Slack retries and double clicks, at the same moment, on separate connections."""
    errors: list[BaseException] = []

    def run(fn: Any) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def file_same() -> None:
        with ready.session() as s:
            svc.file(s, report("images missing acc Z77", "same:1"), MONDAY_10)

    threads = [threading.Thread(target=run, args=(file_same,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with ready.session() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1
        number = s.scalar(select(Ticket.id))

    def ack() -> None:
        with ready.session() as s:
            svc.act(s, number, "acknowledge", "U0ADMIN01", MONDAY_10)

    threads = [threading.Thread(target=run, args=(ack,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with ready.session() as s:
        assert [e.kind for e in svc.history(s, number)].count("acknowledged") == 1


def test_simultaneous_reports_of_one_outage_make_one_ticket(ready: Database, svc: TicketService) -> None:
    def one(i: int) -> None:
        with ready.session() as s:
            svc.file(s, report("PACS is down, no images load at all", f"burst:{i}", user=f"U0B{i:06d}"), MONDAY_10)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with ready.session() as s:
        roots = s.scalar(select(func.count()).select_from(Ticket).where(Ticket.parent_id.is_(None)))
        total = s.scalar(select(func.count()).select_from(Ticket))
    assert (roots, total) == (1, 12)


def test_thread_replies_are_kept_once(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        number = svc.file(s, report("viewer frozen", "t:1"), MONDAY_10).ticket.id
        svc.set_card(s, number, "C0PACSQUE", "1700.0001")
    for _ in range(2):
        with ready.session() as s:
            svc.add_reply(s, "C0PACSQUE", "1700.0001", "U0ADMIN01", "rebooting it now", "1700.0002", MONDAY_10)
    with ready.session() as s:
        assert [e.text for e in svc.history(s, number) if e.kind == "reply"] == ["rebooting it now"]
        assert svc.add_reply(s, "C0PACSQUE", "9999.0001", "U0ADMIN01", "elsewhere", "9999.0002", MONDAY_10) is None


def test_listings(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        a = svc.file(s, report("viewer frozen", "q:1"), MONDAY_10).ticket.id
        b = svc.file(s, report("STAT images missing acc Q1", "q:2", user="U0RAD0001"), MONDAY_10).ticket.id
        svc.act(s, a, "assign", "U0ADMIN01", MONDAY_10)
    with ready.session() as s:
        assert [t.id for t in svc.listing(s, "mine", "U0RAD0001", MONDAY_10)] == [b]
        assert [t.id for t in svc.listing(s, "mine", "U0ADMIN01", MONDAY_10)] == [a]
        assert [t.id for t in svc.triage(s, MONDAY_10)] == [b]
        assert {t.id for t in svc.listing(s, "open", "", MONDAY_10)} == {a, b}
        assert svc.listing(s, "stale", "", MONDAY_10 + timedelta(days=4))
        with pytest.raises(UserError):
            svc.listing(s, "everything", "", MONDAY_10)
    assert svc.parse_number("PACS-12") == 12 and svc.parse_number("#12") == 12
    with pytest.raises(UserError):
        svc.parse_number("twelve")


# -- SLAs ----------------------------------------------------------------------------------

def test_sla_reminders_once_per_step(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        number = svc.file(s, report("STAT images missing acc S1", "s:1"), MONDAY_10).ticket.id  # P1: ack in 15 min
    seen = []
    for minutes in (10, 16, 17, 40, 46, 50):
        with ready.session() as s:
            seen += [(r.phase, r.index, r.broadcast, r.oncall) for _, r in svc.due_reminders(s, MONDAY_10 + timedelta(minutes=minutes))]
    # at the target: to the channel too; 30 min later: the on-call group
    assert seen == [("acknowledge", 0, True, False), ("acknowledge", 1, False, True)]
    with ready.session() as s:
        rows = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == number, TicketEvent.kind == "reminder")
                         .order_by(TicketEvent.id)).all()
        assert [r.dedupe_key for r in rows] == [f"sla:{number}:acknowledge:0:0", f"sla:{number}:acknowledge:0:1"]
        svc.act(s, number, "acknowledge", "U0ADMIN01", MONDAY_10 + timedelta(minutes=50))
        assert svc.due_reminders(s, MONDAY_10 + timedelta(minutes=60)) == []
        later = svc.due_reminders(s, MONDAY_10 + timedelta(hours=4, minutes=1))
    assert [(r.phase, r.index, r.broadcast, r.oncall) for _, r in later] == [("resolve", 0, False, False)]


def test_two_replicas_never_send_a_reminder_step_twice(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        svc.file(s, report("STAT images missing acc S2", "s:2"), MONDAY_10)
    at = MONDAY_10 + timedelta(minutes=16)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def replica() -> None:
        barrier.wait()
        with ready.session() as s:
            results.append(len(svc.due_reminders(s, at)))

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1]


def test_a_reminder_sent_before_the_upgrade_counts_as_broadcast_and_paged(ready: Database, svc: TicketService) -> None:
    # pacsbot before tickets/reminders.py: every reminder went to the channel, step 0 paged.
    with ready.session() as s:
        number = svc.file(s, report("STAT images missing acc S3", "s:3"), MONDAY_10).ticket.id
        s.add(TicketEvent(ticket_id=number, at=MONDAY_10 + timedelta(minutes=16), actor="pacsbot", kind="reminder", public=False,
                          text="acknowledge target passed", details={"kind": "acknowledge", "step": 0},
                          dedupe_key=f"sla:{number}:acknowledge:0:0"))
    with ready.session() as s:
        [(_, step)] = svc.due_reminders(s, MONDAY_10 + timedelta(minutes=46))
    assert (step.index, step.broadcast, step.oncall) == (1, False, False)


def test_the_digest_lists_overdue_tickets_no_longer_reminded_and_stale_ones(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        p3 = svc.file(s, report("viewer slow in reading room 2", "d:1"), MONDAY_10).ticket  # routine: P3, default queue
        p1 = svc.file(s, report("STAT images missing acc D2", "d:2"), MONDAY_10).ticket
    assert p3.priority == "P3" and p1.priority == "P1"
    with ready.session() as s:
        assert svc.digest(s, MONDAY_10 + timedelta(hours=3)) == {}
        lists = svc.digest(s, MONDAY_10 + timedelta(hours=4))  # the P3 is past its acknowledge target
    assert [(t.ref, e.reason) for t, e in lists[p3.channel]] == [(p3.ref, "acknowledge")]
    with ready.session() as s:
        lists = svc.digest(s, MONDAY_10 + timedelta(hours=72))  # the P1 has hourly reminders, but is stale now
    assert [(t.id, e.reason) for t, e in lists[p1.channel]] == [(p1.id, "stale"), (p3.id, "acknowledge")]


# -- webhooks and export ---------------------------------------------------------------------

class _Endpoint:
    def __init__(self, fail_first: int):
        self.fail_first = fail_first
        self.received: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                import json

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if endpoint.fail_first > 0:
                    endpoint.fail_first -= 1
                    self.send_response(503)
                else:
                    endpoint.received.append({"body": body, "key": self.headers["Idempotency-Key"], "auth": self.headers.get("Authorization")})
                    self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/inbound"


def test_webhook_outbox_survives_an_outage(ready: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = _Endpoint(fail_first=2)
    monkeypatch.setenv("SN_TOKEN", "sekrit")
    s_ = settings(queues=[{"name": "pacs", "channel": "C0PACSQUE", "webhook": {"url": endpoint.url, "token_env": "SN_TOKEN"}}],
                  rules=[{"name": "all", "queue": "pacs"}])
    svc = TicketService(s_)
    with ready.session() as s:
        number = svc.file(s, report("images missing acc W1", "w:1"), MONDAY_10).ticket.id
        svc.act(s, number, "acknowledge", "U0ADMIN01", MONDAY_10)
    now = MONDAY_10
    reports = []
    for _ in range(6):
        reports.append(deliver_due(ready.session, s_, now))
        now += timedelta(minutes=5)
    endpoint.server.shutdown()
    assert [r["body"]["event"] for r in endpoint.received] == ["created", "acknowledged"]
    assert endpoint.received[0]["auth"] == "Bearer sekrit"
    assert reports[0].failed == 2 and reports[-1].pending == 0
    with ready.session() as s:
        assert all(w.delivered_at is not None for w in s.scalars(select(WebhookDelivery)))


def test_export_csv_masks_phi(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        number = svc.file(s, report("images missing for DOB 01/02/1960 acc E1", "x:1"), MONDAY_10).ticket.id
        svc.act(s, number, "resolve", "U0ADMIN01", MONDAY_10 + timedelta(minutes=30), note="resent from CT1")
        text = export_csv(s, "PACS")
    header, row = text.splitlines()[:2]
    assert header.startswith("ticket,created_at,status,category")
    assert "01/02/1960" not in text and "[hidden]" in row and ",30," in row and "resent from CT1" in row


def test_the_same_study_in_other_words_is_linked(ready: Database, svc: TicketService) -> None:
    with ready.session() as s:
        first = svc.file(s, report("Abdomen CT, coronal reformats missing", "w:1", accession="A1002", category="missing_images"), MONDAY_10)
        second = svc.file(s, report("the CT abdomen for acc A1002 has no coronals on PACS", "w:2", user="U0RAD0001"), MONDAY_10)
        chosen = svc.file(s, report("acc A1002 viewer shows it upside down", "w:3", user="U0RAD0002", category="viewer"), MONDAY_10)
    assert second.linked and second.ticket.id == first.ticket.id
    assert guess_category("the CT for acc A1 has no coronals on PACS") == "missing_images"
    assert not chosen.linked  # a category the reporter chose is respected


def test_webhooks_are_sent_with_no_transaction_open(ready: Database) -> None:
    """A slow ticketing system must not hold the database: the POST happens between commits."""
    from sqlalchemy import text

    s_ = settings(queues=[{"name": "pacs", "channel": "C0PACSQUE", "webhook": {"url": "http://127.0.0.1:9/in"}}],
                  rules=[{"name": "all", "queue": "pacs"}])
    svc = TicketService(s_)
    with ready.session() as s:
        svc.file(s, report("images missing acc W2", "w:2"), MONDAY_10)
    seen = []

    def post(hook: Any, payload: dict, key: str) -> int:
        # another writer gets the database at once (on SQLite a second session in this thread
        # raises if one is still open; on PostgreSQL the claimed row is committed already)
        with ready.session() as other:
            other.execute(text("SELECT 1"))
            seen.append(other.scalar(select(WebhookDelivery.attempts).where(WebhookDelivery.dedupe_key == key)))
        return 204

    result = deliver_due(ready.session, s_, MONDAY_10, post=post)
    assert result.delivered == 1 and seen == [1]  # the claim (attempt 1) was committed before the POST

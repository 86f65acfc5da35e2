"""A database an earlier pacsbot made, with data in it, upgrades to the current schema with
nothing lost, and what it held reads through the current code. On SQLite, and on PostgreSQL
when PACSBOT_TEST_DATABASE_URL is set."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import inspect, text

from pacsbot.bot.audit import Audit
from pacsbot.bot.cli import main
from pacsbot.bot.storage import Database, alembic_config, current_revisions, head_revisions, upgrade
from pacsbot.tickets.models import Ticket
from pacsbot.tickets.service import TicketService
from pacsbot.training.records import learner_items
from tests.tickets.test_tickets_domain import settings as ticket_settings

# The schema of an earlier release: each branch at an older revision (tickets before its own
# references, tickets_0003; bot before the outbox, bot_0002).
EARLIER = ("bot_0001", "commands_0001", "knowledge_0001", "tickets_0002", "training_0001")


def earlier_schema(db: Database) -> None:
    """Bring ``db`` to :data:`EARLIER`: up to the heads, then down (the migrations' own downgrades)."""
    from alembic import command

    upgrade(db)
    with db.engine.connect() as conn:
        for revision in EARLIER:
            command.downgrade(alembic_config(conn), revision)
        conn.commit()
    assert current_revisions(db) == sorted(EARLIER)


def when(db: Database, minute: int) -> str:
    """A timestamp as the ORM of the time stored it (SQLite keeps naive UTC text)."""
    at = datetime(2026, 12, 1, 10, minute, tzinfo=timezone.utc)
    return at.strftime("%Y-%m-%d %H:%M:%S.%f") if db.backend == "sqlite" else at.isoformat()


def fill(db: Database) -> None:
    """Rows as the earlier release wrote them, in plain SQL of that schema."""
    t0, t1, t2 = when(db, 0), when(db, 1), when(db, 2)
    with db.engine.begin() as conn:
        ticket = """INSERT INTO tickets (source_ref, source, status, category, urgency, priority, queue, reporter,
                        summary, description, phi_suspected, is_incident, created_at, updated_at, reopen_count,
                        parent_id, resolution)
                    VALUES (:ref, 'slash', :status, 'viewer', 'routine', 'P3', 'pacs', :reporter, :summary, :description,
                        FALSE, FALSE, :t0, :t1, :reopened, :parent, :resolution)"""
        conn.execute(text(ticket), {"ref": "cmd:1", "status": "acknowledged", "reporter": "U0RAD0001",
                                    "summary": "viewer frozen in room 3", "description": "viewer frozen in room 3", "t0": t0, "t1": t1, "reopened": 1,
                                    "parent": None, "resolution": "restarted the viewer"})  # reopened: resolution stale
        first = conn.execute(text("SELECT id FROM tickets WHERE source_ref = 'cmd:1'")).scalar_one()
        conn.execute(text(ticket), {"ref": "cmd:2", "status": "new", "reporter": "U0RAD0002",
                                    "summary": "viewer frozen again", "description": "viewer frozen again", "t0": t1, "t1": t1, "reopened": 0,
                                    "parent": first, "resolution": None})
        conn.execute(text("INSERT INTO ticket_events (ticket_id, at, actor, kind, public, text, details) "
                          "VALUES (:id, :at, 'U0ADMIN01', 'acknowledged', TRUE, '', '{}')"), {"id": first, "at": t1})
        conn.execute(text("INSERT INTO ticket_followers (ticket_id, user_id, since, via) VALUES (:id, 'U0RAD0001', :at, 'report')"),
                     {"id": first, "at": t0})
        conn.execute(text("""INSERT INTO training_assignments (module_id, version, content_hash, user_id, assigned_by,
                                 assigned_at, due_date, reason, batch, status, is_open, page)
                             VALUES ('mri-safety', '2026-11', :hash, 'U0TECH001', 'U0TRAIN01', :at, :due, 'assigned',
                                 'b1', 'open', TRUE, 2)"""),
                     {"hash": "ab" * 32, "at": t2, "due": "2026-12-15"})
        conn.execute(text("INSERT INTO audit_log (at, actor, action, target, outcome, details) "
                          "VALUES (:at, 'U0ADMIN01', 'ticket.acknowledge', 'ticket:1', 'ok', :details)"),
                     {"at": t1, "details": '{"queue": "pacs"}'})


def test_an_earlier_database_with_data_upgrades_without_losing_it(tmp_path: Path, db_url: str) -> None:
    db = Database(db_url)
    try:
        earlier_schema(db)
        assert "number" not in {c["name"] for c in inspect(db.engine).get_columns("tickets")}  # really the old shape
        assert "slack_outbox" not in inspect(db.engine).get_table_names()
        fill(db)
        cfg = tmp_path / "pacsbot.yml"
        cfg.write_text(f"database:\n  url: {db_url}\n")
        assert main(["--config", str(cfg), "db", "upgrade"]) == 0
        assert current_revisions(db) == head_revisions()
        assert main(["--config", str(cfg), "db", "check"]) == 0

        svc = TicketService(ticket_settings())
        with db.session() as s:
            first = svc.find(s, "PACS-1")
            view = svc.view(s, first)
            assert (view.ref, view.status, view.summary, view.reports) == ("PACS-1", "acknowledged", "viewer frozen in room 3", 2)
            assert view.resolution is None  # tickets_0003: a reopened ticket no longer shows its old resolution
            assert view.created_at == datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
            second = s.get(Ticket, first.id + 1)
            assert second is not None and svc.view(s, second).parent_ref == "PACS-1"
            assert [e.kind for e in svc.history(s, first.id)] == ["acknowledged"]
            assert svc.followers(s, first.id) == ["U0RAD0001"]
            items = learner_items(s, "U0TECH001")
        assert [(i.assignment.module_id, i.assignment.status, i.assignment.page) for i in items] == [("mri-safety", "open", 2)]
        assert str(items[0].assignment.due_date) == "2026-12-15"
        rows = Audit(db).query()
        assert [(r.actor, r.action, r.details) for r in rows] == [("U0ADMIN01", "ticket.acknowledge", {"queue": "pacs"})]
        # new work goes on from the old data: the next ticket number follows the old ones
        from tests.tickets.test_tickets_domain import MONDAY_10, report

        with db.session() as s:
            filed = svc.file(s, report("worklist empty on CT2", "cmd:3", category="worklist"), MONDAY_10)
        assert filed.ticket.ref == "PACS-3"
    finally:
        db.dispose()

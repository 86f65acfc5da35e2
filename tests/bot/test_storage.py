"""Migrations and the database layer, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from pacsbot.bot.audit import Audit
from pacsbot.bot.models import AuditEntry
from pacsbot.bot.storage import (
    Database,
    StorageError,
    all_metadata,
    current_revisions,
    head_revisions,
    normalize_url,
    pending,
    upgrade,
)


def test_upgrade_creates_every_table_and_is_idempotent(db: Database) -> None:
    assert pending(db)
    assert upgrade(db) == head_revisions()
    assert upgrade(db) == head_revisions()
    assert not pending(db)
    tables = set(inspect(db.engine).get_table_names())
    assert {"audit_log", "slack_event_receipts", "scheduler_claims", "alembic_version"} <= tables


def test_migrations_match_the_models(db: Database) -> None:
    """What the migrations build is exactly what the models declare (no drift)."""
    upgrade(db)
    with db.engine.connect() as conn:
        metadata = all_metadata()
        context = MigrationContext.configure(conn, opts={"compare_type": True, "target_metadata": metadata})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_audit_log_is_append_only_in_the_database(db: Database) -> None:
    upgrade(db)
    Audit(db).record("U0ADMIN01", "dicom.echo", target="node:pacs", details={"ms": 12})
    with pytest.raises(DBAPIError, match="append-only"):
        with db.session() as s:
            s.execute(text("UPDATE audit_log SET outcome = 'ok' WHERE id = 1"))
    with pytest.raises(DBAPIError, match="append-only"):
        with db.session() as s:
            s.execute(text("DELETE FROM audit_log"))
    with db.session() as s:
        assert s.scalar(select(AuditEntry.action)) == "dicom.echo"


def test_timestamps_round_trip_as_aware_utc(db: Database) -> None:
    upgrade(db)
    when = datetime(2026, 11, 27, 23, 59, 1, tzinfo=timezone(timedelta(hours=-5)))
    audit = Audit(db)
    audit.clock = type("C", (), {"now": staticmethod(lambda: when)})()
    audit.record("U1", "x.y")
    row = audit.query()[0]
    assert row.at == when and row.at.tzinfo == timezone.utc


def test_unreachable_database_is_a_clear_error() -> None:
    db = Database("postgresql://pacsbot:hunter2@127.0.0.1:1/pacsbot")
    with pytest.raises(StorageError) as info:
        db.check()
    message = str(info.value)
    assert message.startswith("cannot reach the database at postgresql+psycopg://pacsbot:***@127.0.0.1:1/pacsbot")
    assert "hunter2" not in message


def test_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_current_revisions_empty_before_upgrade(db: Database) -> None:
    assert current_revisions(db) == []


def test_database_errors_never_show_the_values(db: Database) -> None:
    upgrade(db)
    Audit(db).record("U1", "x.y")
    with pytest.raises(DBAPIError) as info:
        with db.session() as s:
            s.execute(text("UPDATE audit_log SET target = :t"), {"t": "DOE^JANE 19610304"})
    assert "DOE^JANE" not in str(info.value) and "hidden" in str(info.value)


def test_a_nested_session_is_a_clear_error_not_a_hang_on_sqlite(tmp_path: Any) -> None:
    db = Database(f"sqlite:///{tmp_path}/nested.db")
    with db.session():
        with pytest.raises(RuntimeError, match="inside another"):
            with db.session():
                pass
    with db.session():  # still usable afterwards
        pass


def test_an_up_to_date_database_is_recognised_without_alembic(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every start and command line call upgrades; when nothing is pending, the heads read
    from the migration files (no Alembic import, ~0.2 s) must be exactly Alembic's own."""
    from alembic import command

    from pacsbot.bot.storage import _script_heads

    assert _script_heads() == head_revisions()
    upgrade(db)

    def must_not_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Alembic ran although the database was up to date")

    monkeypatch.setattr(command, "upgrade", must_not_run)
    assert upgrade(db) == head_revisions() == current_revisions(db)
    # one revision behind: Alembic runs again
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'bot_0001' WHERE version_num LIKE 'bot_%'"))
    with pytest.raises(AssertionError, match="Alembic ran"):
        upgrade(db)


def test_postgresql_without_its_driver_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """psycopg is the optional ``postgresql`` extra (SQLite needs nothing)."""
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StorageError, match=r"driver for postgresql is not installed: pip install 'pacsbot\[postgresql\]'"):
        Database("postgresql://pacsbot@127.0.0.1:5432/pacsbot")


class _FlakyEngine:
    """An engine whose first ``fails`` connections fail with ``error``."""

    def __init__(self, engine: Any, fails: int, error: str) -> None:
        self.engine, self.fails, self.error, self.tries = engine, fails, error, 0

    def connect(self) -> Any:
        self.tries += 1
        if self.tries <= self.fails:
            raise OperationalError("SELECT 1", {}, Exception(self.error))
        return self.engine.connect()


def test_a_connection_that_timed_out_is_tried_again_at_start_a_refused_one_is_not(tmp_path: Any) -> None:
    db = Database(f"sqlite:///{tmp_path / 'flaky.db'}")
    real = db.engine
    try:
        db.engine = _FlakyEngine(real, 2, "connection timeout expired")  # type: ignore[assignment]
        db.check(attempts=3)  # a busy server: the third try gets through
        assert db.engine.tries == 3  # type: ignore[attr-defined]
        db.engine = _FlakyEngine(real, 1, "connection refused")  # type: ignore[assignment]
        with pytest.raises(StorageError, match="connection refused"):
            db.check(attempts=3)
        assert db.engine.tries == 1  # type: ignore[attr-defined]
        db.engine = _FlakyEngine(real, 5, "connection timeout expired")  # type: ignore[assignment]
        with pytest.raises(StorageError, match="timeout expired"):
            db.check(attempts=3)
    finally:
        db.engine = real
        db.dispose()


def test_a_pooled_connection_whose_ping_fails_is_replaced_not_an_error(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """psycopg, pinging a socket that was just closed, can fail with a ProgrammingError
    ("can't change 'autocommit' now") rather than a disconnect: the pool must open a new
    connection, not hand that error to the request."""
    with db.session() as session:
        session.execute(text("SELECT 1"))  # a used connection now waits in the pool
    dialect = db.engine.dialect
    pings: list[object] = []

    def broken_ping(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        raise dialect.loaded_dbapi.ProgrammingError("can't change 'autocommit' now: connection in transaction status ACTIVE")

    monkeypatch.setattr(dialect, "do_ping", broken_ping)
    with db.session() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
    assert len(pings) == 1  # the stale one was pinged and dropped; the new one is fresh

"""``pacsbot db backup`` and ``pacsbot db restore``: a checked SQLite backup made while the
bot runs, a restore that brings the data back (and upgrades an older backup), a clear
refusal for every bad input, and PostgreSQL's pg_dump recipe (or pg_dump run for you)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

from pacsbot.bot.audit import Audit
from pacsbot.bot.cli import main
from pacsbot.bot.cli.db import pg_dump_command, pg_recipe
from pacsbot.bot.storage import Database, current_revisions, head_revisions, upgrade
from tests.bot.test_db_upgrade_path import EARLIER, earlier_schema, fill


def config(tmp_path: Path, url: str) -> str:
    path = tmp_path / "pacsbot.yml"
    path.write_text(f"database:\n  url: {url}\n")
    return str(path)


@pytest.fixture
def live(tmp_path: Path) -> tuple[str, Path]:
    """An upgraded SQLite database with one audit row; (config file, database file)."""
    path = tmp_path / "data" / "pacsbot.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    Audit(db).record("U0ADMIN01", "dicom.echo", target="node:pacs")
    db.dispose()
    return config(tmp_path, f"sqlite:///{path}"), path


def actions(path: Path) -> list[str]:
    db = Database(f"sqlite:///{path}")
    try:
        return [r.action for r in Audit(db).query()]
    finally:
        db.dispose()


def test_backup_change_restore_brings_the_data_back(tmp_path: Path, live: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, path = live
    out = tmp_path / "backups" / "before.db"
    out.parent.mkdir()
    assert main(["--config", cfg, "db", "backup", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"to {out}" in printed and "checked: integrity ok" in printed
    assert ", ".join(head_revisions()) in printed and "KiB" in printed
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # a backup holds what the bot keeps
    assert not [p for p in out.parent.iterdir() if p != out]  # no partial file left beside it
    assert actions(path) == ["dicom.echo", "db.backup"]

    db = Database(f"sqlite:///{path}")
    Audit(db).record("U0ADMIN01", "ticket.resolve", target="ticket:9")  # a change after the backup
    db.dispose()

    assert main(["--config", cfg, "db", "restore", str(out), "--yes"]) == 0
    printed = capsys.readouterr().out
    assert f"Restored {path} from {out}" in printed
    # the data of the backup is back; the restore itself is audited
    assert actions(path) == ["dicom.echo", "db.restore"]
    restored = Audit(db := Database(f"sqlite:///{path}")).query(action="db.restore")[0]
    db.dispose()
    aside = Path(restored.details["previous"])
    assert aside.name.startswith("pacsbot.db.before-restore-") and str(aside) in printed
    # what the restore replaced is kept, with the change made after the backup
    assert actions(aside) == ["dicom.echo", "db.backup", "ticket.resolve"]
    assert stat.S_IMODE(aside.stat().st_mode) == 0o600
    assert main(["--config", cfg, "db", "check"]) == 0


def test_backup_into_a_folder_while_a_writer_holds_a_transaction(tmp_path: Path, live: tuple[str, Path],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Online: the bot writing (WAL) neither blocks the backup nor leaks half a transaction into it."""
    cfg, path = live
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO audit_log (at, actor, action, target, outcome, details) "
                   "VALUES ('2026-12-01 10:00:00.000000', 'U1', 'not.committed', '', 'ok', '{}')")
    folder = tmp_path / "nightly"
    folder.mkdir()
    try:
        # the audit row of the backup waits for the writer: commit it from another thread meanwhile
        import threading

        threading.Timer(0.5, lambda: writer.execute("COMMIT")).start()
        assert main(["--config", cfg, "db", "backup", "--out", str(folder)]) == 0
    finally:
        writer.close()
    [written] = list(folder.iterdir())
    assert written.name.startswith("pacsbot-") and written.suffix == ".db"
    assert f"to {written}" in capsys.readouterr().out
    assert actions(written) == ["dicom.echo"]  # the snapshot: committed rows only
    assert sorted(actions(path)) == ["db.backup", "dicom.echo", "not.committed"]
    assert not Path(f"{written}-wal").exists()  # one self-contained file


def test_backup_refusals(tmp_path: Path, live: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, path = live
    taken = tmp_path / "taken.db"
    taken.write_text("keep me")
    assert main(["--config", cfg, "db", "backup", "--out", str(taken)]) == 2
    assert "already exists" in capsys.readouterr().err and taken.read_text() == "keep me"
    assert main(["--config", cfg, "db", "backup", "--out", str(tmp_path / "nowhere" / "b.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    missing = config(tmp_path, f"sqlite:///{tmp_path}/never.db")
    assert main(["--config", missing, "db", "backup", "--out", str(tmp_path / "b.db")]) == 1
    assert "there is no database at" in capsys.readouterr().err
    assert not (tmp_path / "never.db").exists() and not (tmp_path / "b.db").exists()
    with pytest.raises(SystemExit) as info:
        main(["--config", cfg, "db", "backup"])  # --out is required
    assert info.value.code == 2
    assert "--out" in capsys.readouterr().err


def _backup(cfg: str, tmp_path: Path, name: str = "b.db") -> Path:
    out = tmp_path / name
    assert main(["--config", cfg, "db", "backup", "--out", str(out)]) == 0
    return out


def test_restore_refusals(tmp_path: Path, live: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, path = live
    good = _backup(cfg, tmp_path)
    capsys.readouterr()
    before = path.read_bytes()

    def refused(file: Path, *extra: str, status: int = 2) -> str:
        assert main(["--config", cfg, "db", "restore", str(file), *extra]) == status
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert path.read_bytes() == before, "a refused restore changed the database"
        assert not list(path.parent.glob("*.before-restore-*")) and not list(path.parent.glob(".*restoring*"))
        return err

    # without --yes: checked, explained, nothing changed
    assert main(["--config", cfg, "db", "restore", str(good)]) == 2
    out, err = capsys.readouterr()
    assert "is a good backup" in out and "before-restore-" in out and "--yes" in err
    assert path.read_bytes() == before

    assert "no such file" in refused(tmp_path / "missing.db", "--yes")
    text = tmp_path / "notes.txt"
    text.write_text("SELECT 1;\n" * 100)
    assert "not a SQLite database" in refused(text, "--yes")
    empty = tmp_path / "empty.db"
    empty.touch()
    assert "not a SQLite database" in refused(empty, "--yes")

    corrupt = tmp_path / "corrupt.db"
    data = bytearray(good.read_bytes())
    page = 4096
    for start in range(2 * page, min(len(data), 12 * page), page):
        data[start:start + 200] = os.urandom(200)
    corrupt.write_bytes(bytes(data))
    assert "corrupt" in refused(corrupt, "--yes")

    stranger = tmp_path / "other.db"
    with sqlite3.connect(stranger) as conn:
        conn.execute("CREATE TABLE notes (x)")
    conn.close()
    assert "not a pacsbot database" in refused(stranger, "--yes")

    newer = tmp_path / "newer.db"
    shutil.copy(good, newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'bot_9999' WHERE version_num LIKE 'bot_%'")
    conn.close()
    err = refused(newer, "--yes")
    assert "newer pacsbot" in err and "bot_9999" in err and "Upgrade pacsbot first" in err

    assert "is the database itself" in refused(path, "--yes")

    # a running pacsbot keeps its connections open: refused, exit 1
    running = Database(f"sqlite:///{path}")
    running.check()
    try:
        assert "is in use" in refused(good, "--yes", status=1)
    finally:
        running.dispose()


def test_restoring_an_older_backup_upgrades_it(tmp_path: Path, live: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, path = live
    old = tmp_path / "old.db"
    db = Database(f"sqlite:///{old}")
    earlier_schema(db)
    fill(db)
    db.dispose()
    assert main(["--config", cfg, "db", "restore", str(old), "--yes"]) == 0
    assert f"-> upgraded to {', '.join(head_revisions())}" in capsys.readouterr().out
    db = Database(f"sqlite:///{path}")
    try:
        assert current_revisions(db) == head_revisions()
        assert [r.action for r in Audit(db).query()] == ["ticket.acknowledge", "db.restore"]
        assert Audit(db).query(action="db.restore")[0].details["backup_revisions"] == sorted(EARLIER)
    finally:
        db.dispose()
    assert old.read_bytes()[:16] == b"SQLite format 3\x00"  # the backup itself is left as it was


def test_restore_into_a_new_installation(tmp_path: Path, live: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, _path = live
    good = _backup(cfg, tmp_path)
    fresh = tmp_path / "new-server" / "pacsbot.db"
    assert main(["--config", config(tmp_path, f"sqlite:///{fresh}"), "db", "restore", str(good), "--yes"]) == 0
    assert "(there was no database)" in capsys.readouterr().out
    assert actions(fresh) == ["dicom.echo", "db.restore"]


# ----------------------------------------------------------------------------------------
# PostgreSQL

PG = "postgresql://pacsbot:hunter2@db.hospital.org:5433/pacsbot?sslmode=require"


def test_postgres_backup_prints_the_recipe_without_the_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, PG)
    assert main(["--config", cfg, "db", "backup", "--out", "/backups/pacsbot.dump"]) == 2
    out, err = capsys.readouterr()
    assert "hunter2" not in out + err
    assert ("pg_dump -Fc --file=/backups/pacsbot.dump "
            "--dbname='postgresql://pacsbot@db.hospital.org:5433/pacsbot?sslmode=require'") in out
    assert "pg_restore --list /backups/pacsbot.dump" in out
    assert "pg_restore --clean --if-exists --no-owner --single-transaction" in out and "pacsbot db upgrade" in out
    assert "does not back up PostgreSQL itself" in err and "--pg-dump" in err
    assert main(["--config", cfg, "db", "restore", "/backups/pacsbot.dump", "--yes"]) == 2
    out, err = capsys.readouterr()
    assert "pg_restore --clean" in out and "hunter2" not in out + err and "does not restore PostgreSQL" in err


def test_pg_dump_gets_the_password_in_its_environment_only() -> None:
    argv, env = pg_dump_command(PG + "&options=-csearch_path%3Dpacsbot", Path("/b/x.dump"))
    assert env["PGPASSWORD"] == "hunter2" and not any("hunter2" in a for a in argv)
    assert argv[:3] == ["pg_dump", "--format=custom", "--file=/b/x.dump"]
    assert "--schema=pacsbot" in argv  # the tables live in the schema the URL's search_path names
    assert "--schema" not in pg_recipe(PG, "x.dump")


@pytest.mark.postgres
@pytest.mark.integration
def test_postgres_backup_with_pg_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = os.environ.get("PACSBOT_TEST_DATABASE_URL")
    if not base:
        pytest.skip("PostgreSQL tests need PACSBOT_TEST_DATABASE_URL")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump and pg_restore are not on PATH")
    import uuid

    from sqlalchemy import create_engine, text

    from pacsbot.bot.storage import normalize_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    try:
        db = Database(url)
        upgrade(db)
        Audit(db).record("U0ADMIN01", "dicom.echo", target="node:pacs")
        db.dispose()
        cfg = config(tmp_path, url)
        out = tmp_path / "pacsbot.dump"
        assert main(["--config", cfg, "db", "backup", "--out", str(out), "--pg-dump"]) == 0
        printed = capsys.readouterr().out
        assert "pg_restore --list reads it" in printed and ", ".join(head_revisions()) in printed
        assert out.stat().st_size > 0 and stat.S_IMODE(out.stat().st_mode) == 0o600
        db = Database(url)
        [row] = Audit(db).query(action="db.backup")
        db.dispose()
        assert row.details["file"] == str(out) and row.details["tool"] == "pg_dump"
        # a failing pg_dump is reported and audited, and leaves no file
        bad = config(tmp_path, url.replace(f"search_path%3D{schema}", "search_path%3Dno_such_schema"))
        capsys.readouterr()
        assert main(["--config", bad, "db", "backup", "--out", str(tmp_path / "bad.dump"), "--pg-dump"]) == 1
        assert "pg_dump failed" in capsys.readouterr().err and not (tmp_path / "bad.dump").exists()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

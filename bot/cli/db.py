"""``pacsbot db upgrade | current | check | backup | restore``.

Backups: on SQLite pacsbot makes them itself (SQLite's backup API: a consistent snapshot,
safe while the bot runs), checks them (integrity, schema revision) and restores them. On
PostgreSQL it does not reimplement pg_dump: ``db backup`` prints the pg_dump/pg_restore
commands for the configured database and exits 2, or, with ``--pg-dump``, runs pg_dump
itself (the password in PGPASSWORD, never on a command line) and checks the dump with
``pg_restore --list``. Every backup and restore is audited (``db.backup``, ``db.restore``).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pacsbot.bot.cli.common import cli_actor, settings_from, subparser
from pacsbot.core.errors import UserError

BACKUP_HELP = "write a checked backup of the database (SQLite; on PostgreSQL see --pg-dump)"
BACKUP_EPILOG = """\
SQLite: a consistent copy made with SQLite's backup API while the bot runs, checked
(PRAGMA integrity_check, schema revision) before it is reported. FILE may be a folder: the
backup is then named pacsbot-<UTC time>.db in it. An existing file is never overwritten.

PostgreSQL: pacsbot prints the pg_dump and pg_restore commands for the configured database
and exits 2. With --pg-dump (pg_dump on PATH) it runs `pg_dump -Fc` itself, the password
passed in PGPASSWORD, and checks the dump with `pg_restore --list`.

Exit status: 0 written and checked, 1 the database (or pg_dump) failed, 2 bad input."""
RESTORE_HELP = "replace the database with a backup, then upgrade it (SQLite; stop pacsbot first)"
RESTORE_EPILOG = """\
Checks the backup (a SQLite database, intact, a schema this pacsbot knows), keeps the current
database as <database>.before-restore-<UTC time>, copies the backup in, and applies the
migrations (an older backup is upgraded). Without --yes it only checks and says what it
would do. Refused while another process (a running pacsbot) has the database open.

Exit status: 0 restored, 1 the database is in use or failed, 2 bad input (no --yes, a
missing, damaged or newer backup)."""


def add_parser(sub: Any) -> None:
    parser = subparser(sub, "db", "Database migrations and backups.",
                       "Create or update the database tables of every feature (Alembic); back up and restore.")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION")
    for name, text in (
        ("upgrade", "apply every pending migration (also done when the bot starts)"),
        ("current", "show the revisions the database is at"),
        ("check", "exit 1 if migrations are pending"),
    ):
        p = actions.add_parser(name, help=text, description=text)
        p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="configuration file")
    backup = actions.add_parser("backup", help=BACKUP_HELP, description=BACKUP_HELP, epilog=BACKUP_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    backup.add_argument("--out", metavar="FILE", required=True, help="the backup file to write (or a folder)")
    backup.add_argument("--pg-dump", action="store_true", help="PostgreSQL: run pg_dump (must be on PATH)")
    backup.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="configuration file")
    restore = actions.add_parser("restore", help=RESTORE_HELP, description=RESTORE_HELP, epilog=RESTORE_EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    restore.add_argument("file", metavar="FILE", help="a backup written by `pacsbot db backup`")
    restore.add_argument("--yes", action="store_true", help="really replace the database")
    restore.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="configuration file")
    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    from pacsbot.bot.storage import Database, current_revisions, head_revisions, upgrade

    action = getattr(args, "db_action", None)
    if action is None:
        args.parser.print_help()
        return 2
    settings = settings_from(args)
    if action == "backup":
        return backup(settings.database_url, args.out, pg_dump=args.pg_dump)
    if action == "restore":
        return restore(settings.database_url, args.file, yes=args.yes)
    db = Database(settings.database_url)
    try:
        db.check()
        if action == "upgrade":
            revisions = upgrade(db)
            print(f"Database {db.display_url} is up to date: {', '.join(revisions)}")
            return 0
        current = current_revisions(db)
        heads = head_revisions()
        if action == "current":
            print(f"Database {db.display_url}")
            print(f"  at:     {', '.join(current) or '(empty)'}")
            print(f"  latest: {', '.join(heads)}")
            return 0
        if current != heads:
            print(f"Migrations are pending for {db.display_url}: run `pacsbot db upgrade`.")
            return 1
        print(f"Database {db.display_url} is up to date.")
        return 0
    finally:
        db.dispose()


# --------------------------------------------------------------------------------------
# shared

def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _fail(message: str) -> None:
    print(f"pacsbot: {message}", file=sys.stderr)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{value:.1f} {unit} ({n} bytes)"


def _target(out: str, suffix: str) -> Path:
    """Where a backup goes: ``out``, or a timestamped file in the folder ``out``; never over a file."""
    path = Path(out).expanduser()
    if path.is_dir():
        path = path / f"pacsbot-{_stamp()}{suffix}"
    elif out.endswith(("/", os.sep)):  # a folder by its spelling: never a file named like it
        raise UserError(f"cannot write into {path}: the folder does not exist.")
    if path.exists():
        raise UserError(f"{path} already exists; give another name (a backup is never written over a file).")
    if not path.parent.is_dir():
        raise UserError(f"cannot write {path}: the folder {path.parent} does not exist.")
    if not os.access(path.parent, os.W_OK):
        raise UserError(f"cannot write {path}: no permission to write in {path.parent}.")
    return path.resolve()


def _audit(url: str, action: str, *, target: str, outcome: str = "ok", details: dict[str, Any]) -> bool:
    """One audit row (paths, sizes, revisions: never a password); False when it could not be written."""
    from pacsbot.bot.audit import Audit
    from pacsbot.bot.storage import Database

    db = Database(url)
    try:
        Audit(db).record(cli_actor(), action, target=target[:200], outcome=outcome, details=details)
        return True
    except Exception as exc:  # noqa: BLE001 - the backup itself stands; say the row is missing
        _fail(f"the audit row ({action}) could not be written: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        return False
    finally:
        db.dispose()


def _backend(url: str) -> str:
    from sqlalchemy.engine import make_url

    from pacsbot.bot.storage import normalize_url

    return make_url(normalize_url(url)).get_backend_name()


# --------------------------------------------------------------------------------------
# backup

def backup(url: str, out: str, *, pg_dump: bool = False) -> int:
    if _backend(url) == "postgresql":
        return _pg_backup(url, out, run_pg_dump=pg_dump)
    from pacsbot.bot.storage import SQLiteFileError, StorageError, display_url, sqlite_copy, sqlite_file, sqlite_revisions

    live = sqlite_file(url)
    if live is None:
        _fail(f"the database {display_url(url)} is not a file: nothing to back up.")
        return 2
    if not live.is_file():
        _fail(f"there is no database at {live}: nothing to back up (check database.url or data_dir in the configuration).")
        return 1
    dest = _target(out, ".db")
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    try:
        try:
            sqlite_copy(live, partial)
        except OSError as exc:
            raise UserError(f"cannot write {dest}: {exc.strerror or exc}.") from None
        revisions = sqlite_revisions(partial)
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(partial, dest)
    except (SQLiteFileError, StorageError) as exc:
        _fail(f"backup failed: {exc}.")
        return 1
    finally:
        partial.unlink(missing_ok=True)
    size = dest.stat().st_size
    audited = _audit(url, "db.backup", target=f"file:{dest}",
                     details={"backend": "sqlite", "file": str(dest), "bytes": size, "revisions": revisions})
    print(f"Backed up {live} to {dest}")
    print(f"  size:    {_size(size)}")
    print(f"  schema:  {', '.join(revisions)}")
    print("  checked: integrity ok, schema revision readable")
    return 0 if audited else 1


# --------------------------------------------------------------------------------------
# PostgreSQL: pg_dump's recipe, or pg_dump run for you

_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s|$)")


def pg_target(url: str) -> tuple[str, str | None, str | None]:
    """(libpq URI without the password, the password, the one schema the URL's search_path names)."""
    from sqlalchemy.engine import URL, make_url

    parsed = make_url(url)
    uri = URL.create("postgresql", username=parsed.username, host=parsed.host, port=parsed.port,
                     database=parsed.database, query=parsed.query).render_as_string(hide_password=False)
    options = parsed.query.get("options")
    match = _SEARCH_PATH.search(options) if isinstance(options, str) else None
    return uri, parsed.password, match.group(1) if match else None


def pg_dump_command(url: str, out: Path, executable: str = "pg_dump") -> tuple[list[str], dict[str, str]]:
    """The pg_dump command line and the environment for it: the password only in PGPASSWORD."""
    uri, password, schema = pg_target(url)
    argv = [executable, "--format=custom", f"--file={out}", f"--dbname={uri}"] + ([f"--schema={schema}"] if schema else [])
    env = {**os.environ, "PGCONNECT_TIMEOUT": os.environ.get("PGCONNECT_TIMEOUT", "10")}
    if password:
        env["PGPASSWORD"] = password
    return argv, env


def pg_restore_command(url: str, dump: str) -> str:
    uri = pg_target(url)[0]
    return f"pg_restore --clean --if-exists --no-owner --single-transaction --dbname={shlex.quote(uri)} {shlex.quote(dump)}"


def pg_recipe(url: str, out: str) -> str:
    uri, _password, schema = pg_target(url)
    q = shlex.quote
    only = f" --schema={q(schema)}" if schema else ""
    return "\n".join([
        "Back up (the PostgreSQL client tools, the server's version or newer):",
        f"  pg_dump -Fc --file={q(out)} --dbname={q(uri)}{only}",
        f"  pg_restore --list {q(out)} > /dev/null    # the dump is readable",
        "Restore (stop every pacsbot process first):",
        f"  {pg_restore_command(url, out)}",
        "  pacsbot db upgrade",
        "The password comes from ~/.pgpass or PGPASSWORD, never the command line.",
        f"Or let pacsbot run pg_dump and check the dump: pacsbot db backup --pg-dump --out {q(out)}",
    ])


def _pg_backup(url: str, out: str, *, run_pg_dump: bool) -> int:
    from pacsbot.bot.storage import Database, create_private_file, current_revisions, normalize_url

    url = normalize_url(url)
    executable = shutil.which("pg_dump") if run_pg_dump else None
    if executable is None:
        folder = Path(out).expanduser().is_dir() or out.endswith(("/", os.sep))
        print(pg_recipe(url, str(Path(out) / f"pacsbot-{_stamp()}.dump") if folder else out))
        _fail("pacsbot does not back up PostgreSQL itself: run the pg_dump command above"
              + (" (pg_dump is not on PATH: install the PostgreSQL client tools)." if run_pg_dump else
                 ", or add --pg-dump to have pacsbot run it."))
        return 2
    dest = _target(out, ".dump")
    db = Database(url)
    try:
        db.check()
        revisions = current_revisions(db)
    finally:
        db.dispose()
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    details: dict[str, Any] = {"backend": "postgresql", "file": str(dest), "revisions": revisions, "tool": "pg_dump"}
    try:
        create_private_file(partial)  # only pacsbot's user reads it
        argv, env = pg_dump_command(url, partial, executable)
        dumped = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if dumped.returncode != 0:
            reason = " ".join(dumped.stderr.strip().splitlines()[:3]) or f"exit status {dumped.returncode}"
            _fail(f"pg_dump failed: {reason}")
            _audit(url, "db.backup", target=f"file:{dest}", outcome="failed", details={**details, "error": reason[:200]})
            return 1
        checked = "not checked: pg_restore is not on PATH"
        lister = shutil.which("pg_restore")
        if lister is not None:
            listed = subprocess.run([lister, "--list", str(partial)], capture_output=True, text=True, check=False)
            if listed.returncode != 0 or "alembic_version" not in listed.stdout:
                reason = " ".join(listed.stderr.strip().splitlines()[:3]) or "it lists no alembic_version table"
                _fail(f"the dump pg_dump wrote is not readable by pg_restore: {reason}")
                _audit(url, "db.backup", target=f"file:{dest}", outcome="failed", details={**details, "error": reason[:200]})
                return 1
            checked = f"pg_restore --list reads it ({sum(1 for line in listed.stdout.splitlines() if line and not line.startswith(';'))} entries)"
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    size = dest.stat().st_size
    audited = _audit(url, "db.backup", target=f"file:{dest}", details={**details, "bytes": size})
    print(f"Backed up {pg_target(url)[0]} to {dest} (pg_dump custom format)")
    print(f"  size:    {_size(size)}")
    print(f"  schema:  {', '.join(revisions) or '(empty)'}")
    print(f"  checked: {checked}")
    print(f"  restore: stop pacsbot; {pg_restore_command(url, str(dest))}; pacsbot db upgrade")
    return 0 if audited else 1


# --------------------------------------------------------------------------------------
# restore

def restore(url: str, file: str, *, yes: bool) -> int:
    from pacsbot.bot.storage import (
        Database,
        DatabaseInUse,
        SQLiteFileError,
        StorageError,
        display_url,
        head_revisions,
        known_revisions,
        normalize_url,
        sqlite_copy,
        sqlite_file,
        sqlite_restore,
        sqlite_revisions,
        upgrade,
    )

    if _backend(url) == "postgresql":
        print(pg_recipe(normalize_url(url), file))
        _fail("pacsbot does not restore PostgreSQL itself: run the pg_restore command above, then `pacsbot db upgrade`.")
        return 2
    live = sqlite_file(url)
    if live is None:
        _fail(f"the database {display_url(url)} is not a file: nothing to restore into.")
        return 2
    source = Path(file).expanduser().resolve()
    if not source.exists():
        _fail(f"{source}: no such file.")
        return 2
    if source == live:
        _fail(f"{source} is the database itself; give a backup file.")
        return 2
    live.parent.mkdir(parents=True, exist_ok=True)
    checked = live.with_name(f".{live.name}.restoring-{os.getpid()}")
    try:
        try:
            sqlite_copy(source, checked, source_mode="ro")
            revisions = sqlite_revisions(checked)
        except (SQLiteFileError, StorageError) as exc:
            _fail(f"cannot restore: {exc}.")
            return 2
        except OSError as exc:
            _fail(f"cannot restore: {exc}.")
            return 1
        newer = sorted(set(revisions) - known_revisions())
        if newer:
            _fail(f"cannot restore: {source} was written by a newer pacsbot (schema {', '.join(newer)}, which this "
                  "version does not know). Upgrade pacsbot first, then restore.")
            return 2
        aside = live.with_name(f"{live.name}.before-restore-{_stamp()}") if live.exists() else None
        heads = head_revisions()
        if not yes:
            print(f"{source} is a good backup (schema {', '.join(revisions)}).")
            print(f"Restoring it replaces the database {live}"
                  + (f"; the current one is kept as {aside.name}." if aside else " (there is none yet)."))
            if revisions != heads:
                print(f"It is then upgraded to {', '.join(heads)}.")
            _fail("nothing was changed. Stop every pacsbot process, then run the same command with --yes.")
            return 2
        try:
            sqlite_restore(checked, live, aside=aside)
        except DatabaseInUse as exc:
            _fail(f"{exc}.")
            return 1
        except (StorageError, OSError) as exc:
            _fail(f"the restore failed, the database is as it was: {exc}.")
            return 1
    finally:
        checked.unlink(missing_ok=True)
    db = Database(url)
    try:
        now = upgrade(db)
    except Exception as exc:  # noqa: BLE001 - say where things stand, then the usual handling
        _fail(f"the backup was restored but upgrading it failed: {exc}. Run `pacsbot db upgrade`"
              + (f"; the previous database is {aside}." if aside else "."))
        return 1
    finally:
        db.dispose()
    details = {"backend": "sqlite", "file": str(source), "backup_revisions": revisions, "revisions": now,
               "previous": str(aside) if aside else None}
    audited = _audit(url, "db.restore", target=f"file:{source}", details=details)
    print(f"Restored {live} from {source}")
    print(f"  schema:   {', '.join(revisions)}" + (f" -> upgraded to {', '.join(now)}" if now != revisions else ""))
    print(f"  previous: {aside if aside else '(there was no database)'}")
    return 0 if audited else 1

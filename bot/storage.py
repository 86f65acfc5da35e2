"""The database for every package: engine, sessions, and migrations (Alembic).

Each package that owns tables has a ``models.py`` (its own MetaData) and a ``migrations/``
directory of Alembic revisions on its own branch (``branch_labels = ("<package>",)``). This
module finds them all, so ``pacsbot db upgrade`` (also run at start) brings every package's
tables up to date, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

# Packages that may own tables, in dependency order.
TABLE_OWNERS = ("bot", "commands", "knowledge", "tickets", "training")

_MIGRATIONS_ENV = Path(__file__).resolve().parent / "migrations"
_ADVISORY_LOCK_KEY = 0x7AC5B07  # pg_advisory_lock key for "pacsbot migrations"
T = TypeVar("T")


class StorageError(Exception):
    """The database cannot be used; the message is for the operator."""


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for PostgreSQL URLs that name no driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def display_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_setup(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE for every transaction.

    pysqlite's lazy BEGIN lets two readers both try to upgrade to writers, and one of them
    then fails with "database is locked" at once, whatever the timeout. Taking the write
    lock at BEGIN serialises writers and lets the busy timeout do its job.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _failed_pings_are_disconnects(engine: Engine) -> None:
    """A pooled connection whose pre-ping fails, with whatever error, is thrown away and a new
    one opened, as for a dropped connection. The driver does not always say "disconnected":
    psycopg, pinging a socket the server (or a proxy) just closed, can raise "can't change
    'autocommit' now" instead, which SQLAlchemy took for a bug in a query and raised to the
    request; a report made while PostgreSQL was down then failed with "something went wrong"
    instead of being kept (seen under load). Now the new connection is tried, and a database
    that is down says so (OperationalError), which callers know how to handle."""

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        if context.is_pre_ping:
            context.is_disconnect = True


CONNECT_TIMEOUT = 3          # seconds to open a PostgreSQL connection
POOL_TIMEOUT = 5             # seconds to wait for a free pooled connection
START_ATTEMPTS = 3           # at start (migrations), a connection that timed out is tried this often
PG_SESSION_OPTIONS = (
    "-c statement_timeout=15000",                      # one statement: 15 s at most
    "-c lock_timeout=10000",                           # waiting for a row lock: 10 s
    "-c idle_in_transaction_session_timeout=60000",    # a transaction left open by a dead thread
)


class Database:
    """Engine and session factory. ``with db.session() as s:`` commits on success."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False):
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.backend = parsed.get_backend_name()
        # hide_parameters: SQL errors and echo never show bound values (which may be PHI).
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True, "hide_parameters": True}
        if self.backend == "sqlite":
            database = parsed.database
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            # Every wait is bounded: a stopped or frozen PostgreSQL must fail a request in
            # seconds, not hold a server thread until the OS gives up on the socket.
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_timeout=POOL_TIMEOUT)
            url_options = parsed.query.get("options")
            options = " ".join(filter(None, [url_options if isinstance(url_options, str) else None, *PG_SESSION_OPTIONS]))
            kwargs["connect_args"] = {
                "connect_timeout": CONNECT_TIMEOUT, "application_name": "pacsbot", "options": options,
                # a server that stops answering on an open connection: give up after 10 s
                "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2,
                "tcp_user_timeout": 10_000,
            }
        try:
            self.engine = create_engine(self.url, **kwargs)
        except ModuleNotFoundError as exc:  # the database's driver is an extra
            extra = "postgresql" if self.backend == "postgresql" else None
            hint = f"pip install 'pacsbot[{extra}]'" if extra else f"install the Python package {exc.name}"
            raise StorageError(f"The database driver for {self.backend} is not installed: {hint}.") from None
        _failed_pings_are_disconnects(self.engine)
        if self.backend == "sqlite":
            _sqlite_setup(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._local = threading.local()
        self._bounded: ThreadPoolExecutor | None = None
        self._bounded_lock = threading.Lock()

    @property
    def display_url(self) -> str:
        return display_url(self.url)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed when the block ends, rolled back on error.

        Do not open a second session inside one in the same thread: on SQLite the second
        waits for the first one's write lock forever (here: a clear error at once); pass the
        session down instead.
        """
        depth = getattr(self._local, "depth", 0)
        if depth and self.backend == "sqlite":
            raise RuntimeError("a database session was opened inside another in the same thread; pass the session down")
        self._local.depth = depth + 1
        try:
            with self._sessions.begin() as session:
                yield session
        finally:
            self._local.depth = depth

    def bounded(self, fn: Callable[[], T], seconds: float) -> T:
        """``fn()`` (database work) if it finishes within ``seconds``; else StorageError.

        For work someone is waiting on before an ack. A frozen PostgreSQL still lets the
        kernel accept our bytes, so no socket timeout fires: only a watchdog can bound the
        wait. A call that timed out finishes (or fails) later on its own thread."""
        with self._bounded_lock:
            if self._bounded is None:
                self._bounded = ThreadPoolExecutor(max_workers=4, thread_name_prefix="db-bounded")
        future = self._bounded.submit(fn)
        try:
            return future.result(timeout=seconds)
        except FutureTimeout:
            raise StorageError(f"the database did not answer within {seconds:g} s") from None

    def in_session(self) -> bool:
        """True on SQLite inside :meth:`session` in this thread (where a second one must not open)."""
        return self.backend == "sqlite" and getattr(self._local, "depth", 0) > 0

    def check(self, *, attempts: int = 1) -> None:
        """Raise :class:`StorageError` if the database cannot be reached. With ``attempts``,
        a connection that timed out (a server starting, or very busy) is tried again; a
        refused or failed one is not: that answer is already clear."""
        for attempt in range(1, attempts + 1):
            try:
                with self.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return
            except (OperationalError, DBAPIError) as exc:
                reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
                if attempt < attempts and "timeout" in reason.lower():
                    log.warning("storage: connecting to the database timed out (attempt %d of %d); trying again", attempt, attempts)
                    continue
                raise StorageError(f"cannot reach the database at {self.display_url}: {reason}") from None

    def dispose(self) -> None:
        self.engine.dispose()


# --------------------------------------------------------------------------------------
# metadata and migrations

def all_metadata() -> list[MetaData]:
    """Every package's MetaData (importing their ``models`` modules)."""
    return [importlib.import_module(f"pacsbot.{owner}.models").Base.metadata for owner in TABLE_OWNERS]


def migration_dirs() -> list[Path]:
    """Each table owner's migrations folder, inside the installed package. Every owner has one:
    a missing folder is a broken installation, never a database quietly left without tables."""
    dirs = []
    for owner in TABLE_OWNERS:
        package = importlib.import_module(f"pacsbot.{owner}")
        base = Path(next(iter(package.__path__)))
        candidate = base / ("migrations/versions" if owner == "bot" else "migrations")
        if not candidate.is_dir():
            raise StorageError(f"the {owner} migrations are missing from this installation ({candidate}); reinstall pacsbot")
        dirs.append(candidate)
    return dirs


def alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS_ENV))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(d) for d in migration_dirs()))
    cfg.attributes["connection"] = connection
    return cfg


@contextlib.contextmanager
def _migration_lock(conn: Any) -> Iterator[None]:
    """Only one replica migrates at a time (PostgreSQL advisory lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_LOCK_KEY})
            conn.commit()
    else:
        yield


def _script_heads() -> list[str] | None:
    """The head revisions, read from the migration files without Alembic (about 0.2 s of
    imports a command line call or a start would otherwise pay when nothing is pending);
    None if a file does not say its revisions plainly (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for directory in migration_dirs():
        for path in directory.glob("*.py"):
            found: dict[str, Any] = {}
            try:
                for node in ast.parse(path.read_text(encoding="utf-8")).body:
                    if (isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(getattr(node, "value", None), ast.AST)):
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        for target in targets:
                            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision", "depends_on"):
                                found[target.id] = ast.literal_eval(node.value)  # type: ignore[arg-type]
            except (OSError, SyntaxError, ValueError):
                return None
            if not isinstance(found.get("revision"), str) or found.get("depends_on"):
                return None
            revisions.add(found["revision"])
            down = found.get("down_revision")
            parents.update([down] if isinstance(down, str) else (down or ()))
    return sorted(revisions - parents) if revisions else None


def _heads_if_current(db: Database) -> list[str] | None:
    """The head revisions when the database is already at them (read without Alembic), else None."""
    heads = _script_heads()
    if heads is None:
        return None
    try:
        with db.engine.connect() as conn:
            current = sorted(str(v) for v in conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except Exception:  # noqa: BLE001 - no table yet, or unreadable: let Alembic look
        return None
    return heads if current == heads else None


def upgrade(db: Database, revision: str = "heads") -> list[str]:
    """Apply every pending migration of every package; return the revisions now current."""
    db.check(attempts=START_ATTEMPTS)
    if revision == "heads" and (current := _heads_if_current(db)) is not None:
        return current
    from alembic import command

    with db.engine.connect() as conn:
        with _migration_lock(conn):
            command.upgrade(alembic_config(conn), revision)
            conn.commit()
    return current_revisions(db)


def current_revisions(db: Database) -> list[str]:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return sorted(MigrationContext.configure(conn).get_current_heads())


def head_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    return sorted(ScriptDirectory.from_config(alembic_config()).get_heads())


def pending(db: Database) -> bool:
    return current_revisions(db) != head_revisions()


def known_revisions() -> set[str]:
    """Every revision this installation's migrations know (a database at another is newer)."""
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


# --------------------------------------------------------------------------------------
# SQLite files: backup and restore (``pacsbot db backup | restore``)

SQLITE_HEADER = b"SQLite format 3\x00"


class SQLiteFileError(Exception):
    """A file that is not a usable pacsbot SQLite database; the message says why."""


class DatabaseInUse(StorageError):
    """Another connection (a running pacsbot) has the SQLite database open."""


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for another backend or an in-memory database."""
    parsed = make_url(normalize_url(url))
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def _connect_file(path: Path, mode: str, timeout: float = 30) -> sqlite3.Connection:
    """A plain sqlite3 connection (``mode``: ro, rw or rwc) that never creates a file by accident."""
    return sqlite3.connect(f"{path.as_uri()}?mode={mode}", uri=True, timeout=timeout, isolation_level=None)


def create_private_file(path: Path) -> None:
    """Create ``path``, empty and readable by its owner only (a backup holds what the bot
    keeps); an existing file is an error, never overwritten."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _private_file(path: Path) -> sqlite3.Connection:
    """A new, empty database file only its owner may read."""
    create_private_file(path)
    return sqlite3.connect(path, isolation_level=None)


def _looks_like_sqlite(path: Path) -> None:
    try:
        with path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        raise SQLiteFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SQLiteFileError(f"{path}: is a directory, not a database file") from None
    except OSError as exc:
        raise SQLiteFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if header != SQLITE_HEADER:
        raise SQLiteFileError(f"{path}: not a SQLite database")


def _open_database_file(path: Path, mode: str) -> sqlite3.Connection:
    """An existing SQLite database file, opened (``mode`` ro or rw), or why not."""
    _looks_like_sqlite(path)
    try:
        return _connect_file(path, mode)
    except sqlite3.Error as exc:
        raise SQLiteFileError(f"{path}: cannot open it ({exc})") from None


def sqlite_copy(source: Path, dest: Path, *, source_mode: str = "rw") -> None:
    """Copy a SQLite database with SQLite's backup API into ``dest`` (a new file).

    The copy is a consistent snapshot of what was committed when it began; in WAL mode
    (pacsbot's) writers carry on meanwhile, so this is safe while the bot runs. The copy is
    one self-contained file (rollback journal, no -wal beside it)."""
    src = _open_database_file(source, source_mode)
    try:
        dst = _private_file(dest)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE").fetchone()
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise SQLiteFileError(f"{source}: cannot be copied, it is corrupt or not a database ({exc})") from None
    finally:
        src.close()


def sqlite_revisions(path: Path) -> list[str]:
    """Check a SQLite database file and return its schema revisions (Alembic's), read only.

    Raises :class:`SQLiteFileError` when it is not a SQLite database, fails
    ``PRAGMA integrity_check``, or holds no pacsbot schema revision."""
    conn = _open_database_file(path, "ro")
    try:
        problems = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise SQLiteFileError(f"{path}: the database is corrupt (integrity check: {problems[0]})")
        try:
            revisions = sorted(str(row[0]) for row in conn.execute("SELECT version_num FROM alembic_version"))
        except sqlite3.OperationalError:
            revisions = []
    except sqlite3.DatabaseError as exc:
        raise SQLiteFileError(f"{path}: the database is corrupt or not a database ({exc})") from None
    finally:
        conn.close()
    if not revisions:
        raise SQLiteFileError(f"{path}: not a pacsbot database (it records no schema revision)")
    return revisions


def sqlite_restore(source: Path, live: Path, *, aside: Path | None = None) -> None:
    """Replace the content of the database ``live`` with ``source`` (a checked copy), in one
    transaction through SQLite's backup API, so no -wal file of the old content is left to
    be replayed over the new one; first copy the current content to ``aside`` (if given).

    Raises :class:`DatabaseInUse` when another connection has ``live`` open (a running
    pacsbot keeps its connections open, and leaving WAL mode needs there to be none)."""
    live.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect_file(live, "rwc", timeout=2)
    try:
        try:
            mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        except sqlite3.OperationalError:
            mode = "busy"
        if str(mode).lower() != "delete":
            raise DatabaseInUse(f"the database {live} is in use (is pacsbot running?); stop every pacsbot process, then restore")
        if aside is not None:
            kept = _private_file(aside)
            try:
                conn.backup(kept)
            finally:
                kept.close()
        src = _connect_file(source, "ro")
        try:
            src.backup(conn)
        finally:
            src.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"cannot restore into {live}: {exc}") from None
    finally:
        conn.close()

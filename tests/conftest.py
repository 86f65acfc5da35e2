"""Shared fixtures. Database tests run on SQLite, and on PostgreSQL when
PACSBOT_TEST_DATABASE_URL is set (``.ci/run`` sets it). ``--require-integration`` turns a
skipped integration test into a failure, so CI cannot pass by skipping what it must run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from pacsbot.bot.slackmock import MockSlack
from pacsbot.bot.storage import Database, normalize_url
from tests.harness import ADMIN, CLINICIAN, TECH, TRAINER, Harness, make_settings

PG_ENV = "PACSBOT_TEST_DATABASE_URL"


def pytest_configure(config: pytest.Config) -> None:
    # pacsbot's default data folder is the user's (platformdirs: $XDG_DATA_HOME/pacsbot); a test
    # (or a command it runs) that names no folder writes into this run's own, never the real one.
    import tempfile

    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="pacsbot-test-data-home-")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--require-integration", action="store_true",
                     help="fail (instead of skip) integration tests whose service is missing")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.config.getoption("--require-integration") and item.get_closest_marker("integration"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"integration test skipped in a run that requires it: {reason}"


# ----------------------------------------------------------------------------------------
# databases

@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.integration])])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a throwaway schema in PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


# ----------------------------------------------------------------------------------------
# Slack

@pytest.fixture
def mock_slack() -> Iterator[MockSlack]:
    with MockSlack(token="xoxb-test-token") as mock:
        mock.add_user(ADMIN, "alex.admin", real_name="Alex Admin")
        mock.add_user(TRAINER, "terry.trainer", real_name="Terry Trainer")
        mock.add_user(CLINICIAN, "dr.rhea", real_name="Dr. Rhea Radiologist")
        mock.add_user(TECH, "tom.tech", real_name="Tom Technologist")
        mock.add_usergroup("S0ADMINS1", "pacs-admins", ["U0ADMIN02"])
        yield mock


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the configuration of ``harness``."""
    return {}


@pytest.fixture
def harness_register() -> Any:
    """Override to declare extra subcommands/buttons before the app is built."""
    return None


@pytest.fixture
def harness(tmp_path: Any, db: Database, mock_slack: MockSlack, settings_overrides: dict[str, Any], harness_register: Any) -> Iterator[Harness]:
    settings = make_settings(tmp_path, db.url, **settings_overrides)
    h = Harness(settings, db, mock_slack, register=harness_register)
    yield h
    h.close()


def pytest_report_header(config: pytest.Config) -> str:
    if os.environ.get(PG_ENV):
        return "databases: SQLite and PostgreSQL"
    return f"databases: SQLite only (set {PG_ENV} to run the PostgreSQL variants too)"


# ----------------------------------------------------------------------------------------
# the semantic re-ranker

@pytest.fixture(autouse=True)
def _words_only_by_default(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test environment installs the semantic re-ranker, so ``knowledge.semantic: auto``
    would turn it on in every test that starts the bot. Tests assert what the words-only
    ranking answers unless they are marked ``semantic`` (tests/knowledge/test_semantic*.py)."""
    if request.node.get_closest_marker("semantic") is None:
        monkeypatch.setattr("pacsbot.knowledge.semantic.available", lambda: False)

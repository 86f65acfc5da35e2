"""`pacsbot serve` before it forks its workers: the master's preload, and the migrations in a
child process (benchmarks/startup.py measures what they save)."""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from pacsbot.bot.cli.serve import migrate_apart, preload
from pacsbot.bot.slackmock import MockSlack
from pacsbot.bot.storage import Database, StorageError, pending
from pacsbot.knowledge import base
from pacsbot.knowledge.search import Index
from tests.harness import Harness, make_settings


def sockets() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_preload_starts_no_thread_opens_no_socket_and_workers_reuse_its_index(
    tmp_path: Path, db: Database, mock_slack: MockSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, db.url)
    monkeypatch.setattr(base, "_INDEX_CACHE", {})
    threads, open_sockets = set(threading.enumerate()), sockets()
    try:
        preload(settings)
    finally:
        gc.unfreeze()
    assert set(threading.enumerate()) - threads == set()
    assert sockets() - open_sockets == set()
    assert base._INDEX_CACHE  # the manuals' index, built in the master

    def build_again(*args: Any, **kwargs: Any) -> Index:
        raise AssertionError("a worker built the index the master had built")

    monkeypatch.setattr(Index, "build", build_again)
    harness = Harness(settings, db, mock_slack)  # what a worker does after the fork
    try:
        answer = harness.services.features.knowledge.answer("how do I resend a series from the CT")
        assert answer.section is not None
    finally:
        harness.close()


def test_migrations_run_in_a_child_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/migrated.db"
    migrate_apart(make_settings(tmp_path, url))()
    db = Database(url)
    try:
        assert not pending(db)
    finally:
        db.dispose()


def test_what_the_migrations_raise_is_raised_in_the_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path}/x.db")

    def refused(db: Database) -> list[str]:
        raise StorageError("cannot reach the database at sqlite:///x.db: disk I/O error")

    monkeypatch.setattr("pacsbot.bot.storage.upgrade", refused)
    with pytest.raises(StorageError, match="disk I/O error"):
        migrate_apart(settings)()

    def broken(db: Database) -> list[str]:
        raise KeyError("down_revision")

    monkeypatch.setattr("pacsbot.bot.storage.upgrade", broken)
    with pytest.raises(KeyError, match="down_revision") as info:
        migrate_apart(settings)()
    assert "in a child process" in "\n".join(getattr(info.value, "__notes__", []))

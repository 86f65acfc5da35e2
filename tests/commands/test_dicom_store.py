"""The diagnostics' tables: last echo per node, the rate-limit ledger, the pseudonym key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pacsbot.bot.storage import Database, upgrade
from pacsbot.commands.config import RateLimitSettings
from pacsbot.commands.results import EchoResult, Failure, NodeRef
from pacsbot.commands.store import last_echoes, prune_runs, pseudonym, pseudonym_key, record_echoes, runs_of, take_run
from pacsbot.core.clock import ManualClock
from pacsbot.core.errors import Refused

PACS = NodeRef("pacs", "pacs", "PACS", "10.0.0.1", 104)


def test_last_echo_is_replaced_not_appended(db: Database) -> None:
    upgrade(db)
    clock = ManualClock()
    with db.session() as s:
        record_echoes(s, [EchoResult(PACS, True, 12)], actor="U1", at=clock.now())
    later = clock.advance(minutes=5)
    with db.session() as s:
        record_echoes(s, [EchoResult(PACS, False, 5000, Failure("timeout", "timed out after 5 s connecting to 10.0.0.1:104"))],
                      actor="cli:root", at=later)
    with db.session() as s:
        last = last_echoes(s)
    assert list(last) == ["pacs"]
    assert (last["pacs"].ok, last["pacs"].failure_code, last["pacs"].checked_by, last["pacs"].checked_at) == (False, "timeout", "cli:root", later)
    assert last["pacs"].message == "timed out after 5 s connecting to 10.0.0.1:104"


def test_rate_limit_says_when_to_try_again(db: Database) -> None:
    upgrade(db)
    clock = ManualClock()
    limit = RateLimitSettings(runs=3, per_seconds=60)
    for _ in range(3):
        with db.session() as s:
            take_run(s, actor="U1", command="locate", now=clock.now(), limit=limit)
        clock.advance(seconds=10)
    # runs at t=0, 10, 20; now t=30: the oldest leaves the window at t=60 -> 30 s
    with pytest.raises(Refused) as info:
        with db.session() as s:
            take_run(s, actor="U1", command="echo", now=clock.now(), limit=limit)
    assert str(info.value) == "You have run 3 DICOM checks in the last 60 s, the most allowed. Try again in 30 s."
    with db.session() as s:
        take_run(s, actor="U2", command="echo", now=clock.now(), limit=limit)  # someone else is fine
    clock.advance(seconds=31)
    with db.session() as s:
        take_run(s, actor="U1", command="echo", now=clock.now(), limit=limit)  # t=61: a slot is free
    with db.session() as s:
        assert runs_of(s, "U1") == 4


def test_long_windows_are_said_in_minutes(db: Database) -> None:
    upgrade(db)
    clock = ManualClock()
    limit = RateLimitSettings(runs=1, per_seconds=600)
    with db.session() as s:
        take_run(s, actor="U1", command="echo", now=clock.now(), limit=limit)
    with pytest.raises(Refused, match=r"in the last 10 min, the most allowed. Try again in 600 s."):
        with db.session() as s:
            take_run(s, actor="U1", command="echo", now=clock.now(), limit=limit)


def test_old_runs_are_pruned(db: Database) -> None:
    upgrade(db)
    clock = ManualClock()
    with db.session() as s:
        take_run(s, actor="U1", command="echo", now=clock.now(), limit=RateLimitSettings())
    clock.advance(timedelta(days=3))
    with db.session() as s:
        assert prune_runs(s, now=clock.now()) == 1 and runs_of(s, "U1") == 0


def test_pseudonym_key_is_made_once_and_shared(db: Database) -> None:
    upgrade(db)
    clock = ManualClock()
    with db.session() as s:
        first = pseudonym_key(s, now=clock.now())
    other = Database(db.url)  # another replica, same database
    try:
        with other.session() as s:
            assert pseudonym_key(s, now=clock.now()) == first
    finally:
        other.dispose()
    assert len(first) == 32
    value = pseudonym("MRN-0042", first)
    assert value == pseudonym("MRN-0042", first) and value != pseudonym("MRN-0043", first)
    assert value.startswith("pid:") and "0042" not in value
    assert pseudonym("MRN-0042", b"another installation" * 2) != value

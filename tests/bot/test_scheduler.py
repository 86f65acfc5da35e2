"""Periodic jobs run once per slot even with several replicas on one database."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from pacsbot.bot.scheduler import Scheduler
from pacsbot.bot.services import build_services
from pacsbot.bot.settings import Secrets
from pacsbot.bot.storage import Database, upgrade
from pacsbot.core.clock import ManualClock
from tests.harness import make_settings


def _replicas(tmp_path: Any, db: Database, n: int, clock: ManualClock, runs: list[str]) -> list[Scheduler]:
    upgrade(db)
    schedulers = []
    for i in range(n):
        services = build_services(make_settings(tmp_path, db.url), Secrets(None, None, "s", None), db=db, clock=clock, register_features=False)

        @services.registry.job("count", every=timedelta(minutes=5))
        def count(services: Any, i: int = i) -> None:
            runs.append(f"replica{i}")

        schedulers.append(Scheduler(services, replica=f"replica{i}"))
    return schedulers


def test_each_slot_runs_once_across_replicas(tmp_path: Any, db: Database) -> None:
    clock = ManualClock()
    runs: list[str] = []
    schedulers = _replicas(tmp_path, db, 3, clock, runs)
    for _ in range(4):  # four slots
        threads = [threading.Thread(target=s.run_due) for s in schedulers for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        clock.advance(minutes=5)
    assert len(runs) == 4


def test_a_failing_job_does_not_stop_the_others(tmp_path: Any, db: Database) -> None:
    upgrade(db)
    services = build_services(make_settings(tmp_path, db.url), Secrets(None, None, "s", None), db=db, clock=ManualClock(), register_features=False)
    ran = []

    @services.registry.job("broken", every=timedelta(minutes=1))
    def broken(services: Any) -> None:
        raise RuntimeError("boom")

    @services.registry.job("fine", every=timedelta(minutes=1))
    def fine(services: Any) -> None:
        ran.append("fine")

    assert Scheduler(services).run_due() == ["fine"]
    assert ran == ["fine"]


def test_housekeeping_forgets_old_event_ids(tmp_path: Any, db: Database) -> None:
    from pacsbot.bot.listeners.events import store_event

    upgrade(db)
    clock = ManualClock()
    services = build_services(make_settings(tmp_path, db.url), Secrets(None, None, "s", None), db=db, clock=clock)
    assert store_event(services, "Ev1", "message", {}) and not store_event(services, "Ev1", "message", {})
    clock.advance(hours=25)
    assert services.registry.jobs["housekeeping"].run(services) == 1
    assert store_event(services, "Ev1", "message", {})



def test_a_slow_job_delays_only_itself(tmp_path: Any, db: Database) -> None:
    """In the running bot each job has its own thread: the next tick runs the other jobs
    while a slow one is still busy, and does not start the slow one a second time."""
    upgrade(db)
    clock = ManualClock()
    services = build_services(make_settings(tmp_path, db.url), Secrets(None, None, "s", None), db=db, clock=clock, register_features=False)
    release = threading.Event()
    runs = {"slow": 0, "quick": 0}

    @services.registry.job("slow", every=timedelta(minutes=1))
    def slow(services: Any) -> None:
        runs["slow"] += 1
        release.wait(10)

    @services.registry.job("quick", every=timedelta(minutes=1))
    def quick(services: Any) -> None:
        runs["quick"] += 1

    scheduler = Scheduler(services)
    assert sorted(scheduler.run_due(parallel=True)) == ["quick", "slow"]
    scheduler._running["quick"].join(5)
    clock.advance(minutes=2)
    # The slow job is still running here: only the quick one starts again.
    assert scheduler.run_due(parallel=True) == ["quick"]
    release.set()
    scheduler.stop()
    assert runs == {"slow": 1, "quick": 2}


def test_once_per_day_work_is_claimed_once_and_retried_only_if_never_finished(tmp_path: Any, db: Database) -> None:
    from pacsbot.bot.scheduler import claim_done, claim_once

    upgrade(db)
    clock = ManualClock()
    services = [build_services(make_settings(tmp_path, db.url), Secrets(None, None, "s", None), db=db, clock=clock,
                               register_features=False) for _ in range(2)]
    lease = timedelta(hours=1)
    assert claim_once(services[0], "reconcile:pacs>vna", "2026-01-04", lease=lease)
    assert not claim_once(services[1], "reconcile:pacs>vna", "2026-01-04", lease=lease)
    clock.advance(minutes=59)
    assert not claim_once(services[1], "reconcile:pacs>vna", "2026-01-04", lease=lease)
    # the first replica died without finishing: after the lease, exactly one other may take it over
    clock.advance(minutes=2)
    results = []
    threads = [threading.Thread(target=lambda s=s: results.append(claim_once(s, "reconcile:pacs>vna", "2026-01-04", lease=lease)))
               for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    claim_done(services[1], "reconcile:pacs>vna", "2026-01-04")
    clock.advance(hours=5)
    assert not claim_once(services[0], "reconcile:pacs>vna", "2026-01-04", lease=lease)
    assert claim_once(services[0], "reconcile:pacs>vna", "2026-01-05", lease=lease)

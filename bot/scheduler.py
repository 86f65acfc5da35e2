"""Periodic jobs (reminders, SLA checks, housekeeping), run once per slot across replicas.

Every replica runs a scheduler thread. A job declared ``every=timedelta(minutes=5)`` has one
slot per five minutes; before running it, a replica inserts ``(job, slot)`` into
``scheduler_claims``. The primary key lets exactly one insert succeed, so exactly one replica
runs each slot, whichever wakes first. A job that fails is logged; its slot is not retried.

In the running bot each job runs on its own thread, so a slow job (a reconciliation waiting
for a dead node, a weekly chart) delays only itself: the next tick still runs every other
job that is due. A job still running here from an earlier slot is not started again (nor
its new slot claimed) until it has finished.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.exc import IntegrityError

from pacsbot.bot import metrics
from pacsbot.bot.models import SchedulerClaim
from pacsbot.bot.registry import Job

if TYPE_CHECKING:
    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)

CLAIM_RETENTION = timedelta(days=14)


def replica_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


DONE = "done"


def insert_claim(services: "Services", job: str, slot: str, *, by: str | None = None) -> bool:
    """Insert ``(job, slot)`` into ``scheduler_claims``: True for exactly one caller across
    replicas (the primary key refuses every other)."""
    try:
        with services.db.session() as session:
            session.add(SchedulerClaim(job=job[:64], slot=slot[:64], claimed_at=services.clock.now(), claimed_by=by or replica_id()))
    except IntegrityError:
        return False
    return True


def claim_once(services: "Services", job: str, slot: str, *, lease: timedelta) -> bool:
    """True for exactly one caller per ``(job, slot)`` across replicas: for work that must
    happen once per day or week (a reconciliation, the weekly report), however often the job
    that starts it ticks. Call :func:`claim_done` when the work is done; a claim not done
    within ``lease`` (its replica died, or the work failed) may be taken over by the next
    caller, so the work is retried rather than lost."""
    if insert_claim(services, job, slot):
        return True
    now = services.clock.now()
    with services.db.session() as session:
        taken = cast(CursorResult[Any], session.execute(
            update(SchedulerClaim)
            .where(SchedulerClaim.job == job[:64], SchedulerClaim.slot == slot[:64],
                   SchedulerClaim.claimed_by != DONE, SchedulerClaim.claimed_at < now - lease)
            .values(claimed_at=now, claimed_by=replica_id())
            .execution_options(synchronize_session=False)
        )).rowcount
    if taken:
        log.warning("scheduler: %s %s was claimed but not finished within %s; running it again", job, slot, lease)
    return bool(taken)


def claim_done(services: "Services", job: str, slot: str) -> None:
    """The work claimed by :func:`claim_once` is done: nobody will take it over."""
    with services.db.session() as session:
        session.execute(update(SchedulerClaim).where(SchedulerClaim.job == job[:64], SchedulerClaim.slot == slot[:64])
                        .values(claimed_by=DONE).execution_options(synchronize_session=False))


class Scheduler:
    def __init__(self, services: "Services", *, tick_seconds: float = 15.0, replica: str | None = None):
        self.services = services
        self.tick_seconds = tick_seconds
        self.replica = replica or replica_id()
        self._stop = threading.Event()
        self._started_at: float | None = None  # monotonic; for heartbeat()
        self._last_tick: float | None = None
        self._thread: threading.Thread | None = None
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def slot_of(self, job: Job) -> str:
        seconds = max(1, int(job.every.total_seconds()))
        return str(int(self.services.clock.now().timestamp()) // seconds)

    def claim(self, job: Job, slot: str) -> bool:
        return insert_claim(self.services, job.name, slot, by=self.replica)

    def run_due(self, *, parallel: bool = False) -> list[str]:
        """Run every job whose current slot nobody has claimed yet; return the names run here.

        ``parallel``: start each job on its own thread and return at once (the running bot);
        otherwise run them one after another and return when all are done (tests, console).
        """
        ran = []
        for job in list(self.services.registry.jobs.values()):
            if self._stop.is_set():
                break
            with self._lock:
                busy = job.name in self._running and self._running[job.name].is_alive()
            if busy or not self.claim(job, self.slot_of(job)):
                continue
            if parallel:
                thread = threading.Thread(target=self._run_one, args=(job,), name=f"pacsbot-job-{job.name}", daemon=True)
                with self._lock:
                    self._running[job.name] = thread
                thread.start()
                ran.append(job.name)
            elif self._run_one(job):
                ran.append(job.name)
        return ran

    def _run_one(self, job: Job) -> bool:
        started = time.perf_counter()
        try:
            job.run(self.services)
        except Exception:  # noqa: BLE001 - one failing job must not stop the others
            log.exception("scheduler: job %s failed", job.name)
            metrics.count_job(job.name, False, time.perf_counter() - started)
            return False
        metrics.count_job(job.name, True, time.perf_counter() - started)
        return True

    def start(self) -> None:
        if self._thread is not None:
            return
        self._started_at = time.monotonic()
        metrics.scheduler_ticked()  # for /metrics, as for heartbeat(): alive since it started
        self._thread = threading.Thread(target=self._loop, name="pacsbot-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            running = list(self._running.values())
        for thread in running:
            thread.join(timeout)

    def heartbeat(self) -> dict[str, Any]:
        """For /healthz: the scheduler loop is alive when it ticked within three ticks."""
        started, last = self._started_at, self._last_tick
        if started is None:
            return {"ok": False, "error": "not started"}
        since = time.monotonic() - (last if last is not None else started)
        return {"ok": since < 3 * self.tick_seconds + 5, "seconds_since_tick": round(since, 1)}

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            self._last_tick = time.monotonic()
            metrics.scheduler_ticked()
            try:
                self.run_due(parallel=True)
            except Exception:  # noqa: BLE001 - e.g. the database is briefly unreachable
                log.exception("scheduler: tick failed")

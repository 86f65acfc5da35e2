"""Ask several DICOM nodes at once, each on its own thread with its own deadline.

Used by the diagnostics (echo, locate: ``commands.service``) and the reconciliation
(``commands.reconcile``): a dead node answers "timed out" within its own timeout while the
others have already answered.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pacsbot.commands.scu import Target

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_THREADS = 16
GRACE_SECONDS = 2.0  # past a node's own total timeout, before we stop waiting for its thread


def run_concurrently(
    targets: Sequence[Target],
    work: Callable[[Target], T],
    on_timeout: Callable[[Target, int], T],
    *,
    interim_after: float | None = None,
    on_interim: Callable[[list[T], list[Target]], None] | None = None,
    on_each: Callable[[T], None] | None = None,
) -> list[T]:
    """``work(target)`` for every target at once; results in the targets' order.

    A target whose work has not finished ``timeouts.total`` (+ a small grace) after it
    started gets ``on_timeout(target, ms)`` instead; its thread (a daemon, so it never holds
    up the process's exit) is left to end on its own network timeouts. ``on_interim(done,
    pending)`` is called once, ``interim_after`` seconds in, if some targets have answered
    and some have not (to show the answers that are in). ``on_each(result)`` is called on
    this thread as each target's result (or time-out) comes in, so a slow node does not hold
    up what is done with the others' answers.
    """
    if not targets:
        return []
    started = time.monotonic()
    answers: queue.Queue[tuple[int, Any]] = queue.Queue()
    began: dict[int, float] = {}
    slots = threading.BoundedSemaphore(MAX_THREADS)

    def run(index: int, target: Target) -> None:
        with slots:
            began[index] = time.monotonic()
            answers.put((index, _guarded(work, target)))

    for index, target in enumerate(targets):
        threading.Thread(target=run, args=(index, target), name=f"pacsbot-dicom-{target.name}", daemon=True).start()
    results: dict[int, T] = {}
    interim_due = started + interim_after if (on_interim is not None and interim_after is not None) else None

    def deadline(index: int) -> float:
        # Not started yet (waiting for a thread slot): its clock has not started either.
        return began.get(index, time.monotonic()) + targets[index].total_timeout + GRACE_SECONDS

    while len(results) < len(targets):
        pending = [i for i in range(len(targets)) if i not in results]
        wake = min(deadline(i) for i in pending)
        if interim_due is not None:
            wake = min(wake, interim_due)
        try:
            index, outcome = answers.get(timeout=max(0.0, wake - time.monotonic()))
            if index not in results:
                results[index] = on_timeout(targets[index], -1) if isinstance(outcome, _Crash) else outcome
                _each(on_each, results[index])
        except queue.Empty:
            pass
        now = time.monotonic()
        for index in [i for i in range(len(targets)) if i not in results and i in began and now >= deadline(i)]:
            results[index] = on_timeout(targets[index], int(round((now - began[index]) * 1000)))
            _each(on_each, results[index])
        if interim_due is not None and now >= interim_due:
            interim_due = None
            waiting = [targets[i] for i in range(len(targets)) if i not in results]
            if waiting and results and on_interim is not None:
                try:
                    on_interim([results[i] for i in sorted(results)], waiting)
                except Exception:  # noqa: BLE001 - a failed progress message must not lose the answer
                    log.exception("dicom: the interim report failed")
    return [results[i] for i in range(len(targets))]


class _Crash:
    pass


def _each(on_each: Callable[[T], None] | None, result: T) -> None:
    if on_each is None:
        return
    try:
        on_each(result)
    except Exception:  # noqa: BLE001 - what one answer's handling does must not lose the others
        log.exception("dicom: handling one node's answer failed")


def _guarded(work: Callable[[Target], T], target: Target) -> T | _Crash:
    try:
        return work(target)
    except Exception:  # noqa: BLE001 - one node's bug must not lose the other nodes' answers
        log.exception("dicom: unexpected error while asking %s", target.name)
        return _Crash()

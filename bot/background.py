"""Work that runs after the ack: a bounded thread pool that never loses an error.

Slack wants an answer within 3 seconds. Listeners ack at once and hand anything slow (DICOM,
database writes, messages to many people) to :class:`Background`. Failures are logged with a
reference and reported to the user by the ``on_error`` callback given with the work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


BUSY_TEXT = (":hourglass: pacsbot is very busy right now and could not start that. "
             "Please try again in a minute; if patient care is waiting, call the PACS on-call.")


class Busy(RuntimeError):
    """Too much work is already queued; the caller should ask the user to try again."""


class Background:
    def __init__(self, threads: int = 8, name: str = "pacsbot-bg", max_pending: int = 20_000):
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self.max_pending = max_pending
        self._pending = 0
        self._cond = threading.Condition()
        self._closed = False
        self._refused = 0
        self._refused_logged_at = 0.0

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_error: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> Future[Any]:
        with self._cond:
            if self._closed:
                raise Busy("background work is shutting down")
            if self._pending >= self.max_pending:
                self._log_refusal()
                raise Busy(f"{self._pending} tasks are already queued")
            self._pending += 1

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - reported, never swallowed silently
                if on_error is not None:
                    try:
                        on_error(exc)
                    except Exception:  # noqa: BLE001
                        log.exception("background: the error handler itself failed")
                else:
                    log.exception("background: %s failed", getattr(fn, "__name__", "task"))
                return None
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

        return self._pool.submit(run)

    def _log_refusal(self) -> None:
        """Count a refused task; log the count at most every 10 s (an overloaded bot must not
        also flood its log, one line per request)."""
        self._refused += 1
        now = time.monotonic()
        if now - self._refused_logged_at >= 10:
            log.error("background queue full (%d tasks queued): refused %d task(s); users were told to try again",
                      self._pending, self._refused)
            self._refused, self._refused_logged_at = 0, now

    @property
    def pending(self) -> int:
        return self._pending

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no work is pending (tests and the console); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=timeout)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking work and drop what has not started; with ``wait``, let running work end.

        Work that must survive a restart (messages to many people, webhooks) is kept in an
        outbox table, not only here, so dropping the queue loses nothing that matters.
        """
        with self._cond:
            self._closed = True
            dropped = self._pending
        self._pool.shutdown(wait=wait, cancel_futures=True)
        if dropped:
            log.info("background: shut down with %d task(s) queued or running", dropped)

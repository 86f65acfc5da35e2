"""``GET /metrics``: pacsbot's metrics (``bot.metrics``) in Prometheus' text format.

Served where ``/healthz`` is: by gunicorn's workers in HTTP mode, by the health server in
Socket Mode. In HTTP mode each worker counts into files of its own in a private folder that
the gunicorn master makes before it forks (:func:`use_multiprocess`), and every scrape adds
up all the workers', those of workers that have exited included, so the counters never go
back when a worker is replaced. What is read at scrape time — the outbox backlog — is asked
of the database with a bounded wait, as ``/healthz`` does: a hung database never hangs a scrape.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import multiprocess, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from pacsbot.bot.metrics import registry, start_afresh

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LAST_TICK = "pacsbot_scheduler_last_tick_timestamp_seconds"


def use_multiprocess() -> Callable[[], None]:
    """In the gunicorn master, before it forks: count into files in a fresh private folder
    (so nothing is left from an earlier run), shared by the workers. Returns the function that
    removes the folder, in the master, when it stops."""
    path = tempfile.mkdtemp(prefix="pacsbot-metrics-")  # mode 0700
    os.environ[MULTIPROC_ENV] = path
    # prometheus_client reads the variable only when it is imported, long before (the master
    # has even counted its start-up check of Slack, in memory): choose its storage again, and
    # count anew, so that the workers count in files from their first ack
    values.ValueClass = values.MultiProcessValue()
    start_afresh()
    master = os.getpid()

    def remove() -> None:
        if os.getpid() == master:  # a worker leaves through the master's frames too
            shutil.rmtree(path, ignore_errors=True)

    return remove


def process_exited(pid: int) -> None:
    """gunicorn's ``child_exit``: a worker is gone; drop its "live" gauges (its counters stay)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


def _version() -> str:
    try:
        return version("pacsbot")
    except PackageNotFoundError:
        return "unknown"


def _written(path: str) -> list[str]:
    """The workers' metric files, but for one being created this instant: a worker that has
    just started makes its file empty, then sizes it, and an empty file cannot be read (a
    scrape right after a worker was replaced failed on one). Its first counts are in the next
    scrape."""
    files = []
    for name in glob.glob(os.path.join(path, "*.db")):
        try:
            if os.path.getsize(name) > 0:
                files.append(name)
        except OSError:  # gone meanwhile: an exited worker's live gauges
            continue
    return files


class MetricsPage:
    """What one scrape returns: the counters (this process's, or all workers' in HTTP mode),
    the scheduler's heartbeat age, the outbox backlog (``outbox()``: the health check's
    bounded answer) and the version."""

    def __init__(self, *, outbox: Callable[[], dict[str, Any]] | None = None):
        self.outbox = outbox
        self.version = _version()

    def collect(self) -> Iterator[Any]:
        path = os.environ.get(MULTIPROC_ENV)
        if path:
            counted: Iterable[Any] = multiprocess.MultiProcessCollector.merge(_written(path), accumulate=True)
        else:
            counted = registry().collect()
        for family in counted:
            yield family
            latest = max((s.value for s in family.samples), default=0.0) if family.name == LAST_TICK else 0.0
            if latest > 0:  # 0: no scheduler has ticked in these processes
                yield GaugeMetricFamily("pacsbot_scheduler_heartbeat_age_seconds", "Seconds since a scheduler last ticked.",
                                        value=max(0.0, time.time() - latest))
        info = GaugeMetricFamily("pacsbot_build_info", "pacsbot's version (always 1).", labels=["version"])
        info.add_metric([self.version], 1)
        yield info
        if self.outbox is not None:
            yield from self._outbox(self.outbox())

    def _outbox(self, status: dict[str, Any]) -> Iterator[Any]:
        answered = "backlog" in status
        gauge = GaugeMetricFamily
        yield gauge("pacsbot_outbox_query_success", "1 when the outbox backlog was read within the scrape's wait.",
                    value=1 if answered else 0)
        if answered:
            yield gauge("pacsbot_outbox_backlog_messages", "Slack messages waiting to be sent.", value=status["backlog"])
            yield gauge("pacsbot_outbox_oldest_message_age_seconds", "How long the oldest waiting message has waited (0: none).",
                        value=status["oldest_seconds"])

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The page, in the format ``accept`` asks for (Prometheus text by default), and its type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self), content_type  # anything with collect() will do


def metrics_response(page: MetricsPage, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    try:
        data, content_type = page.render(environ.get("HTTP_ACCEPT"))
    except Exception:  # noqa: BLE001 - a scrape that fails says so; it never takes the server down
        log.exception("pacsbot: /metrics failed")
        data, content_type = b"# metrics unavailable\n", "text/plain; charset=utf-8"
        start_response("500 Internal Server Error", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
        return [data]
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data] if environ.get("REQUEST_METHOD", "GET") == "GET" else [b""]

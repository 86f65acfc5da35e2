"""``/metrics`` of ``pacsbot serve`` as a real process: gunicorn's workers count into files of a
private folder, every scrape adds them all up (a replaced worker's counts included), an exited
worker's live gauges are dropped, and the folder is removed when the server stops."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pacsbot.bot.simulate import Simulator
from pacsbot.bot.slackmock import MockSlack
from tests.bot.test_serve import SECRET, serving
from tests.bot.test_serve import request as http
from tests.metrics_support import Scrape

pytestmark = pytest.mark.integration

HELP_ACKS = ("pacsbot_acks_total", {"kind": "command", "name": "help", "outcome": "ok"})


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers), from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def scrape(port: int) -> Scrape:
    status, body = http(port, "GET", "/metrics")
    assert status == 200, body
    return Scrape.of(body)


def help_acks(port: int) -> float:
    name, labels = HELP_ACKS
    return scrape(port).value(name, **labels)


@pytest.fixture(params=["unset", "stale"])
def served(request: pytest.FixtureRequest, tmp_path: Path, mock_slack: MockSlack) -> Iterator[tuple[int, subprocess.Popen[str], Path]]:
    """The server, started without PROMETHEUS_MULTIPROC_DIR, or with one left from an earlier
    run (whose counts must not be added: the master makes a fresh folder either way)."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("finds gunicorn's workers in /proc (Linux)")
    temp = tmp_path / "tmp"  # where the master makes its metrics folder, so that the test can see it
    temp.mkdir()
    env: dict[str, str | None] = {"TMPDIR": str(temp), "PROMETHEUS_MULTIPROC_DIR": None}
    if request.param == "stale":
        stale = tmp_path / "stale-metrics"
        stale.mkdir()
        (stale / "counter_1.db").write_bytes(b"left over from another run")
        env["PROMETHEUS_MULTIPROC_DIR"] = str(stale)
    with serving(tmp_path, mock_slack, env, ready=lambda proc: len(children(proc.pid)) == 2) as (port, proc):
        yield port, proc, temp


def test_metrics_add_up_across_workers_and_survive_a_replaced_worker(served: tuple[int, Any, Path]) -> None:
    port, proc, temp = served
    [folder] = list(temp.glob("pacsbot-metrics-*"))
    assert folder.stat().st_mode & 0o077 == 0, "the metrics folder is private"
    sim = Simulator(SECRET)
    before = help_acks(port)
    assert before == 0  # a fresh count: nothing from an earlier run

    def ack(_: int) -> int:
        signed = sim.slash_command("U0ADMIN01", "help")
        return http(port, "POST", "/slack/events", signed.body, signed.headers)[0]

    with ThreadPoolExecutor(8) as pool:  # at once, so that both workers take some
        assert set(pool.map(ack, range(40))) == {200}
    # every scrape, whichever worker answers it, counts every worker's acks
    seen = {help_acks(port) - before for _ in range(10)}
    assert seen == {40}
    workers = children(proc.pid)
    assert {f"counter_{pid}.db" for pid in workers} & {f.name for f in folder.iterdir()}  # one file per worker and kind
    deadline = time.monotonic() + 30  # each worker's scheduler starts once the worker has booted
    while not all((folder / f"gauge_livemax_{pid}.db").exists() for pid in workers):  # its heartbeat
        assert time.monotonic() < deadline, sorted(f.name for f in folder.iterdir())
        time.sleep(0.1)

    # both workers are replaced: what they counted stays, their live gauges go
    for pid in workers:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while not (children(proc.pid) and not children(proc.pid) & workers and len(children(proc.pid)) == 2):
        assert time.monotonic() < deadline, "gunicorn did not replace its workers"
        time.sleep(0.2)
    for _ in range(50):
        try:
            page = scrape(port)
            break
        except OSError:
            time.sleep(0.2)
    name, labels = HELP_ACKS
    assert page.value(name, **labels) - before == 40  # counted by processes that are gone
    assert not any((folder / f"gauge_livemax_{pid}.db").exists() for pid in workers)
    assert page.value("pacsbot_outbox_query_success") == 1 and page.value("pacsbot_outbox_backlog_messages") == 0

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not folder.exists(), "the metrics folder is removed when the server stops"

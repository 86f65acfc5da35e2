"""Start-up and memory: ``pacsbot serve`` (HTTP mode) vs a bare Bolt app on the same gunicorn setup.

    python3 dev.py bench startup [--rounds 5] [--workers 2] [--threads 8]

Each round starts the two servers one after the other (interleaved: who goes first
alternates, so a busy moment of the shared machine hits both), with the local mock Slack Web
API and dummy tokens, after one uncounted start of each (it fills the caches and creates and
migrates the database). Both run with compiled bytecode, as an installed package does (pip
compiles it): bytecode caching is on, into a temporary directory (``PYTHONPYCACHEPREFIX``; a
development shell may set ``PYTHONDONTWRITEBYTECODE``, and every start would then compile
pacsbot's modules again).

* ``pacsbot``: ``pacsbot serve`` in HTTP mode with a temporary configuration and data
  directory (SQLite). ``knowledge: {semantic: off}`` is set explicitly, so the figures do not
  depend on whether the optional semantic re-ranker happens to be installed (with ``auto``
  it would compute the section vectors in the background after start);
* ``bare`` (the peer): a bare slack-bolt App with a trivial ``/healthz``
  (``benchmarks/_servers.py bare-healthz``), served by the same ``run_gunicorn``.

Figures: seconds from spawning the process until ``GET /healthz`` answers 200 (median of the
rounds), and the memory of each gunicorn worker process once both workers have booted:
VmRSS (what the target is on), and PSS / USS (its proportional and private parts: pages a
worker shares copy-on-write with the master count fully in its RSS, in part in its PSS, not
at all in its USS).

Targets (issue 15): start to /healthz under 2.0 s; RSS per worker under 90 MiB + the index
(the memory the parsed bundled manuals and their index take, measured here with tracemalloc).
The exit status is 1 when a target is missed. Timings on a shared 2-core machine are noisy:
read the interleaved ratio, and run twice.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._peers import Measure, children, order, print_table, proc_stat
from benchmarks.http_acks import SECRET, TOKEN, MockSlackProcess, free_port, stop

TARGET_SECONDS = 2.0
TARGET_WORKER_MIB = 90.0  # plus the index
MIB = 1024 * 1024


@dataclass
class Run:
    seconds: float
    rss: list[float] = field(default_factory=list)  # MiB per worker
    pss: list[float] = field(default_factory=list)
    uss: list[float] = field(default_factory=list)


def healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def kill_leftovers(started: dict[int, str]) -> None:
    """Kill the workers (pid -> start time) still running after their master stopped; a pid
    that now names another process (same pid, other start time) is left alone."""
    for pid, start_time in started.items():
        fields = proc_stat(pid)
        if fields[19:20] == [start_time]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def memory(pid: int) -> tuple[float, float, float]:
    """(VmRSS, PSS, USS) of one process in MiB."""
    fields: dict[str, int] = {}
    for path in (f"/proc/{pid}/status", f"/proc/{pid}/smaps_rollup"):
        try:
            with open(path) as f:
                for line in f:
                    name, _, rest = line.partition(":")
                    if rest.strip().endswith("kB"):
                        fields[name] = int(rest.split()[0])
        except OSError:
            pass
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return fields.get("VmRSS", 0) / 1024, fields.get("Pss", 0) / 1024, uss / 1024


def settled_workers(master: int, workers: int, timeout: float = 20.0) -> list[int]:
    """The master's workers once there are ``workers`` of them and their RSS has stopped
    growing (each has loaded the app), or whatever there is after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: dict[int, float] = {}
    steady = 0
    while time.monotonic() < deadline:
        pids = children(master)
        now = {pid: memory(pid)[0] for pid in pids}
        if len(pids) == workers and now.keys() == last.keys() and all(abs(now[p] - last[p]) < 0.25 for p in pids):
            steady += 1
            if steady >= 3:
                return pids
        else:
            steady = 0
        last = now
        time.sleep(0.25)
    return children(master)


def start_and_measure(kind: str, env: dict[str, str], config: Path, workers: int, threads: int) -> Run:
    port = free_port()
    if kind == "pacsbot":
        cmd = [sys.executable, "-m", "pacsbot.bot", "--config", str(config), "serve", "--http", "--port", str(port),
               "--workers", str(workers), "--threads", str(threads)]
    else:
        cmd = [sys.executable, "-m", "benchmarks._servers", "bare-healthz", "--port", str(port),
               "--workers", str(workers), "--threads", str(threads)]
    # the server's log goes to a file, not a pipe nobody reads (a full pipe would block it)
    with tempfile.TemporaryFile() as log_file:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env={**env, "PACSBOT_CONFIG": str(config)}, stdout=subprocess.DEVNULL, stderr=log_file)
        seen: dict[int, str] = {}  # worker pid -> its start time

        def note_workers() -> list[int]:
            pids = children(proc.pid)
            seen.update((pid, fields[19]) for pid in pids if len(fields := proc_stat(pid)) > 19)
            return pids

        try:
            deadline = started + 60
            while not healthy(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_file.seek(0)
                    why = "exited" if proc.poll() is not None else "did not answer /healthz within 60 s"
                    raise SystemExit(f"{kind} server {why}: {log_file.read().decode(errors='replace')[-2000:]}")
                time.sleep(0.02)
            run = Run(time.monotonic() - started)
            pids = settled_workers(proc.pid, workers)
            note_workers()
            for pid in pids:
                rss, pss, uss = memory(pid)
                run.rss.append(rss), run.pss.append(pss), run.uss.append(uss)
            return run
        finally:
            note_workers()
            stop(proc)
            kill_leftovers(seen)  # workers their master could not stop (it was killed)


def index_mib(config: Path) -> float:
    """Memory the knowledge index of the configured manuals takes (Python and numpy allocations)."""
    from pacsbot.bot.settings import load_settings
    from pacsbot.knowledge.base import build_snapshot

    knowledge = load_settings(config).knowledge
    ranking = knowledge.ranking()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    snapshot = build_snapshot(knowledge.manual_dirs(), synonyms_path=knowledge.synonyms_file, ranking=ranking)
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del snapshot
    return size / MIB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench startup")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv or [])

    runs: dict[str, list[Run]] = {"pacsbot": [], "bare": []}
    with MockSlackProcess(TOKEN) as api_url, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "pacsbot.yml"
        # semantic off: the re-ranker (when installed) would compute vectors after start
        config.write_text(f"database:\n  url: sqlite:///{tmp}/bench.db\nknowledge:\n  semantic: 'off'\n")
        env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": api_url,
               "PYTHONPYCACHEPREFIX": f"{tmp}/pycache"}
        env.pop("SLACK_APP_TOKEN", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        index = index_mib(config)
        print(f"gunicorn gthread, {args.workers} workers x {args.threads} threads; {args.rounds} interleaved rounds "
              f"on a {os.cpu_count()}-core machine; knowledge.semantic off; index of the bundled manuals: {index:.1f} MiB\n")
        for kind in ("pacsbot", "bare"):  # not counted: creates the database, fills the file cache
            start_and_measure(kind, env, config, args.workers, args.threads)
        print(f"{'round':>5}  {'app':<8} {'start s':>8} {'RSS MiB/worker':>16} {'PSS':>12} {'USS':>12}")
        for i in range(args.rounds):
            for kind in order(i, "pacsbot", "bare"):
                r = start_and_measure(kind, env, config, args.workers, args.threads)
                runs[kind].append(r)
                print(f"{i + 1:>5}  {kind:<8} {r.seconds:>8.2f} {' '.join(f'{m:.0f}' for m in r.rss):>16} "
                      f"{' '.join(f'{m:.0f}' for m in r.pss):>12} {' '.join(f'{m:.0f}' for m in r.uss):>12}", flush=True)

    def med(kind: str, what: str) -> float:
        if what == "seconds":
            return statistics.median(r.seconds for r in runs[kind])
        return statistics.median(max(getattr(r, what)) for r in runs[kind] if getattr(r, what))

    print()
    ok = print_table([
        Measure(f"start to /healthz (median of {args.rounds})", med("pacsbot", "seconds"), med("bare", "seconds"),
                below=TARGET_SECONDS),
        Measure("RSS per worker (VmRSS)", med("pacsbot", "rss"), med("bare", "rss"), unit="MiB", digits=0,
                below=round(TARGET_WORKER_MIB + index, 1)),
        Measure("PSS per worker", med("pacsbot", "pss"), med("bare", "pss"), unit="MiB", digits=0),
        Measure("USS (private) per worker", med("pacsbot", "uss"), med("bare", "uss"), unit="MiB", digits=0),
    ], peer="bare Bolt")
    print(f"RSS target: {TARGET_WORKER_MIB:g} MiB + the index ({index:.1f} MiB); memory figures: the median over the "
          "rounds of the larger worker")
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Training at scale: assign a module to a user group of 2,000 and build the report for
2,000 learners x 10 modules, through the real Bolt app (signed HTTP) and a mock Slack.

    python3 dev.py bench training [--db URL] [--learners N] [--rate R] [--throttles K]

Measures the ack of ``/pacs train assign``, the time until every assignment is recorded, and
the time until every invitation DM has been sent through the outbox (with K injected HTTP 429
rate-limit answers, each with Retry-After: 1); then the report: all rows as CSV, the status
summary, and ``/pacs train report --csv`` end to end (files v2 upload).

The outbox paces DMs (``--rate``, messages per second; production default
``Outbox.RATE_PER_SECOND``). Against the mock the benchmark runs faster than Slack would
allow, to measure pacsbot itself; the line "at production pace" is the floor Slack imposes.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets as _secrets
import shutil
import statistics
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

TOKEN = "xoxb-bench-token"
TRAINER = "U0TRAIN01"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _send(port: int, request: Any) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/slack/events", body=request.body.encode(), headers=request.headers)
        response = conn.getresponse()
        body = response.read().decode()
        return response.status, body, time.perf_counter() - t0
    finally:
        conn.close()


def _wait(predicate: Any, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.training", description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a SQLite file in a temporary directory)")
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--modules", type=int, default=10)
    parser.add_argument("--rate", type=float, default=100.0, help="outbox messages per second against the mock")
    parser.add_argument("--throttles", type=int, default=5, help="HTTP 429 answers injected while the DMs go out")
    args = parser.parse_args(argv)

    from sqlalchemy import func, select

    from bot.app import build_app
    from bot.features.training import feature
    from bot.models import OutboxMessage
    from bot.outbox import Outbox, get_outbox
    from bot.server import wsgi_app
    from bot.services import build_services
    from bot.settings import Secrets, load_settings
    from bot.simulate import Simulator
    from bot.slack_client import make_web_client
    from bot.slackmock import MockSlack
    from bot.storage import Database, upgrade
    from training import records
    from training.models import Assignment, Attempt, Attestation, Completion

    tmp = tempfile.mkdtemp(prefix="pacsbot-bench-training-")
    schema = None
    db_url = f"sqlite:///{tmp}/bench.db"
    if args.db:
        db_url, schema = _own_schema(args.db)
    signing = _secrets.token_hex(16)
    learners = [f"U0L{i:07d}" for i in range(args.learners)]
    mock = MockSlack(token=TOKEN).start()
    mock.add_user(TRAINER, "terry.trainer", real_name="Terry Trainer")
    mock.add_usergroup("S0BENCH01", "all-imaging", learners)
    settings = load_settings(None, overrides={"data_dir": tmp, "database": {"url": db_url}, "roles": {"trainers": [TRAINER]},
                                              "training": {"default_due_days": 30}})
    services = build_services(settings, Secrets(TOKEN, None, signing, mock.api_url), client=make_web_client(TOKEN, mock.api_url))
    db: Database = services.db
    upgrade(db)
    outbox = get_outbox(services)
    outbox.rate, outbox.burst = args.rate, Outbox.BURST
    app = build_app(services)
    server = make_server("127.0.0.1", 0, wsgi_app(app, services), server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = int(server.server_address[1])
    sim = Simulator(signing, response_url_base=mock.respond_base)
    rows: list[tuple[str, str]] = []
    status = 0
    try:
        # --- assign to a user group of N -------------------------------------------------
        injected: list[int] = []

        def throttle() -> None:  # a 429 every so often while the DMs go out
            step = max(1, args.learners // (args.throttles + 1))
            while len(injected) < args.throttles:
                sent = len(mock.calls_to("chat.postMessage"))
                if sent >= step * (len(injected) + 1):
                    mock.fail("chat.postMessage", status=429, retry_after=1)
                    injected.append(sent)
                time.sleep(0.01)

        thrower = threading.Thread(target=throttle, daemon=True)
        thrower.start()
        t0 = time.perf_counter()
        code, body, ack = _send(port, sim.slash_command(TRAINER, "train assign hipaa-imaging <!subteam^S0BENCH01|@all-imaging>"))
        if code != 200:
            print(f"the command failed: HTTP {code} {body}")
            return 1

        def recorded() -> int:
            with db.session() as s:
                return int(s.scalar(select(func.count()).select_from(Assignment)) or 0)

        _wait(lambda: recorded() >= args.learners, 120)
        t_recorded = time.perf_counter() - t0
        _wait(lambda: len([c for c in mock.calls_to("chat.postMessage")]) - len(injected) >= args.learners, 3600, 0.05)
        services.background.wait_idle(60)
        t_sent = time.perf_counter() - t0
        posts = mock.calls_to("chat.postMessage")
        delivered = [c.params["channel"] for c in posts if c.params.get("channel", "").startswith("U0L")]
        with db.session() as s:
            sent_rows = int(s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")) or 0)
        _send(port, sim.slash_command(TRAINER, "train assign hipaa-imaging <!subteam^S0BENCH01|@all-imaging>"))
        services.background.wait_idle(60)
        again = recorded() - args.learners
        ok = recorded() == args.learners and sent_rows == args.learners and len(set(delivered)) == args.learners
        status |= 0 if ok else 1
        rows += [
            (f"assign to {args.learners:,} learners (user group)", ""),
            ("  ack of /pacs train assign", f"{ack * 1000:.0f} ms"),
            ("  every assignment recorded (after the ack)", f"{t_recorded:.2f} s"),
            (f"  every DM sent (mock Slack, {len(injected)} x 429 Retry-After 1 s)", f"{t_sent:.1f} s"),
            ("  outbox pace used here", f"{args.rate:g}/s, bursts of {Outbox.BURST}"),
            (f"  at production pace ({Outbox.RATE_PER_SECOND:g}/s), DMs need at least", f"{args.learners / Outbox.RATE_PER_SECOND / 60:.1f} min"),
            ("  assignments / outbox sent / distinct DM recipients", f"{recorded():,} / {sent_rows:,} / {len(set(delivered)):,}"),
            ("  chat.postMessage calls (incl. 429s)", f"{len(posts):,}"),
            ("  the same command again: new assignments", f"{again}"),
        ]

        # --- report for N learners x M modules ------------------------------------------------
        svc = feature(services).service
        catalog = svc.catalog()
        modules = [catalog.get(m) for m in ("viewer-basics", "missing-images-resend", "downtime-procedures", "dicom-connectivity")]
        t_setup = time.perf_counter()
        now = datetime.now(timezone.utc)
        ids = ["hipaa-imaging"]
        with db.session() as s:
            for i in range(args.modules - 1):
                base = modules[i % len(modules)]
                m = base if i < len(modules) else _variant(base, f"{base.id}-{i}")
                ids.append(m.id)
                version = records.ensure_version(s, m, now)
                records.assign(s, m, version, learners, by=TRAINER, now=now, due=date.today() + timedelta(days=30))
            _complete_most(s, ids, now, Assignment, Attempt, Completion, Attestation)
            records.save_names(s, {u: f"Learner {u[3:]}" for u in learners}, now)
        setup = time.perf_counter() - t_setup
        timings = []
        for _ in range(3):
            t1 = time.perf_counter()
            with db.session() as s:
                report = records.report_rows(s)
            content = records.to_csv(report)
            timings.append(time.perf_counter() - t1)
        t_status = time.perf_counter()
        with db.session() as s:
            for mid in ids:
                records.module_status(s, mid, today=date.today())
        t_status = time.perf_counter() - t_status
        files_before = len(mock.files)
        t2 = time.perf_counter()
        _send(port, sim.slash_command(TRAINER, "train report --csv"))
        _wait(lambda: len(mock.files) > files_before, 300)
        services.background.wait_idle(60)
        t_e2e = time.perf_counter() - t2
        uploaded = mock.files[-1]["content"] if len(mock.files) > files_before else b""
        ok = len(report) == args.learners * args.modules and uploaded.count(b"\n") == len(report) + 1
        status |= 0 if ok else 1
        rows += [
            (f"report for {args.learners:,} learners x {args.modules} modules", ""),
            ("  records written for it (assignments, attempts, completions)", f"{setup:.1f} s"),
            ("  rows (one per assignment) / CSV size", f"{len(report):,} / {len(content) / 1e6:.1f} MB"),
            ("  all rows as CSV (median of 3)", f"{statistics.median(timings):.2f} s"),
            (f"  status summary of {args.modules} modules", f"{t_status:.2f} s"),
            ("  /pacs train report --csv end to end (files v2)", f"{t_e2e:.2f} s"),
        ]
    finally:
        server.shutdown()
        services.close()
        mock.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        if schema:
            _drop_schema(args.db, schema)

    backend = "PostgreSQL" if schema else "SQLite (file)"
    print(f"Training benchmark — {backend}, {os.cpu_count()} CPU(s). This machine is shared with other engineers' test runs:")
    print("timings are noisy; compare orders of magnitude, not digits.\n")
    width = max(len(a) for a, _ in rows) + 2
    print(f"{'measure':<{width}}value")
    print("-" * (width + 14))
    for label, value in rows:
        print(f"{label:<{width}}{value}")
    print("\n" + ("all checks passed (each assignment once, each DM once, full CSV)" if status == 0 else "CHECKS FAILED"))
    return status


def _variant(module: Any, new_id: str) -> Any:
    from dataclasses import replace

    return replace(module, id=new_id, content_hash=f"{abs(hash(new_id)):064x}"[-64:])


def _complete_most(s: Any, module_ids: list[str], now: datetime, Assignment: Any, Attempt: Any, Completion: Any, Attestation: Any) -> None:
    """Record attempts for every assignment and completions for 4 in 5 (bulk, for speed)."""
    from sqlalchemy import insert, select, update

    assignments = s.execute(select(Assignment.id, Assignment.user_id, Assignment.module_id, Assignment.version,
                                   Assignment.content_hash).where(Assignment.module_id.in_(module_ids),
                                                                  Assignment.status == "open")).all()
    attempts = [{"assignment_id": a.id, "number": 1, "user_id": a.user_id, "module_id": a.module_id, "version": a.version,
                 "content_hash": a.content_hash, "answers": {"chosen": {}}, "correct": 8 if a.id % 5 else 4, "total": 10,
                 "score": 80 if a.id % 5 else 40, "pass_mark": 80, "passed": bool(a.id % 5), "submitted_at": now}
                for a in assignments]
    ids: dict[int, int] = {}
    for start in range(0, len(attempts), 1000):
        for row in s.execute(insert(Attempt).returning(Attempt.id, Attempt.assignment_id), attempts[start:start + 1000]):
            ids[row.assignment_id] = row.id
    passed = [a for a in assignments if a.id % 5]
    completions = [{"assignment_id": a.id, "attempt_id": ids[a.id], "user_id": a.user_id, "module_id": a.module_id,
                    "version": a.version, "content_hash": a.content_hash, "score": 80, "attempts": 1, "completed_at": now,
                    "expires_at": None} for a in passed]
    cids = []
    for start in range(0, len(completions), 1000):
        cids.extend(s.execute(insert(Completion).returning(Completion.id, Completion.user_id), completions[start:start + 1000]).all())
    for start in range(0, len(cids), 1000):
        s.execute(insert(Attestation), [{"completion_id": c.id, "user_id": c.user_id, "statement": "I have read and understood this module.",
                                         "attested_at": now} for c in cids[start:start + 1000]])
    done = [a.id for a in passed]
    for start in range(0, len(done), 1000):
        s.execute(update(Assignment).where(Assignment.id.in_(done[start:start + 1000])).values(status="completed", is_open=None, closed_at=now))


def _own_schema(url: str) -> tuple[str, str | None]:
    """A throwaway schema on a shared PostgreSQL server (other engineers use it too)."""
    if not url.startswith("postgres"):
        return url, None
    from sqlalchemy import create_engine, text

    from bot.storage import normalize_url

    schema = f"bench_{_secrets.token_hex(5)}"
    engine = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}", schema


def _drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    from bot.storage import normalize_url

    engine = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.exit(main(sys.argv[1:]))

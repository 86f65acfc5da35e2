"""The weekly report over a busy week: how long gathering the figures and drawing the chart take.

Seeds a throwaway database with one week of a large site — by default 8 nodes checked every
minute (80,640 checks), 1,500 tickets, 300 unanswered questions, 20 modules assigned to
3,000 people — then times :func:`reports.weekly.gather`, the PNG and the CSVs. SQLite by
default; ``--db-url postgresql://...`` (an empty database) to measure PostgreSQL. Target: the
whole report in under 5 seconds, so the weekly job never holds a scheduler tick for long.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import insert

from bot.storage import Database, upgrade
from commands.models import NodeCheck
from knowledge.models import Gap
from reports.chart import render_png
from reports.export import csvs
from reports.weekly import Week, gather
from tickets.config import CATEGORIES
from tickets.models import Ticket
from training.models import Assignment

TARGET_SECONDS = 5.0


def seed(db: Database, week: Week, *, nodes: int, tickets: int, gaps: int, people: int, modules: int) -> int:
    rng = random.Random(47)
    start = week.start
    rows = 0
    with db.session() as s:
        checks = []
        for n in range(nodes):
            for minute in range(7 * 24 * 60):
                ok = rng.random() > 0.004
                checks.append({"node": f"node{n}", "at": start + timedelta(minutes=minute), "ok": ok,
                               "elapsed_ms": int(rng.lognormvariate(3, 0.4)) if ok else 30000,
                               "failure_code": None if ok else "timeout", "in_downtime": 3000 < minute < 3060})
        for i in range(0, len(checks), 5000):
            s.execute(insert(NodeCheck), checks[i:i + 5000])
        rows += len(checks)
        ticket_rows = []
        for i in range(tickets):
            created = start + timedelta(minutes=rng.randrange(7 * 24 * 60))
            acked = created + timedelta(minutes=rng.randrange(1, 240)) if rng.random() < 0.9 else None
            resolved = acked + timedelta(minutes=rng.randrange(10, 3000)) if acked and rng.random() < 0.7 else None
            ticket_rows.append({
                "source_ref": f"bench:{i}", "source": "command", "category": rng.choice(CATEGORIES), "urgency": "routine",
                "priority": "P3", "queue": "pacs", "reporter": "U0BENCH01", "summary": "s", "description": "d",
                "status": "resolved" if resolved else "acknowledged" if acked else "new", "created_at": created, "updated_at": created,
                "acknowledged_at": acked, "resolved_at": resolved, "phi_suspected": False, "is_incident": False, "reopen_count": 0,
            })
        s.execute(insert(Ticket), ticket_rows)
        rows += tickets
        s.execute(insert(Gap), [{"at": start + timedelta(minutes=rng.randrange(7 * 24 * 60)), "user_id": "U0BENCH01",
                                 "question": "q", "normalized": f"q{rng.randrange(gaps // 3 or 1)}",
                                 "best_section": rng.choice([None, "viewer.md#a", "routing.md#b", "login.md#c"]),
                                 "confidence": 0.1, "surface": "dm"} for _ in range(gaps)])
        rows += gaps
        statuses = ("completed", "completed", "completed", "open", "failed")
        assignments = []
        for m in range(modules):
            for p in range(people):
                status = rng.choice(statuses)
                assignments.append({"module_id": f"module-{m:02d}", "version": "1", "content_hash": "h" * 64, "user_id": f"U{p:08d}",
                                    "assigned_by": "U0TRAIN01", "assigned_at": start - timedelta(days=30), "due_date": date(2026, 1, 1),
                                    "reason": "assigned", "batch": "b", "status": status, "is_open": True if status == "open" else None})
        for i in range(0, len(assignments), 5000):
            s.execute(insert(Assignment), assignments[i:i + 5000])
        rows += len(assignments)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench report")
    parser.add_argument("--db-url", help="an empty database to use (default: a temporary SQLite file)")
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--tickets", type=int, default=1500)
    parser.add_argument("--gaps", type=int, default=300)
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--modules", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args, _ = parser.parse_known_args(argv or [])
    week = Week.of(2026, 47, "UTC")
    now = week.end + timedelta(hours=7)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(args.db_url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            upgrade(db)
            t0 = time.perf_counter()
            rows = seed(db, week, nodes=args.nodes, tickets=args.tickets, gaps=args.gaps, people=args.people, modules=args.modules)
            seeded = time.perf_counter() - t0
            gather_s, png_s, csv_s = [], [], []
            for _ in range(args.repeat):
                t = time.perf_counter()
                with db.session() as s:
                    report = gather(s, week, now=now)
                gather_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                png = render_png(report)
                png_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                csvs(report)
                csv_s.append(time.perf_counter() - t)
        finally:
            db.dispose()
    total = statistics.median(gather_s) + statistics.median(png_s) + statistics.median(csv_s)
    print(f"backend: {db.backend}; seeded {rows:,} rows in {seeded:.1f} s "
          f"({args.nodes} nodes x 10,080 checks, {args.tickets} tickets, {args.gaps} gaps, {args.modules} x {args.people} assignments)")
    print(f"{'step':<10} {'median s':>9}")
    print(f"{'gather':<10} {statistics.median(gather_s):>9.3f}")
    print(f"{'png':<10} {statistics.median(png_s):>9.3f}   ({len(png):,} bytes)")
    print(f"{'csv':<10} {statistics.median(csv_s):>9.3f}")
    print(f"{'total':<10} {total:>9.3f}   target < {TARGET_SECONDS:.0f} s: {'OK' if total < TARGET_SECONDS else 'MISSED'}")
    return 0 if total < TARGET_SECONDS else 1

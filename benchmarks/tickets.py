"""200 reports at once: signed ``/pacs report`` requests against ``pacsbot serve`` on PostgreSQL.

All 200 must be acknowledged, none lost, none filed twice (20 of them are also re-sent, as
a Slack retry would); prints ack latency p50/p99 and the time until every report is a
ticket. Target (issue 5): ack p99 under 300 ms. Set PACSBOT_BENCH_ADMIN_URL to another
PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from benchmarks.http_acks import MockSlackProcess, free_port, start, stop
from benchmarks.loadgen import Result, _read_response, encode
from bot.simulate import Simulator
from bot.storage import normalize_url
from tickets.models import Ticket

SECRET = "benchmark-signing-secret-0123456789"
TOKEN = "xoxb-benchmark"
PLACES = ("CT1", "CT2", "MR1", "US3", "ED", "reading room 3", "reading room 5", "DX2")
PROBLEMS = (
    "images not in PACS, acc {acc}", "study incomplete on PACS, series missing, acc {acc}", "viewer frozen at {place}",
    "worklist empty on {place}", "cannot log in to the viewer at {place}", "PACS very slow to open studies at {place}",
    "study sent under the wrong patient, acc {acc}",
)


async def fire(port: int, payloads: list[bytes]) -> Result:
    result = Result()

    async def one(payload: bytes) -> None:
        t0 = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(payload)
            await writer.drain()
            status, _ = await asyncio.wait_for(_read_response(reader), 30)
            writer.close()
        except (OSError, asyncio.TimeoutError, ValueError, asyncio.IncompleteReadError):
            result.errors += 1
            return
        result.latencies.append(time.monotonic() - t0)
        result.requests += 1
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status != 200:
            result.errors += 1

    started = time.monotonic()
    await asyncio.gather(*(one(p) for p in payloads))
    result.seconds = time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench tickets")
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--resends", type=int, default=20)
    args = parser.parse_args(argv or [])
    admin_url = normalize_url(os.environ.get("PACSBOT_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    name = f"pacsbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL is needed for this benchmark ({type(exc).__name__}: {exc}).")
        return 1
    db_url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    rng = random.Random(7)
    try:
        with MockSlackProcess(TOKEN) as api_url, tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "pacsbot.yml"
            config.write_text(f"database:\n  url: {db_url}\ntickets:\n  default_queue: C0PACSQUE\n")
            env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": api_url}
            env.pop("SLACK_APP_TOKEN", None)
            port = free_port()
            proc = start("pacsbot", env, port, 2, 8, config)
            try:
                sim = Simulator(SECRET, response_url_base=api_url.replace("/api/", "/respond"))
                requests = []
                for i in range(args.reports):
                    problem = rng.choice(PROBLEMS).format(acc=f"A{rng.randint(1000, 1400)}", place=rng.choice(PLACES))
                    requests.append(sim.slash_command(f"U0REP{i:05d}", f"report {problem}"))
                payloads = [encode("/slack/events", r.body, r.headers, "127.0.0.1") for r in requests]
                payloads += rng.sample(payloads, args.resends)  # Slack-style redeliveries of the same requests
                rng.shuffle(payloads)
                result = asyncio.run(fire(port, payloads))
                sent_at = time.monotonic()
                engine = create_engine(normalize_url(db_url))
                filed = 0
                while time.monotonic() - sent_at < 120:
                    with engine.connect() as conn:
                        filed = conn.scalar(select(func.count()).select_from(Ticket)) or 0
                    if filed >= args.reports:
                        break
                    time.sleep(0.2)
                done_in = time.monotonic() - sent_at
                time.sleep(1.0)
                with engine.connect() as conn:
                    total = conn.scalar(select(func.count()).select_from(Ticket)) or 0
                    distinct = conn.scalar(select(func.count(func.distinct(Ticket.source_ref)))) or 0
                    roots = conn.scalar(select(func.count()).select_from(Ticket).where(Ticket.parent_id.is_(None))) or 0
                engine.dispose()
            finally:
                stop(proc)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    sent = args.reports + args.resends
    print(f"pacsbot serve (gunicorn 2 workers x 8 threads) on PostgreSQL; {sent} signed /pacs report requests at once "
          f"({args.reports} reports + {args.resends} re-sent)\n")
    print(f"{'acked':>7} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'tickets':>8} {'unique':>7} {'cards*':>7} {'all filed after':>16}")
    print(f"{result.requests:>7} {result.errors:>7} {result.p50:>8.1f} {result.pct(99):>8.1f} {result.max:>8.1f} {total:>8} {distinct:>7} {roots:>7} {done_in:>15.1f}s")
    print("* tickets that got their own card; the rest were linked to an open ticket as duplicates")
    ok = result.requests == sent and result.errors == 0 and total == args.reports and distinct == args.reports and result.pct(99) < 300
    print(f"\nall acknowledged: {result.requests == sent and result.errors == 0}; none lost: {total >= args.reports}; "
          f"no duplicates: {total == distinct == args.reports}; ack p99 {result.pct(99):.0f} ms (target < 300)")
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

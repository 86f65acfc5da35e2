"""``pacsbot report --week [WEEK] --out DIR``: the weekly report as files, at a terminal.

Writes ``weekly-<week>.png`` (the chart the bot posts) and ``nodes.csv``, ``tickets.csv``,
``knowledge_gaps.csv``, ``training.csv`` into DIR, prints the summary and the paths. Exit 0
done, 1 the database cannot be reached, 2 a bad week or a directory that cannot be written.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pacsbot.bot.cli.common import cli_actor, open_database, settings_from, subparser
from pacsbot.core.errors import UserError


def add_parser(sub: Any) -> None:
    parser = subparser(sub, "report", "The weekly report: chart (PNG) and CSVs into a directory.",
                       "Write the weekly report — node uptime and latency, tickets by category, unanswered questions, "
                       "training completion — as weekly-<week>.png and CSVs, and print its summary.")
    parser.add_argument("--week", nargs="?", const="last", default="last", metavar="WEEK",
                        help="an ISO week (2026-W47), a date inside it (2026-11-18), `this` (so far) "
                             "or `last` (the default: the last complete week, Monday to Sunday in the configured time zone)")
    parser.add_argument("--out", metavar="DIR", required=True, help="directory to write into (made if missing)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pacsbot.bot.audit import Audit
    from pacsbot.bot.features.report import audit_details, make_report
    from pacsbot.reports.export import summary, write_files
    from pacsbot.reports.weekly import parse_week

    settings = settings_from(args)
    now = datetime.now(timezone.utc)
    week = parse_week(args.week, now=now, tz=settings.timezone)  # bad input before touching anything
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir} is not a directory; give --out a directory.")
    db = open_database(settings)
    try:
        report = make_report(db, settings, week, now=now, catalog=_catalog(settings))
        paths = write_files(report, out_dir)
        png = next((p.read_bytes() for p in paths if p.suffix == ".png"), b"")
        Audit(db).record(cli_actor(), "report.weekly", target=f"week:{week.label}",
                         details=audit_details(report, png, to="files", files=len(paths)))
    finally:
        db.dispose()
    print(summary(report).replace("*", ""))
    print()
    for path in paths:
        print(f"wrote {path}")
    if not png:
        from pacsbot.reports.chart import CHARTS_HINT

        print(f"(no chart: it needs matplotlib on this machine: {CHARTS_HINT})")
    sys.stdout.flush()
    return 0


def _catalog(settings: Any) -> Any:
    from pacsbot.training.service import TrainingService

    try:
        return TrainingService(settings.training, timezone=settings.timezone, manual_dirs=settings.knowledge.manual_dirs(),
                               base_url=settings.knowledge.base_url).catalog()
    except Exception:  # noqa: BLE001 - module ids instead of titles
        print("pacsbot: note: the training modules could not be read; module ids are shown instead of titles.", file=sys.stderr)
        return None

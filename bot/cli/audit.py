"""``pacsbot audit [--since DATE] [--user U] [--action A] [--csv]``: read the audit log."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

from pacsbot.bot.audit import Audit, to_csv, to_table
from pacsbot.bot.cli.common import cli_actor, open_database, settings_from, subparser
from pacsbot.bot.features.admin import parse_since
from pacsbot.core.errors import UserError


def add_parser(sub: Any) -> None:
    parser = subparser(sub, "audit", "Print the audit log (who did what, when).",
                       "Print audit entries oldest first. Reading the log is itself audited.")
    parser.add_argument("--since", metavar="DATE", help="from this date/time (YYYY-MM-DD[THH:MM], UTC) or span (24h, 7d, 2w)")
    parser.add_argument("--until", metavar="DATE", help="before this date/time (UTC)")
    parser.add_argument("--user", metavar="U", help="only this Slack user id (or cli:NAME)")
    parser.add_argument("--action", metavar="A", help="only this action or family (e.g. access.denied, dicom)")
    parser.add_argument("--limit", type=int, metavar="N", help="only the newest N entries")
    parser.add_argument("--csv", action="store_true", help="CSV on stdout (id, at, actor, action, target, outcome, details)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    db = open_database(settings)
    try:
        now = datetime.now(timezone.utc)
        since = parse_since(args.since, now) if args.since else None
        until = parse_since(args.until, now) if args.until else None
        if args.limit is not None and args.limit <= 0:
            raise UserError("--limit must be a positive number.")
        audit = Audit(db)
        rows = audit.query(since=since, until=until, actor=args.user, action=args.action, limit=args.limit)
        audit.record(cli_actor(), "audit.export", details={"rows": len(rows), "csv": bool(args.csv),
                                                            "filters": {"since": args.since, "user": args.user, "action": args.action}})
        sys.stdout.write(to_csv(rows) if args.csv else to_table(rows) + "\n")
        return 0
    finally:
        db.dispose()

"""``pacsbot db upgrade | current | check``."""

from __future__ import annotations

import argparse
from typing import Any

from pacsbot.bot.cli.common import settings_from, subparser
from pacsbot.bot.storage import Database, current_revisions, head_revisions, upgrade


def add_parser(sub: Any) -> None:
    parser = subparser(sub, "db", "Database migrations.", "Create or update the database tables of every feature (Alembic).")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION")
    for name, text in (
        ("upgrade", "apply every pending migration (also done when the bot starts)"),
        ("current", "show the revisions the database is at"),
        ("check", "exit 1 if migrations are pending"),
    ):
        p = actions.add_parser(name, help=text, description=text)
        p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="configuration file")
    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "db_action", None)
    if action is None:
        args.parser.print_help()
        return 2
    settings = settings_from(args)
    db = Database(settings.database_url)
    try:
        db.check()
        if action == "upgrade":
            revisions = upgrade(db)
            print(f"Database {db.display_url} is up to date: {', '.join(revisions)}")
            return 0
        current = current_revisions(db)
        heads = head_revisions()
        if action == "current":
            print(f"Database {db.display_url}")
            print(f"  at:     {', '.join(current) or '(empty)'}")
            print(f"  latest: {', '.join(heads)}")
            return 0
        if current != heads:
            print(f"Migrations are pending for {db.display_url}: run `pacsbot db upgrade`.")
            return 1
        print(f"Database {db.display_url} is up to date.")
        return 0
    finally:
        db.dispose()

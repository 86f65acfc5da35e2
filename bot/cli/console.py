"""``pacsbot console``: chat with the bot in the terminal (no Slack needed)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.access import Role
from bot.cli.common import settings_from, subparser
from bot.logs import setup_logging


def add_parser(sub: Any) -> None:
    parser = subparser(
        sub, "console", "Chat with the bot in this terminal, as any user, with a pretend Slack.",
        "Talk to the real bot (same listeners, same database) through a local mock of Slack. "
        "Interactive by default; with --say, runs those lines and exits (for docs and scripts).",
    )
    parser.add_argument("--as", dest="user", default="U0ADMIN01", metavar="USER",
                        help="who you are: a demo user (U0ADMIN01, dr.rhea, tom.tech, terry.trainer) or a user id")
    parser.add_argument("--role", choices=["admin", "trainer", "clinician"], help="give that user this role for the session")
    parser.add_argument("--in", dest="channel", default="C0GENERAL", metavar="CHANNEL", help="channel to talk in (default #general)")
    parser.add_argument("--say", action="append", metavar="TEXT", help="a line to send (repeatable); exits afterwards")
    parser.add_argument("--wait", type=float, default=60.0, metavar="SECONDS", help="how long to wait for slow work per line")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bot.console import Console

    settings = settings_from(args)
    setup_logging("WARNING", "text")
    role = Role.parse(args.role) if args.role else None
    try:
        console = Console(settings, user=args.user, role=role, channel=args.channel, wait_seconds=args.wait)
    except ValueError as exc:
        print(f"pacsbot: {exc}", file=sys.stderr)
        return 2
    with console:
        if args.say:
            return console.run_script(args.say)
        return console.run_interactive()

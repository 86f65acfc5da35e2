"""``pacsbot console``: chat with the bot in the terminal (no Slack needed)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pacsbot.bot.access import Role
from pacsbot.bot.cli.common import settings_from, subparser
from pacsbot.bot.logs import setup_logging

if TYPE_CHECKING:
    from pacsbot.bot.settings import Settings


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
    parser.add_argument("--script", metavar="FILE", help="send the lines of FILE (blank lines and # comments skipped); exits afterwards")
    parser.add_argument("--wait", type=float, default=60.0, metavar="SECONDS", help="how long to wait for slow work per line")
    parser.add_argument("--fresh", action="store_true",
                        help="start from an empty database, for this session only (the kept one in the data folder is left as it is)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pacsbot.bot.console import Console

    settings = settings_from(args)
    setup_logging("WARNING", "text")
    role = Role.parse(args.role) if args.role else None
    lines = list(args.say or [])
    if args.script:
        try:
            lines += script_lines(Path(args.script).read_text(encoding="utf-8"))
        except OSError as exc:
            print(f"pacsbot: cannot read the script {args.script}: {exc.strerror}", file=sys.stderr)
            return 2
    files_dir = settings.data_dir / "console-files"  # kept, also after a --fresh session
    with contextlib.ExitStack() as stack:
        if args.fresh:
            settings = fresh_settings(settings, Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pacsbot-console-"))))
        try:
            console = Console(settings, user=args.user, role=role, channel=args.channel, wait_seconds=args.wait, files_dir=files_dir)
        except ValueError as exc:
            print(f"pacsbot: {exc}", file=sys.stderr)
            return 2
        try:
            with console:
                if args.fresh and not lines:
                    console.say("Fresh start: an empty database for this session only; it is deleted when you leave.")
                if lines:
                    return console.run_script(lines)
                return console.run_interactive()
        except KeyboardInterrupt:  # Ctrl-C while starting or stopping: no traceback, the shell's code for it
            print(file=sys.stderr)
            return 130


def fresh_settings(settings: Settings, directory: Path) -> Settings:
    """``settings`` with an empty data folder (and so an empty SQLite database) in ``directory``."""
    return settings.model_copy(update={"data_dir": directory, "database": settings.database.model_copy(update={"url": None})})


def script_lines(text: str) -> list[str]:
    """The lines a console script sends: blank lines and ``#`` comments are skipped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]

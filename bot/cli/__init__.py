"""The ``pacsbot`` command line: ``serve | console | db | audit | report``, and the commands features add.

Each subcommand lives in its own module with ``add_parser(subparsers)``; its function takes
the parsed arguments and returns an exit status: 0 done, 1 a runtime failure (database or
Slack unreachable), 2 bad configuration or bad input. Errors are one clear message on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bot.settings import ConfigError
from bot.storage import StorageError
from core.errors import UserError

SUBCOMMANDS = (
    "bot.cli.serve",
    "bot.cli.console",
    "bot.cli.db",
    "bot.cli.audit",
    "bot.cli.dicom",
    "bot.cli.reconcile",
    "bot.cli.kb",
    "bot.cli.training",
    "bot.cli.tickets",
    "bot.cli.report",
    "bot.cli.outbox",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pacsbot",
        description="Slack chat-ops bot for a hospital PACS team.",
        epilog="Run `pacsbot COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: $PACSBOT_CONFIG, else built-in defaults)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except ConfigError as exc:
        print(f"pacsbot: {exc}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"pacsbot: {exc}", file=sys.stderr)
        return exc.exit_status
    except StorageError as exc:
        print(f"pacsbot: {exc}.", file=sys.stderr)
        print("Check database.url in the configuration file, and that the database server is running.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

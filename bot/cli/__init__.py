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

from pacsbot.core.errors import UserError

# Each command and the module that adds it (tests/bot/test_cli.py checks this against the modules).
COMMANDS = {
    "serve": "pacsbot.bot.cli.serve",
    "console": "pacsbot.bot.cli.console",
    "db": "pacsbot.bot.cli.db",
    "audit": "pacsbot.bot.cli.audit",
    "echo": "pacsbot.bot.cli.dicom",
    "locate": "pacsbot.bot.cli.dicom",
    "reconcile": "pacsbot.bot.cli.reconcile",
    "hl7": "pacsbot.bot.cli.hl7",
    "worklist": "pacsbot.bot.cli.worklist",
    "kb": "pacsbot.bot.cli.kb",
    "training": "pacsbot.bot.cli.training",
    "tickets": "pacsbot.bot.cli.tickets",
    "report": "pacsbot.bot.cli.report",
    "outbox": "pacsbot.bot.cli.outbox",
}
SUBCOMMANDS = tuple(dict.fromkeys(COMMANDS.values()))


def command_word(argv: list[str]) -> str | None:
    """The command in ``argv`` (after the global options), or None."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given ``argv`` naming a known command, only that command's module is
    imported (a CLI call then loads what it needs: `pacsbot kb search` skips DICOM, tickets...)."""
    parser = argparse.ArgumentParser(
        prog="pacsbot",
        description="Slack chat-ops bot for a hospital PACS team.",
        epilog="Run `pacsbot COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: $PACSBOT_CONFIG, else built-in defaults)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = COMMANDS.get(command_word(argv) or "") if argv is not None else None
    for name in (wanted,) if wanted else SUBCOMMANDS:
        importlib.import_module(name).add_parser(sub)
    _remember_parsers(parser)
    return parser


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Each (sub)command's parser is put in its own namespace, so that a mistake is reported
    with that command's usage (``pacsbot kb html: error: ...``), not the top-level one."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.set_defaults(_parser=child)
                _remember_parsers(child)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the command that got them, with its usage (exits 2)
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except UserError as exc:
        print(f"pacsbot: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        # The settings (pydantic) and the database (SQLAlchemy) are imported by the commands
        # that use them, not here: an error of theirs can only come from an imported module.
        if _raised_by(exc, "pacsbot.bot.settings", "ConfigError"):
            print(f"pacsbot: {exc}", file=sys.stderr)
            return 2
        if _raised_by(exc, "pacsbot.bot.storage", "StorageError"):
            print(f"pacsbot: {exc}.", file=sys.stderr)
            print("Check database.url in the configuration file, and that the database server is running.", file=sys.stderr)
            return 1
        raise


def _raised_by(exc: Exception, module: str, name: str) -> bool:
    """``exc`` is a ``module.name``, checked without importing ``module``."""
    loaded = sys.modules.get(module)
    kind = getattr(loaded, name, None) if loaded is not None else None
    return isinstance(kind, type) and isinstance(exc, kind)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

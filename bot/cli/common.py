"""What every subcommand shares: the --config option, loading settings, opening the database."""

from __future__ import annotations

import argparse
import getpass
from typing import TYPE_CHECKING, Any

# pydantic (the settings) and SQLAlchemy (the database) are imported when a command uses
# them: `pacsbot COMMAND --help` needs neither.
if TYPE_CHECKING:
    from pacsbot.bot.settings import Settings
    from pacsbot.bot.storage import Database


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="configuration file (default: $PACSBOT_CONFIG, else built-in defaults)")


def subparser(sub: Any, name: str, help_text: str, description: str | None = None) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=description or help_text)
    add_config_option(parser)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    from pacsbot.bot.settings import config_path_from, load_settings

    return load_settings(config_path_from(getattr(args, "config", None)))


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    from pacsbot.bot.storage import Database, upgrade

    db = Database(settings.database_url, pool_size=settings.database.pool_size)
    db.check()
    if migrate:
        upgrade(db)
    return db


def cli_actor() -> str:
    """Who ran a command at the terminal, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli:unknown"

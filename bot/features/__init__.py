"""Feature adapters: each module declares, in the registry, what it handles and with which role.

A module here translates between Slack (``Ctx``, Block Kit) and one feature package
(``commands``, ``knowledge``, ``tickets``, ``training``), which know nothing of Slack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pacsbot.bot.services import Services
    from pacsbot.bot.settings import Settings

# Order matters only for App Home sections of equal rank and for help groups.
FEATURES = (
    "pacsbot.bot.features.general",
    "pacsbot.bot.features.home",
    "pacsbot.bot.features.messages",
    "pacsbot.bot.features.admin",
    "pacsbot.bot.features.diagnostics",
    "pacsbot.bot.features.hl7",
    "pacsbot.bot.features.watch",
    "pacsbot.bot.features.reconcile",
    "pacsbot.bot.features.knowledge",
    "pacsbot.bot.outbox",
    "pacsbot.bot.features.training",
    "pacsbot.bot.features.tickets",
    "pacsbot.bot.features.report",
)


def register_all(services: "Services") -> None:
    for name in FEATURES:
        importlib.import_module(name).register(services)


def warm_all(settings: "Settings") -> None:
    """In a server's master process, before it forks its workers: import every feature module
    and call its ``warm_up(settings)``, if it has one, so that the workers share what it loads
    (copy-on-write) instead of each loading its own. A ``warm_up`` reads files and builds
    in-memory structures only: no threads, sockets or database connections before the fork."""
    for name in FEATURES:
        warm = getattr(importlib.import_module(name), "warm_up", None)
        if warm is not None:
            warm(settings)

"""Feature adapters: each module declares, in the registry, what it handles and with which role.

A module here translates between Slack (``Ctx``, Block Kit) and one feature package
(``commands``, ``knowledge``, ``tickets``, ``training``), which know nothing of Slack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.services import Services

# Order matters only for App Home sections of equal rank and for help groups.
FEATURES = (
    "bot.features.general",
    "bot.features.home",
    "bot.features.messages",
    "bot.features.admin",
    "bot.features.diagnostics",
    "bot.features.watch",
    "bot.features.reconcile",
    "bot.features.knowledge",
    "bot.outbox",
    "bot.features.training",
    "bot.features.tickets",
    "bot.features.report",
)


def register_all(services: "Services") -> None:
    for name in FEATURES:
        importlib.import_module(name).register(services)

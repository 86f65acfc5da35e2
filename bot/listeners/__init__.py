"""Wire the registry to Bolt: one module per Slack surface, each with ``register(app, services)``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pacsbot.bot.listeners import commands, events, interactions

if TYPE_CHECKING:
    from slack_bolt import App

    from pacsbot.bot.services import Services


def register(app: "App", services: "Services") -> None:
    services.registry.validate()  # every entry's named limit is declared, by now
    commands.register(app, services)
    interactions.register(app, services)
    events.register(app, services)

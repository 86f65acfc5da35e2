"""App Home: a frame that features fill with sections (my tickets, my training, admin summary)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pacsbot.bot.access import Role
from pacsbot.bot.context import Ctx
from pacsbot.bot.registry import Registry
from pacsbot.bot.render.blocks import Block, context, divider, header, section
from pacsbot.bot.render.help import group_rank

if TYPE_CHECKING:
    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)


def home_view(services: "Services", user_id: str, role: Role) -> dict[str, Any]:
    blocks: list[Block] = [
        header("pacsbot — PACS help desk"),
        context(f"Signed in as a *{role.label}*. Type `/pacs help` in any channel to see what you can do."),
    ]
    for _order, provider in services.registry.home_providers:
        try:
            part = provider(services, user_id, role)
        except Exception:  # noqa: BLE001 - one broken section must not blank the whole tab
            log.exception("home: a section failed to render")
            part = [section("_This section could not be loaded just now._")]
        if part:
            blocks.append(divider())
            blocks.extend(part)
    return {"type": "home", "blocks": blocks[:100]}


def register(services: "Services") -> None:
    services.registry.include(TABLE)


# What the home feature handles in Slack, declared once (module-level handlers; register() adds them)
TABLE = Registry()


@TABLE.home(order=90)
def getting_started(services: "Services", user_id: str, role: Role) -> list[Block]:
    allowed = sorted(services.registry.allowed_subcommands(role), key=lambda s: group_rank(s.group))
    lines = "\n".join("• `{}` — {}".format(*s.shown_to(role)) for s in allowed[:10])
    return [section(f"*Getting started*\n{lines}")]


@TABLE.event("app_home_opened")
def app_home_opened(ctx: Ctx) -> None:
    event = ctx.body.get("event") or {}
    if event.get("tab") not in (None, "home"):
        return
    ctx.client.views_publish(user_id=ctx.user_id, view=home_view(ctx.services, ctx.user_id, ctx.role))

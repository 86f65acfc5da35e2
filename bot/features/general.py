"""``/pacs help`` and ``/pacs whoami``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pacsbot.bot.access import Role
from pacsbot.bot.context import Ctx
from pacsbot.bot.registry import Registry
from pacsbot.bot.render.blocks import escape, section
from pacsbot.bot.render.help import help_blocks, subcommand_help, suggest

if TYPE_CHECKING:
    from pacsbot.bot.services import Services


def register(services: "Services") -> None:
    services.registry.include(TABLE)


# What the general feature handles in Slack, declared once (module-level handlers; register() adds them)
TABLE = Registry()


@TABLE.subcommand(
    "help",
    role=Role.CLINICIAN,
    summary="List what you can do here (or `/pacs help <command>` for one command).",
    usage="/pacs help [command]",
    inline=True,
    aliases=("?", "commands"),
)
def help_(ctx: Ctx) -> None:
    word = ctx.args.split(" ", 1)[0].lower() if ctx.args else ""
    if word:
        spec = ctx.services.registry.find_subcommand(word)
        if spec is not None and ctx.role >= spec.role and not spec.hidden:
            text, blocks = subcommand_help(spec, ctx.role)
            ctx.reply(text, blocks)
            return
        guess = suggest(ctx.services.registry, word, ctx.role)
        msg = f"There is no `/pacs {escape(word)}` you can use."
        if guess:
            msg += f" Did you mean `/pacs {guess}`?"
        text, blocks = help_blocks(ctx.services.registry, ctx.role, help_channel=ctx.settings.slack.help_channel)
        ctx.reply(f"{msg}\n{text}", [section(msg), *blocks])
        return
    text, blocks = help_blocks(ctx.services.registry, ctx.role, help_channel=ctx.settings.slack.help_channel)
    ctx.reply(text, blocks)


@TABLE.subcommand(
    "whoami",
    role=Role.CLINICIAN,
    summary="Show the role pacsbot gives you (clinician, trainer or PACS admin).",
    inline=True,
)
def whoami(ctx: Ctx) -> None:
    ctx.reply(
        f"You are <@{ctx.user_id}>, signed in as a *{ctx.role.label}*.",
        [section(f"You are <@{ctx.user_id}>, signed in as a *{ctx.role.label}*. "
                 "Roles come from the bot's configuration (user ids and Slack user groups).")],
    )

"""``/pacs help``: what this user may do, by role, and "did you mean" for typos."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process

from pacsbot.bot.access import Role
from pacsbot.bot.registry import Registry, Subcommand
from pacsbot.bot.render.blocks import Block, context, escape, section

if TYPE_CHECKING:
    from pacsbot.bot.context import Ctx


# Help lists what people need most first; groups not named here come before General.
GROUP_ORDER = ("Systems", "Answers", "Tickets", "Training", "Diagnostics", "Archive", "Administration")


def group_rank(group: str) -> int:
    if group in GROUP_ORDER:
        return GROUP_ORDER.index(group)
    return len(GROUP_ORDER) + (1 if group == "General" else 0)


def help_blocks(registry: Registry, role: Role, *, help_channel: str | None = None) -> tuple[str, list[Block]]:
    """What ``role`` may do, grouped; rendered once per role (the most asked command)."""
    text, blocks = registry.memo(("help", role, help_channel), lambda: _help_blocks(registry, role, help_channel))
    return text, list(blocks)


def _help_blocks(registry: Registry, role: Role, help_channel: str | None) -> tuple[str, tuple[Block, ...]]:
    allowed = registry.allowed_subcommands(role)
    groups: dict[str, list[Subcommand]] = {}
    for spec in allowed:
        groups.setdefault(spec.group, []).append(spec)
    blocks: list[Block] = [section("*What I can do for you* — type any of these:")]
    lines_text: list[str] = []
    for group in sorted(groups, key=group_rank):
        shown = [spec.shown_to(role) for spec in groups[group]]
        lines = [f"• `{escape(usage)}` — {summary}" for usage, summary in shown]
        lines_text.extend(f"{usage} - {summary}" for usage, summary in shown)
        blocks.append(section(f"*{group}*\n" + "\n".join(lines)))
    footer = f"You are signed in as a *{role.label}*. `/pacs help <command>` tells you more about one command."
    if help_channel:
        footer += f" Stuck? Ask in {help_channel}."
    blocks.append(context(footer))
    return "What I can do for you:\n" + "\n".join(lines_text), tuple(blocks)


def subcommand_help(spec: Subcommand, role: Role = Role.ADMIN) -> tuple[str, list[Block]]:
    usage, summary = spec.shown_to(role)
    text = f"*`{escape(usage)}`*\n{summary}"
    if spec.details and spec.details != spec.summary:
        text += f"\n\n{escape(spec.details)}"
    return f"{usage}: {summary}", [section(text), context(f"For: {spec.role.label}s and above" if spec.role > Role.CLINICIAN else "For: everyone")]


def suggest(registry: Registry, word: str, role: Role) -> str | None:
    names = {s.name: s.name for s in registry.allowed_subcommands(role)}
    for alias, target in registry.aliases.items():
        if target in names:
            names[alias] = target
    if not names or not word:
        return None
    match = process.extractOne(word, list(names), scorer=fuzz.WRatio, score_cutoff=70)
    return names[match[0]] if match else None


def unknown_subcommand(ctx: "Ctx", word: str) -> None:
    registry = ctx.services.registry
    guess = suggest(registry, word, ctx.role)
    text, blocks = help_blocks(registry, ctx.role, help_channel=ctx.settings.slack.help_channel)
    first = f"I don't know `/pacs {escape(word)}`."
    if guess:
        first += f" Did you mean `/pacs {guess}`?"
    ctx.reply(f"{first}\n{text}", [section(first), *blocks])

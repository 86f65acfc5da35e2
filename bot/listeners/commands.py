"""``/pacs <subcommand> ...``: parse, check the role, ack, run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack

from pacsbot.bot.background import BUSY_TEXT
from pacsbot.bot.listeners.policy import check, make_ctx, record_refusal, run_entry_inline, run_inline, start_after_ack
from pacsbot.bot.render.help import unknown_subcommand

if TYPE_CHECKING:
    from slack_bolt import App

    from pacsbot.bot.services import Services

COMMAND = "/pacs"


def register(app: "App", services: "Services") -> None:
    @app.command(COMMAND)
    def pacs_command(ack: Ack, body: dict[str, Any]) -> None:
        handle_command(services, ack, body)


MAX_COMMAND_TEXT = 4000  # a report's description holds 4,000 characters; nothing needs more


def handle_command(services: "Services", ack: Ack, body: dict[str, Any]) -> None:
    raw = body.get("text") or ""
    if len(raw) > MAX_COMMAND_TEXT:
        # refused before any work (nothing parsed, stored or searched), with the limit in words
        ack(text=f":warning: That is {len(raw):,} characters; `{COMMAND}` takes at most {MAX_COMMAND_TEXT:,}. "
                 f"Please shorten it — for a long report, `{COMMAND} report` opens a form.")
        return
    text = " ".join(raw.split())
    word, _, rest = text.partition(" ")
    word = word.lower() or "help"
    registry = services.registry
    spec = registry.find_subcommand(word)
    ctx = make_ctx(services, "command", spec.name if spec else word, body, args=rest.strip(), inline=True)
    if spec is None:
        run_inline(ctx, lambda c: unknown_subcommand(c, word), "that")
        ack(**(ctx.ack_payload() or {}))
        return
    what = f"`{COMMAND} {spec.name}`"
    refusal = check(ctx, spec, what)
    if refusal is not None:
        ack(text=refusal.text)
        record_refusal(ctx, refusal)
        return
    if spec.inline:
        run_entry_inline(ctx, spec, what)
        ack(**(ctx.ack_payload() or {}))
        return
    ctx.inline = False
    acked = start_after_ack(ctx, spec, what)
    if acked is None:  # the background queue is full: say so in the ack, at no extra cost
        ack(text=BUSY_TEXT)
        return
    if spec.ack_text:
        ack(text=spec.ack_text)
    else:
        ack()
    acked.set()

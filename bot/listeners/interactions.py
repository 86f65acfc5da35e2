"""Buttons and menus, modal submissions, shortcuts: each declared with its role."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack

from pacsbot.bot.background import BUSY_TEXT
from pacsbot.bot.listeners.policy import (
    check,
    make_ctx,
    notify_soon,
    record_refusal,
    reply_after_ack,
    run_entry_inline,
    start_after_ack,
)
from pacsbot.bot.registry import Interaction

if TYPE_CHECKING:
    from slack_bolt import App

    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)


def _id_pattern(id_: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(id_)}(?::.*)?$")


def register(app: "App", services: "Services") -> None:
    for spec in services.registry.interactions.values():
        listener = _make_listener(services, spec)
        pattern = _id_pattern(spec.id)
        if spec.kind == "action":
            app.action(pattern)(listener)
        elif spec.kind == "view":
            app.view_submission(pattern)(listener)
        elif spec.kind == "view_closed":
            app.view_closed(pattern)(listener)
        elif spec.kind == "shortcut":
            app.global_shortcut(pattern)(listener)
        elif spec.kind == "message_shortcut":
            app.message_shortcut(pattern)(listener)

    # Link buttons and anything undeclared still send an interaction that must be acked,
    # or Slack shows the user an error. Registered last, so declared ids win.
    @app.action(re.compile(".*"))
    def unhandled_action(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        action = (body.get("actions") or [{}])[0]
        if not action.get("url"):
            log.warning("interactions: no handler for action %r", action.get("action_id"))

    @app.view_submission(re.compile(".*"))
    def unhandled_view(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        log.warning("interactions: no handler for view %r", (body.get("view") or {}).get("callback_id"))


def _make_listener(services: "Services", spec: Interaction) -> Any:
    def listener(ack: Ack, body: dict[str, Any]) -> None:
        handle_interaction(services, spec, ack, body)

    listener.__name__ = f"{spec.kind}_{spec.id}"
    return listener


def handle_interaction(services: "Services", spec: Interaction, ack: Ack, body: dict[str, Any]) -> None:
    action = (body.get("actions") or [None])[0] if spec.kind == "action" else None
    ctx = make_ctx(services, spec.kind, spec.id, body, action=action, inline=spec.inline)
    what = f"“{spec.label}”"
    refusal = check(ctx, spec, what)
    if refusal is not None:
        if spec.kind == "view":
            ack(response_action="update", view=_refusal_modal(refusal.text))
        else:
            ack()
            ctx.inline = False
            reply_after_ack(ctx, refusal.text)
        record_refusal(ctx, refusal)
        return
    if spec.inline:
        run_entry_inline(ctx, spec, what)
        ack(**(ctx.ack_payload() or {}))
        return
    acked = start_after_ack(ctx, spec, what)
    ack()
    if acked is None:  # the background queue is full; a button's ack cannot carry text
        notify_soon(ctx, BUSY_TEXT)
    else:
        acked.set()


def _refusal_modal(text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Not allowed"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }

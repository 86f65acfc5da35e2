"""Mentions and direct messages.

The listeners for ``app_mention`` and ``message`` are registered here, once. A feature that
answers messages sets ``services.features.answer_message`` to a callable
(``answer(ctx, event, surface)``, with surface ``mention``, ``dm`` or ``channel``); the
knowledge feature does, and answers from the manuals. Without one, a mention or a DM gets a
pointer to ``/pacs help``. Unprompted channel chatter is handed over only so the answering
feature can check its own list of channels; it never gets the pointer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pacsbot.bot.context import Ctx
from pacsbot.bot.registry import Registry

if TYPE_CHECKING:
    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)

POINTER = "Hi! Type `/pacs help` to see what I can do for you."

# Message subtypes that are not a person writing to the bot (edits, joins, bot posts...).
IGNORED_SUBTYPES = {
    "message_changed", "message_deleted", "message_replied", "bot_message", "channel_join",
    "channel_leave", "group_join", "group_leave", "thread_broadcast", "ekm_access_denied",
    "channel_topic", "channel_purpose", "channel_name", "pinned_item", "unpinned_item",
}


def is_person_writing(event: dict) -> bool:
    return bool(event.get("user")) and not event.get("bot_id") and event.get("subtype") not in IGNORED_SUBTYPES


NUDGE = (":lock: Your message in this channel seems to include patient details ({kinds}). A channel is not the place "
         "for them: everyone in it can read them, now and later. Please edit your message and take them out; the accession "
         "number is enough for the PACS team. Anything I post about it has them hidden.")


def mentions_the_bot(ctx: Ctx, event: dict) -> bool:
    text = event.get("text") or ""
    return any(f"<@{a.get('user_id')}" in text for a in ctx.body.get("authorizations") or [] if a.get("user_id"))


def nudge_if_phi(ctx: Ctx, event: dict) -> None:
    """Tell the author privately when their channel message carries patient data (once per message)."""
    if not ctx.settings.privacy.nudge or event.get("channel_type") == "im":
        return
    kinds = ctx.services.privacy.masked_kinds(event.get("text") or "")
    if not kinds:
        return
    try:
        ctx.client.chat_postEphemeral(channel=event["channel"], user=event["user"], text=NUDGE.format(kinds=", ".join(kinds)),
                                      thread_ts=event.get("thread_ts"))
    except Exception:  # noqa: BLE001 - a nudge that cannot be shown must not stop the answer
        log.info("privacy nudge could not be shown in %s", event.get("channel"))
    ctx.audit("privacy.nudge", target=str(event.get("channel") or ""), details={"kinds": list(kinds)})


def register(services: "Services") -> None:
    services.registry.include(TABLE)


# What the messages feature handles in Slack, declared once (module-level handlers; register() adds them)
TABLE = Registry()


@TABLE.event("app_mention")
def app_mention(ctx: Ctx) -> None:
    event = ctx.body.get("event") or {}
    if not is_person_writing(event):
        return
    nudge_if_phi(ctx, event)
    answer = ctx.services.features.answer_message
    if answer is not None:
        answer(ctx, event, "mention")
        return
    ctx.post(event["channel"], POINTER, thread_ts=event.get("thread_ts") or event.get("ts"))


@TABLE.event("message")
def direct_message(ctx: Ctx) -> None:
    event = ctx.body.get("event") or {}
    if not is_person_writing(event):
        return
    answer = ctx.services.features.answer_message
    if event.get("channel_type") != "im":
        if event.get("channel_type") in ("channel", "group") and not mentions_the_bot(ctx, event):
            nudge_if_phi(ctx, event)  # a mention was nudged by app_mention already
        if answer is not None and event.get("channel_type") in ("channel", "group"):
            answer(ctx, event, "channel")
        return
    if answer is not None:
        answer(ctx, event, "dm")
        return
    ctx.post(event["channel"], POINTER)

"""Mentions and direct messages.

Until a feature answers questions, a mention or a DM gets a pointer to ``/pacs help``. The bot
never answers unprompted channel chatter: only mentions, and messages in its own DMs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.context import Ctx

if TYPE_CHECKING:
    from bot.services import Services

POINTER = "Hi! Type `/pacs help` to see what I can do for you."

# Message subtypes that are not a person writing to the bot (edits, joins, bot posts...).
IGNORED_SUBTYPES = {
    "message_changed", "message_deleted", "message_replied", "bot_message", "channel_join",
    "channel_leave", "group_join", "group_leave", "thread_broadcast", "ekm_access_denied",
    "channel_topic", "channel_purpose", "channel_name", "pinned_item", "unpinned_item",
}


def is_person_writing(event: dict) -> bool:
    return bool(event.get("user")) and not event.get("bot_id") and event.get("subtype") not in IGNORED_SUBTYPES


def register(services: "Services") -> None:
    registry = services.registry

    @registry.event("app_mention")
    def app_mention(ctx: Ctx) -> None:
        event = ctx.body.get("event") or {}
        if not is_person_writing(event):
            return
        ctx.post(event["channel"], POINTER, thread_ts=event.get("thread_ts") or event.get("ts"))

    @registry.event("message")
    def direct_message(ctx: Ctx) -> None:
        event = ctx.body.get("event") or {}
        if event.get("channel_type") != "im" or not is_person_writing(event):
            return
        ctx.post(event["channel"], POINTER)

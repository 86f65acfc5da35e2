"""Small Block Kit builders, so that renderers read like the message they build."""

from __future__ import annotations

import re
from typing import Any

Block = dict[str, Any]

# Slack limits (https://api.slack.com/reference/block-kit/blocks)
MAX_SECTION_TEXT = 3000
MAX_BLOCKS_MESSAGE = 50
MAX_BLOCKS_MODAL = 100
MAX_BUTTON_TEXT = 75
MAX_HEADER_TEXT = 150


# A user mention as Slack sends it in text: <@U0123ABC> or <@U0123ABC|name>.
USER_MENTION_RE = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Escape user-supplied text for mrkdwn (Slack's three control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Slack's escaped text (``&amp;`` ``&lt;`` ``&gt;``, as a slash command or a message
    arrives) as the person typed it; mentions and links (``<@U123>``) are left as they are.
    Text that is stored and rendered again goes through this once, or a card shows ``&amp;``."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def plain(text: str, emoji: bool = True) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": emoji}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT)}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(clip(text, MAX_HEADER_TEXT))}


def section(text: str, *, accessory: Block | None = None, fields: list[str] | None = None, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if fields:
        block["fields"] = [mrkdwn(f) for f in fields[:10]]
    if accessory:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def button(
    text: str,
    action_id: str,
    value: str | None = None,
    *,
    style: str | None = None,
    url: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> Block:
    element: Block = {"type": "button", "text": plain(clip(text, MAX_BUTTON_TEXT)), "action_id": action_id}
    if value is not None:
        element["value"] = value
    if style:
        element["style"] = style
    if url:
        element["url"] = url
    if confirm:
        element["confirm"] = confirm
    return element


def actions(*elements: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)[:25]}
    if block_id:
        block["block_id"] = block_id
    return block


def confirm_dialog(title: str, text: str, confirm: str = "Yes", deny: str = "Cancel") -> dict[str, Any]:
    return {"title": plain(title), "text": mrkdwn(text), "confirm": plain(confirm), "deny": plain(deny)}


def modal(title: str, blocks: list[Block], *, callback_id: str, submit: str | None = "Submit", close: str = "Cancel", private_metadata: str = "") -> Block:
    view: Block = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(clip(title, 24)),
        "close": plain(close),
        "blocks": blocks[:MAX_BLOCKS_MODAL],
    }
    if submit:
        view["submit"] = plain(submit)
    if private_metadata:
        view["private_metadata"] = private_metadata
    return view

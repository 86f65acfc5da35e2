"""Block Kit -> readable terminal text, for the console. Buttons get numbers you can type."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<(https?://[^|>]+)>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]+))?>")
_CHANNEL = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)>")
_SUBTEAM = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|([^>]+))?>")
_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]+)>")


@dataclass
class Clickable:
    """A button (or select) the console user can press by number."""

    number: int
    element: dict[str, Any]
    block_id: str | None
    where: dict[str, Any] = field(default_factory=dict)  # message/channel or view it sits in


def mrkdwn_to_text(text: str, user_name: Callable[[str], str] = lambda u: u, channel_name: Callable[[str], str] = lambda c: c,
                   group_name: Callable[[str], str | None] = lambda g: None) -> str:
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _BARE_LINK.sub(lambda m: m.group(1), text)
    text = _USER.sub(lambda m: "@" + (m.group(2) or user_name(m.group(1))), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or channel_name(m.group(1))), text)
    text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
    text = _SUBTEAM.sub(lambda m: "@" + (m.group(2) or group_name(m.group(1)) or "group").lstrip("@"), text)
    text = _DATE.sub(lambda m: m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class TerminalRenderer:
    def __init__(self, *, width: int = 96, user_name: Callable[[str], str] = lambda u: u, channel_name: Callable[[str], str] = lambda c: c,
                 group_name: Callable[[str], str | None] = lambda g: None):
        self.width = width
        self.user_name = user_name
        self.channel_name = channel_name
        self.group_name = group_name
        self.clickables: dict[int, Clickable] = {}
        self._next = 1

    def text(self, value: Any) -> str:
        if isinstance(value, dict):
            value = value.get("text", "")
        return mrkdwn_to_text(str(value or ""), self.user_name, self.channel_name, self.group_name)

    def _wrap(self, text: str, indent: str) -> list[str]:
        out: list[str] = []
        for line in text.splitlines() or [""]:
            wrapped = textwrap.wrap(line, self.width - len(indent), replace_whitespace=False, drop_whitespace=True) or [""]
            out.extend(indent + w for w in wrapped)
        return out

    def _clickable(self, element: dict[str, Any], block_id: str | None, where: dict[str, Any]) -> str:
        number = self._next
        self._next += 1
        self.clickables[number] = Clickable(number, element, block_id, where)
        kind = element.get("type")
        if kind == "button":
            label = self.text(element.get("text"))
            if element.get("url"):
                return f"[{number}] {label} ↗ {element['url']}"
            return f"[{number}] {label}"
        if kind in ("static_select", "overflow", "users_select", "conversations_select", "channels_select", "external_select"):
            options = element.get("options") or [o for g in element.get("option_groups", []) for o in g.get("options", [])]
            names = ", ".join(self.text(o.get("text")) for o in options[:8])
            placeholder = self.text(element.get("placeholder")) or "choose"
            return f"[{number}] ▾ {placeholder}" + (f" ({names})" if names else "")
        return f"[{number}] {kind}"

    def blocks(self, blocks: list[dict[str, Any]], *, where: dict[str, Any] | None = None, indent: str = "  ") -> list[str]:
        where = where or {}
        lines: list[str] = []
        for block in blocks or []:
            kind = block.get("type")
            block_id = block.get("block_id")
            if kind == "header":
                lines.append(f"{indent}== {self.text(block.get('text'))} ==")
            elif kind == "section":
                if block.get("text"):
                    lines.extend(self._wrap(self.text(block["text"]), indent))
                for f in block.get("fields", []):
                    lines.extend(self._wrap(self.text(f), indent + "  "))
                accessory = block.get("accessory")
                if accessory and accessory.get("type") in ("button", "static_select", "overflow", "users_select"):
                    lines.append(indent + "  " + self._clickable(accessory, block_id, where))
                elif accessory and accessory.get("type") == "image":
                    lines.append(f"{indent}  [image: {accessory.get('alt_text', '')}]")
            elif kind == "context":
                parts = [self.text(e) if e.get("type") != "image" else f"[{e.get('alt_text', 'image')}]" for e in block.get("elements", [])]
                lines.extend(self._wrap("· " + "  ".join(p for p in parts if p), indent))
            elif kind == "divider":
                lines.append(indent + "─" * 40)
            elif kind == "actions":
                items = [self._clickable(e, block_id, where) for e in block.get("elements", [])]
                lines.extend(self._wrap("   ".join(items), indent))
            elif kind == "image":
                lines.append(f"{indent}[image: {block.get('alt_text', '')}] {block.get('image_url', '')}")
            elif kind == "input":
                lines.extend(self._input(block, indent))
            elif kind == "rich_text":
                lines.extend(self._wrap(_rich_text(block), indent))
            else:
                lines.append(f"{indent}[{kind}]")
        return lines

    def _input(self, block: dict[str, Any], indent: str) -> list[str]:
        element = block.get("element", {})
        label = self.text(block.get("label"))
        optional = " (optional)" if block.get("optional") else ""
        action_id = element.get("action_id", "?")
        kind = element.get("type")
        line = f"{indent}• {label}{optional} — set with {action_id}=…"
        out = [line]
        options = element.get("options") or [o for g in element.get("option_groups", []) for o in g.get("options", [])]
        if options:
            rendered = ", ".join(f"{o.get('value')}: {self.text(o.get('text'))}" for o in options)
            many = " (several, comma-separated)" if kind in ("checkboxes", "multi_static_select") else ""
            out.extend(self._wrap(f"choices{many}: {rendered}", indent + "    "))
        elif kind == "datepicker":
            out.append(f"{indent}    a date, YYYY-MM-DD")
        filled = self.prefilled(element)
        if filled is not None:
            out.extend(self._wrap(f"filled in: {filled}", indent + "    "))
        hint = block.get("hint")
        if hint:
            out.extend(self._wrap(self.text(hint), indent + "    "))
        return out


    def prefilled(self, element: dict[str, Any]) -> str | None:
        """What a form field shows when the window opens (its ``initial_*``), as the console user
        would type it; None when it starts empty. Slack submits it unless it is changed."""
        kind = element.get("type")
        if kind in ("plain_text_input", "email_text_input", "url_text_input", "number_input"):
            value = element.get("initial_value")
            return str(value) if value not in (None, "") else None  # plain text: Slack shows it as it is
        if element.get("initial_option"):
            return _option_text(element["initial_option"], self.text)
        if element.get("initial_options"):
            return ", ".join(_option_text(o, self.text) for o in element["initial_options"])
        for key, sign, name in (("initial_user", "@", self.user_name), ("initial_conversation", "#", self.channel_name),
                                ("initial_channel", "#", self.channel_name)):
            if element.get(key):
                return sign + name(element[key])
        for key, sign, name in (("initial_users", "@", self.user_name), ("initial_conversations", "#", self.channel_name),
                                ("initial_channels", "#", self.channel_name)):
            if element.get(key):
                return ", ".join(sign + name(v) for v in element[key])
        for key in ("initial_date", "initial_time", "initial_date_time"):
            if element.get(key):
                return str(element[key])
        return None


def _option_text(option: dict[str, Any], text: Callable[[Any], str]) -> str:
    return f"{option.get('value')}: {text(option.get('text'))}"


def _rich_text(block: dict[str, Any]) -> str:
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                parts.append(node.get("text", ""))
            elif node.get("type") == "link":
                parts.append(node.get("text") or node.get("url", ""))
            elif node.get("type") == "user":
                parts.append("@" + node.get("user_id", ""))
            for child in node.get("elements", []):
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(block.get("elements", []))
    return "".join(parts)

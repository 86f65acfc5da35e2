"""manifest.yml and the code agree: what Slack will send is what the bot handles, and the
bot has a scope for every Web API method it calls."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pacsbot.bot.listeners.commands import COMMAND
from pacsbot.bot.registry import Registry
from pacsbot.bot.services import build_services
from pacsbot.bot.settings import Secrets, load_settings

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())

# Web API method (as called through slack_sdk: client.<name>) -> the bot scope it needs.
# https://api.slack.com/methods ; None means no scope is needed.
METHOD_SCOPES: dict[str, str | None] = {
    "auth_test": None,
    "chat_postMessage": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_update": "chat:write",
    "chat_delete": "chat:write",
    "chat_getPermalink": None,
    "conversations_open": "im:write",
    "conversations_members": "channels:read",
    "conversations_info": "channels:read",
    "conversations_replies": "channels:history",
    "users_info": "users:read",
    "usergroups_list": "usergroups:read",
    "usergroups_users_list": "usergroups:read",
    "views_open": None,
    "views_push": None,
    "views_update": None,
    "views_publish": None,
    "reactions_add": "reactions:write",
    "files_upload_v2": "files:write",
    "files_getUploadURLExternal": "files:write",
    "files_completeUploadExternal": "files:write",
}
# Event subscription -> the event type the listener registers, and the scope it needs.
EVENT_TYPES = {"message.im": "message", "message.channels": "message", "message.groups": "message"}
EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.im": "im:history",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "reaction_added": "reactions:read",
    "app_home_opened": None,
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    services = build_services(load_settings(None), Secrets(None, None, "s", None))
    return services.registry


def test_the_slash_command() -> None:
    commands = [c["command"] for c in MANIFEST["features"]["slash_commands"]]
    assert commands == [COMMAND]
    assert MANIFEST["features"]["slash_commands"][0]["should_escape"] is True  # mentions arrive as ids


def test_every_subscribed_event_has_a_listener_and_back(registry: Registry) -> None:
    subscribed = MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    declared = {EVENT_TYPES.get(e, e) for e in subscribed}
    assert declared == set(registry.events), "events subscribed in manifest.yml vs listeners registered"


def test_shortcuts_agree(registry: Registry) -> None:
    shortcuts = MANIFEST["features"].get("shortcuts", [])
    in_manifest = {("shortcut" if s["type"] == "global" else "message_shortcut", s["callback_id"]) for s in shortcuts}
    in_code = {(i.kind, i.id) for i in registry.interactions.values() if i.kind in ("shortcut", "message_shortcut")}
    assert in_manifest == in_code
    for s in shortcuts:
        assert len(s["name"]) <= 24 and len(s["description"]) <= 100


def test_interactivity_and_home(registry: Registry) -> None:
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    home = MANIFEST["features"]["app_home"]
    assert home["home_tab_enabled"] == ("app_home_opened" in registry.events)
    subscribed = MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    assert home["messages_tab_enabled"] == ("message.im" in subscribed)
    assert MANIFEST["settings"]["socket_mode_enabled"] is True


def _called_methods() -> set[str]:
    pattern = re.compile(r"\bclient\.([a-z]+_[A-Za-z0-9_]+)\(")  # digits: files_upload_v2
    found: set[str] = set()
    for package in ("bot", "commands", "knowledge", "tickets", "training"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "slackmock.py":
                continue
            found.update(pattern.findall(path.read_text()))
    return found


def test_scopes_cover_every_method_and_event() -> None:
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    needed: dict[str, Any] = {}
    for method in _called_methods():
        assert method in METHOD_SCOPES, f"add {method} and the scope it needs to METHOD_SCOPES"
        if METHOD_SCOPES[method]:
            needed[METHOD_SCOPES[method]] = method
    for event in MANIFEST["settings"]["event_subscriptions"]["bot_events"]:
        assert event in EVENT_SCOPES, f"add {event} to EVENT_SCOPES"
        if EVENT_SCOPES[event]:
            needed[EVENT_SCOPES[event]] = event
    needed["commands"] = COMMAND
    missing = {scope: why for scope, why in needed.items() if scope not in scopes}
    assert not missing, f"manifest.yml lacks scopes: {missing}"
    unused = scopes - set(needed)
    assert not unused, f"manifest.yml asks for scopes nothing uses: {unused}"

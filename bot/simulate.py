"""Build and sign the requests Slack sends: slash commands, events, buttons, modals, shortcuts.

Used by the console (which plays Slack's part in a terminal) and by the tests and benchmarks
(which send these requests over HTTP). Payload shapes follow Slack's documentation and the
fixtures in slack-bolt's own tests.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from slack_sdk.signature import SignatureVerifier

from pacsbot.bot.slackmock import TEAM_ID

API_APP_ID = "A0PACSBOT"


@dataclass(frozen=True)
class SignedRequest:
    body: str
    headers: dict[str, str]

    @property
    def content_type(self) -> str:
        return self.headers["Content-Type"]


class Simulator:
    def __init__(self, signing_secret: str, *, response_url_base: str = "http://127.0.0.1:9/respond", team_id: str = TEAM_ID):
        self.verifier = SignatureVerifier(signing_secret)
        self.response_url_base = response_url_base.rstrip("/")
        self.team_id = team_id
        self._counter = itertools.count(1)

    def _n(self) -> int:
        return next(self._counter)

    def sign(self, body: str, content_type: str, *, timestamp: int | None = None, extra: dict[str, str] | None = None) -> SignedRequest:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.verifier.generate_signature(timestamp=ts, body=body)
        assert signature is not None  # None only without a timestamp
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        }
        headers.update(extra or {})
        return SignedRequest(body, headers)

    def _form(self, fields: dict[str, Any], **kw: Any) -> SignedRequest:
        return self.sign(urllib.parse.urlencode(fields), "application/x-www-form-urlencoded", **kw)

    def _interaction(self, payload: dict[str, Any], **kw: Any) -> SignedRequest:
        return self._form({"payload": json.dumps(payload)}, **kw)

    def response_url(self, user_id: str = "U", channel_id: str | None = None) -> str:
        """Where the bot's ``respond()`` goes; the path names who sees it (for the console)."""
        return f"{self.response_url_base}/{user_id}/{channel_id or '-'}/{self._n()}"

    def trigger_id(self) -> str:
        # unique like Slack's (which ends in random hex): a counter and the second repeat when a
        # second console starts within the same second, and the bot files a command once per trigger
        return f"{self._n()}.{int(time.time())}.{secrets.token_hex(8)}"

    def _user(self, user_id: str) -> dict[str, Any]:
        return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": self.team_id}

    # --------------------------------------------------------------------------------------
    def slash_command(self, user_id: str, text: str, *, channel_id: str = "C0GENERAL", channel_name: str = "general", command: str = "/pacs", **kw: Any) -> SignedRequest:
        return self._form(
            {
                "token": "verification-token-unused",
                "team_id": self.team_id,
                "team_domain": "hospital",
                "channel_id": channel_id,
                "channel_name": channel_name,
                "user_id": user_id,
                "user_name": user_id.lower(),
                "command": command,
                "text": text,
                "api_app_id": API_APP_ID,
                "is_enterprise_install": "false",
                "response_url": self.response_url(user_id, channel_id),
                "trigger_id": self.trigger_id(),
            },
            **kw,
        )

    def block_action(
        self,
        user_id: str,
        action: dict[str, Any],
        *,
        channel_id: str | None = None,
        message: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
        **kw: Any,
    ) -> SignedRequest:
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": API_APP_ID,
            "token": "verification-token-unused",
            "team": {"id": self.team_id, "domain": "hospital"},
            "trigger_id": self.trigger_id(),
            "actions": [{"action_ts": f"{time.time():.6f}", "block_id": action.get("block_id", "b"), "type": action.get("type", "button"), **action}],
        }
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view.get("id")}
            payload["view"] = view
        else:
            payload["container"] = {"type": "message", "message_ts": (message or {}).get("ts"), "channel_id": channel_id, "is_ephemeral": message is None}
            payload["channel"] = {"id": channel_id, "name": channel_id}
            payload["response_url"] = self.response_url(user_id, channel_id)
            if message is not None:
                payload["message"] = message
        return self._interaction(payload, **kw)

    def view_submission(self, user_id: str, view: dict[str, Any], values: dict[str, dict[str, Any]], **kw: Any) -> SignedRequest:
        submitted = {**view, "state": {"values": values}}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "hospital"},
            "user": self._user(user_id),
            "api_app_id": API_APP_ID,
            "token": "verification-token-unused",
            "trigger_id": self.trigger_id(),
            "view": submitted,
            "response_urls": [],
        }
        return self._interaction(payload, **kw)

    def view_closed(self, user_id: str, view: dict[str, Any], **kw: Any) -> SignedRequest:
        payload = {"type": "view_closed", "team": {"id": self.team_id}, "user": self._user(user_id), "api_app_id": API_APP_ID, "view": view, "is_cleared": False}
        return self._interaction(payload, **kw)

    def global_shortcut(self, user_id: str, callback_id: str, **kw: Any) -> SignedRequest:
        payload = {"type": "shortcut", "token": "verification-token-unused", "action_ts": f"{time.time():.6f}", "team": {"id": self.team_id, "domain": "hospital"},
                   "user": self._user(user_id), "callback_id": callback_id, "trigger_id": self.trigger_id()}
        return self._interaction(payload, **kw)

    def message_shortcut(self, user_id: str, callback_id: str, *, channel_id: str, message: dict[str, Any], **kw: Any) -> SignedRequest:
        payload = {
            "type": "message_action", "token": "verification-token-unused", "action_ts": f"{time.time():.6f}",
            "team": {"id": self.team_id, "domain": "hospital"}, "user": self._user(user_id), "callback_id": callback_id,
            "trigger_id": self.trigger_id(), "channel": {"id": channel_id, "name": channel_id}, "message_ts": message.get("ts"),
            "message": message, "response_url": self.response_url(user_id, channel_id),
        }
        return self._interaction(payload, **kw)

    def event(self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None, **kw: Any) -> SignedRequest:
        body = {
            "token": "verification-token-unused",
            "team_id": self.team_id,
            "api_app_id": API_APP_ID,
            "event": {"event_ts": f"{time.time():.6f}", **event},
            "type": "event_callback",
            "event_id": event_id or f"Ev{self._n():010d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team_id, "user_id": "U0PACSBOT", "is_bot": True}],
        }
        extra = dict(kw.pop("extra", None) or {})
        if retry_num is not None:
            extra.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
        return self.sign(json.dumps(body), "application/json", extra=extra, **kw)

    def message_event(self, user_id: str, text: str, *, channel_id: str, channel_type: str = "channel", thread_ts: str | None = None, **kw: Any) -> SignedRequest:
        event = {"type": "message", "user": user_id, "text": text, "channel": channel_id, "channel_type": channel_type, "ts": f"{time.time():.6f}"}
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.event(event, **kw)

    def mention_event(self, user_id: str, text: str, *, channel_id: str, thread_ts: str | None = None, **kw: Any) -> SignedRequest:
        event = {"type": "app_mention", "user": user_id, "text": f"<@U0PACSBOT> {text}", "channel": channel_id, "ts": f"{time.time():.6f}"}
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.event(event, **kw)

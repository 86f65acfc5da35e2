"""A local mock of the Slack Web API (and of ``response_url``), recording every call.

The approach of slack-bolt's own test suite: a real HTTP server on 127.0.0.1 that answers the
Web API methods pacsbot uses with realistic payloads, keeps a small workspace (channels,
messages, open modals, App Home views, user groups), and records each call. The console and
the tests point ``SLACK_API_URL`` at it; faults (HTTP 429 with Retry-After, 5xx, API errors)
can be injected per method.
"""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

TEAM_ID = "T0PACS001"
BOT_USER_ID = "U0PACSBOT"
BOT_ID = "B0PACSBOT"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    at: float


@dataclass
class Output:
    """Something the bot made visible: a message, an ephemeral, a modal, a home tab..."""

    seq: int
    kind: str  # message | ephemeral | update | delete | response | modal_open | modal_update | modal_push | home | reaction | file
    # extra: reply_broadcast (message), response_type/replace_original/delete_original (response), filename/size/content (file)
    channel: str | None = None
    user: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    view: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fault:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    times: int = 1


class MockSlack:
    """Start with ``with MockSlack() as slack:``; ``slack.api_url`` is the Web API base URL."""

    def __init__(
        self,
        *,
        token: str | None = None,
        users: dict[str, dict[str, Any]] | None = None,
        usergroups: list[dict[str, Any]] | None = None,
        channels: dict[str, dict[str, Any]] | None = None,
        team_domain: str = "hospital",
    ):
        self.token = token
        self.team_domain = team_domain
        self.users: dict[str, dict[str, Any]] = dict(users or {})
        self.usergroups: list[dict[str, Any]] = list(usergroups or [])
        self.channels: dict[str, dict[str, Any]] = dict(channels or {})
        self.calls: list[Call] = []
        self.outputs: list[Output] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.home: dict[str, dict[str, Any]] = {}
        self.files: list[dict[str, Any]] = []
        self._faults: dict[str, list[Fault]] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._seq = itertools.count(1)
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._uploads: dict[str, dict[str, Any]] = {}
        self.socket_mode_url: str | None = None  # what apps.connections.open hands out
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> "MockSlack":
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                mock._dispatch(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                mock._dispatch(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="mock-slack", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "MockSlack":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "MockSlack is not started"
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server's address is (host, port)
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def respond_base(self) -> str:
        """Base for ``response_url`` values (see ``bot.simulate.Simulator``)."""
        return f"{self.base_url}/respond"

    # faults and queries ------------------------------------------------------------------
    def fail(self, method: str, *, status: int = 200, error: str | None = None, retry_after: int | None = None, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail (HTTP status and/or Slack error)."""
        with self._lock:
            self._faults.setdefault(method, []).append(Fault(status, error, retry_after, times))

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def outputs_since(self, seq: int) -> list[Output]:
        with self._lock:
            return [o for o in self.outputs if o.seq > seq]

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self.outputs[-1].seq if self.outputs else 0

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} call(s) to {method}, saw {len(found)}")
                self._changed.wait(left)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.outputs.clear()
            self.messages.clear()
            self.views.clear()
            self.home.clear()
            self.files.clear()
            self._faults.clear()

    def add_user(self, user_id: str, name: str, *, real_name: str | None = None, tz: str = "UTC") -> None:
        with self._lock:
            self.users[user_id] = {
                "id": user_id, "name": name, "real_name": real_name or name, "tz": tz,
                "profile": {"display_name": name, "real_name": real_name or name},
            }

    def add_channel(self, channel_id: str, name: str, members: list[str] | None = None, *, is_private: bool = False) -> None:
        with self._lock:
            self.channels[channel_id] = {"name": name, "members": list(members or []), "is_private": is_private}

    def post_as_user(self, user_id: str, channel: str, text: str, *, thread_ts: str | None = None) -> dict[str, Any]:
        """A message a person wrote (so that shortcuts and reactions have something to point at)."""
        with self._changed:
            ts = self._next_ts()
            message = {"type": "message", "user": user_id, "text": text, "ts": ts}
            if thread_ts:
                message["thread_ts"] = thread_ts
            self.messages.setdefault(channel, []).append(message)
            self._changed.notify_all()
            return message

    def add_usergroup(self, group_id: str, handle: str, users: list[str], name: str | None = None) -> None:
        with self._lock:
            self.usergroups = [g for g in self.usergroups if g["id"] != group_id]
            self.usergroups.append({"id": group_id, "handle": handle, "name": name or handle, "users": list(users)})

    # HTTP --------------------------------------------------------------------------------
    def _dispatch(self, request: BaseHTTPRequestHandler, verb: str) -> None:
        parsed = urllib.parse.urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        if parsed.path.startswith("/respond/"):
            self._respond_url(request, parsed.path, raw)
            return
        if parsed.path.startswith("/upload/"):
            with self._lock:
                upload = self._uploads.get(parsed.path.rsplit("/", 1)[-1])
                if upload is not None:
                    upload["content"] = raw
            self._send(request, 200 if upload is not None else 404, "OK" if upload is not None else "no such upload", content_type="text/plain")
            return
        if not parsed.path.startswith("/api/"):
            self._send(request, 404, {"ok": False, "error": "not_found"})
            return
        method = parsed.path[len("/api/"):]
        params = dict(urllib.parse.parse_qsl(parsed.query))
        content_type = request.headers.get("Content-Type", "")
        if raw:
            if "application/json" in content_type:
                params.update(json.loads(raw.decode("utf-8")))
            elif "multipart/form-data" in content_type:
                params.update(_parse_multipart(raw, content_type))
            else:
                params.update(dict(urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True)))
        for key in ("blocks", "view", "attachments", "files", "metadata"):
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else params.get("token")
        with self._changed:
            self.calls.append(Call(method, params, token, time.time()))
            self._changed.notify_all()
            fault = self._take_fault(method)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            body = {"ok": False, "error": fault.error or ("ratelimited" if fault.status == 429 else "internal_error")}
            self._send(request, fault.status if fault.status != 200 else 200, body, headers=headers)
            return
        if method != "auth.test" and not token:
            self._send(request, 200, {"ok": False, "error": "not_authed"})
            return
        app_level = method.startswith("apps.connections.")
        if app_level and not str(token or "").startswith("xapp-"):
            self._send(request, 200, {"ok": False, "error": "not_allowed_token_type"})
            return
        if self.token is not None and token != self.token and not app_level:
            self._send(request, 200, {"ok": False, "error": "invalid_auth"})
            return
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            self._send(request, 200, {"ok": False, "error": "unknown_method"})
            return
        with self._changed:
            body = handler(params)
            self._changed.notify_all()
        self._send(request, 200, body)

    def _take_fault(self, method: str) -> Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    def _send(self, request: BaseHTTPRequestHandler, status: int, body: Any, *, headers: dict[str, str] | None = None, content_type: str = "application/json; charset=utf-8") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(data)

    def _respond_url(self, request: BaseHTTPRequestHandler, path: str, raw: bytes) -> None:
        try:
            payload = json.loads(raw.decode("utf-8") or "{}")
        except ValueError:
            self._send(request, 400, "invalid_payload", content_type="text/plain")
            return
        parts = path.split("/")  # /respond/<user>/<channel>/<n>, as bot.simulate makes them
        user = parts[2] if len(parts) > 4 else None
        channel = parts[3] if len(parts) > 4 and parts[3] != "-" else None
        with self._changed:
            self.calls.append(Call("response_url", {"url": path, **payload}, None, time.time()))
            fault = self._take_fault("response_url")
            if fault is None:
                self._output(
                    "response",
                    user=user,
                    channel=channel,
                    text=payload.get("text", ""),
                    blocks=payload.get("blocks") or [],
                    extra={k: payload[k] for k in ("response_type", "replace_original", "delete_original") if k in payload},
                )
            self._changed.notify_all()
        if fault is not None:
            self._send(request, fault.status or 500, "error", content_type="text/plain")
            return
        self._send(request, 200, "ok", content_type="text/plain")

    # workspace helpers -------------------------------------------------------------------
    def _output(self, kind: str, **fields: Any) -> Output:
        out = Output(seq=next(self._seq), kind=kind, **fields)
        self.outputs.append(out)
        return out

    def _next_ts(self) -> str:
        return f"{1_760_000_000 + next(self._ts)}.{next(self._ids):06d}"

    def _channel_for(self, channel: str) -> str:
        # chat.postMessage to a user id posts in the bot's DM with that user
        if channel.startswith(("U", "W")):
            return "D" + channel[1:]
        return channel

    def _with_block_ids(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Slack gives every block without a block_id a generated one; so do we.
        return [b if b.get("block_id") else {**b, "block_id": f"blk{next(self._ids)}"} for b in blocks or []]

    def _view(self, view: dict[str, Any], view_id: str | None = None, **extra: Any) -> dict[str, Any]:
        view_id = view_id or f"V{next(self._ids):08d}"
        stored = {**view, "blocks": self._with_block_ids(view.get("blocks", [])), "id": view_id,
                  "hash": f"{time.time():.6f}", "state": {"values": {}}, **extra}
        self.views[view_id] = stored
        return stored

    # Web API methods (only what pacsbot uses) --------------------------------------------
    def _api_apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        if not self.socket_mode_url:
            return {"ok": False, "error": "socket_mode_not_enabled"}
        return {"ok": True, "url": self.socket_mode_url}

    def _api_auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"https://{self.team_domain}.slack.com/", "team": "Hospital", "user": "pacsbot",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _api_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_for(str(p.get("channel", "")))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.channels and self.channels[channel].get("archived"):
            return {"ok": False, "error": "is_archived"}
        ts = self._next_ts()
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": p.get("text", ""),
                   "blocks": self._with_block_ids(p.get("blocks") or []), "ts": ts}
        broadcast = bool(p.get("thread_ts")) and _truthy(p.get("reply_broadcast"))
        if p.get("thread_ts"):
            message["thread_ts"] = p["thread_ts"]
        if broadcast:
            message["subtype"] = "thread_broadcast"  # a thread reply also sent to the channel, as Slack stores it
        self.messages.setdefault(channel, []).append(message)
        self._output("message", channel=channel, ts=ts, thread_ts=p.get("thread_ts"), text=message["text"], blocks=message["blocks"],
                     extra={"reply_broadcast": True} if broadcast else {})
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _api_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        self._output("ephemeral", channel=p.get("channel"), user=p.get("user"), ts=ts, thread_ts=p.get("thread_ts"),
                     text=p.get("text", ""), blocks=p.get("blocks") or [])
        return {"ok": True, "message_ts": ts}

    def _api_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(p.get("channel", "")), str(p.get("ts", ""))
        for message in self.messages.get(channel, []):
            if message["ts"] == ts:
                message["text"] = p.get("text", message["text"])
                message["blocks"] = self._with_block_ids(p.get("blocks") or []) or message["blocks"]
                self._output("update", channel=channel, ts=ts, text=message["text"], blocks=message["blocks"])
                return {"ok": True, "channel": channel, "ts": ts, "text": message["text"]}
        return {"ok": False, "error": "message_not_found"}

    def _api_chat_delete(self, p: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(p.get("channel", "")), str(p.get("ts", ""))
        before = len(self.messages.get(channel, []))
        self.messages[channel] = [m for m in self.messages.get(channel, []) if m["ts"] != ts]
        if len(self.messages[channel]) == before:
            return {"ok": False, "error": "message_not_found"}
        self._output("delete", channel=channel, ts=ts)
        return {"ok": True, "channel": channel, "ts": ts}

    def _api_chat_getPermalink(self, p: dict[str, Any]) -> dict[str, Any]:
        ts = str(p.get("message_ts", "")).replace(".", "")
        return {"ok": True, "channel": p.get("channel"), "permalink": f"https://{self.team_domain}.slack.com/archives/{p.get('channel')}/p{ts}"}

    def _api_conversations_open(self, p: dict[str, Any]) -> dict[str, Any]:
        users = str(p.get("users", "")).split(",")
        return {"ok": True, "channel": {"id": self._channel_for(users[0])}}

    def _api_conversations_members(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(p.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return _paged(channel.get("members", []), p, "members")

    def _api_conversations_info(self, p: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(p.get("channel", ""))
        channel = self.channels.get(channel_id)
        if channel is None:
            if channel_id.startswith("D"):
                return {"ok": True, "channel": {"id": channel_id, "is_im": True}}
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": {"id": channel_id, "name": channel.get("name", channel_id), "is_private": channel.get("is_private", False), "is_im": False}}

    def _api_conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(p.get("channel", "")), str(p.get("ts", ""))
        thread = [m for m in self.messages.get(channel, []) if m["ts"] == ts or m.get("thread_ts") == ts]
        return {"ok": True, "messages": thread, "has_more": False}

    def _api_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(p.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _api_usergroups_list(self, p: dict[str, Any]) -> dict[str, Any]:
        groups = [{k: v for k, v in g.items() if k != "users"} | {"user_count": len(g.get("users", []))} for g in self.usergroups]
        return {"ok": True, "usergroups": groups}

    def _api_usergroups_users_list(self, p: dict[str, Any]) -> dict[str, Any]:
        for group in self.usergroups:
            if group["id"] == p.get("usergroup"):
                return {"ok": True, "users": list(group.get("users", []))}
        return {"ok": False, "error": "no_such_subteam"}

    def _api_views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = self._view(p["view"])
        self._output("modal_open", view=view, extra={"trigger_id": p.get("trigger_id")})
        return {"ok": True, "view": view}

    def _api_views_push(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = self._view(p["view"])
        self._output("modal_push", view=view)
        return {"ok": True, "view": view}

    def _api_views_update(self, p: dict[str, Any]) -> dict[str, Any]:
        view_id = p.get("view_id")
        if not view_id and p.get("external_id"):
            view_id = next((v["id"] for v in self.views.values() if v.get("external_id") == p["external_id"]), None)
        if not view_id or view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        view = self._view(p["view"], view_id)
        self._output("modal_update", view=view)
        return {"ok": True, "view": view}

    def _api_views_publish(self, p: dict[str, Any]) -> dict[str, Any]:
        user = str(p.get("user_id", ""))
        if not user:
            return {"ok": False, "error": "invalid_arguments"}
        view = self._view(p["view"])
        self.home[user] = view
        self._output("home", user=user, view=view)
        return {"ok": True, "view": view}

    def _api_reactions_add(self, p: dict[str, Any]) -> dict[str, Any]:
        self._output("reaction", channel=p.get("channel"), ts=p.get("timestamp"), text=str(p.get("name", "")))
        return {"ok": True}

    def _api_files_getUploadURLExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        self._uploads[file_id] = {"id": file_id, "filename": p.get("filename"), "length": int(p.get("length", 0))}
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _api_files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        files = p.get("files") or []
        done = []
        for entry in files:
            upload = self._uploads.get(entry.get("id"))
            if upload is None:
                return {"ok": False, "error": "file_not_found"}
            record = {**upload, "title": entry.get("title"), "channel": p.get("channel_id"), "thread_ts": p.get("thread_ts"),
                      "initial_comment": p.get("initial_comment")}
            self.files.append(record)
            content = upload.get("content") or b""
            self._output("file", channel=p.get("channel_id"), thread_ts=p.get("thread_ts"), text=p.get("initial_comment") or "",
                         extra={"filename": upload.get("filename"), "title": entry.get("title"), "size": len(content), "content": content})
            done.append({"id": upload["id"], "title": entry.get("title")})
        return {"ok": True, "files": done}


def _truthy(value: Any) -> bool:
    """A boolean parameter as Slack reads it: JSON true, or "true"/"1" in a form."""
    return value is True or str(value).lower() in ("true", "1")


def _paged(items: list[Any], p: dict[str, Any], key: str, page: int = 200) -> dict[str, Any]:
    start = int(p.get("cursor") or 0)
    limit = min(int(p.get("limit") or page), 1000)
    chunk = items[start:start + limit]
    following = start + limit
    cursor = str(following) if following < len(items) else ""
    return {"ok": True, key: chunk, "response_metadata": {"next_cursor": cursor}}


def _parse_multipart(raw: bytes, content_type: str) -> dict[str, Any]:
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parse(io.BytesIO(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw))
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            # a non-multipart part decodes to bytes (typeshed's return type covers every case)
            payload = cast(bytes, part.get_payload(decode=True) or b"")
            out[str(name)] = payload if part.get_filename() else payload.decode("utf-8", "replace")
    return out

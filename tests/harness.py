"""A running bot for tests: mock Slack, real Bolt app, real database, served over HTTP.

``Harness`` is what slack-bolt's own tests do, end to end: requests are built and signed the
way Slack does (``bot.simulate``), sent over a real HTTP connection to the WSGI app that
``pacsbot serve`` runs, and every Web API call the bot makes lands in ``MockSlack``.
"""

from __future__ import annotations

import http.client
import json
import secrets
import threading
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pacsbot.bot.access import Role
from pacsbot.bot.app import build_app
from pacsbot.bot.server import wsgi_app
from pacsbot.bot.services import Services, build_services
from pacsbot.bot.settings import Secrets, Settings, load_settings
from pacsbot.bot.simulate import SignedRequest, Simulator
from pacsbot.bot.slack_client import make_web_client
from pacsbot.bot.slackmock import MockSlack
from pacsbot.bot.storage import Database, upgrade

TOKEN = "xoxb-test-token"

ADMIN = "U0ADMIN01"
TRAINER = "U0TRAIN01"
CLINICIAN = "U0RAD0001"
TECH = "U0TECH001"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Response:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        """The message text of an ack, which Bolt sends as JSON or, for text only, plain."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return self.body
        return data.get("text", "") if isinstance(data, dict) else self.body


class Harness:
    def __init__(self, settings: Settings, db: Database, mock: MockSlack, *, role_overrides: dict[str, Role] | None = None, register: Any = None):
        self.signing_secret = secrets.token_hex(16)
        self.mock = mock
        self.db = db
        secrets_ = Secrets(bot_token=TOKEN, app_token=None, signing_secret=self.signing_secret, api_url=mock.api_url)
        self.services: Services = build_services(
            settings, secrets_, db=db, client=make_web_client(TOKEN, mock.api_url), role_overrides=role_overrides,
        )
        if register is not None:
            register(self.services)
        outbox = self.services.features.outbox
        if outbox is not None:  # Slack's pace (4 messages a second) is measured in tests/bot/test_outbox.py, not waited out here
            outbox.rate, outbox.burst = 1000.0, 1000
        upgrade(db)
        self.app = build_app(self.services)
        self.sim = Simulator(self.signing_secret, response_url_base=mock.respond_base)
        self._server = make_server("127.0.0.1", 0, wsgi_app(self.app, self.services), server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)  # shutdown() waits one poll
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def send(self, request: SignedRequest, path: str = "/slack/events") -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", path, body=request.body.encode(), headers=request.headers)
            response = conn.getresponse()
            return Response(response.status, response.read().decode())
        finally:
            conn.close()

    def get(self, path: str) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return Response(response.status, response.read().decode())
        finally:
            conn.close()

    def command(self, user: str, text: str, **kw: Any) -> Response:
        return self.send(self.sim.slash_command(user, text, **kw))

    def drain(self, timeout: float = 30.0) -> None:
        assert self.services.background.wait_idle(timeout), "background work did not finish"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.services.background.shutdown(wait=True)


def make_settings(tmp_path: Any, db_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "database": {"url": db_url},
        "roles": {"admins": [ADMIN, "@pacs-admins"], "trainers": [TRAINER]},
        "slack": {"help_channel": "#pacs-help"},
    }
    return load_settings(None, overrides=_merge(base, overrides))


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def texts_of(blocks: list[dict[str, Any]]) -> str:
    """All visible text in blocks, for assertions."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return "\n".join(parts)
